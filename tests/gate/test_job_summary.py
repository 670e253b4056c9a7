"""The job summary leads with the verdict and its cause (issue 18), read from a real run: the demo
gate, passing and with a deploy that crashes, then ``relgate summary`` as a job's last step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relgate.job_summary import SECTIONS_FILE, compose, headline
from relgate.secrets import SecretRegistry

RELGATE = str(Path(sys.executable).with_name("relgate"))


def _run_demo(tmp_path: Path, *args: str) -> Path:
    env = {
        "PATH": str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
    }
    home = tmp_path / "demo"
    subprocess.run(
        [RELGATE, "demo", "--home", str(home), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    runs = [p for p in (home / ".relgate" / "runs").iterdir() if (p / "results").is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def broken_deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run_demo(tmp_path_factory.mktemp("broken"), "--break", "deploy")


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run_demo(tmp_path_factory.mktemp("passing"))


def _summary_via_cli(run_dir: Path, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    summary_file = tmp_path / "step-summary.md"
    summary_file.touch()
    env = {
        "PATH": str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "GITHUB_OUTPUT": str(tmp_path / "out"),
    }
    done = subprocess.run(
        [RELGATE, "--run-dir", str(run_dir), "summary", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, summary_file.read_text(encoding="utf-8"), done.stdout + done.stderr


def test_failed_deploy_leads_with_verdict_cause_and_state(
    broken_deploy: Path, tmp_path: Path
) -> None:
    code, markdown, out = _summary_via_cli(broken_deploy, tmp_path)
    assert code == 0, out
    first = markdown.splitlines()[0]
    assert first.startswith("## ❌ GATE FAILED at deploy: app: exited (code 1)"), markdown[:300]
    head = markdown.split("<details>")[0]
    assert "environment left: rolled back to v0.9.0, healthy" in head
    assert "version v1.0.0 → environment demo" in head
    # The cause carries what the failing service said before it died (the demo's crash line).
    cause = markdown.split("<summary>cause</summary>")[1].split("</details>")[0]
    assert "last log lines of app:" in cause
    assert "crash-on-start" in cause or "fault" in cause, cause
    # The preflight table comes after the headline, its SKIP rows folded away.
    assert markdown.index("GATE FAILED") < markdown.index("Preflight")
    preflight = markdown[markdown.index("Preflight") :]
    assert "| SKIP |" not in preflight.split("checks skipped")[0]
    assert "checks skipped" in preflight


def test_passing_gate_summary(passing: Path, tmp_path: Path) -> None:
    code, markdown, out = _summary_via_cli(
        passing,
        tmp_path,
        "--artifact-name",
        "relgate-evidence-demo-1",
        "--artifact-url",
        "https://github.com/acme/shop/actions/runs/1/artifacts/2",
    )
    assert code == 0, out
    assert markdown.startswith("## ✅ GATE PASSED")
    head = markdown[: markdown.index("| stage |")]
    assert "environment left: v1.0.0 running, healthy" in head
    assert (
        "[relgate-evidence-demo-1](https://github.com/acme/shop/actions/runs/1/artifacts/2)" in head
    )
    # No path on the runner stands in for the evidence.
    assert str(passing.parent) not in head


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://example.com/a", id="plain-http"),
        pytest.param("https://x/a) [pwn](https://evil", id="markdown-injection"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("file:///tmp/artifacts/relgate-evidence", id="act-stand-in"),
    ],
)
def test_only_a_plain_https_url_becomes_a_link(passing: Path, tmp_path: Path, url: str) -> None:
    # A summary reports; it never fails the job over a link. Anything but plain https is text.
    code, markdown, out = _summary_via_cli(
        passing, tmp_path, "--artifact-name", "ev", "--artifact-url", url
    )
    assert code == 0, out
    assert "](" not in markdown.split("| stage |")[0]
    assert "[pwn]" not in markdown
    assert "workflow artifact ev" in markdown


def test_unreadable_deploy_result_is_never_a_pass(passing: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(passing, copy)
    (copy / "results" / "gate.json").unlink()
    (copy / "results" / "deploy.json").write_text("{not json", encoding="utf-8")
    head = headline(copy)
    assert not head.passed
    assert "deploy" in head.verdict and "PASSED" not in head.verdict


def test_missing_smoke_result_is_never_a_pass(passing: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(passing, copy)
    (copy / "results" / "gate.json").unlink()
    (copy / "results" / "smoke.json").unlink()
    head = headline(copy)
    assert not head.passed and "smoke" in head.verdict


def test_deferred_sections_follow_the_headline_redacted(passing: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(passing, copy)
    (copy / SECTIONS_FILE).write_text("### Deploy\n\ntoken s3cr3t-t0ken-value here\n")
    secrets = SecretRegistry()
    secrets.register("s3cr3t-t0ken-value", "DEPLOY_TOKEN")
    markdown = compose(copy).markdown(secrets)
    assert markdown.index("GATE PASSED") < markdown.index("### Deploy")
    assert "s3cr3t-t0ken-value" not in markdown


def test_gate_result_json_verdict_is_what_the_summary_says(passing: Path) -> None:
    gate = json.loads((passing / "results" / "gate.json").read_text(encoding="utf-8"))
    assert headline(passing).verdict == gate["verdict"]


@pytest.mark.parametrize(
    ("smoke", "mode", "decision", "state"),
    [
        (None, "quick", None, "rolled back to v1, healthy (quick rollback)"),
        (
            None,
            "full",
            "no migration since v1 (schema unchanged: 0001): the database needs no restore",
            "rolled back to v1, healthy (full rollback); no migration since v1 (schema unchanged: "
            "0001): the database needs no restore",
        ),
        ("failed", "quick", None, "rolled back to v1, healthy (after the failed smoke)"),
    ],
    ids=["operator-quick", "operator-full-says-the-database", "gate-after-failed-smoke"],
)
def test_the_state_after_a_rollback_says_why_it_ran(
    tmp_path: Path, smoke: str | None, mode: str, decision: str | None, state: str
) -> None:
    """An operator's rollback (rollback.yml's summary step) is not "after the failed smoke"; a full
    one says what it decided about the database."""
    import io

    from relgate.gha import Reporter
    from relgate.results import StageResult, Status
    from relgate.results.rollback import RollbackResult
    from relgate.run import Run

    run = Run.open(env={}, reporter=Reporter(io.StringIO(), {}, SecretRegistry()),
                   run_dir=tmp_path / "run", environment="staging")  # fmt: skip
    if smoke is not None:
        run.write_result(StageResult(stage="smoke", status=Status(smoke), summary="x"))
    run.write_result(
        RollbackResult(
            status=Status.PASSED,
            mode=mode,  # type: ignore[arg-type]
            rolled_back_to="v1",
            target_version="v1",
            restore_decision=decision,
            summary="v1 redeployed and healthy",
        )
    )
    assert headline(run.dir).state == state
