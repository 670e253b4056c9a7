"""Deploy benchmarks against `docker compose up -d --wait`, on the real engine.

Run on demand:  .venv/bin/python bench/deploy_bench.py [--runs 5]

1. Healthy deploy of the same stack (relgate v1 -> v2, compose v2 -> v1, interleaved, so every run
   recreates the container):
   `relgate deploy` wall time (a real CLI process: interpreter start, config, compose config, up,
   event-driven gate, HTTP health check, last-good record) ÷ `docker compose up -d --wait`.
   Target <= 1.10.
2. Unhealthy detection latency: from the engine's own event time (`health_status: unhealthy`, or
   `die` for a crash loop) to relgate's decision (`decision.latency_s` in results/deploy.json).
   Target median <= 0.25 s. Side by side: the same latency for `compose up --wait` (its exit time
   minus the same event's time; it polls every 500 ms).
3. Failure to "previous version healthy again" (`rollback.failure_to_healthy_s`), reported.

Images come from tests/images (built if missing). Each project name is unique; everything is torn
down at the end. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = """\
services:
  web:
    image: relgate-test/app:${RELGATE_VERSION:?}
    pull_policy: never
    ports: ["127.0.0.1:${APP_PORT}:8080"]
    stop_signal: SIGKILL
    restart: unless-stopped
"""
CONFIG = """\
project: {{name: bench}}
environments:
  bench:
    base_url: http://127.0.0.1:{port}
    state_dir: {home}/state
    variables: {{APP_PORT: "{port}"}}
    stack: {{driver: compose, files: [compose.yml], project_name: {project}}}
deploy:
  pull: false
  timeout: 60s
  health: {{url: /health, timeout: 2s}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bench:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.project = f"relgate-bench-{uuid.uuid4().hex[:8]}"
        (home / "compose.yml").write_text(COMPOSE)
        (home / "relgate.yml").write_text(
            CONFIG.format(port=self.port, home=home, project=self.project)
        )
        self.env = {**os.environ, "APP_PORT": str(self.port)}
        self.n = 0

    def relgate(self, version: str) -> tuple[float, dict]:
        self.n += 1
        run_dir = self.home / "runs" / f"{self.n:03d}-{version}"
        argv = [sys.executable, "-m", "relgate", "--config", str(self.home / "relgate.yml"),
                "--env", "bench", "--run-dir", str(run_dir), "deploy", "--version", version]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(argv, env=self.env, capture_output=True, check=False)
        wall = time.perf_counter() - start
        return wall, json.loads((run_dir / "results/deploy.json").read_text())

    def compose(self, *args: str, version: str) -> tuple[float, int, float]:
        argv = [
            "docker",
            "compose",
            "-p",
            self.project,
            "-f",
            str(self.home / "compose.yml"),
            *args,
        ]
        t_wall0 = time.time()
        start = time.perf_counter()
        done = subprocess.run(
            argv, env={**self.env, "RELGATE_VERSION": version}, capture_output=True, check=False
        )
        return time.perf_counter() - start, done.returncode, t_wall0

    def first_event(self, since: float, action_prefix: str) -> float | None:
        """Engine time of the first matching event of this project since ``since`` (epoch)."""
        done = subprocess.run(
            ["docker", "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}",
             "--filter", f"label=com.docker.compose.project={self.project}",
             "--format", "{{json .}}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        for line in done.stdout.splitlines():
            event = json.loads(line)
            if str(event.get("Action", "")).startswith(action_prefix):
                return int(event["timeNano"]) / 1e9
        return None

    def down(self) -> None:
        self.compose("down", "-v", "-t", "0", version="v1")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for script in (ROOT / "tests/images/build.sh", ROOT / "tests/images/variants/build.sh"):
        subprocess.run(["bash", str(script)], check=True, capture_output=True)
    home = Path(tempfile.mkdtemp(prefix="relgate-deploy-bench-"))
    bench = Bench(home)
    try:
        healthy(bench, args.runs)
        bench.down()
        failures(bench, args.runs)
    finally:
        bench.down()
        shutil.rmtree(home, ignore_errors=True)


def healthy(bench: Bench, runs: int) -> None:
    rel, comp = [], []
    bench.compose("up", "-d", "--wait", version="v1")  # warm: the stack exists in both cases
    for _ in range(runs):
        # relgate always v1 -> v2, compose always v2 -> v1: both recreate the container every run
        wall, result = bench.relgate("v2")
        assert result["outcome"] == "deployed", result["summary"]
        rel.append(wall)
        wall, code, _ = bench.compose("up", "-d", "--wait", "--wait-timeout", "60", version="v1")
        assert code == 0
        comp.append(wall)
    r, c = median(rel), median(comp)
    print(f"healthy deploy (median of {runs}): relgate deploy {r:.2f}s | compose up --wait {c:.2f}s"
          f" | ratio {r / c:.2f} (target <= 1.10)")  # fmt: skip


def failures(bench: Bench, runs: int) -> None:
    rel_unhealthy, rel_die, back, comp_unhealthy = [], [], [], []
    for _ in range(runs):
        bench.relgate("v1")
        _, result = bench.relgate("v3-unhealthy")
        rel_unhealthy.append(result["decision"]["latency_s"])
        if result["rollback"] and result["rollback"]["failure_to_healthy_s"]:
            back.append(result["rollback"]["failure_to_healthy_s"])
        _, result = bench.relgate("crashloop")
        rel_die.append(result["decision"]["latency_s"])
        if result["rollback"] and result["rollback"]["failure_to_healthy_s"]:
            back.append(result["rollback"]["failure_to_healthy_s"])
        # compose --wait on the same unhealthy version, from the same healthy start
        bench.compose("up", "-d", "--wait", version="v1")
        wall, code, t0 = bench.compose("up", "-d", "--wait", "--wait-timeout", "60",
                                       version="v3-unhealthy")  # fmt: skip
        ended = t0 + wall
        event = bench.first_event(t0, "health_status: unhealthy")
        if code != 0 and event is not None:
            comp_unhealthy.append(ended - event)
    ru, rd, cu = median(rel_unhealthy), median(rel_die), median(comp_unhealthy)
    print(
        f"unhealthy detection latency (median of {runs}): relgate {ru * 1000:.1f} ms"
        f" | compose up --wait {cu * 1000:.0f} ms | ratio {ru / cu:.3f} (target relgate <= 250 ms)"
    )
    print(
        f"crash-loop (die) detection latency (median of {runs}): relgate {rd * 1000:.1f} ms"
        " | compose up --wait: not measured (a restarting container can pass its 500 ms polls)"
    )
    print(f"failure -> previous version healthy again (median of {len(back)}): {median(back):.2f}s"
          f" (min {min(back, default=float('nan')):.2f}s, max {max(back, default=float('nan')):.2f}s)")  # fmt: skip


if __name__ == "__main__":
    main()
