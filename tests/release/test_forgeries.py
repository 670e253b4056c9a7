"""Forged evidence, made as an attacker would with real files and relgate's own packer, is refused
by ``release`` and by ``verify-release`` with the same reason, naming the check.

For ``verify-release`` the attacker publishes the forgery by hand through the API (an annotated
tag naming the forged bundle's digest, a release with the bundle attached): the auditor must see
through it from the release assets alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relgate.evidence.bundle import extract_bundle
from relgate.evidence.keys import generate, load_private
from relgate.evidence.manifest import MANIFEST_NAME, STATEMENT_NAME
from relgate.evidence.pack import pack_directory
from relgate.evidence.signing import Signer
from relgate.release import release, verify_release
from relgate.results import Status
from tests._evidence import deploy_result
from tests.release.conftest import CONFIG, KEYS, Setup

Edit = Callable[[Path], None]


# -- how the attacker works ---------------------------------------------------------------------
def repack(s: Setup, bundle: Path, edit: Edit, *, statement: str = "copy") -> Path:
    """Extract ``bundle``, ``edit`` its files, pack again with a regenerated manifest.

    ``statement``: ``copy`` keeps the original statement, ``none`` drops it, ``attacker`` signs a
    fresh, correct statement with a key of the attacker's own."""
    work = s.tmp / f"forge-{s.runs}-{len(list(s.tmp.glob('forge-*')))}"
    extract_bundle(bundle, work)
    original = (work / STATEMENT_NAME).read_bytes() if (work / STATEMENT_NAME).exists() else None
    edit(work)
    dest = s.tmp / "forged" / work.name / bundle.name
    dest.parent.mkdir(parents=True)
    trailer = None
    if statement == "copy" and original is not None:
        trailer = _fixed(original)
    elif statement == "attacker":
        trailer = _attacker_trailer(work, bundle.name)
    pack_directory(
        work, dest, fmt="tar.gz", prefix=bundle.name.removesuffix(".tar.gz"), trailer=trailer
    )
    return dest


def _fixed(statement: bytes):  # type: ignore[no-untyped-def]
    return lambda _manifest: [(STATEMENT_NAME, statement)]


def _attacker_trailer(work: Path, name: str):  # type: ignore[no-untyped-def]
    from relgate.recorded import parse_result
    from relgate.results import RunMeta, StageName

    pair = generate("attacker")
    signer = Signer(load_private(pair.private_key, source="attacker"), "gate-test")
    meta = RunMeta.model_validate_json((work / "meta.json").read_bytes())
    stages = {
        p.stem: parse_result(StageName(p.stem), p.read_bytes()).get()
        for p in (work / "results").glob("*.json")
    }
    table = json.loads((work / "results" / "archive.json").read_text())["stages"]

    def trailer(manifest):  # type: ignore[no-untyped-def]
        envelope = signer.envelope(
            manifest, bundle_name=name, meta=meta, stages=stages, verdicts=table
        )
        return [(STATEMENT_NAME, envelope)]

    return trailer


def edit_json(rel: str, **changes: object) -> Edit:
    def edit(root: Path) -> None:
        doc = json.loads((root / rel).read_text())
        doc.update(changes)
        (root / rel).write_text(json.dumps(doc))

    return edit


def publish_by_hand(s: Setup, bundle: Path, tag: str = "v1.0.0") -> None:
    from relgate.github.releases import (
        AssetFile,
        ensure_assets,
        ensure_draft_release,
        ensure_tag,
        file_digest,
        publish_release,
    )

    digest = "sha256:" + hashlib.sha256(_member(bundle, MANIFEST_NAME)).hexdigest()
    client = s.client()
    message = f"{tag}\n\nRelgate-Evidence-Digest: {digest}\n"
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ensure_tag(client, tag, s.repo.head(), message, tagger=("mallory", "m@example.com", when))
    rel, _ = ensure_draft_release(client, tag, name=tag, body="", prerelease=False)
    asset = AssetFile(bundle, bundle.name, bundle.stat().st_size, file_digest(bundle))
    ensure_assets(client, rel, [asset])
    publish_release(client, rel, name=tag, body="", prerelease=False)


def _member(bundle: Path, rel: str) -> bytes:
    with tarfile.open(bundle) as tf:
        for info in tf:
            if info.name.endswith("/" + rel):
                fh = tf.extractfile(info)
                assert fh is not None
                return fh.read()
    raise AssertionError(f"no {rel} in {bundle}")


def refused_by_both(s: Setup, bundle: Path, check: str, version: str = "v1.0.0") -> str:
    """Release refuses with a reason naming ``check``, before touching GitHub; the same bundle
    published by hand fails verify-release with the same reason. Returns the reason."""
    record = release(s.config, s.new_run(), bundle=bundle, version=version, github=s.client())
    assert record.exit_code == 1 and record.outcome == "refused", record.summary
    reason = record.problems[0]
    assert reason.startswith(f"{check}: "), record.problems
    assert record.summary == f"release {record.tag} refused: {reason}"
    assert s.fake.requests == []
    publish_by_hand(s, bundle, record.tag)
    audit = verify_release(s.config, record.tag, env=s.env, github=s.client())
    assert audit.exit_code == 1 and audit.problems, audit
    assert audit.problems[0] == reason, (audit.problems, record.problems)
    return reason


# -- forgeries of a bundle (the attacker has no signing key) --------------------------------------
def swap_smoke_from(passing: Path) -> Edit:
    def edit(root: Path) -> None:
        other = root.parent / "donor"
        extract_bundle(passing, other)
        shutil.copy(other / "results" / "smoke.json", root / "results" / "smoke.json")

    return edit


def from_scratch(s: Setup) -> Edit:
    """Keep nothing but three hand-written files."""

    def edit(root: Path) -> None:
        for child in root.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        meta = {
            "run_id": "forged",
            "project": "app",
            "repository": "acme/app",
            "environment": "staging",
            "version": "v1.0.0",
            "tag": "v1.0.0",
            "commit": s.repo.head(),
        }
        (root / "meta.json").write_text(json.dumps(meta))
        (root / "results").mkdir()
        smoke = {"stage": "smoke", "status": "passed", "run_id": "forged"}
        (root / "results" / "smoke.json").write_text(json.dumps(smoke))
        deploy = deploy_result(Status.PASSED).model_copy(update={"run_id": "forged"})
        (root / "results" / "deploy.json").write_text(deploy.model_dump_json())

    return edit


def incoherent_smoke(root: Path) -> None:
    doc = json.loads((root / "results" / "smoke.json").read_text())
    doc["failed_step"] = {"index": 4, "name": "lock", "message": "HTTP 409"}
    doc["passed_count"], doc["total"] = 3, 9
    (root / "results" / "smoke.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("signed", [True, False], ids=["signed-config", "no-keys"])
@pytest.mark.parametrize(
    ("forge", "unsigned_check"),
    [
        pytest.param("swapped-smoke", "run-id", id="smoke-swapped-from-a-passing-run"),
        pytest.param("from-scratch", "archive", id="three-files-from-scratch"),
        pytest.param("incoherent-smoke", "smoke", id="smoke-passed-with-failed-step-3-of-9"),
        pytest.param("short-commit", "commit", id="seven-char-commit"),
        pytest.param("edited-after-signing", "archive-table", id="results-edited-after-signing"),
    ],
)
def test_forged_bundles_are_refused(
    setup: Setup, forge: str, unsigned_check: str, signed: bool
) -> None:
    if not signed:
        setup.without_keys()
    # With keys the attacker keeps the original statement (the best he has); without, he drops it
    # (a statement that names another bundle is refused even when nothing can check signatures).
    keep = "copy" if signed else "none"
    if forge == "swapped-smoke":
        failing, passing = setup.bundle(smoke=Status.FAILED), setup.bundle()
        bundle = repack(setup, failing, swap_smoke_from(passing), statement=keep)
    elif forge == "from-scratch":
        bundle = repack(setup, setup.bundle(), from_scratch(setup), statement="none")
    elif forge == "incoherent-smoke":
        bundle = repack(setup, setup.bundle(), incoherent_smoke, statement=keep)
    elif forge == "short-commit":
        short = edit_json("meta.json", commit=setup.repo.head()[:7])
        bundle = repack(setup, setup.bundle(), short, statement=keep)
    else:
        flipped = edit_json("results/deploy.json", status="failed")
        bundle = repack(setup, setup.bundle(), flipped, statement=keep)
    # With keys, the attacker's statement is missing or names the original bundle.
    reason = refused_by_both(setup, bundle, "statement" if signed else unsigned_check)
    if signed and forge != "from-scratch":
        assert "another bundle" in reason


def test_the_seven_char_commit_no_longer_splits_release_and_audit(setup: Setup) -> None:
    setup.without_keys()
    short = edit_json("meta.json", commit=setup.repo.head()[:7])
    bundle = repack(setup, setup.bundle(), short, statement="none")
    reason = refused_by_both(setup, bundle, "commit")
    assert "not a full 40-hex commit sha" in reason


# -- genuine, signed bundles used for what they do not prove ------------------------------------
@pytest.mark.parametrize("signed", [True, False], ids=["signed-config", "no-keys"])
def test_a_bundle_of_another_version(setup: Setup, signed: bool) -> None:
    if not signed:
        setup.without_keys()
    reason = refused_by_both(setup, setup.bundle(version="v0.5.0"), "version")
    assert "v0.5.0, not v1.0.0" in reason


@pytest.mark.parametrize(
    ("project", "repository", "check"),
    [
        pytest.param("other", "acme/app", "project", id="another-project"),
        pytest.param("app", "acme/other", "repository", id="another-repository"),
    ],
)
def test_a_bundle_of_another_project(
    setup: Setup, project: str, repository: str, check: str
) -> None:
    assert setup.keys is not None
    text = CONFIG.replace("name: app", f"name: {project}").replace("acme/app", repository)
    other = setup.load(text + KEYS.format(id="other", public_key=setup.keys.public_key), "o.yml")
    bundle = setup.bundle(config=other)  # signed with the same key: the signature is genuine
    refused_by_both(setup, bundle, check)


def test_replay_of_last_weeks_bundle_for_todays_commit(setup: Setup) -> None:
    old = setup.bundle()  # valid, signed, for the commit HEAD was then
    setup.repo.commit("feat: today's change")
    setup.fake.seed_commit("feat: today's change", sha=setup.repo.head(), branch="main")
    reason = refused_by_both(setup, old, "commit")
    assert "deploy and smoke-test that very commit" in reason


# -- the statement itself ------------------------------------------------------------------------
def test_unsigned_statement(setup: Setup) -> None:
    env = {k: v for k, v in setup.env.items() if k != "RELGATE_SIGNING_KEY"}
    bundle = setup.bundle(env=env)  # archive without the environment's key
    reason = refused_by_both(setup, bundle, "statement")
    assert "unsigned" in reason


def test_statement_stripped(setup: Setup) -> None:
    bundle = repack(setup, setup.bundle(), lambda _root: None, statement="none")
    reason = refused_by_both(setup, bundle, "statement")
    assert "no gate statement" in reason


def test_signed_by_a_key_not_in_the_config(setup: Setup) -> None:
    stranger = generate("stranger")
    bundle = setup.bundle(env={**setup.env, "RELGATE_SIGNING_KEY": stranger.private_key})
    reason = refused_by_both(setup, bundle, "statement")
    assert "signed by an unknown key" in reason


def test_forged_statement_signed_by_the_attacker_under_a_trusted_id(setup: Setup) -> None:
    bundle = repack(setup, setup.bundle(smoke=Status.FAILED), lambda _r: None, statement="attacker")
    reason = refused_by_both(setup, bundle, "statement")
    assert "unknown key (gate-test)" in reason


def test_statement_copied_from_another_valid_bundle(setup: Setup) -> None:
    donor = setup.bundle()
    statement = _member(donor, STATEMENT_NAME)

    def copy(_root: Path) -> None:
        pass

    target = setup.bundle()
    work_bundle = repack(setup, target, copy, statement="none")
    # Re-pack once more, now carrying the donor's (valid, signed) statement.
    final = setup.tmp / "copied" / target.name
    final.parent.mkdir()
    root = setup.tmp / "copied-root"
    extract_bundle(work_bundle, root)
    pack_directory(
        root,
        final,
        fmt="tar.gz",
        prefix=target.name.removesuffix(".tar.gz"),
        trailer=lambda _m: [(STATEMENT_NAME, statement)],
    )
    reason = refused_by_both(setup, final, "statement")
    assert "another bundle" in reason


def test_results_edited_in_place_without_a_new_manifest(setup: Setup) -> None:
    bundle = setup.bundle(smoke=Status.FAILED)
    tampered = setup.tmp / "tampered" / bundle.name
    tampered.parent.mkdir()
    with tarfile.open(bundle) as src, tarfile.open(tampered, "w:gz") as dst:
        for info in src:
            data = src.extractfile(info).read()  # type: ignore[union-attr]
            if info.name.endswith("results/smoke.json"):
                data = data.replace(b'"failed"', b'"passed"')
                info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    reason = refused_by_both(setup, tampered, "integrity")
    assert "results/smoke.json" in reason


# -- the genuine article -------------------------------------------------------------------------
def test_a_genuine_signed_bundle_passes_both(setup: Setup) -> None:
    bundle = setup.bundle()
    record = release(
        setup.config, setup.new_run(), bundle=bundle, version="v1.0.0", github=setup.client()
    )
    assert record.exit_code == 0, record.problems
    assert record.signed_by == "gate-test" and record.authenticity == "signed by gate-test"
    assert "signed by gate-test" in record.summary
    audit = verify_release(setup.config, "v1.0.0", env=setup.env, github=setup.client())
    assert audit.exit_code == 0, audit.problems
    assert audit.signed_by == "gate-test" and audit.warnings == []


def test_without_keys_both_say_unauthenticated(setup: Setup) -> None:
    setup.without_keys()
    record = release(
        setup.config,
        setup.new_run(),
        bundle=setup.bundle(),
        version="v1.0.0",
        github=setup.client(),
    )
    assert record.exit_code == 0
    assert record.signed_by is None and record.authenticity.startswith("unauthenticated")
    assert any("unauthenticated" in w for w in record.warnings)
    audit = verify_release(setup.config, "v1.0.0", env=setup.env, github=setup.client())
    assert audit.exit_code == 0 and audit.signed_by is None
    assert any("unauthenticated" in w for w in audit.warnings)
    assert "proven" not in record.summary + audit.model_dump_json()
