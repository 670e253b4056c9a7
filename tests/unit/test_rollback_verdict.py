"""How a deploy's automatic rollback is judged once everything after it ran (issue 19, item 4):
the health gate and post-deploy checks (``healthy``), then the smoke against the rolled-back
version (``rollback.smoke_after``). The Docker tests are tests/deploy/test_rollback_smoke.py."""

from __future__ import annotations

from datetime import UTC, datetime

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
