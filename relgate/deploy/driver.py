"""The small interface every deploy driver implements, and the choice of driver.

A driver knows how to bring one environment's stack to a :class:`Target` and how to *watch* it; the
stage (``relgate.deploy.stage``) owns everything else — the health gate, the HTTP check, post-deploy
commands, the last-good record, rollback and evidence — so compose, process and (later) swarm share
one set of semantics. The data a driver takes and returns (:class:`Target`, :class:`Prepared`,
:class:`Watch`) lives in :mod:`relgate.deploy.target`, so driver modules never import this factory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from relgate.deploy.logcheck import LogLine
from relgate.deploy.models import CommandRecord, RunningStack, ServiceImage
from relgate.deploy.target import Prepared, Target, Watch
from relgate.errors import NotBuiltYet

if TYPE_CHECKING:
    from relgate.config import PostDeployCommand
    from relgate.deploy.context import DeployContext

__all__ = ["Driver", "open_driver"]


class Driver(Protocol):
    name: str
    project: str | None
    ctx: DeployContext  # swapped for the rollback, which logs under its own area

    def prepare(self, target: Target) -> Prepared:
        """Validate the configuration without touching the stack (ConfigError, ToolMissing…)."""
        ...

    def running(self) -> dict[str, ServiceImage]:
        """What runs now, per service (for drift)."""
        ...

    def running_stack(self) -> RunningStack:
        """What runs now, read from the engine: per service the image ID and digests and the
        version label relgate stamped. Taken before a deploy changes anything: its rollback target."""
        ...

    def snapshot(self) -> dict[str, Any] | None:
        """The effective configuration that ran (after :meth:`prepare`), for the last-good record;
        None when the driver has nothing beyond its recorded version to go back to."""
        ...

    def fetch(self, target: Target, services: Sequence[str]) -> str | None:
        """Get what :meth:`start` needs (pull, build) without changing anything that runs; return
        an error when that failed — nothing on the host changed then, so there is nothing to roll
        back. The stage takes its pre-migration backup only after this succeeded."""
        ...

    def start(self, target: Target, services: Sequence[str]) -> tuple[Watch, str | None]:
        """Bring the stack to ``target``; return the watch and an error if bringing it up failed.

        The watch is opened *before* anything starts, so no event of the new version is missed.
        """
        ...

    def verify_images(self, target: Target, services: Sequence[str]) -> str | None:
        """Read from the engine what runs; the reason it is not what ``target`` asks for, if so."""
        ...

    def recent_logs(self, service: str, tail: int) -> list[LogLine]:
        """The last ``tail`` log lines of ``service`` with the engine's timestamps."""
        ...

    def exec(self, command: PostDeployCommand) -> CommandRecord:
        """Run a post-deploy command (in a service, or on the host)."""
        ...

    def capture(self, area: str, services: Sequence[str]) -> dict[str, str]:
        """Save ps, inspect (with health probe outputs) and logs; return last probe per service."""
        ...

    def stop(self, services: Sequence[str]) -> None:
        """Stop the stack (when there is nothing to roll back to)."""
        ...

    def images(self, services: Sequence[str]) -> dict[str, ServiceImage]:
        """The exact images now running, for the last-good record."""
        ...

    def close(self) -> None: ...


def open_driver(ctx: DeployContext) -> Driver:
    stack = ctx.env_config.stack
    if stack.driver == "compose":
        from relgate.deploy.compose import ComposeDriver

        return ComposeDriver(ctx)
    if stack.driver == "process":
        from relgate.deploy.process import ProcessDriver

        return ProcessDriver(ctx)
    if stack.driver == "swarm":
        from relgate.deploy.swarm import SwarmDriver

        return SwarmDriver(ctx)
    raise NotBuiltYet(f"deploy (stack.driver: {stack.driver})")
