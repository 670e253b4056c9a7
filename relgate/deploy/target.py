"""What a deploy aims at and what a driver hands back: data shared by the drivers and the gate.

These live apart from :mod:`relgate.deploy.driver` (the interface and the factory) so a driver module
imports its vocabulary from here and never the factory that imports it back.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from pathlib import Path

from relgate.deploy.health import Observation

__all__ = ["Prepared", "Target", "Watch"]


@dataclass(frozen=True)
class Target:
    """What to run: a version, plus exact image IDs when going back to a recorded release."""

    version: str
    pinned: dict[str, str] = field(default_factory=dict)  # service -> repo@digest or image ID
    # The effective compose config that ran (a last-good snapshot): run it instead of the
    # configured files, so a rollback never runs old images under a new, broken compose file.
    compose_file: Path | None = None


@dataclass(frozen=True)
class Prepared:
    """What a driver learned before touching anything."""

    services: list[str]
    config_hash: str | None = None


class Watch:
    """A queue of observations fed by the driver's watcher threads; closed when the gate ends."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Observation] = queue.Queue()
        # Containers that existed before `up`, and when `up` returned: until then, one of them
        # dying is the old version on its way out (possibly crash-looping), not the new one failing.
        self.preexisting: set[str] = set()
        self.settled_at: float | None = None
        # False while nothing on the host changed (a pull or build failed): no rollback needed.
        self.touched = False

    def next(self, timeout_s: float) -> Observation | None:
        try:
            return self.queue.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None

    def snapshot(self) -> list[Observation]:
        """The safety net: one inspect pass over everything (events can be missed)."""
        return []

    def close(self) -> None:
        """Stop the watcher threads (closes the event stream)."""
