"""Watching a Swarm stack converge: service events for ``UpdateStatus``, task lists as the safety net.

Swarm has no task events on the API this engine speaks (1.41), and ``docker stack deploy`` exits 0
even after an update rolled back, so the truth is read from the manager:

* a thread follows ``type=service`` and ``type=node`` events: an ``update`` event carrying
  ``updatestate.new`` = ``paused``/``rollback_*`` fails the gate the moment it arrives (polling can
  miss a short ``rollback_started``), and any service or node event triggers an inspect pass;
* a poller inspects the stack's services and their tasks every half second (the Docker CLI's own
  progress display polls every 200 ms): a task of the *new* spec that fails or is rejected fails the
  gate at once, with the node it ran on and Swarm's error; running tasks are counted against the
  desired replicas (``docker service ls`` keeps showing stale counts after a node is lost), and an
  ``UpdateStatus`` of this deploy that is not ``completed`` keeps the service pending.

Everything is turned into :class:`relgate.deploy.health.Observation` values — one "container" per
task, plus ``hold``/``release``/``fail`` verdicts per service — so the same health board and gate
judge compose and swarm deploys. Only tasks of the spec being deployed are judged: the old version's
tasks going away, or a failed release's tasks still crash-looping while the rollback replaces them,
are not the target's failures.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from relgate.deploy.health import Observation
from relgate.deploy.sdk import parse_time
from relgate.deploy.target import Watch
from relgate.errors import Interrupted, ServiceUnreachable

if TYPE_CHECKING:
    from relgate.deploy.context import DeployContext


class Manager(Protocol):
    """What the watch needs from the swarm driver (a protocol, so the two modules import one way)."""

    ctx: DeployContext

    def api(self) -> Any: ...
    def short_name(self, full: str) -> str: ...
    def stack_services(self) -> list[dict[str, Any]]: ...
    def has_healthcheck(self, template: dict[str, Any]) -> bool: ...


__all__ = ["FAILED_UPDATE_STATES", "STACK_LABEL", "SwarmWatch", "parse_time", "same_spec"]

STACK_LABEL = "com.docker.stack.namespace"
FAILED_UPDATE_STATES = {"paused", "rollback_started", "rollback_paused", "rollback_completed"}
_BEFORE_RUNNING = {
    "new",
    "allocated",
    "pending",
    "assigned",
    "accepted",
    "preparing",
    "ready",
    "starting",
}
_TASK_FAILED = {"failed", "rejected"}
_LEAVING = {"shutdown", "complete", "orphaned", "remove"}
POLL_S = 0.5
# Swarm's timestamps and ours come from one machine's clock here, but not necessarily in production:
# a task created up to this long before the deploy began still counts as the deploy's.
CLOCK_SLACK_S = 1.0


def same_spec(task: dict[str, Any], template: dict[str, Any]) -> bool:
    """Whether ``task`` runs the service's current task template (tasks copy it when created;
    the engine adds ``Runtime`` to the template only, so the container spec is what is compared)."""

    def key(spec: dict[str, Any]) -> str:
        return json.dumps(
            [spec.get("ContainerSpec"), spec.get("ForceUpdate", 0)], sort_keys=True, default=str
        )

    return key(task.get("Spec") or {}) == key(template)


class SwarmWatch(Watch):
    def __init__(self, driver: Manager, services: Sequence[str]) -> None:
        super().__init__()
        self.driver = driver
        self.services = list(services)
        self.started = driver.ctx.clock()
        self.node_names: dict[str, str] = {}
        self.down_nodes: set[str] = set()
        self._reported_fail: set[str] = set()
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._deployed = threading.Event()
        self._fed: set[str] = set()  # tasks put on the board as the target's
        api = driver.api()
        self.stream = api.events(filters={"type": ["service", "node"]}, decode=True)
        self._events = threading.Thread(target=self._pump, name="relgate-swarm-ev", daemon=True)
        self._poller = threading.Thread(
            target=self._poll_loop, name="relgate-swarm-poll", daemon=True
        )
        self._events.start()
        self._poller.start()

    # -- threads -------------------------------------------------------------------------------
    def _pump(self) -> None:
        try:
            for event in self.stream:
                found = self.event_observations(event)
                if any(obs.kind == "fail" for obs in found):
                    # The update failed because a task did: inspect first, so the task's own error
                    # (and its earlier time) is on the board before the pause/rollback is.
                    for obs in self.snapshot():
                        self.queue.put(obs)
                for obs in found:
                    self.queue.put(obs)
                self._wake.set()  # anything about services or nodes: look again now
        except Exception:  # noqa: S110 # interrupt-safe: worker thread; closed, or the manager went away (the poller carries on)
            pass

    def deployed(self) -> None:
        """``docker stack deploy`` returned: the specs are the target's now, judging can start."""
        self._deployed.set()
        self._wake.set()

    def _poll_loop(self) -> None:
        self._deployed.wait()
        while not self._closed.is_set():
            # a failed inspect is retried on the next tick
            with contextlib.suppress(Exception):  # interrupt-safe: worker thread
                for obs in self.poll():
                    self.queue.put(obs)
            self._wake.wait(POLL_S)
            self._wake.clear()

    def snapshot(self) -> list[Observation]:
        import docker.errors
        import requests

        try:
            return self.poll()
        except (ServiceUnreachable, docker.errors.DockerException, requests.RequestException):
            return []  # the manager may be restarting: the next pass will tell

    def close(self) -> None:
        self._closed.set()
        self._deployed.set()
        self._wake.set()
        try:
            self.stream.close()
        except Exception as exc:  # closing a stream the manager already dropped is fine
            if isinstance(exc, Interrupted):
                raise
        self._events.join(timeout=2)
        self._poller.join(timeout=2)

    # -- events ----------------------------------------------------------------------------------
    def event_observations(self, event: dict[str, Any]) -> list[Observation]:
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        at = int(event.get("timeNano") or 0) / 1e9 or float(event.get("time") or 0)
        if event.get("Type") == "node":
            name = attrs.get("name", "")
            if attrs.get("state.new") == "down":
                self.down_nodes.add(name)
            elif attrs.get("state.new") == "ready":
                self.down_nodes.discard(name)
            return []
        short = self.driver.short_name(str(attrs.get("name", "")))
        new = attrs.get("updatestate.new")
        # Events are only received from now on, so an update state seen here is this deploy's
        # (events' `since=` has whole-second precision; the live stream needs none).
        if short not in self.services or not new or at < self.started - CLOCK_SLACK_S:
            return []
        old = attrs.get("updatestate.old", "")
        if new in FAILED_UPDATE_STATES:
            return [self._update_failed(short, new, f"(was {old})" if old else "", at)]
        return (
            [Observation(at, "swarm", short, "hold", detail=f"update {new}")]
            if new == ("updating")
            else []
        )

    def _update_failed(self, service: str, state: str, message: str, at: float) -> Observation:
        self._reported_fail.add(service)
        return Observation(
            at, "swarm-update", service, "fail", detail=f"Swarm update {state} {message}".strip()
        )

    # -- inspection ------------------------------------------------------------------------------
    def poll(self) -> list[Observation]:
        api = self.driver.api()
        now = self.driver.ctx.clock()
        nodes = api.nodes()
        self.node_names = {
            n["ID"]: (n.get("Description") or {}).get("Hostname", n["ID"][:12]) for n in nodes
        }
        self.down_nodes = {
            self.node_names[n["ID"]]
            for n in nodes
            if (n.get("Status") or {}).get("State") == "down"
        }
        found = {self.driver.short_name(s["Spec"]["Name"]): s for s in self.driver.stack_services()}
        out: list[Observation] = []
        for name in self.services:
            svc = found.get(name)
            if svc is None:
                out.append(
                    Observation(now, "swarm", name, "hold", detail="service not created yet")
                )
                continue
            tasks = api.tasks(filters={"service": svc["ID"]})
            out += self.judge(name, svc, tasks, now)
        return out

    def judge(
        self, name: str, svc: dict[str, Any], tasks: list[dict[str, Any]], now: float
    ) -> list[Observation]:
        """Observations for one service: its tasks, then a verdict (hold, release or fail)."""
        template = svc["Spec"]["TaskTemplate"]
        hc = self.driver.has_healthcheck(template)
        out: list[Observation] = []
        running = 0
        waiting: list[str] = []
        for t in sorted(tasks, key=lambda t: t.get("CreatedAt", "")):
            if not same_spec(t, template):
                # the old version's tasks (going away) or a failed release's; one seen as the
                # target's before the spec changed (Swarm's own rollback) leaves the board
                if t["ID"] in self._fed:
                    self._fed.discard(t["ID"])
                    out.append(Observation(now, str(t["ID"]), name, "stop"))
                continue
            obs, is_running, why = self._task(name, t, hc, now)
            if obs is not None:
                out.append(obs)
                self._fed.add(str(t["ID"]))
            running += is_running
            if why:
                waiting.append(why)
        update = svc.get("UpdateStatus") or {}
        state = update.get("State")
        ours = (parse_time(update.get("StartedAt")) or 0) >= self.started - CLOCK_SLACK_S
        if ours and state in FAILED_UPDATE_STATES and name not in self._reported_fail:
            out.append(self._update_failed(name, state, update.get("Message", ""), now))
        desired = _desired(svc, tasks, template)
        reasons = []
        if ours and state == "updating":
            reasons.append("update in progress")
        if running < desired:
            reasons.append(f"{running}/{desired} tasks running")
            reasons += waiting[:2]
            reasons += [f"node {n} is down" for n in sorted(self.down_nodes)]
        if reasons:
            out.append(Observation(now, "swarm", name, "hold", detail="; ".join(reasons)))
        else:
            done = f"update {state}" if ours and state else f"{running}/{desired} tasks running"
            out.append(Observation(now, "swarm", name, "release", detail=done))
        return out

    def _task(
        self, name: str, t: dict[str, Any], hc: bool, now: float
    ) -> tuple[Observation | None, bool, str]:
        """(observation, counts as running, why it is not running yet) for one task of the spec."""
        status = t.get("Status") or {}
        state, desired = status.get("State", ""), t.get("DesiredState", "")
        where = self.node_names.get(t.get("NodeID", ""), "") or "unassigned"
        slot = f"{name}.{t.get('Slot') or where}"
        at = parse_time(status.get("Timestamp")) or now
        created = parse_time(t.get("CreatedAt")) or now
        err = status.get("Err") or status.get("Message") or ""
        tid = str(t["ID"])
        if state in _TASK_FAILED:
            if created < self.started - CLOCK_SLACK_S:
                return None, False, ""  # history from before this deploy
            detail = f"task {slot} {state} on {where}: {err}"
            return Observation(at, tid, name, "fail", detail=detail, where=where), False, ""
        # (a new task waiting for the old one to stop has DesiredState "ready": it is not leaving)
        if desired in _LEAVING or state in _LEAVING:
            return Observation(at, tid, name, "stop", where=where), False, ""
        if where in self.down_nodes:
            return (
                Observation(
                    at, tid, name, "snapshot", state="created", where=where, has_healthcheck=hc
                ),
                False,
                f"{slot} on a down node",
            )
        if state == "running":
            obs = Observation(
                at,
                tid,
                name,
                "snapshot",
                state="running",
                health="healthy" if hc else "none",
                has_healthcheck=hc,
                started_at=at,
                where=where,
                restart_count=0,
            )
            return obs, True, ""
        shown = "health check not passed yet" if state == "starting" and hc else state
        why = f"{slot} {shown}" + (f" ({err})" if err and state == "pending" else "")
        health = "starting" if hc else "none"
        obs = Observation(
            at,
            tid,
            name,
            "snapshot",
            state="created",
            health=health,
            has_healthcheck=hc,
            where=where,
        )
        return obs, False, why


def _desired(svc: dict[str, Any], tasks: list[dict[str, Any]], template: dict[str, Any]) -> int:
    mode = svc["Spec"].get("Mode") or {}
    if "Replicated" in mode:
        return int((mode["Replicated"] or {}).get("Replicas", 1))
    # global: one task per eligible node, i.e. the tasks Swarm wants running
    return sum(1 for t in tasks if t.get("DesiredState") not in _LEAVING and same_spec(t, template))
