"""Swarm benchmarks on a real one-node Swarm built by the tests' own bed (tests/swarm/bed.py).

Run on demand, as root:  .venv/bin/python bench/swarm_bench.py [--runs 3]

1. A failed update (v1 -> v3-unhealthy), the same stack deployed two ways:
   * relgate: ``failure_action: pause``, relgate's own watch (service events + task polls), then its
     whole-stack rollback to the recorded spec;
   * Swarm alone: ``failure_action: rollback``, ``docker stack deploy`` and Swarm's own per-service
     rollback, timed from the manager's ``updatestate`` events.
   From the moment ``docker stack deploy`` starts: time to detect the failure (relgate's decision vs
   Swarm's ``rollback_started``) and time to healthy again (relgate's rollback verdict vs Swarm's
   ``rollback_completed`` *and* the service's tasks running again, polled every 0.2 s — Swarm can
   report the rollback completed before its task is up). Ratios relgate / Swarm are printed
   (< 1: relgate is faster).
2. Requests failed during a good update (v1 -> v2), a client polling all the way through:
   the compose driver (recreate: stop then start) on the shared engine, polled from the host on a
   127.0.0.1 port, vs the swarm driver (``start-first``, relgate's default for a service without a
   host port), polled by name from a client task on the stack's overlay network.

Only loopback and the bed's own namespace addresses are used; everything is torn down at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relgate.config import load_config  # noqa: E402
from relgate.deploy.models import DeployResult  # noqa: E402
from relgate.deploy.stage import deploy  # noqa: E402
from relgate.gha import Reporter  # noqa: E402
from relgate.run import Run  # noqa: E402
from relgate.secrets import SecretRegistry  # noqa: E402
from tests.swarm.bed import SwarmBed  # noqa: E402

IMAGES = (
    "relgate-test/busybox:1",
    "relgate-test/app:v1",
    "relgate-test/app:v2",
    "relgate-test/app:v3-unhealthy",
)
PROBE = (
    "while true; do if timeout 2 wget -q -O /tmp/o http://api:8080/ 2>/dev/null; "
    'then echo "ok $$(cat /tmp/o)"; else echo FAIL; fi; sleep 0.05; done'
)


def web(failure_action: str) -> dict[str, Any]:
    return {
        "image": "relgate-test/app:${RELGATE_VERSION}",
        "stop_grace_period": "1s",
        "ports": [{"target": 8080, "published": 18080, "mode": "host"}],
        "deploy": {
            "replicas": 1,
            "endpoint_mode": "dnsrr",
            "update_config": {"monitor": "3s", "failure_action": failure_action},
            "rollback_config": {"monitor": "3s"},
        },
    }


def run_deploy(
    workdir: Path,
    env: dict[str, str],
    stack: dict[str, Any],
    name: str,
    version: str,
    *,
    health: bool = True,
    driver: dict[str, Any] | None = None,
    base_url: str = "http://10.241.0.11:18080",
) -> DeployResult:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "stack.yml").write_text(yaml.safe_dump(stack, sort_keys=False))
    config: dict[str, Any] = {
        "project": {"name": "bench"},
        "environments": {
            "bench": {
                "allow_insecure_http": True,
                "base_url": base_url,
                "state_dir": str(workdir / "state"),
                "stack": driver
                or {
                    "driver": "swarm",
                    "files": ["stack.yml"],
                    "stack_name": name,
                    "resolve_image": "never",
                },
            }
        },
        "deploy": {
            "pull": False,
            "timeout": "120s",
            "stability_window": "2s",
            **({"health": {"url": "/health", "timeout": "2s"}} if health else {}),
        },
    }
    (workdir / "relgate.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    full = {**os.environ, **env}
    run = Run.open(
        env=full,
        reporter=Reporter(io.StringIO(), full, SecretRegistry()),
        run_dir=workdir / "runs" / f"{version}-{uuid.uuid4().hex[:6]}",
    )
    return deploy(
        load_config(workdir / "relgate.yml", env=full), run, environment="bench", version=version
    )


def swarm_alone(bed: SwarmBed, workdir: Path, name: str) -> tuple[float, float]:
    """(detect_s, healthy_s) for Swarm's own failure_action: rollback, from `stack deploy`."""
    import docker

    stack = {"version": "3.8", "services": {"web": web("rollback")}}
    path = workdir / "alone.yml"
    path.write_text(yaml.safe_dump(stack, sort_keys=False))
    argv = [
        "docker",
        "-H",
        bed.manager.host,
        "stack",
        "deploy",
        "--detach=true",
        "--resolve-image",
        "never",
        "-c",
        str(path),
        name,
    ]
    subprocess.run(
        argv, env={**os.environ, "RELGATE_VERSION": "v1"}, check=True, capture_output=True
    )
    client = docker.DockerClient(base_url=bed.manager.host, version="auto")
    wait_update(client, f"{name}_web", {"completed"}, since=None)
    events = client.api.events(filters={"type": "service", "service": f"{name}_web"}, decode=True)
    t0 = time.time()
    subprocess.run(
        argv, env={**os.environ, "RELGATE_VERSION": "v3-unhealthy"}, check=True, capture_output=True
    )
    detect = healthy = None
    for event in events:
        new = (event.get("Actor") or {}).get("Attributes", {}).get("updatestate.new")
        at = int(event.get("timeNano") or 0) / 1e9
        if new == "rollback_started" and detect is None:
            detect = at - t0
        if new == "rollback_completed":
            break
    events.close()
    # "rollback_completed" is not "healthy": judged like relgate, tasks of the spec running
    wait_update(client, f"{name}_web", {"rollback_completed"}, since=None)
    healthy = time.time() - t0
    client.close()
    subprocess.run(
        ["docker", "-H", bed.manager.host, "stack", "rm", name], capture_output=True, check=False
    )
    assert detect is not None and healthy is not None
    return detect, healthy


def wait_update(client: Any, service: str, states: set[str], since: float | None) -> None:
    end = time.monotonic() + 120
    while time.monotonic() < end:
        svc = client.api.inspect_service(service)
        tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
        state = (svc.get("UpdateStatus") or {}).get("State", "completed")
        if state in states and tasks and all(t["Status"]["State"] == "running" for t in tasks):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{service} never reached {states}")


def relgate_failed_update(bed: SwarmBed, workdir: Path, name: str) -> tuple[float, float]:
    stack = {"version": "3.8", "services": {"web": web("pause")}}
    env = bed.env()
    first = run_deploy(workdir, env, stack, name, "v1")
    assert first.outcome == "deployed", first.summary
    result = run_deploy(workdir, env, stack, name, "v3-unhealthy")
    assert result.outcome == "rolled_back", result.summary
    t0 = next(c for c in result.commands if c.name == "stack-deploy").started_at.timestamp()
    assert result.decision is not None and result.rollback is not None
    assert result.rollback.decision is not None
    detect = result.decision.decided_at.timestamp() - t0
    healthy = result.rollback.decision.decided_at.timestamp() - t0
    started = result.rollback.started_at.timestamp() - t0
    print(
        f"  relgate: decided {detect:.1f}s, rollback started {started:.1f}s, healthy {healthy:.1f}s"
    )
    subprocess.run(
        ["docker", "-H", bed.manager.host, "stack", "rm", name], capture_output=True, check=False
    )
    return detect, healthy


def swarm_requests(bed: SwarmBed, workdir: Path, name: str) -> tuple[int, int]:
    """(failed, total) requests seen by the in-overlay client during a start-first v1 -> v2."""
    api = {
        "image": "relgate-test/app:${RELGATE_VERSION}",
        "stop_grace_period": "2s",
        "deploy": {"replicas": 1, "endpoint_mode": "dnsrr", "update_config": {"monitor": "3s"}},
    }
    probe = {
        "image": "relgate-test/busybox:1",
        "command": ["sh", "-c", PROBE],
        "stop_grace_period": "1s",
        "deploy": {"endpoint_mode": "dnsrr"},
    }
    stack = {"version": "3.8", "services": {"api": api, "probe": probe}}
    env = bed.env()
    assert run_deploy(workdir, env, stack, name, "v1", health=False).outcome == "deployed"
    container = bed.docker(1, "ps", "-q", "--filter", f"name={name}_probe").split()[0]
    before = len(bed.docker(1, "logs", container).splitlines())
    result = run_deploy(workdir, env, stack, name, "v2", health=False)
    assert result.outcome == "deployed", result.summary
    lines = bed.docker(1, "logs", container).splitlines()[before:]
    subprocess.run(
        ["docker", "-H", bed.manager.host, "stack", "rm", name], capture_output=True, check=False
    )
    return lines.count("FAIL"), len(lines)


def compose_requests(workdir: Path) -> tuple[int, int]:
    """(failed, total) requests from a host client during relgate's compose v1 -> v2 (recreate)."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    project = f"rgbench-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "compose.yml").write_text(
        "services:\n  web:\n    image: relgate-test/app:${RELGATE_VERSION:?}\n"
        f"    pull_policy: never\n    ports: ['127.0.0.1:{port}:8080']\n    stop_signal: SIGKILL\n"
    )
    driver = {"driver": "compose", "files": ["compose.yml"], "project_name": project}
    url = f"http://127.0.0.1:{port}"
    try:
        assert (
            run_deploy(workdir, {}, {}, project, "v1", driver=driver, base_url=url).outcome
            == "deployed"
        )
        counts = {"failed": 0, "total": 0}
        stop = threading.Event()

        def poll() -> None:
            with httpx.Client(timeout=2) as client:
                while not stop.is_set():
                    try:
                        ok = client.get(url + "/").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    counts["total"] += 1
                    counts["failed"] += not ok
                    time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
        result = run_deploy(workdir, {}, {}, project, "v2", driver=driver, base_url=url)
        stop.set()
        poller.join()
        assert result.outcome == "deployed", result.summary
        return counts["failed"], counts["total"]
    finally:
        subprocess.run(
            [
                "docker",
                "compose",
                "-p",
                project,
                "-f",
                str(workdir / "compose.yml"),
                "down",
                "-t",
                "0",
            ],
            capture_output=True,
            check=False,
            env={**os.environ, "RELGATE_VERSION": "v1"},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for script in ("tests/images/build.sh", "tests/images/variants/build.sh"):
        subprocess.run(["bash", str(ROOT / script)], check=True, capture_output=True)
    tmp = Path(tempfile.mkdtemp(prefix="relgate-swarm-bench-"))
    rows: dict[str, list[float]] = {k: [] for k in ("rd", "rh", "sd", "sh")}
    requests: dict[str, list[tuple[int, int]]] = {"compose": [], "swarm": []}
    try:
        with SwarmBed(nodes_wanted=1, images=IMAGES) as bed:
            for i in range(args.runs):
                d, h = relgate_failed_update(bed, tmp / f"r{i}", f"rb{i}")
                rows["rd"].append(d)
                rows["rh"].append(h)
                d, h = swarm_alone(bed, tmp / f"r{i}", f"sb{i}")
                rows["sd"].append(d)
                rows["sh"].append(h)
                requests["swarm"].append(swarm_requests(bed, tmp / f"q{i}", f"qb{i}"))
                print(
                    f"run {i + 1}: relgate detect {rows['rd'][-1]:.1f}s healthy "
                    f"{rows['rh'][-1]:.1f}s | swarm alone detect {rows['sd'][-1]:.1f}s healthy "
                    f"{rows['sh'][-1]:.1f}s",
                    flush=True,
                )
        for i in range(args.runs):
            requests["compose"].append(compose_requests(tmp / f"c{i}"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print("\n== failed update (median of", args.runs, "runs, seconds from `docker stack deploy`)")
    print(
        f"detect:  relgate {med['rd']:.2f}  swarm alone {med['sd']:.2f}  "
        f"ratio {med['rd'] / med['sd']:.2f}"
    )
    print(
        f"healthy: relgate {med['rh']:.2f}  swarm alone {med['sh']:.2f}  "
        f"ratio {med['rh'] / med['sh']:.2f}  (relgate rolls back every service of the stack)"
    )
    print("\n== requests failed during a good update (failed/total per run)")
    for name, values in requests.items():
        print(f"{name:8} " + "  ".join(f"{f}/{t}" for f, t in values))


if __name__ == "__main__":
    main()
