"""After deploy's automatic rollback, the smoke runs against the version it brought back
(issue 19, item 4; ``rollback.smoke_after``), and its result decides the rollback's verdict.

Real Docker Engine, real compose project (the ``relgate-test/app`` images): v1 serves
``version v1`` at ``/``, v3-unhealthy never passes its health gate. The smoke is built the way the
gate and ``relgate deploy`` build it (:func:`relgate.smoke.after_rollback.smoke_after_rollback`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from relgate.deploy.models import DeployResult
from relgate.deploy.stage import deploy
from relgate.results import Status
from relgate.smoke.after_rollback import smoke_after_rollback
from tests.deploy.conftest import Stack

# `{{ run.version }}` is the version the smoke is told it tests: after the rollback, the
# rolled-back one — the step fails if the smoke were run against (or told about) another.
SERVES = """\
version: 1
name: rollback-smoke
steps:
  - name: serves its version
    request: {url: /}
    expect:
      status: 200
      body: {contains: "version {{ run.version }}"}
"""
# v1 has no /api/reports/ (busybox answers 404): the previous version's smoke fails.
NEEDS_REPORTS = (
    SERVES
    + """\
  - name: reports
    request: {url: /api/reports/}
    expect: {status: 200}
"""
)


def _smoked_deploy(stack: Stack, version: str, scenario: str) -> tuple[DeployResult, Path]:
    path = stack.dir / "scenario.yml"
    path.write_text(scenario)
    stack.extra = {"smoke": {"scenario": str(path)}, "rollback": {"smoke_after": True}}
    config = stack.config()
    run = stack.open_run(f"{version}-smoked")
    after = smoke_after_rollback(config, run, environment="staging")
    result = deploy(config, run, environment="staging", version=version, smoke_after_rollback=after)
    return result, run.dir


@pytest.mark.docker
def test_smoke_runs_against_the_rolled_back_version_and_is_in_its_evidence(
    compose_stack: Stack,
) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"

    result, run_dir = _smoked_deploy(compose_stack, "v3-unhealthy", SERVES)

    assert (result.outcome, result.exit_code, result.rolled_back_to) == ("rolled_back", 1, "v1")
    assert "smoke passed" in result.summary, result.summary
    assert result.rollback is not None and result.rollback.smoke is not None
    smoke = result.rollback.smoke
    assert (smoke.version, smoke.status) == ("v1", Status.PASSED), smoke
    assert compose_stack.get() == "version v1"
    # the evidence: under the rollback's area, never the run's own smoke result
    assert smoke.report == "artifacts/deploy/rollback/smoke.json"
    report = json.loads((run_dir / smoke.report).read_text())
    assert [s["status"] for s in report["steps"]] == ["passed"]
    assert "serves its version" in (run_dir / "logs/deploy/rollback/smoke.log").read_text()
    assert (run_dir / "artifacts/deploy/rollback/smoke/01-serves-its-version.json").is_file()
    assert not (run_dir / "results/smoke.json").exists()
    recorded = json.loads((run_dir / "results/deploy.json").read_text())
    assert recorded["rollback"]["smoke"]["status"] == "passed"
    assert recorded["rollback"]["smoke"]["version"] == "v1"


@pytest.mark.docker
def test_a_failing_smoke_after_the_rollback_fails_the_rollback(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"

    result, run_dir = _smoked_deploy(compose_stack, "v3-unhealthy", NEEDS_REPORTS)

    assert (result.outcome, result.exit_code) == ("rollback_failed", 1), result.summary
    assert result.rollback is not None and result.rollback.healthy  # healthy, yet not verified
    assert not result.rolled_back and result.rolled_back_to == "v1"  # failed; v1 is what runs
    assert result.rollback.smoke is not None
    assert result.rollback.smoke.status is Status.FAILED
    assert "its smoke FAILED at step 2/2 reports — HTTP 404" in result.summary, result.summary
    assert compose_stack.get() == "version v1"  # what runs is said truthfully: v1, unverified
    recorded = json.loads((run_dir / "results/deploy.json").read_text())
    assert recorded["outcome"] == "rollback_failed"
    assert recorded["rollback"]["smoke"]["failed_step"] == "step 2/2 reports — HTTP 404"
    from relgate.job_summary import headline

    assert headline(run_dir).state == (
        "rolled back to v1, healthy, but its smoke failed (step 2/2 reports — HTTP 404): "
        "the environment needs a person now"
    )


@pytest.mark.docker
def test_without_smoke_after_no_smoke_runs(compose_stack: Stack) -> None:
    """``rollback.smoke_after`` off (the default): the rollback is judged as before."""
    path = compose_stack.dir / "scenario.yml"
    path.write_text(NEEDS_REPORTS)
    compose_stack.extra = {"smoke": {"scenario": str(path)}}
    config = compose_stack.config()
    assert smoke_after_rollback(config, compose_stack.open_run("x"), environment="staging") is None
    assert compose_stack.deploy("v1").outcome == "deployed"
    result = compose_stack.deploy("v3-unhealthy")
    assert result.outcome == "rolled_back", result.summary
    assert result.rollback is not None and result.rollback.smoke is None


@pytest.mark.docker
def test_the_gate_says_what_the_smoke_tested_after_an_automatic_rollback(
    compose_stack: Stack,
) -> None:
    """The gate's smoke row never reads as a smoke of the new version, and results/smoke.json
    is the gate's own smoke stage (skipped), not the rollback's check."""
    from relgate.gate import default_stages, gate
    from relgate.job_summary import headline

    path = compose_stack.dir / "scenario.yml"
    path.write_text(SERVES)
    compose_stack.extra = {"smoke": {"scenario": str(path)}, "rollback": {"smoke_after": True}}
    assert compose_stack.deploy("v1").outcome == "deployed"
    config = compose_stack.config()
    run = compose_stack.open_run("gate")
    own = default_stages(environment="staging", version="v3-unhealthy")
    stages = {name: own[name] for name in ("deploy", "smoke", "rollback")}

    result = gate(
        config, run, environment="staging", version="v3-unhealthy",
        wait_lock=timedelta(0), stages=stages, notes=False,
    )  # fmt: skip

    assert (result.exit_code, result.failed_stage) == (1, "deploy"), result.verdict
    rows = {row.stage: row for row in result.stages}
    assert rows["smoke"].status is Status.SKIPPED
    assert "v3-unhealthy was never smoke-tested" in rows["smoke"].summary, rows["smoke"].summary
    assert "against the rolled-back v1 instead: passed" in rows["smoke"].summary
    smoke_json = json.loads((run.dir / "results/smoke.json").read_text())
    assert smoke_json["status"] == "skipped"
    assert headline(run.dir).state == "rolled back to v1, healthy, smoke passed against it"


@pytest.mark.docker
def test_the_gate_s_rollback_smoke_does_not_overwrite_the_failed_smoke(
    compose_stack: Stack,
) -> None:
    """v2 deploys healthy but fails the smoke; the gate rolls back to v1, whose smoke passes.
    results/smoke.json must stay v2's failed smoke (it once became v1's passing one)."""
    from relgate.gate import default_stages, gate
    from relgate.job_summary import headline
    from relgate.results.smoke import SmokeReport

    path = compose_stack.dir / "scenario.yml"
    path.write_text(SERVES.replace("version {{ run.version }}", "version v1"))
    compose_stack.extra = {"smoke": {"scenario": str(path)}, "rollback": {"smoke_after": True}}
    assert compose_stack.deploy("v1").outcome == "deployed"
    config = compose_stack.config()
    run = compose_stack.open_run("gate-smoke")
    own = default_stages(environment="staging", version="v2")
    stages = {name: own[name] for name in ("deploy", "smoke", "rollback")}

    result = gate(
        config, run, environment="staging", version="v2",
        wait_lock=timedelta(0), stages=stages, notes=False,
    )  # fmt: skip

    assert (result.exit_code, result.failed_stage) == (1, "smoke"), result.verdict
    rows = {row.stage: row for row in result.stages}
    assert rows["rollback"].status is Status.PASSED, rows["rollback"].summary
    smoke = SmokeReport.model_validate_json((run.dir / "results/smoke.json").read_bytes())
    assert (smoke.status, smoke.version) == (Status.FAILED, "v2"), smoke.summary
    after = SmokeReport.model_validate_json(
        (run.dir / "artifacts/rollback/smoke.json").read_bytes()
    )
    assert after.status is Status.PASSED
    assert run.version == "v2"  # the rollback's smoke did not rename the run's version
    assert compose_stack.get() == "version v1"
    assert (
        headline(run.dir).state
        == "rolled back to v1, healthy, smoke passed (after the failed smoke)"
    )


@pytest.mark.docker
@pytest.mark.slow
def test_relgate_deploy_runs_the_smoke_after_its_rollback(compose_stack: Stack) -> None:
    """The command composes the smoke too (not only the gate): exit 1, the verdict names it."""
    import subprocess
    import sys

    path = compose_stack.dir / "scenario.yml"
    path.write_text(NEEDS_REPORTS)
    compose_stack.extra = {"smoke": {"scenario": str(path)}, "rollback": {"smoke_after": True}}
    assert compose_stack.deploy("v1").outcome == "deployed"
    compose_stack.write_config()
    done = subprocess.run(
        [sys.executable, "-m", "relgate", "--config", str(compose_stack.config_path),
         "--env", "staging", "--run-dir", str(compose_stack.dir / "cli-run"), "--json",
         "deploy", "--version", "v3-unhealthy"],
        capture_output=True, text=True, env=compose_stack.full_env(), timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    assert out["outcome"] == "rollback_failed", out["summary"]
    assert out["rollback"]["smoke"]["failed_step"] == "step 2/2 reports — HTTP 404"
    assert "its smoke FAILED at step 2/2 reports" in done.stderr + done.stdout
    log = compose_stack.dir / "cli-run/logs/deploy/rollback/smoke.log"
    assert "reports" in log.read_text()
