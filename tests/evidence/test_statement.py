"""The gate statement: DSSE v1 + in-toto Statement v1, Ed25519; keys and ``relgate keygen``.

Interop: envelopes relgate writes verify with securesystemslib (an independent DSSE
implementation from PyPI), and envelopes securesystemslib signs verify with relgate.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from relgate.cli import main
from relgate.errors import BadInputError
from relgate.evidence.bundle import open_bundle
from relgate.evidence.dsse import (
    INTOTO_PAYLOAD_TYPE,
    Envelope,
    EnvelopeError,
    TrustedKey,
    pae,
    sign,
    verify,
)
from relgate.evidence.keys import generate, load_private, load_public
from relgate.evidence.statement import GATE_PREDICATE_TYPE, TEST_RESULT_TYPE, GateStatement
from relgate.run import Run


def trusted(pair) -> TrustedKey:  # type: ignore[no-untyped-def]
    return TrustedKey(pair.id, load_public(pair.public_key))


# -- DSSE ------------------------------------------------------------------------------------------
def test_pae_matches_the_dsse_spec_vector() -> None:
    # The worked example of the DSSE protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_sign_then_verify_names_the_trusted_key() -> None:
    pair = generate("prod-1")
    envelope = sign(b'{"a":1}', load_private(pair.private_key, source="K"), pair.id)
    assert envelope.signatures[0].keyid == "prod-1"
    checked = verify(Envelope.parse(envelope.to_bytes()), [trusted(generate()), trusted(pair)])
    assert checked.key_id == "prod-1"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda d: d | {"payload": base64.b64encode(b'{"a":2}').decode()}, id="payload"
        ),
        pytest.param(lambda d: d | {"payloadType": "application/json"}, id="payload-type"),
        pytest.param(
            lambda d: (
                d
                | {"signatures": [{"keyid": "prod-1", "sig": base64.b64encode(b"x" * 64).decode()}]}
            ),
            id="signature",
        ),
        pytest.param(lambda d: d | {"signatures": []}, id="no-signature"),
    ],
)
def test_any_change_breaks_the_signature(tamper) -> None:  # type: ignore[no-untyped-def]
    pair = generate("prod-1")
    envelope = sign(b'{"a":1}', load_private(pair.private_key, source="K"), pair.id)
    doc = tamper(json.loads(envelope.to_bytes()))
    assert verify(Envelope.parse(json.dumps(doc).encode()), [trusted(pair)]).key_id is None


def test_a_renamed_key_still_verifies_under_its_configured_id() -> None:
    pair = generate("old-name")
    envelope = sign(b"{}", load_private(pair.private_key, source="K"), "old-name")
    renamed = TrustedKey("new-name", load_public(pair.public_key))
    assert verify(envelope, [renamed]).key_id == "new-name"


def test_not_an_envelope() -> None:
    with pytest.raises(EnvelopeError, match="not a DSSE envelope"):
        Envelope.parse(b'{"payload": "e30="}')


# -- keys ------------------------------------------------------------------------------------------
def test_pem_private_keys_are_accepted() -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    loaded = load_private(pem, source="RELGATE_SIGNING_KEY")
    assert loaded.sign(b"x") == key.sign(b"x")  # Ed25519 is deterministic


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("hunter2", "not an Ed25519 private key", id="garbage"),
        pytest.param("ed25519-private:!!!", "not valid base64", id="bad-base64"),
        pytest.param(
            "ed25519-private:" + base64.b64encode(b"x" * 31).decode(), "31 bytes", id="short"
        ),
        pytest.param(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "PEM", id="bad-pem"
        ),
    ],
)
def test_bad_private_keys_are_refused_without_quoting_them(text: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as caught:
        load_private(text, source="RELGATE_SIGNING_KEY")
    assert "RELGATE_SIGNING_KEY" in caught.value.message
    assert text not in caught.value.message


def test_keygen_prints_the_documented_format(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["keygen", "--id", "prod-2026"], env={}, stdout=out, stderr=err) == 0, (
        err.getvalue()
    )
    text = out.getvalue()
    assert "evidence:\n  keys:\n    - id: prod-2026\n      public_key: ed25519:" in text
    private = next(line for line in text.splitlines() if line.startswith("RELGATE_SIGNING_KEY="))
    key = load_private(private.split("=", 1)[1], source="x")
    public = next(line for line in text.splitlines() if "public_key:" in line).split()[-1]
    assert verify(
        sign(b"{}", key, "prod-2026"), [TrustedKey("prod-2026", load_public(public))]
    ).key_id


def test_keygen_refuses_to_print_a_private_key_in_a_ci_log() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["keygen"], env={"GITHUB_ACTIONS": "true"}, stdout=out, stderr=err)
    assert code == 2 and "not in a CI job" in err.getvalue() + out.getvalue()
    assert "ed25519-private:" not in out.getvalue() + err.getvalue()


def test_keygen_private_key_file_is_0600_and_never_printed(tmp_path: Path) -> None:
    out = io.StringIO()
    target = tmp_path / "signing.key"
    code = main(["--json", "keygen", "--private-key-file", str(target)], env={}, stdout=out)
    assert code == 0
    doc = json.loads(out.getvalue())
    assert doc["private_key"] is None and doc["id"].startswith("relgate-")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert target.read_text().strip() not in out.getvalue()
    load_private(target.read_text(), source=str(target))
    # Never overwritten.
    assert (
        main(
            ["keygen", "--private-key-file", str(target)],
            env={},
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
        == 2
    )


# -- the statement in a real bundle, and interop ---------------------------------------------------
@pytest.fixture
def signed_bundle(filled_run: Run, tmp_path: Path):  # type: ignore[no-untyped-def]
    from relgate.evidence.archive import archive

    pair = generate("interop")
    filled_run.env["RELGATE_SIGNING_KEY"] = pair.private_key
    result = archive(None, filled_run, output_dir=tmp_path / "out")
    assert result.signed_by and result.signed_by.startswith("relgate-")  # no config: derived id
    bundle = open_bundle(Path(result.bundle_path or ""))
    assert bundle.statement is not None
    return bundle, pair, result


def test_the_statement_names_the_bundle_and_its_commit(signed_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle, _pair, result = signed_bundle
    envelope = Envelope.parse(bundle.statement)
    assert envelope.payload_type == INTOTO_PAYLOAD_TYPE
    statement = GateStatement.parse(envelope.payload_bytes())
    assert statement.predicate_type == GATE_PREDICATE_TYPE
    assert "sha256:" + (statement.digest("sha256") or "") == bundle.digest == result.bundle_digest
    assert statement.predicate.run_id == bundle.meta.run_id
    assert statement.predicate.stages["smoke"] == "failed"
    raw = json.loads(envelope.payload_bytes())
    smoke = raw["predicate"]["smoke"]
    assert smoke["predicateType"] == TEST_RESULT_TYPE and smoke["result"] == "FAILED"
    assert len(smoke["passedTests"]) == 8 and smoke["failedTests"] == ["9 step 9"]
    # Beside the bundle: the predicate alone, for GitHub's attest action.
    assert json.loads(Path(result.predicate_path).read_text()) == raw["predicate"]


def test_securesystemslib_verifies_relgates_envelope(signed_bundle) -> None:  # type: ignore[no-untyped-def]
    from securesystemslib.dsse import Envelope as SslibEnvelope
    from securesystemslib.signer import SSlibKey

    bundle, pair, result = signed_bundle
    envelope = SslibEnvelope.from_dict(json.loads(bundle.statement))
    key = SSlibKey.from_crypto(load_public(pair.public_key), keyid=result.signed_by)
    accepted = envelope.verify([key], 1)
    assert list(accepted) == [result.signed_by]
    assert json.loads(envelope.payload)["_type"] == "https://in-toto.io/Statement/v1"
    # And an envelope that is not the one relgate signed does not verify there either.
    from securesystemslib.exceptions import VerificationError

    envelope.payload = envelope.payload.replace(b"failed", b"passed")
    with pytest.raises(VerificationError):
        envelope.verify([key], 1)


def test_relgate_verifies_securesystemslibs_envelope() -> None:
    from securesystemslib.dsse import Envelope as SslibEnvelope
    from securesystemslib.signer import CryptoSigner

    private = Ed25519PrivateKey.generate()
    signer = CryptoSigner(private)
    envelope = SslibEnvelope(b'{"_type":"x"}', INTOTO_PAYLOAD_TYPE, {})
    envelope.sign(signer)
    ours = Envelope.parse(json.dumps(envelope.to_dict()).encode())
    key = TrustedKey("theirs", private.public_key())
    assert verify(ours, [key]).key_id == "theirs"


# -- the signer archive uses -----------------------------------------------------------------------
def _config(tmp_path: Path, keys: str) -> object:
    from relgate.config import load_config

    text = (
        "project: {name: app}\n"
        "environments: {staging: {base_url: 'http://127.0.0.1:8000'}}\n" + keys
    )
    (tmp_path / "relgate.yml").write_text(text)
    return load_config(tmp_path / "relgate.yml", env={})


@pytest.mark.parametrize(
    ("env_key", "configured", "signed", "warning"),
    [
        pytest.param("own", True, True, None, id="configured-key"),
        pytest.param(None, True, False, "RELGATE_SIGNING_KEY is not set", id="no-key-but-keys"),
        pytest.param(None, False, False, None, id="no-key-no-keys"),
        pytest.param("garbage", True, False, "not an Ed25519 private key", id="malformed"),
        pytest.param("stranger", True, True, "is not in relgate.yml evidence.keys", id="unknown"),
        pytest.param("stranger", False, True, None, id="no-keys-configured"),
    ],
)
def test_signer_for(
    tmp_path: Path, env_key: str | None, configured: bool, signed: bool, warning: str | None
) -> None:
    from relgate.evidence.signing import signer_for

    own, stranger = generate("own"), generate("x")
    keys = f"evidence: {{keys: [{{id: prod, public_key: '{own.public_key}'}}]}}\n"
    config = _config(tmp_path, keys if configured else "")
    value = {"own": own.private_key, "stranger": stranger.private_key, "garbage": "hunter2"}
    env = {"RELGATE_SIGNING_KEY": value[env_key]} if env_key else {}
    signer = signer_for(config, env)  # type: ignore[arg-type]
    assert (signer.key is not None) == signed
    if env_key == "own":
        assert signer.key_id == "prod"
    if warning is None:
        assert signer.warnings == []
    else:
        assert len(signer.warnings) == 1 and warning in signer.warnings[0]
        assert "hunter2" not in signer.warnings[0]


def test_the_signing_key_is_a_secret_of_the_config(tmp_path: Path) -> None:
    config = _config(tmp_path, "evidence: {signing_key_env: GATE_SIGNER}\n")
    assert "GATE_SIGNER" in config.secret_names()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        pytest.param(
            "[{id: a, public_key: 'ed25519:AAAA'}]", "ed25519:<base64 of 32 bytes>", id="short"
        ),
        pytest.param("[{id: a, public_key: 'ssh-ed25519 AAAA'}]", "ed25519:<base64", id="ssh"),
        pytest.param(
            "[{id: 'a b', public_key: 'ed25519:" + "A" * 43 + "='}]", "pattern", id="bad-id"
        ),
    ],
)
def test_bad_public_keys_are_config_errors(tmp_path: Path, keys: str, message: str) -> None:
    from relgate.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, f"evidence: {{keys: {keys}}}\n")


def test_duplicate_key_ids_are_config_errors(tmp_path: Path) -> None:
    from relgate.errors import ConfigError

    a, b = generate(), generate()
    keys = f"[{{id: k, public_key: '{a.public_key}'}}, {{id: k, public_key: '{b.public_key}'}}]"
    with pytest.raises(ConfigError, match="duplicate key id: k"):
        _config(tmp_path, f"evidence: {{keys: {keys}}}\n")
