"""Signed update manifests: relgate and the Debian ``minisign`` CLI verify each other's signatures,
and a tampered asset, manifest or trusted comment is refused before anything says "ok"."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from relgate.cli import main
from tests._tools import require_tool

URL = "https://downloads.example.com/retaia-ui-1.2.0.tar.gz"


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    """A password-less key pair made by the minisign CLI itself."""
    require_tool("minisign")
    subprocess.run(["minisign", "-G", "-W", "-p", "k.pub", "-s", "k.key"], cwd=tmp_path,
                   check=True, capture_output=True)  # fmt: skip
    return {
        "secret": (tmp_path / "k.key").read_text(),
        "public": (tmp_path / "k.pub").read_text().splitlines()[1],
    }


def cli(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        code = main(list(argv), env={"PATH": os.environ["PATH"], **(env or {})}, stdout=out,
                    stderr=err)  # fmt: skip
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def minisign_verify(tmp_path: Path, public: str, file: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["minisign", "-V", "-P", public, "-m", file], cwd=tmp_path,
                          capture_output=True, text=True, check=False)  # fmt: skip


def write_signed(tmp_path: Path, keys: dict[str, str]) -> tuple[int, str, str]:
    (tmp_path / "ui.tar.gz").write_bytes(b"retaia ui 1.2.0\n" * 1000)
    return cli(tmp_path, "manifest", "write", "--sign", "--version", "1.2.0", "--asset",
               "ui.tar.gz", "--asset-url", URL, "--output", "latest.json",
               env={"RELGATE_MINISIGN_KEY": keys["secret"]})  # fmt: skip


def verify(tmp_path: Path, public: str, *extra: str) -> tuple[int, str, str]:
    return cli(tmp_path, "--json", "manifest", "verify", "--manifest", "latest.json",
               "--public-key", public, *extra, "ui.tar.gz")  # fmt: skip


def test_relgate_signatures_verify_with_minisign(tmp_path: Path, keys: dict[str, str]) -> None:
    code, out, err = write_signed(tmp_path, keys)
    assert code == 0, err
    for file in ("latest.json", "ui.tar.gz"):
        done = minisign_verify(tmp_path, keys["public"], file)
        assert done.returncode == 0, done.stderr
        assert f"file:{file}" in done.stdout  # the trusted comment, verified by minisign
    manifest = json.loads((tmp_path / "latest.json").read_text())
    assert manifest["signature"] == (tmp_path / "ui.tar.gz.minisig").read_text()  # Tauri's field
    code, out, err = verify(tmp_path, keys["public"])
    assert code == 0, err
    result = json.loads(out)  # on success the check itself
    assert result["ok"] and result["signed"]
    secret_line = keys["secret"].splitlines()[1]
    assert secret_line not in out + err  # the key is never printed


def test_minisign_signatures_verify_with_relgate(tmp_path: Path, keys: dict[str, str]) -> None:
    (tmp_path / "ui.tar.gz").write_bytes(b"built elsewhere\n")
    code, _, err = cli(tmp_path, "manifest", "write", "--version", "1.2.0", "--asset", "ui.tar.gz",
                       "--asset-url", URL, "--output", "latest.json")  # fmt: skip
    assert code == 0, err
    for file in ("ui.tar.gz", "latest.json"):
        subprocess.run(["minisign", "-S", "-s", "k.key", "-m", file, "-t", f"release {file}"],
                       cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    code, _out, err = verify(tmp_path, keys["public"])
    assert code == 0, err
    # and the public key as a file works as well
    code, _, err = verify(tmp_path, str(tmp_path / "k.pub"))
    assert code == 0, err


def _tamper_asset(tmp_path: Path) -> None:
    (tmp_path / "ui.tar.gz").write_bytes(b"malicious\n")


def _tamper_manifest_to_match(tmp_path: Path) -> None:
    """The attacker swaps the asset and rewrites the manifest to match it."""
    import hashlib

    evil = b"malicious\n"
    (tmp_path / "ui.tar.gz").write_bytes(evil)
    doc = json.loads((tmp_path / "latest.json").read_text())
    doc.update(sha256=hashlib.sha256(evil).hexdigest(), size=len(evil))
    (tmp_path / "latest.json").write_text(json.dumps(doc, indent=2) + "\n")


def _tamper_trusted_comment(tmp_path: Path) -> None:
    sig = tmp_path / "latest.json.minisig"
    lines = sig.read_text().splitlines()
    lines[2] = "trusted comment: timestamp:1\tfile:other.json\thashed"
    sig.write_text("\n".join(lines) + "\n")


def _unsigned_manifest(tmp_path: Path) -> None:
    (tmp_path / "latest.json.minisig").unlink()


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        pytest.param(_tamper_asset, "asset signature: the signature does not match", id="asset"),
        pytest.param(_tamper_manifest_to_match, "manifest signature: the signature does not match",
                     id="manifest-rewritten-to-match"),
        pytest.param(_tamper_trusted_comment, "the trusted comment was tampered with",
                     id="trusted-comment"),
        pytest.param(_unsigned_manifest, "manifest signature missing", id="manifest-unsigned"),
    ],
)  # fmt: skip
def test_tampering_is_refused(tmp_path: Path, keys: dict[str, str], tamper, problem: str) -> None:
    assert write_signed(tmp_path, keys)[0] == 0
    tamper(tmp_path)
    code, out, _ = verify(tmp_path, keys["public"])
    assert code == 1
    result = json.loads(out)["result"]
    assert result["ok"] is False
    assert any(problem in p for p in result["problems"]), result["problems"]


def test_another_key_is_refused(tmp_path: Path, keys: dict[str, str]) -> None:
    assert write_signed(tmp_path, keys)[0] == 0
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["minisign", "-G", "-W", "-p", "o.pub", "-s", "o.key"], cwd=other, check=True,
                   capture_output=True)  # fmt: skip
    code, out, _ = verify(tmp_path, (other / "o.pub").read_text().splitlines()[1])
    assert code == 1 and "not with the given key" in out


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        pytest.param(["manifest", "verify", "--manifest", "latest.json", "ui.tar.gz"], {},
                     "give --public-key", id="verify-without-key"),
        pytest.param(["manifest", "write", "--sign", "--version", "1", "--asset-url", URL,
                      "--sha256", "a" * 64], {}, "set RELGATE_MINISIGN_KEY", id="sign-without-key"),
        pytest.param(["manifest", "write", "--sign", "--version", "1", "--asset-url", URL,
                      "--sha256", "a" * 64], {"RELGATE_MINISIGN_KEY": "RWQnot-a-key"},
                     "secret key", id="sign-with-garbage"),
    ],
)  # fmt: skip
def test_bad_input_exits_2(
    tmp_path: Path, argv: list[str], env: dict[str, str], message: str
) -> None:
    code, _out, err = cli(tmp_path, *argv, env=env)
    assert code == 2
    assert message in err and "Traceback" not in err
