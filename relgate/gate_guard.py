"""What the gate holds while it runs: the environment lock, and SIGTERM/SIGINT while it archives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from relgate.results.gate import GateResult
from relgate.signals import routed

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.run import Run

__all__ = ["Held", "environment_lock", "signals_held"]


@contextmanager
def environment_lock(
    config: RelgateConfig,
    run: Run,
    *,
    environment: str,
    version: str,
    wait: timedelta,
    result: GateResult,
) -> Iterator[None]:
    from relgate.lock import LockOwner, lock_enabled, lock_for

    if not lock_enabled(config, run.env):
        result.lock = {"mode": "none", "why": "lock.mode never"}
        yield
        return
    lock = lock_for(config, environment, run.env)
    owner = LockOwner.me(
        run_id=run.id, environment=environment, version=version, clock=run.clock, key=lock.key
    )

    def waiting(holder: Any, left: float) -> None:
        who = holder.describe() if holder else "another run holds it"
        run.reporter.progress(f"waiting for the {environment} lock ({left:.0f}s left): {who}")

    with lock.held(owner, wait=wait, on_wait=waiting) as acquired:
        result.lock = {
            "path": str(lock.path),
            "key": lock.key.describe(),
            "owner": owner.to_dict(),
            "waited_s": acquired.waited_s,
        }
        if acquired.took_over is not None:
            old = acquired.took_over
            warning = (
                f"took over the {environment} lock: run {old.run_id} (pid {old.pid} on {old.host}, "
                f"since {old.since()}) ended without releasing it"
            )
            result.warnings.append(warning)
            result.lock["took_over"] = old.to_dict()
            run.reporter.warning(warning)
        run.update_meta(lock=result.lock)
        yield


class Held:
    signal: bool = False


@contextmanager
def signals_held() -> Iterator[Held]:
    """Hold SIGTERM/SIGINT while the bundle is written: evidence half-packed is no evidence."""
    held = Held()

    def remember(signum: int, frame: FrameType | None) -> None:
        held.signal = True

    with routed(remember):
        yield held
