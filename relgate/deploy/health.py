"""The health gate's state machine: observations in, a verdict out. No Docker, no clock, no I/O.

Drivers turn what they see (Docker events, an ``inspect`` pass, a child process exiting, an HTTP
probe) into :class:`Observation` values and :meth:`HealthBoard.feed` them in arrival order. After each
one the caller asks :meth:`HealthBoard.verdict`: that is how a ``die`` or ``health_status:
unhealthy`` event fails the gate the moment it arrives instead of at the next poll.

The rules, per selected service:

* **passed** when every current container of the service is running and *healthy*; a container
  without a healthcheck must instead stay running, not restarting, for the stability window (a
  container that starts and crashes two seconds later is not "up");
* **failed at once** when a current container dies (unless relgate/compose stopped it: a ``kill``
  or ``stop`` came first), is killed for lack of memory, turns ``unhealthy``, is seen
  ``restarting``, or its restart count grows (a crash loop hides between two polls otherwise).

Containers being replaced by ``compose up`` get ``kill``/``stop`` events first, so their ``die`` is
expected and they leave the board; a container that compose keeps unchanged simply stays current.

An orchestrator's own verdicts come in as three more kinds (the swarm driver uses them): ``hold``
keeps a service pending with a reason (an update in progress, 2/3 tasks running), ``release`` ends
the hold, and ``fail`` fails the service at once (``UpdateStatus`` paused or rolling back, a task of
the new spec failed). ``where`` says on which node a container runs; it shows in the timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from relgate.deploy.models import ServiceReport, TimelineEntry

__all__ = ["HealthBoard", "Observation", "Verdict"]

Kind = Literal[
    "create",
    "start",
    "die",
    "oom",
    "health",
    "kill",
    "stop",
    "destroy",
    "restart",
    "snapshot",
    "hold",
    "release",
    "fail",
]


@dataclass(frozen=True)
class Observation:
    """One thing seen about one container, at ``at`` (epoch seconds, the source's own clock)."""

    at: float
    container: str
    service: str
    kind: Kind
    state: str | None = None  # snapshot: created/running/restarting/exited/dead
    health: str | None = None  # health events and snapshots: starting/healthy/unhealthy/none
    exit_code: int | None = None
    restart_count: int | None = None
    has_healthcheck: bool | None = None
    started_at: float | None = None  # snapshot: State.StartedAt
    detail: str = ""
    where: str = ""  # the node it runs on (swarm), shown in the timeline


@dataclass(frozen=True)
class Verdict:
    state: Literal["pending", "passed", "failed"]
    reason: str = ""
    service: str | None = None
    at: float | None = None  # when the deciding observation happened
    from_inspect: bool = False  # found by polling: the event with the exact cause may be in flight


@dataclass
class _Container:
    cid: str
    service: str
    state: str = "created"
    health: str = "none"
    has_healthcheck: bool | None = None
    running_since: float | None = None
    restart_base: int | None = None
    restart_count: int = 0
    stopping: bool = False
    gone: bool = False
    failure: tuple[str, float] | None = None
    failure_seen_late: bool = False  # found by an inspect: an event with the cause may follow
    healthy_at: float | None = None
    where: str = ""


@dataclass
class _Service:
    name: str
    timeline: list[tuple[float, str, str, str]] = field(default_factory=list)
    healthy_at: float | None = None
    held: str | None = None  # why an orchestrator says the service is not done yet


class HealthBoard:
    """Tracks every container of the selected services and judges them."""

    def __init__(self, services: Sequence[str], *, stability_s: float, started_at: float) -> None:
        self.selected = list(services)
        self.stability_s = stability_s
        self.started_at = started_at
        self._containers: dict[str, _Container] = {}
        self._services = {name: _Service(name) for name in services}
        self._old: set[str] = set()
        self._old_until = 0.0
        self._feeding_snapshot = False

    def replacing(self, containers: Iterable[str], until: float | None) -> None:
        """Containers that ran before ``up`` (returned at ``until``): their failures before then
        are the old version going away. Those compose kept are judged normally afterwards."""
        self._old, self._old_until = set(containers), until or 0.0

    # -- input -----------------------------------------------------------------------------
    def feed(self, obs: Observation) -> None:
        if obs.service not in self._services:
            return
        if obs.kind in ("hold", "release"):
            self._hold(obs)
            return
        c = self._containers.get(obs.container)
        if c is None:
            if obs.kind == "destroy":
                return
            # An old container being replaced gets kill/stop first: remembered as stopping, so its
            # die that follows is expected and never judged.
            c = self._containers[obs.container] = _Container(obs.container, obs.service)
        self._feeding_snapshot = obs.kind == "snapshot"
        handler = getattr(self, f"_on_{obs.kind}")
        handler(c, obs)

    def feed_all(self, observations: Iterable[Observation]) -> None:
        for obs in observations:
            self.feed(obs)

    def _note(self, c: _Container, at: float, status: str, detail: str = "") -> None:
        if c.stopping and status not in ("stopping", "exited"):
            return  # a container on its way out: only its exit matters
        timeline = self._services[c.service].timeline
        last = next((e for e in reversed(timeline) if e[1] == c.cid), None)
        if last is None or (last[2], last[3]) != (status, detail):
            timeline.append((at, c.cid, status, detail))

    def _hold(self, obs: Observation) -> None:
        service = self._services[obs.service]
        held = obs.detail or "not done yet" if obs.kind == "hold" else None
        if held != service.held:
            service.held = held
            entry = (obs.at, obs.container, "waiting" if held else "done", held or obs.detail)
            if obs.container:  # "" = no timeline entry (a replica count that moves is noise)
                service.timeline.append(entry)

    def _on_fail(self, c: _Container, obs: Observation) -> None:
        c.where = obs.where or c.where
        self._note(c, obs.at, "failed", obs.detail)
        self._fail(c, obs.at, obs.detail or "failed")

    def _on_create(self, c: _Container, obs: Observation) -> None:
        self._note(c, obs.at, "created")

    def _on_start(self, c: _Container, obs: Observation) -> None:
        if c.state in ("exited", "dead") and not c.stopping:
            c.restart_count += 1
            self._fail(c, obs.at, f"restarted after exiting (crash loop, {c.restart_count}x)")
        was_running = c.state == "running"
        c.state, c.running_since = "running", c.running_since if was_running else obs.at
        if not was_running:
            self._note(c, obs.at, "running")

    def _on_restart(self, c: _Container, obs: Observation) -> None:
        self._on_start(c, obs)

    def _on_die(self, c: _Container, obs: Observation) -> None:
        c.state, c.running_since = "exited", None
        code = obs.exit_code
        self._note(c, obs.at, "exited", f"code {code}" if code is not None else "")
        if not c.stopping:
            self._fail(c, obs.at, f"exited (code {code})" if code is not None else "exited")

    def _on_oom(self, c: _Container, obs: Observation) -> None:
        self._note(c, obs.at, "oom")
        if not c.stopping:
            self._fail(c, obs.at, "killed: out of memory")

    def _on_kill(self, c: _Container, obs: Observation) -> None:
        c.stopping = True
        self._note(c, obs.at, "stopping")

    def _on_stop(self, c: _Container, obs: Observation) -> None:
        self._on_kill(c, obs)

    def _on_destroy(self, c: _Container, obs: Observation) -> None:
        c.gone = True

    def _on_health(self, c: _Container, obs: Observation) -> None:
        c.has_healthcheck = True
        self._set_health(c, obs.at, obs.health or "none", obs.detail)

    def _set_health(self, c: _Container, at: float, health: str, detail: str = "") -> None:
        if health == c.health:
            return  # events and inspects both report it: one transition, one entry
        c.health = health
        if health == "healthy" and c.healthy_at is None:
            c.healthy_at = at
        if health in ("healthy", "unhealthy", "starting"):
            self._note(c, at, health, detail if health == "unhealthy" else "")
        if health == "unhealthy" and not c.stopping:
            self._fail(c, at, "unhealthy" + (f": {detail}" if detail else ""))

    def _on_snapshot(self, c: _Container, obs: Observation) -> None:
        if obs.has_healthcheck is not None:
            c.has_healthcheck = obs.has_healthcheck
        state = obs.state or c.state
        if obs.restart_count is not None:
            if c.restart_base is None:
                c.restart_base = obs.restart_count
            elif obs.restart_count > c.restart_base and not c.stopping:
                c.restart_count = obs.restart_count - c.restart_base
                self._fail(c, obs.at, f"crash loop: restarted {c.restart_count}x")
        if obs.where:
            c.where = obs.where
        if state == "running" and c.state != "running":
            c.running_since = obs.started_at or obs.at
            self._note(c, c.running_since, "running", f"on {c.where}" if c.where else "")
        c.state = state
        if state == "restarting" and not c.stopping:
            self._fail(c, obs.at, f"restarting (crash loop, last exit code {obs.exit_code})")
        elif state in ("exited", "dead") and not c.stopping:
            self._note(c, obs.at, "exited", f"code {obs.exit_code}")
            self._fail(c, obs.at, f"exited (code {obs.exit_code})")
        if obs.health and obs.health != c.health:
            self._set_health(c, obs.at, obs.health, obs.detail)

    def _fail(self, c: _Container, at: float, reason: str) -> None:
        if c.cid in self._old and at <= self._old_until:
            return
        if c.failure is None or at < c.failure[1]:  # the earliest cause wins, whatever came first
            c.failure = (reason, at)
            c.failure_seen_late = self._feeding_snapshot

    # -- output ----------------------------------------------------------------------------
    def current(self, service: str) -> list[_Container]:
        return [
            c
            for c in self._containers.values()
            if c.service == service and not c.stopping and not c.gone
        ]

    def verdict(self, now: float) -> Verdict:
        failures = [
            (c.failure[1], c.service, c.failure[0], c.failure_seen_late)
            for c in self._containers.values()
            if c.failure and not c.stopping and not c.gone
        ]
        if failures:
            at, service, reason, late = min(failures)
            return Verdict("failed", f"{service}: {reason}", service, at, late)
        for name in self.selected:
            if not self._service_ok(name, now):
                return Verdict("pending")
        return Verdict("passed", "every service is healthy", None, now)

    def _service_ok(self, name: str, now: float) -> bool:
        if self._services[name].held is not None:
            return False
        containers = self.current(name)
        if not containers:
            return False
        ready_at: list[float] = []
        for c in containers:
            if c.state != "running":
                return False
            if c.has_healthcheck:
                if c.health != "healthy" or c.healthy_at is None:
                    return False
                ready_at.append(c.healthy_at)
            else:
                if c.has_healthcheck is None or c.running_since is None:
                    return False  # not inspected yet: we don't know whether a check exists
                if now - c.running_since < self.stability_s:
                    return False
                ready_at.append(c.running_since + self.stability_s)
        service = self._services[name]
        if service.healthy_at is None:
            service.healthy_at = max(ready_at)
        return True

    def next_deadline(self, now: float) -> float | None:
        """When a stability window ends, so the caller wakes up without an event to judge again."""
        ends = [
            c.running_since + self.stability_s
            for name in self.selected
            for c in self.current(name)
            if c.state == "running" and c.has_healthcheck is False and c.running_since is not None
        ]
        future = [t for t in ends if t > now]
        return min(future) if future else None

    def pending_reason(self, now: float) -> str:
        """What the gate is still waiting for (for the timeout message)."""
        waiting = []
        for name in self.selected:
            containers = self.current(name)
            if self._services[name].held is not None:
                waiting.append(f"{name}: {self._services[name].held}")
            elif not containers:
                waiting.append(f"{name}: no container")
            elif not self._service_ok(name, now):
                c = containers[0]
                waiting.append(f"{name}: {c.state}/{c.health}")
        return ", ".join(waiting) or "nothing"

    def progress_line(self, now: float) -> str:
        parts = []
        for name in self.selected:
            containers = self.current(name)
            if not containers:
                parts.append(f"{name}: {self._services[name].held or 'waiting'}")
                continue
            c = containers[0]
            shown = c.health if c.has_healthcheck and c.health != "none" else c.state
            if c.failure:
                shown = c.failure[0]
            elif self._services[name].held is not None:
                shown = str(self._services[name].held)
            parts.append(f"{name}: {shown}")
        return f"[{now - self.started_at:5.1f}s] " + " · ".join(parts)

    def reports(self) -> list[ServiceReport]:
        out = []
        for name in self.selected:
            service = self._services[name]
            containers = self.current(name) or [
                c for c in self._containers.values() if c.service == name
            ]
            c = containers[-1] if containers else None
            out.append(
                ServiceReport(
                    name=name,
                    state=c.state if c else "missing",
                    health=(c.health if c.has_healthcheck else "none") if c else "none",
                    containers=[x.cid[:12] for x in containers],
                    placement=[f"{x.cid[:12]} on {x.where}" for x in containers if x.where],
                    restarts=sum(x.restart_count for x in containers),
                    time_to_healthy_s=(
                        round(service.healthy_at - self.started_at, 3)
                        if service.healthy_at is not None
                        else None
                    ),
                    timeline=[
                        TimelineEntry(at=_dt(at), container=cid[:12], status=status, detail=detail)
                        for at, cid, status, detail in sorted(service.timeline)
                    ],
                )
            )
        return out


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
