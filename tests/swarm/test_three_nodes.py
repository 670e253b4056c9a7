"""Scenarios on a real three-node Swarm with a registry: placement, digest pinning, node loss."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from relgate.deploy.models import DeployResult
from relgate.status import environment_status
from tests.swarm.bed import SwarmBed
from tests.swarm.conftest import SwarmStackDir, serves, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]

Factory = Callable[[SwarmBed], SwarmStackDir]


@pytest.fixture(scope="module")
def pushed(swarm3: SwarmBed) -> SwarmBed:
    for tag in ("v1", "v2", "v3-unhealthy"):
        swarm3.push(f"relgate-test/app:{tag}")
    return swarm3


def _three_replicas(s: SwarmStackDir) -> SwarmStackDir:
    s.env["IMAGE_PREFIX"] = f"{s.bed.registry_addr}/"
    s.stack_cfg["resolve_image"] = "always"
    s.services["web"] = {
        **s.services["web"],
        "deploy": {
            "replicas": 3,
            "endpoint_mode": "dnsrr",
            "placement": {"max_replicas_per_node": 1},
            "update_config": {"monitor": "3s", "parallelism": 1},
        },
    }
    return s


def _every_node_serves(bed: SwarmBed, text: str) -> bool:
    return all(serves(f"http://{n.ip}:18080/", text) for n in bed.nodes)


def test_good_deploy_is_served_by_every_node_pinned_by_digest(
    pushed: SwarmBed, stack_dir_factory: Factory
) -> None:
    s = _three_replicas(stack_dir_factory(pushed))
    result = s.deploy("v1")
    assert result.outcome == "deployed", s.output.getvalue()
    assert _every_node_serves(pushed, "version v1")
    image = s.service()["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image.startswith(f"{pushed.registry_addr}/relgate-test/app:v1@sha256:"), image
    web = next(x for x in result.services if x.name == "web")
    assert sorted(p.split(" on ")[1] for p in web.placement) == ["rgsw-n1", "rgsw-n2", "rgsw-n3"]
    assert web.registry_digest is None or web.registry_digest.startswith("sha256:")
    status = environment_status(s.config(), s.open_run("status"), "staging")
    assert status.problems == []
    assert status.running == "v1 (matches the record)"
    assert [line.split(":")[0] for line in status.nodes] == ["rgsw-n1", "rgsw-n2", "rgsw-n3"]
    assert all("ready, active" in line and "web." in line for line in status.nodes), status.nodes


def test_rollback_target_is_pinned_by_digest_not_by_tag(
    pushed: SwarmBed, stack_dir_factory: Factory
) -> None:
    """After v1 passed, the tag v1 is moved to other bytes in the registry: the rollback still runs
    the recorded digest — what passed — and never what the tag says today."""
    s = _three_replicas(stack_dir_factory(pushed))
    assert s.deploy("v1").outcome == "deployed", s.output.getvalue()
    remote = f"{pushed.registry_addr}/relgate-test/app"
    pushed.docker(1, "tag", "relgate-test/app:v2", f"{remote}:v1")
    pushed.docker(1, "push", "-q", f"{remote}:v1")
    try:
        result = s.deploy("v3-unhealthy")
        assert result.outcome == "rolled_back", s.output.getvalue()
        assert result.exit_code == 1
        wait_for(lambda: _every_node_serves(pushed, "version v1"), what="v1 served everywhere")
        assert result.rollback is not None
        assert result.rollback.pinned_images["web"].startswith(f"{remote}@sha256:")
    finally:
        pushed.docker(1, "tag", "relgate-test/app:v1", f"{remote}:v1")
        pushed.docker(1, "push", "-q", f"{remote}:v1")


@pytest.fixture
def update_started(pushed: SwarmBed) -> Iterator[Callable[[str], threading.Event]]:
    """An event set when the manager reports ``updatestate.new=updating`` for a service (read from
    ``docker events``, so the test acts on the moment itself, not after a sleep)."""
    procs: list[subprocess.Popen[str]] = []

    def watch(service: str) -> threading.Event:
        fired = threading.Event()
        proc = subprocess.Popen(
            [
                "docker",
                "-H",
                pushed.manager.host,
                "events",
                "--filter",
                "type=service",
                "--filter",
                f"service={service}",
                "--format",
                "{{json .Actor.Attributes}}",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if '"updatestate.new":"updating"' in line:
                    fired.set()
                    return

        threading.Thread(target=read, daemon=True).start()
        return fired

    yield watch
    for proc in procs:
        proc.kill()
        proc.wait()


def test_node_lost_mid_deploy_is_never_a_pass(
    pushed: SwarmBed, stack_dir_factory: Factory, update_started: Callable[[str], threading.Event]
) -> None:
    """Node 3's dockerd stops while v2 rolls out: relgate reports the missing replica (not the stale
    count ``docker service ls`` shows), fails the deploy and rolls back; once the node is back,
    the whole stack serves v1 again."""
    s = _three_replicas(stack_dir_factory(pushed))
    s.deploy_cfg["timeout"] = "45s"
    assert s.deploy("v1").outcome == "deployed", s.output.getvalue()
    fired = update_started(f"{s.stack}_web")
    box: dict[str, Any] = {}
    deploying = threading.Thread(target=lambda: box.update(result=s.deploy("v2")))
    deploying.start()
    try:
        assert fired.wait(120), "the v2 update never started"
        pushed.stop_node(3)
        wait_for(lambda: pushed.node_state(3) == "down", what="node 3 marked down")
        # relgate is rolling back when it writes the rollback's stack file: bring the node back
        wait_for(
            lambda: any(s.dir.glob("runs/v2-*/artifacts/deploy/rollback/stack.yml")),
            timeout_s=180,
            what="relgate's rollback",
        )
    finally:
        pushed.start_node(3)
        pushed.wait_node(3)
        deploying.join(300)
    result: DeployResult = box["result"]
    assert result.exit_code == 1, s.output.getvalue()
    assert result.outcome == "rolled_back", s.output.getvalue()
    assert result.decision is not None
    assert "rgsw-n3" in result.decision.reason or "2/3 tasks running" in result.decision.reason
    wait_for(lambda: _every_node_serves(pushed, "version v1"), what="v1 served everywhere")
