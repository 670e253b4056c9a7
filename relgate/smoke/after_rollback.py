"""The smoke scenario as a rollback's last check (``rollback.smoke_after``).

A deploy's automatic rollback proves the previous version healthy and re-runs the post-deploy
checks; with ``rollback.smoke_after`` the smoke scenario then runs against that version too, and
its result decides the rollback's verdict. The deploy stage sits below smoke in the layers, so the
callers one layer up (the gate, ``relgate deploy``) build this check and hand it to deploy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from relgate.errors import Interrupted, RelgateError
from relgate.results import Status
from relgate.results.deploy import RollbackSmoke
from relgate.smoke.stage import Places, smoke

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.results.smoke import SmokeReport
    from relgate.run import Run

__all__ = ["smoke_after_rollback", "smoke_record"]


def smoke_after_rollback(
    config: RelgateConfig, run: Run, *, environment: str
) -> Callable[[str, str], RollbackSmoke] | None:
    """The check to hand to ``deploy(smoke_after_rollback=...)``; None when
    ``rollback.smoke_after`` is off. With it on and no scenario configured, the check ends as an
    error naming the missing setting (a rollback that was asked to be smoke-verified and was not
    is never reported as verified)."""
    if not config.rollback.smoke_after:
        return None

    def check(version: str, area: str) -> RollbackSmoke:
        places = Places.under(area)
        try:
            report = smoke(config, run, environment=environment, version=version, places=places)
        except Interrupted:
            raise
        except RelgateError as exc:
            return RollbackSmoke(
                version=version, status=Status.ERROR, summary=exc.message, log=places.log
            )
        return smoke_record(report, version, places)

    return check


def smoke_record(report: SmokeReport, version: str, places: Places) -> RollbackSmoke:
    """What a rollback's evidence keeps of one smoke report: the verdict and the failing step."""
    step = report.failed_step
    failed = None
    if step is not None:
        why = f"HTTP {step.status_code}" if step.status_code else (step.message or "failed")
        failed = f"step {step.index}/{report.total} {step.name} — {why}"
    return RollbackSmoke(
        version=version,
        status=report.status,
        summary=report.summary,
        failed_step=failed,
        report=places.result,
        log=places.log,
    )
