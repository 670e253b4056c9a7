"""How a deploy's automatic rollback is judged once everything after it ran (issue 19, item 4):
the health gate and post-deploy checks (``healthy``), then the smoke against the rolled-back
version (``rollback.smoke_after``). The Docker tests are tests/deploy/test_rollback_smoke.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from relgate.deploy.back import rollback_verdict
from relgate.deploy.models import Outcome, RollbackRecord, RollbackSmoke
from relgate.results import Status
from relgate.results.smoke import FailedStep, SmokeReport
from relgate.smoke.after_rollback import smoke_record
from relgate.smoke.stage import Places


def _record(healthy: bool, smoke: RollbackSmoke | None, error: str | None = None) -> RollbackRecord:
    return RollbackRecord(
        version="v1", healthy=healthy, smoke=smoke, error=error,
        started_at=datetime(2026, 12, 1, tzinfo=UTC), duration_s=1.0,
    )  # fmt: skip


def _smoke(status: Status, failed: str | None = None) -> RollbackSmoke:
    return RollbackSmoke(
        version="v1", status=status, summary=f"smoke s: {status}", failed_step=failed
    )


@pytest.mark.parametrize(
    ("record", "outcome", "says"),
    [
        pytest.param(_record(True, None), Outcome.ROLLED_BACK, "now) (healthy)", id="no-smoke"),
        pytest.param(
            _record(True, _smoke(Status.PASSED)), Outcome.ROLLED_BACK, "smoke passed",
            id="smoke-passed",
        ),
        pytest.param(
            _record(True, _smoke(Status.FAILED, "step 2/2 reports — HTTP 404")),
            Outcome.ROLLBACK_FAILED, "smoke FAILED at step 2/2 reports — HTTP 404",
            id="smoke-failed",
        ),
        pytest.param(
            _record(True, _smoke(Status.ERROR)), Outcome.ROLLBACK_FAILED, "could not run (error)",
            id="smoke-could-not-run",
        ),
        pytest.param(
            _record(False, None, "web: unhealthy"), Outcome.ROLLBACK_FAILED,
            "FAILED too: web: unhealthy", id="unhealthy",
        ),
        pytest.param(
            _record(False, _smoke(Status.PASSED), "web: unhealthy"), Outcome.ROLLBACK_FAILED,
            "FAILED too", id="unhealthy-wins-over-a-smoke",
        ),
    ],
)  # fmt: skip
def test_rollback_verdict(record: RollbackRecord, outcome: Outcome, says: str) -> None:
    got, summary = rollback_verdict("web: exited", "v1 (what runs now)", record)
    assert got is outcome
    assert says in summary and summary.startswith("web: exited; ")


@pytest.mark.parametrize(
    ("failed", "expected"),
    [
        pytest.param(None, None, id="passed"),
        pytest.param(
            FailedStep(index=2, name="reports", status_code=404, message="HTTP 404"), "step 2/3 reports — HTTP 404",
            id="http-status",
        ),
        pytest.param(
            FailedStep(index=1, name="home", message="connection refused"),
            "step 1/3 home — connection refused", id="no-answer",
        ),
    ],
)  # fmt: skip
def test_smoke_record_names_the_failing_step(failed: FailedStep | None, expected: str) -> None:
    report = SmokeReport(
        status=Status.FAILED if failed else Status.PASSED, total=3, failed_step=failed,
        summary="smoke s: …",
    )  # fmt: skip
    places = Places.under("deploy/rollback")
    got = smoke_record(report, "v1", places)
    assert (got.version, got.failed_step, got.status) == ("v1", expected, report.status)
    assert (got.report, got.log) == (
        "artifacts/deploy/rollback/smoke.json",
        "logs/deploy/rollback/smoke.log",
    )


def test_own_places_are_the_smoke_stage_s() -> None:
    assert Places().own and not Places.under("rollback").own
    assert Places.under("rollback").artifacts == "artifacts/rollback/smoke"


def test_smoke_after_without_a_scenario_is_refused_at_config_check(tmp_path: Path) -> None:
    """``rollback.smoke_after`` on, no ``smoke.scenario``: bad input (exit 2) at load, naming the
    line — not a rollback that cannot be verified, found at 2 a.m."""
    from relgate.config import load_config
    from relgate.errors import ConfigError

    path = tmp_path / "relgate.yml"
    path.write_text(
        "project: {name: t}\nenvironments:\n  staging:\n    base_url: https://s.example.com\n"
        "    stack: {driver: compose, files: [compose.yml]}\nrollback:\n  smoke_after: true\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert int(caught.value.exit_code) == 2
    assert str(caught.value) == (
        f"{path}:7 rollback.smoke_after: true needs smoke.scenario (the scenario every rollback "
        "is then verified with)"
    )


def test_smoke_after_whose_scenario_cannot_run_is_an_error_never_a_pass(tmp_path: Path) -> None:
    """``rollback.smoke_after`` on and its scenario gone: the rollback was asked to be
    smoke-verified and cannot be, so its smoke ends ``error`` (the verdict: rollback_failed)."""
    import io

    from relgate.config import load_config
    from relgate.gha import Reporter
    from relgate.run import Run
    from relgate.secrets import SecretRegistry
    from relgate.smoke.after_rollback import smoke_after_rollback

    path = tmp_path / "relgate.yml"
    path.write_text(
        "project: {name: t}\nenvironments:\n  staging:\n    base_url: https://s.example.com\n"
        "    stack: {driver: compose, files: [compose.yml]}\nrollback: {smoke_after: true}\n"
        "smoke: {scenario: gone.yml}\n"
    )
    config = load_config(path, env={})
    reporter = Reporter(io.StringIO(), {}, SecretRegistry())
    run = Run.open(env={}, reporter=reporter, run_dir=tmp_path / "run")
    run.version = "v2"
    check = smoke_after_rollback(config, run, environment="staging")
    assert check is not None
    got = check("v1", "deploy/rollback")
    assert (got.version, got.status) == ("v1", Status.ERROR)
    assert "gone.yml" in got.summary, got.summary
    assert run.version == "v2"  # the check of another version leaves the run's own alone
    assert not (tmp_path / "run" / "results" / "smoke.json").exists()
    outcome, _ = rollback_verdict("x", "v1", _record(True, got))
    assert outcome is Outcome.ROLLBACK_FAILED
