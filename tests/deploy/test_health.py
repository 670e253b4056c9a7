"""The health state machine fed with synthetic observations (no Docker, no clock)."""

from __future__ import annotations

import pytest

from relgate.deploy.compose import event_observation, snapshot_of
from relgate.deploy.health import HealthBoard, Observation

T0 = 1_000.0


def board(*services: str, stability: float = 5.0) -> HealthBoard:
    return HealthBoard(list(services or ["web"]), stability_s=stability, started_at=T0)


def snap(cid: str = "c1", service: str = "web", at: float = T0, **kw: object) -> Observation:
    fields = {"state": "running", "health": "starting", "has_healthcheck": True, "restart_count": 0}
    fields.update(kw)
    return Observation(at, cid, service, "snapshot", **fields)  # type: ignore[arg-type]


def ev(kind: str, at: float, cid: str = "c1", service: str = "web", **kw: object) -> Observation:
    return Observation(at, cid, service, kind, **kw)  # type: ignore[arg-type]


def test_healthy_only_when_health_says_so() -> None:
    b = board()
    b.feed(snap())
    assert b.verdict(T0 + 1).state == "pending"  # running is not healthy
    b.feed(ev("health", T0 + 2, health="healthy"))
    v = b.verdict(T0 + 2)
    assert v.state == "passed"
    assert b.reports()[0].time_to_healthy_s == 2.0


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        pytest.param(ev("health", T0 + 3, health="unhealthy"), "web: unhealthy", id="unhealthy"),
        pytest.param(ev("die", T0 + 3, exit_code=137), "web: exited (code 137)", id="die"),
        pytest.param(ev("oom", T0 + 3), "web: killed: out of memory", id="oom"),
        pytest.param(
            snap(at=T0 + 3, state="restarting", exit_code=2),
            "web: restarting (crash loop, last exit code 2)",
            id="restarting",
        ),
        pytest.param(
            snap(at=T0 + 3, restart_count=2, exit_code=1),
            "web: crash loop: restarted 2x",
            id="restart-count",
        ),
        pytest.param(
            snap(at=T0 + 3, state="exited", exit_code=1),
            "web: exited (code 1)",
            id="exited-snapshot",
        ),
    ],
)
def test_failures_decide_at_once_with_their_time(observation: Observation, reason: str) -> None:
    b = board()
    b.feed(snap())
    b.feed(observation)
    v = b.verdict(T0 + 3.001)
    assert (v.state, v.reason, v.at, v.service) == ("failed", reason, T0 + 3, "web")


def test_replaced_container_dying_is_expected() -> None:
    b = board()
    b.feed(ev("kill", T0 + 0.1, cid="old"))  # compose stops the old container first
    b.feed(ev("die", T0 + 0.2, cid="old", exit_code=137))
    b.feed(ev("destroy", T0 + 0.3, cid="old"))
    b.feed(snap(cid="new", at=T0 + 1))
    b.feed(ev("health", T0 + 2, cid="new", health="healthy"))
    assert b.verdict(T0 + 2).state == "passed"


def test_restart_after_exit_is_a_crash_loop() -> None:
    b = board()
    b.feed(ev("create", T0, cid="c1"))
    b.feed(ev("start", T0 + 0.1))
    b.feed(ev("die", T0 + 1, exit_code=1))
    assert b.verdict(T0 + 1).reason == "web: exited (code 1)"  # first failure wins, at its time
    b.feed(ev("start", T0 + 1.5))
    assert b.verdict(T0 + 2).at == T0 + 1


def test_no_healthcheck_needs_the_stability_window() -> None:
    b = board(stability=5)
    b.feed(snap(health="none", has_healthcheck=False, started_at=T0 + 1))
    assert b.verdict(T0 + 5.9).state == "pending"
    assert b.next_deadline(T0 + 5.9) == T0 + 6
    assert b.verdict(T0 + 6).state == "passed"
    assert b.reports()[0].time_to_healthy_s == 6.0


def test_unknown_healthcheck_is_not_assumed() -> None:
    b = board(stability=0)
    b.feed(ev("start", T0 + 0.1))  # an event alone does not say whether a check exists
    assert b.verdict(T0 + 10).state == "pending"


def test_every_selected_service_must_be_healthy() -> None:
    b = board("web", "worker")
    b.feed(snap(cid="w1", service="web"))
    b.feed(ev("health", T0 + 1, cid="w1", service="web", health="healthy"))
    assert b.verdict(T0 + 1).state == "pending"
    assert "worker: no container" in b.pending_reason(T0 + 1)
    b.feed(snap(cid="k1", service="worker", at=T0 + 2, health="healthy"))
    assert b.verdict(T0 + 2).state == "passed"


def test_unselected_services_are_ignored() -> None:
    b = board("web")
    b.feed(ev("die", T0 + 1, cid="m1", service="migrate", exit_code=0))
    b.feed(snap(health="healthy"))
    assert b.verdict(T0 + 1).state == "passed"


def test_every_replica_must_be_healthy() -> None:
    b = board()
    b.feed(snap(cid="r1", health="healthy"))
    b.feed(snap(cid="r2"))
    assert b.verdict(T0 + 1).state == "pending"
    b.feed(ev("health", T0 + 2, cid="r2", health="unhealthy"))
    assert b.verdict(T0 + 2).state == "failed"


def test_timeline_is_ordered_and_deduplicated() -> None:
    b = board()
    b.feed(ev("health", T0 + 2, health="healthy"))
    b.feed(ev("create", T0 + 0.5))
    b.feed(ev("health", T0 + 2.5, health="healthy"))
    statuses = [e.status for e in b.reports()[0].timeline]
    assert statuses == ["created", "healthy"]


def test_docker_event_translation() -> None:
    raw = {
        "Type": "container",
        "Action": "health_status: unhealthy",
        "Actor": {"ID": "abc", "Attributes": {"com.docker.compose.service": "web"}},
        "time": 1700000000,
        "timeNano": 1700000000123456789,
    }
    obs = event_observation(raw)
    assert obs is not None
    assert (obs.kind, obs.health, obs.container, obs.service) == (
        "health",
        "unhealthy",
        "abc",
        "web",
    )
    assert obs.at == pytest.approx(1700000000.123456789)
    die = {**raw, "Action": "die", "Actor": {"ID": "abc", "Attributes": {"exitCode": "3"}}}
    assert event_observation(die).exit_code == 3  # type: ignore[union-attr]
    oneoff = {**raw, "Actor": {"ID": "x", "Attributes": {"com.docker.compose.oneoff": "True"}}}
    assert event_observation(oneoff) is None
    assert event_observation({**raw, "Action": "exec_start: wget"}) is None


def test_inspect_translation() -> None:
    info = {
        "Id": "abc",
        "RestartCount": 2,
        "Config": {
            "Labels": {"com.docker.compose.service": "web"},
            "Healthcheck": {"Test": ["CMD", "true"]},
        },
        "State": {
            "Status": "running",
            "ExitCode": 0,
            "StartedAt": "2026-01-29T10:00:00.123456789Z",
            "Health": {"Status": "unhealthy", "Log": [{"Output": "connection refused\n"}]},
        },
    }
    obs = snapshot_of(info, 5.0)
    assert (obs.state, obs.health, obs.has_healthcheck, obs.restart_count) == (
        "running", "unhealthy", True, 2,
    )  # fmt: skip
    assert obs.detail == "connection refused"
    assert obs.started_at == pytest.approx(1769680800.123456)
    info["Config"]["Healthcheck"] = {"Test": ["NONE"]}  # type: ignore[index]
    assert snapshot_of(info, 5.0).has_healthcheck is False


def test_old_container_crashing_during_up_is_not_the_new_version() -> None:
    b = board()
    b.replacing({"old"}, until=T0 + 1)
    b.feed(ev("die", T0 + 0.5, cid="old", exit_code=1))  # crash-looping old version...
    assert b.verdict(T0 + 0.6).state == "pending"
    b.feed(ev("destroy", T0 + 0.7, cid="old"))  # ...that compose then removes
    b.feed(snap(cid="new", at=T0 + 1.2, health="healthy"))
    assert b.verdict(T0 + 1.2).state == "passed"


def test_kept_old_container_failing_after_up_counts() -> None:
    b = board()
    b.replacing({"kept"}, until=T0 + 1)
    b.feed(snap(cid="kept", at=T0 + 1.1, health="healthy"))
    b.feed(ev("die", T0 + 3, cid="kept", exit_code=2))
    assert b.verdict(T0 + 3).reason == "web: exited (code 2)"


def test_the_event_with_the_cause_replaces_an_inspect_finding() -> None:
    b = board()
    b.feed(snap(at=T0 + 1))
    b.feed(snap(at=T0 + 2, restart_count=1))  # inspect: it restarted (running again, code 0)
    found = b.verdict(T0 + 2)
    assert (found.reason, found.from_inspect) == ("web: crash loop: restarted 1x", True)
    b.feed(ev("die", T0 + 1.5, exit_code=3))  # the event, in flight during the inspect
    v = b.verdict(T0 + 2.1)
    assert (v.reason, v.at, v.from_inspect) == ("web: exited (code 3)", T0 + 1.5, False)
