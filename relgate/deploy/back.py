"""Where a failed deploy goes back to: what ran before it changed anything.

The rollback target is read from the engine (:class:`RunningStack`, captured before ``up``), not
assumed from a file: a fresh CI workspace with no state at all still knows what ran, by image ID
and by the version label relgate stamps on its containers. The last-known-good record adds what
the engine cannot say — the effective compose configuration that ran (its snapshot) — when it
describes exactly what runs. Nothing running and nothing recorded is the one case with nowhere to
go back to: the deploy then stops only what it started, never a stack that was running.

Once the rollback is healthy, how it is judged (:func:`rollback_verdict`) and the smoke against the
version it brought back (:func:`smoke_after`, ``rollback.smoke_after``) live here too.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Literal

from relgate.config import RelgateConfig
from relgate.deploy.context import DeployContext
from relgate.deploy.models import LastGood, Outcome, RollbackRecord, RollbackSmoke, RunningStack
from relgate.deploy.state import snapshot_path
from relgate.deploy.target import Target
from relgate.errors import Interrupted
from relgate.images import repository
from relgate.results import Status
from relgate.signals import routed

__all__ = [
    "Deferred",
    "GoingBack",
    "SmokeAfterRollback",
    "finish_first",
    "rollback_target",
    "rollback_verdict",
    "smoke_after",
    "target_of_record",
]

Source = Literal["record", "engine", "none"]

# (rolled-back version, run area) -> how the smoke scenario ended against that version. Built one
# layer up (the gate, the deploy command): deploy sits below smoke and may not import it.
SmokeAfterRollback = Callable[[str, str], RollbackSmoke]


@dataclass(frozen=True)
class GoingBack:
    """The rollback target of one deploy, where it was learned, and how to say it."""

    target: Target | None
    source: Source
    record: LastGood | None
    description: str

    @property
    def version(self) -> str | None:
        return self.target.version if self.target is not None else None


def rollback_target(
    config: RelgateConfig, before: RunningStack, last: LastGood | None
) -> GoingBack:
    if not before.services:
        if last is None:
            return GoingBack(None, "none", None, "nothing ran and no last-known-good is recorded")
        return GoingBack(
            target_of_record(config, last),
            "record",
            last,
            f"{last.version} (the last-known-good record; nothing was running)",
        )
    if last is not None and _describes(last, before):
        return GoingBack(
            target_of_record(config, last), "record", last, f"{last.version} (what runs now)"
        )
    version = before.version or "unrecorded"
    why = (
        f"differs from the last-known-good record of {last.version}"
        if last is not None
        else "no last-known-good record here"
    )
    return GoingBack(
        Target(version, before.pins()),
        "engine",
        None,
        f"{version} (what runs now, read from the engine: {why})",
    )


def target_of_record(config: RelgateConfig, last: LastGood) -> Target:
    # Only real images pin anything (the process driver records "process:<version>"). An image
    # that came from a registry is pinned by its digest there, so it can be pulled back if it was
    # pruned from the host; a locally built one by its image ID.
    pinned: dict[str, str] = {}
    for service, image in last.services.items():
        if image.registry_digest:
            pinned[service] = f"{repository(image.image)}@{image.registry_digest}"
        elif image.image_id.startswith("sha256:"):
            pinned[service] = image.image_id
    snapshot = snapshot_path(config, last)
    return Target(last.version, pinned, snapshot if snapshot and snapshot.is_file() else None)


def rollback_verdict(why: str, back: str, record: RollbackRecord) -> tuple[Outcome, str]:
    """How an automatic rollback ended, from everything that ran after it: the health gate and
    the post-deploy checks (``record.healthy``), then the smoke when it ran. A rollback whose
    smoke did not pass is not a rollback that worked: the previous version runs, but nobody can
    say it serves, so the verdict is ``rollback_failed`` with the failing step named."""
    if not record.healthy:
        return Outcome.ROLLBACK_FAILED, f"{why}; rollback to {back} FAILED too: {record.error}"
    smoke = record.smoke
    if smoke is None:
        return Outcome.ROLLED_BACK, f"{why}; rolled back to {back} (healthy)"
    if smoke.status is Status.PASSED:
        return Outcome.ROLLED_BACK, f"{why}; rolled back to {back} (healthy, smoke passed)"
    if smoke.status is Status.FAILED:
        where = smoke.failed_step or smoke.summary
        return (
            Outcome.ROLLBACK_FAILED,
            f"{why}; rolled back to {back} (healthy) but its smoke FAILED at {where}",
        )
    return (
        Outcome.ROLLBACK_FAILED,
        f"{why}; rolled back to {back} (healthy) but its smoke could not run "
        f"({smoke.status.value}): {smoke.summary}",
    )


def smoke_after(ctx: DeployContext, smoke: SmokeAfterRollback, version: str) -> RollbackSmoke:
    """The smoke against the version just brought back (its report under the rollback's area).
    Not under the held signals: it changes nothing, so a signal may stop it (exit 3)."""
    ctx.run.reporter.line(f"smoke after the rollback, against {version}")
    ran = smoke(version, ctx.area)
    show = ctx.run.reporter.ok if ran.status is Status.PASSED else ctx.run.reporter.error
    show(f"smoke after the rollback to {version}: {ran.summary}")
    return ran


def _describes(last: LastGood, before: RunningStack) -> bool:
    """The record is what runs: every recorded service runs that very image."""
    for name, recorded in last.services.items():
        running = before.services.get(name)
        if running is None or running.image_id != recorded.image_id:
            return False
        if running.version is not None and running.version != last.version:
            return False
    return bool(last.services)


class Deferred:
    """The first signal that arrived while a rollback was finishing (None: none did)."""

    signal: str | None = None


@contextmanager
def finish_first(on_first: Callable[[str], None]) -> Iterator[Deferred]:
    """While a rollback brings the previous version back, the first SIGTERM/SIGINT is remembered,
    not raised: stopping half-way leaves failed and half-created containers side by side, which
    is worse than either version. A second signal aborts (:class:`Interrupted`). The caller raises
    the remembered one once the rollback is done, so the run still ends interrupted (exit 3)."""
    held = Deferred()

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if held.signal is not None:
            raise Interrupted(f"interrupted by {name} again: the rollback was aborted")
        held.signal = name
        on_first(name)

    with routed(handler):
        yield held
