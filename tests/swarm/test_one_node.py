"""Scenarios on a real one-node Swarm: the gate's verdicts come from UpdateStatus and tasks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.swarm.bed import SwarmBed
from tests.swarm.conftest import SwarmStackDir, get_text, serves, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]

Factory = Callable[[SwarmBed], SwarmStackDir]


def test_good_deploy_then_update_serves_the_new_version(
    swarm1: SwarmBed, stack_dir_factory: Factory
) -> None:
    s = stack_dir_factory(swarm1)
    first = s.deploy("v1")
    assert first.outcome == "deployed", s.output.getvalue()
    assert get_text(s.base_url) == "version v1"
    second = s.deploy("v2")
    assert second.outcome == "deployed", s.output.getvalue()
    assert second.exit_code == 0
    assert get_text(s.base_url) == "version v2"
    assert s.update_state() == "completed"
    web = next(x for x in second.services if x.name == "web")
    assert web.placement and web.placement[0].endswith("on rgsw-n1")


def test_bad_image_is_a_failure_although_the_cli_exits_0(
    swarm1: SwarmBed, stack_dir_factory: Factory
) -> None:
    s = stack_dir_factory(swarm1)
    assert s.deploy("v1").outcome == "deployed", s.output.getvalue()
    result = s.deploy("v3-unhealthy")
    assert result.exit_code == 1, s.output.getvalue()
    assert result.outcome == "rolled_back"
    deploy_cli = next(c for c in result.commands if c.name == "stack-deploy")
    assert deploy_cli.exit_code == 0  # the CLI says nothing went wrong: relgate's watch did
    assert result.decision is not None and "unhealthy" in result.decision.reason
    assert get_text(s.base_url) == "version v1"
    assert result.rollback is not None and result.rollback.healthy


def test_swarm_own_rollback_is_a_failure(swarm1: SwarmBed, stack_dir_factory: Factory) -> None:
    """failure_action: rollback set by the user: Swarm rolls the service back by itself, the CLI
    exits 0, and relgate still reports the deploy as failed (exit 1)."""
    s = stack_dir_factory(swarm1)
    s.services["web"] = {
        **s.services["web"],
        "deploy": {
            "replicas": 1,
            "endpoint_mode": "dnsrr",
            "update_config": {"monitor": "3s", "failure_action": "rollback"},
        },
    }
    assert s.deploy("v1").outcome == "deployed", s.output.getvalue()
    result = s.deploy("v3-unhealthy", rollback=False)
    assert result.exit_code == 1, s.output.getvalue()
    assert result.outcome == "failed"
    assert next(c for c in result.commands if c.name == "stack-deploy").exit_code == 0
    # Swarm's own rollback waits for its monitor and the healthcheck's retries: on a loaded
    # machine that is minutes, not seconds (a bound, not a speed claim).
    seen: list[str | None] = []

    def rolled_back() -> bool:
        seen.append(s.update_state())
        return seen[-1] == "rollback_completed"

    try:
        wait_for(rolled_back, timeout_s=300, what="Swarm's own rollback")
    except pytest.fail.Exception:
        pytest.fail(f"Swarm's own rollback never completed; last states seen: {seen[-5:]}")
    # (Swarm says rollback_completed before the restored task necessarily answers)
    wait_for(lambda: serves(s.base_url, "version v1"), what="v1 served again")


def test_failure_after_the_monitor_window_is_caught_by_the_soak(
    swarm1: SwarmBed, stack_dir_factory: Factory
) -> None:
    """Healthy for ~3 s, then unhealthy: Swarm's monitor (1 s) calls the update completed; relgate's
    soak sees the task fail and rolls the stack back."""
    s = stack_dir_factory(swarm1)
    s.services["web"]["deploy"]["update_config"] = {"monitor": "1s"}
    s.deploy_cfg["soak"] = "20s"
    assert s.deploy("v1").outcome == "deployed", s.output.getvalue()
    s.services["web"] = {**s.services["web"], "image": "relgate-test/app:degrade"}
    result = s.deploy("v2")
    assert result.outcome == "rolled_back", s.output.getvalue()
    assert result.decision is not None and "soak" in result.decision.reason
    web = next(x for x in result.services if x.name == "web")
    statuses = [e.status + " " + e.detail for e in web.timeline]
    assert any(x.startswith("done update completed") for x in statuses), statuses
    assert get_text(s.base_url) == "version v1"


def test_paused_update_rolls_back_the_whole_stack(
    swarm1: SwarmBed, stack_dir_factory: Factory
) -> None:
    """web updates fine, api's update pauses: relgate brings *both* back to the recorded spec."""
    s = stack_dir_factory(swarm1)
    api = {
        "image": "relgate-test/app:${RELGATE_VERSION}",
        "stop_grace_period": "1s",
        "deploy": {"replicas": 1, "endpoint_mode": "dnsrr", "update_config": {"monitor": "3s"}},
    }
    s.services["api"] = api
    first = s.deploy("v1")
    assert first.outcome == "deployed", s.output.getvalue()
    v1_ids = {
        name: s.service(name)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        for name in ("web", "api")
    }
    s.services["api"] = {**api, "image": "relgate-test/app:v3-unhealthy"}
    result = s.deploy("v2")
    assert result.outcome == "rolled_back", s.output.getvalue()
    assert result.decision is not None and result.decision.service == "api"
    assert get_text(s.base_url) == "version v1"  # web went back too, although it was healthy
    for name in ("web", "api"):
        image = s.service(name)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        assert image.startswith("sha256:"), image  # pinned by the recorded image ID
    assert result.rollback is not None
    assert set(result.rollback.pinned_images) == {"web", "api"}
    assert v1_ids["web"].endswith("app:v1")


PROBE = (
    "while true; do if timeout 2 wget -q -O /tmp/o http://api:8080/ 2>/dev/null; "
    'then echo "ok $$(cat /tmp/o)"; else echo FAIL; fi; sleep 0.1; done'
)


def test_start_first_update_loses_no_request(swarm1: SwarmBed, stack_dir_factory: Factory) -> None:
    """A stateless service (no host port) updates start-first by default: a client polling it by
    name through the whole update sees v1 then v2 and not one failed request."""
    s = stack_dir_factory(swarm1)
    s.services = {
        "web": s.services["web"],
        "api": {
            "image": "relgate-test/app:${RELGATE_VERSION}",
            "stop_grace_period": "2s",
            "deploy": {"replicas": 1, "endpoint_mode": "dnsrr", "update_config": {"monitor": "3s"}},
        },
        "probe": {
            "image": "relgate-test/busybox:1",
            "command": ["sh", "-c", PROBE],
            "stop_grace_period": "1s",
            "deploy": {"endpoint_mode": "dnsrr"},
        },
    }
    assert s.deploy("v1").outcome == "deployed", s.output.getvalue()
    probe = swarm1.docker(1, "ps", "-q", "--filter", f"name={s.stack}_probe").split()[0]
    wait_for(
        lambda: "ok version v1" in swarm1.docker(1, "logs", probe), what="the probe's first answer"
    )
    before = len(swarm1.docker(1, "logs", probe).splitlines())
    result = s.deploy("v2")
    assert result.outcome == "deployed", s.output.getvalue()
    spec = s.service("api")["Spec"]["UpdateConfig"]
    assert spec["Order"] == "start-first" and spec["FailureAction"] == "pause"
    during = swarm1.docker(1, "logs", probe).splitlines()[before:]
    assert "ok version v2" in during
    assert during.count("FAIL") == 0, during


def test_rollback_command_redeploys_a_recorded_version(
    swarm1: SwarmBed, stack_dir_factory: Factory
) -> None:
    """`relgate rollback --to v1` after v2 passed: the stack file recorded for v1 runs again."""
    from relgate.deploy.stage import redeploy_last_good

    s = stack_dir_factory(swarm1)
    assert s.deploy("v1").outcome == "deployed", s.output.getvalue()
    assert s.deploy("v2").outcome == "deployed", s.output.getvalue()
    assert (s.dir / "state" / "staging.swarm" / "v1.stack.yml").is_file()
    result = redeploy_last_good(
        s.config(), s.open_run("rollback"), environment="staging", to_version="v1"
    )
    assert result.outcome == "rolled_back", s.output.getvalue()
    assert get_text(s.base_url) == "version v1"
