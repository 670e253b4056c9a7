"""``archive`` always produces a bundle, records every stage, and never packs a known secret."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from relgate.cli import main
from relgate.config import load_config
from relgate.evidence.archive import archive, bundle_name
from relgate.evidence.bundle import verify_bundle
from relgate.results import StageResult, Status
from relgate.run import Run
from tests._tools import require_tool
from tests.evidence.conftest import SECRET, MakeRun


def test_missing_stages_are_recorded_as_not_run(make_run: MakeRun, tmp_path: Path) -> None:
    run = make_run()
    run.write_result(StageResult(stage="deploy", status=Status.INTERRUPTED, summary="SIGTERM"))
    result = archive(None, run, output_dir=tmp_path / "out")
    assert result.status is Status.PASSED, result.error
    report = verify_bundle(Path(result.bundle_path or ""))
    assert report.digest == result.bundle_digest
    assert report.verdicts == {
        "preflight": "not_run",
        "deploy": "interrupted",
        "smoke": "not_run",
        "archive": "passed",
        "notes": "missing",
        "release": "missing",
        "rollback": "missing",
    }
    assert report.meta.stages is not None and report.meta.stages["smoke"] == "not_run"
    assert Path(result.bundle_path or "").name == bundle_name("run", "staging", run.id, "tar.zst")


def test_unreadable_result_is_kept_and_replaced(make_run: MakeRun, tmp_path: Path) -> None:
    run = make_run()
    (run.dir / "results" / "smoke.json").write_text('{"stage": "smoke", "status": ')
    result = archive(None, run, output_dir=tmp_path)
    report = verify_bundle(Path(result.bundle_path or ""))
    assert report.verdicts["smoke"] == "error"
    assert "artifacts/archive/unreadable-smoke.json" in report.stages["smoke"].summary
    assert result.warnings


def _plant(run: Run, rel: str, data: bytes) -> None:
    """A misbehaving hook writes straight into the run directory, bypassing the redacting writer."""
    path = run.dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize(
    ("content", "line"),
    [
        pytest.param(f"ok\nok\npassword={SECRET}\n".encode(), 3, id="raw"),
        pytest.param(
            b"x\n" + base64.b64encode(f"prof1:{SECRET}".encode()) + b"\n", 2, id="basic-auth"
        ),
        pytest.param(b'{"p": "' + json.dumps(SECRET).encode()[1:-1] + b'"}', 1, id="json"),
        pytest.param(b"\0\1binary" * 10000 + SECRET.encode(), 1, id="binary"),
        pytest.param(b"a\n" * 700_000 + SECRET.encode() + b"\n", 700_001, id="across-chunks"),
    ],
)
def test_a_planted_secret_is_withheld_and_the_bundle_still_made(
    make_run: MakeRun, tmp_path: Path, content: bytes, line: int
) -> None:
    run = make_run({"SMOKE_PASS": SECRET})
    _plant(run, "logs/hooks/post-deploy.log", content)
    out = tmp_path / "out"
    result = archive(None, run, output_dir=out)
    assert result.status is Status.PASSED and result.exit_code == 0, result.error
    assert result.outcome == "packed_redacted"
    assert [(x.file, x.line, x.secret) for x in result.leaks] == [
        ("logs/hooks/post-deploy.log", line, "SMOKE_PASS")
    ]
    assert any("logs/hooks/post-deploy.log" in w for w in result.warnings)
    report = verify_bundle(Path(result.bundle_path or ""))
    assert report.digest == result.bundle_digest
    packed = _member(Path(result.bundle_path or ""), "logs/hooks/post-deploy.log")
    assert SECRET.encode() not in packed and b"***" in packed
    recorded = json.loads(_member(Path(result.bundle_path or ""), "results/archive.json"))
    assert recorded["outcome"] == "packed_redacted"
    assert recorded["leaks"][0]["file"] == "logs/hooks/post-deploy.log"


def test_a_secret_in_a_file_name_is_withheld(make_run: MakeRun, tmp_path: Path) -> None:
    run = make_run({"SMOKE_PASS": SECRET.replace("/", "_")})
    _plant(run, f"logs/hooks/{SECRET.replace('/', '_')}.log", b"hello\n")
    result = archive(None, run, output_dir=tmp_path / "out")
    assert result.status is Status.PASSED, result.error
    assert [x.secret for x in result.leaks] == ["SMOKE_PASS"]
    names = _members(Path(result.bundle_path or ""))
    assert not any(SECRET.replace("/", "_") in n for n in names)
    assert any("artifacts/archive/withheld-" in n for n in names)


def _members(bundle: Path) -> list[str]:
    import tarfile

    import zstandard

    data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(bundle.read_bytes())).read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [m.name for m in tar.getmembers()]


def _member(bundle: Path, rel: str) -> bytes:
    import tarfile

    import zstandard

    data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(bundle.read_bytes())).read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            if member.name.split("/", 1)[1] == rel:
                fh = tar.extractfile(member)
                assert fh is not None
                return fh.read()
    raise AssertionError(f"{rel} not in {bundle}")


def test_secrets_from_config_are_scanned_too(tmp_path: Path, make_run: MakeRun) -> None:
    (tmp_path / "token.txt").write_text("file-held-deploy-key-123\n")
    (tmp_path / "relgate.yml").write_text(
        "project: {name: shop}\n"
        "secrets: [{name: DEPLOY_KEY, file: token.txt}]\n"
        "environments: {staging: {base_url: 'https://staging.example.com'}}\n"
    )
    config = load_config(tmp_path / "relgate.yml", env={})
    run = make_run()
    _plant(run, "artifacts/deploy/env.txt", b"DEPLOY_KEY=file-held-deploy-key-123\n")
    result = archive(config, run, output_dir=tmp_path / "out")
    assert [(x.file, x.secret) for x in result.leaks] == [
        ("artifacts/deploy/env.txt", "DEPLOY_KEY")
    ]


def test_meta_from_git_outside_actions(make_run: MakeRun, tmp_path: Path) -> None:
    require_tool("git")
    repo = tmp_path / "app"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "git@github.com:acme/shop.git"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    (tmp_path / "relgate.yml").write_text(
        "project: {name: shop, repo_path: app}\n"
        "environments: {staging: {base_url: 'https://staging.example.com'}}\n"
        "archive: {retention_days: 400, format: tar.gz}\n"
    )
    config = load_config(tmp_path / "relgate.yml", env={})
    result = archive(config, make_run(), output_dir=tmp_path / "out")
    meta = verify_bundle(Path(result.bundle_path or "")).meta
    assert (meta.commit, meta.repository, meta.tag) == (head, "acme/shop", "v1.2.0")
    assert (meta.base_url, meta.retention_days, meta.project) == (
        "https://staging.example.com",
        400,
        "shop",
    )
    assert meta.config_digest is not None and meta.config_digest.startswith("sha256:")
    assert result.format == "tar.gz" and result.bundle_path.endswith(".tar.gz")  # type: ignore[union-attr]


def test_meta_from_github_actions(make_run: MakeRun, tmp_path: Path) -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": "4e1d2c9" + "0" * 33,
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_RUN_ID": "9912",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_WORKFLOW": "release",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    run = make_run(env)
    result = archive(None, run, output_dir=tmp_path)
    meta = verify_bundle(Path(result.bundle_path or "")).meta
    assert meta.actor == "octocat" and meta.commit == env["GITHUB_SHA"]
    assert meta.github is not None
    assert meta.github.run_url == "https://github.com/acme/shop/actions/runs/9912/attempts/2"
    assert run.reporter.outputs["bundle-digest"] == result.bundle_digest
    assert run.id == "gh-9912-2"


def test_symlinks_are_not_followed(make_run: MakeRun, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not evidence\n")
    run = make_run()
    os.symlink(outside, run.dir / "logs" / "link.log")
    result = archive(None, run, output_dir=tmp_path / "out")
    assert result.skipped == [f"logs/link.log: symbolic link to {outside} (links are not packed)"]
    names = [f for f in verify_bundle(Path(result.bundle_path or "")).stages]
    assert "link" not in " ".join(names)


# -- the CLI --------------------------------------------------------------------------------------
def _cli(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_archive_verify_show(filled_run: Run, tmp_path: Path) -> None:
    env = {"SMOKE_PASS": SECRET}
    code, out, err = _cli("--json", "--run-dir", str(filled_run.dir), "archive", env=env)
    assert code == 0, err
    packed = json.loads(out)
    bundle = packed["bundle_path"]
    assert Path(bundle).parent == filled_run.dir.parent and bundle.endswith(".tar.zst")

    code, out, err = _cli("evidence", "verify", bundle, "--require", "deploy", env=env)
    assert code == 0, err
    assert "EVIDENCE VERIFIED" in out and packed["bundle_digest"] in out

    code, out, err = _cli("evidence", "verify", bundle, "--require", "deploy,smoke", env=env)
    assert code == 1
    assert "smoke: required to pass but failed: 8/9 passed" in out + err

    code, out, _ = _cli(
        "evidence", "verify", bundle, "--expect-digest", packed["bundle_digest"], env=env
    )
    assert code == 0
    code, _, err = _cli(
        "evidence", "verify", bundle, "--expect-digest", "sha256:" + "0" * 64, env=env
    )
    assert code == 1 and "expected sha256:000" in err

    code, out, _ = _cli("evidence", "show", bundle, env=env)
    assert code == 0
    assert "smoke      failed" in out and "version       1.2.0" in out
    assert "gate statement: unauthenticated (unsigned)" in out


def test_cli_signed_archive_verifies_with_the_public_key(filled_run: Run) -> None:
    from relgate.evidence.keys import generate

    pair, stranger = generate("ops-2026"), generate("stranger")
    env = {"SMOKE_PASS": SECRET, "RELGATE_SIGNING_KEY": pair.private_key}
    code, out, err = _cli("--json", "--run-dir", str(filled_run.dir), "archive", env=env)
    assert code == 0, err
    packed = json.loads(out)
    assert packed["signed_by"].startswith("relgate-")  # no relgate.yml: an id from the key
    assert pair.private_key not in out + err
    bundle = packed["bundle_path"]

    trust = f"ops-2026={pair.public_key}"
    code, out, err = _cli("evidence", "verify", bundle, "--public-key", trust, env={})
    assert code == 0, err
    assert "gate statement: signed by ops-2026" in out and "EVIDENCE VERIFIED" in out
    code, out, err = _cli("--json", "evidence", "verify", bundle, "--public-key", trust, env={})
    assert json.loads(out)["signed_by"] == "ops-2026"

    wrong = f"ops-2026={stranger.public_key}"
    code, out, err = _cli("evidence", "verify", bundle, "--public-key", wrong, env={})
    assert code == 1
    assert "statement: signed by an unknown key" in err

    code, out, err = _cli("evidence", "verify", bundle, env={})  # no key anywhere
    assert code == 0 and "UNAUTHENTICATED" in out
    assert "evidence is unauthenticated" in err


def test_cli_withholds_a_secret_without_printing_it(make_run: MakeRun) -> None:
    run = make_run()
    _plant(run, "logs/hook.log", f"line\n{SECRET}\n".encode())
    code, out, err = _cli("--run-dir", str(run.dir), "archive", env={"SMOKE_PASS": SECRET})
    assert code == 0
    assert "logs/hook.log redacted (line 2: SMOKE_PASS)" in err
    assert "evidence: " in out
    assert SECRET not in out + err


def test_cli_tampered_bundle_exits_1_naming_the_file(filled_run: Run) -> None:
    code, out, _ = _cli("--json", "--run-dir", str(filled_run.dir), "archive", env={})
    bundle = Path(json.loads(out)["bundle_path"])
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    bundle.write_bytes(bytes(data))
    code, out, err = _cli("evidence", "verify", str(bundle), env={})
    assert code == 1
    assert "evidence verification failed:" in err


def test_included_files_are_copied_redacted(make_run: MakeRun, tmp_path: Path) -> None:
    (tmp_path / "RELEASE_NOTES_v1.md").write_text(f"notes\nleaked {SECRET}\n")
    (tmp_path / "relgate.yml").write_text(
        "project: {name: shop}\n"
        "environments: {staging: {base_url: 'https://staging.example.com'}}\n"
        "archive: {include: ['RELEASE_NOTES_*.md', 'missing/*.txt']}\n"
    )
    config = load_config(tmp_path / "relgate.yml", env={})
    run = make_run({"SMOKE_PASS": SECRET})
    result = archive(config, run, output_dir=tmp_path / "out")
    assert result.status is Status.PASSED, result.error
    from relgate.evidence.bundle import open_bundle

    copied = open_bundle(Path(result.bundle_path or "")).read(
        "artifacts/archive/include/RELEASE_NOTES_v1.md"
    )
    assert copied == b"notes\nleaked ***\n"
    assert result.warnings == ["archive.include 'missing/*.txt': no file matches"]
