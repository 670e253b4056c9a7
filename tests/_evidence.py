"""Stage results as the real stages write them, for tests that pack evidence without a deploy."""

from __future__ import annotations

from datetime import UTC, datetime

from relgate.deploy.models import Decision, DeployResult, ServiceReport
from relgate.results import Status
from relgate.smoke.report import FailedStep, SmokeReport, StepReport

__all__ = ["deploy_result", "smoke_result"]


def deploy_result(status: Status) -> DeployResult:
    """What the deploy stage writes: deployed and healthy, or rolled back after a failed gate."""
    passed = status is Status.PASSED
    return DeployResult(
        status=status,
        summary=f"deploy {status.value}",
        outcome="deployed" if passed else "rolled_back",
        rolled_back=not passed,
        decision=Decision(
            verdict="passed" if passed else "failed",
            reason="every service healthy" if passed else "web: unhealthy",
            decided_at=datetime.now(UTC),
        ),
        services=[
            ServiceReport(name="web", state="running", health="healthy" if passed else "unhealthy")
        ],
    )


def smoke_result(status: Status, steps: int = 3) -> SmokeReport:
    """What the smoke stage writes: every step passed, or the last one failed."""
    failed = status is not Status.PASSED
    reports = [
        StepReport(
            index=i,
            name=f"step {i}",
            status="failed" if failed and i == steps else "passed",
            method="GET",
            http_status=503 if failed and i == steps else 200,
        )
        for i in range(1, steps + 1)
    ]
    passed = sum(1 for r in reports if r.status == "passed")
    return SmokeReport(
        status=status,
        summary=f"smoke {status.value}",
        steps=reports,
        passed_count=passed,
        total=steps,
        failed_step=FailedStep(index=steps, name=f"step {steps}", message="HTTP 503")
        if failed
        else None,
        verdict=f"{passed}/{steps} passed",
    )
