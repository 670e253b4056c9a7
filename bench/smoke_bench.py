"""Benchmark: `relgate smoke` (whole process) ÷ the seed-style curl+jq script (whole process).

Same 9-step flow, same server, same machine, two targets:

* ``demo``: relgate/demo/smoke.yml vs bench/smoke_curl.sh against the embedded demo service;
* ``drf``: examples/korrigo.smoke.yml vs the same script against the real Django REST Framework
  app of the tests (tests/apps/grading_drf, gunicorn + SQLite; its data reset before every run).

Each side runs once untimed (page cache, bytecode) and then ``--rounds`` times, alternately. Two
ratios per target: **wall** (elapsed) and **CPU** (user + system of the process and everything it
started: bash, curl, jq… on one side; the interpreter on the other), from ``getrusage`` of the
children. CPU is the one a loaded CI machine does not blur. Also reports relgate's per-step
overhead over the raw HTTP round trip (a bare keep-alive ``http.client`` GET).

    .venv/bin/python bench/smoke_bench.py [--target demo|drf|all] [--rounds N] [--json out.json]

Target: CPU ratio ≤ 0.5. Needs curl and jq (Debian: apt-get install -y curl jq) and, for ``drf``,
the test extras (Django, djangorestframework, gunicorn).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "relgate" / "demo" / "smoke.yml"
KORRIGO = ROOT / "examples" / "korrigo.smoke.yml"
CURL_SCRIPT = ROOT / "bench" / "smoke_curl.sh"
PASSWORD = "bench-password"


def start_demo(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "relgate.demo.service", "--port", "0", "--version", "bench"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"demo service did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its descendants)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def raw_round_trip_ms(url: str, n: int = 50, path: str = "/api/health/") -> float:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("GET", path)
        conn.getresponse().read()
        samples.append((time.perf_counter() - start) * 1000)
    conn.close()
    return statistics.median(samples)


def measure(
    name: str,
    url: str,
    scenario: Path,
    env: dict[str, str],
    rounds: int,
    work: Path,
    reset: Callable[[], None],
) -> dict[str, object]:
    relgate = str(Path(sys.executable).with_name("relgate"))
    env = {**env, "BASE_URL": url}
    rel_argv = [relgate, "--run-dir", "", "smoke", "--scenario", str(scenario), "--base-url", url]
    curl_argv = ["bash", str(CURL_SCRIPT)]
    rel: list[tuple[float, float]] = []
    curl: list[tuple[float, float]] = []
    for round_no in range(rounds + 1):  # round 0 warms up
        rel_argv[2] = str(work / f"{name}-run{round_no}")
        reset()
        r = timed(rel_argv, env)
        reset()
        c = timed(curl_argv, env)
        if round_no:
            rel.append(r)
            curl.append(c)
    report = json.loads((work / f"{name}-run{rounds}" / "results" / "smoke.json").read_text())
    raw = raw_round_trip_ms(url, path="/api/health/")
    rel_wall, rel_cpu = (statistics.median(x[i] for x in rel) for i in (0, 1))
    curl_wall, curl_cpu = (statistics.median(x[i] for x in curl) for i in (0, 1))
    steps = report["steps"]
    step_ms = [s["duration_ms"] for s in steps]
    return {
        "target": name,
        "verdict": report["verdict"],
        "relgate_wall_s": round(rel_wall, 3),
        "curl_jq_wall_s": round(curl_wall, 3),
        "wall_ratio": round(rel_wall / curl_wall, 3),
        "relgate_cpu_s": round(rel_cpu, 3),
        "curl_jq_cpu_s": round(curl_cpu, 3),
        "cpu_ratio": round(rel_cpu / curl_cpu, 3),
        "target_cpu_ratio": 0.5,
        "raw_round_trip_ms": round(raw, 2),
        "relgate_time_in_steps_ms": round(sum(step_ms), 1),
        "per_step": [
            {
                "step": s["name"],
                "step_ms": s["duration_ms"],
                "round_trip_ms": s["round_trip_ms"],
                "overhead_over_raw_ms": round(s["duration_ms"] - raw, 2),
            }
            for s in steps
        ],
        "mean_overhead_per_step_ms": round(statistics.mean(step_ms) - raw, 2),
    }


def show(result: dict[str, object]) -> None:
    print(f"== target {result['target']}: relgate {result['verdict']}")
    print(
        f"wall: relgate {result['relgate_wall_s']} s, curl + jq {result['curl_jq_wall_s']} s, "
        f"ratio {result['wall_ratio']}"
    )
    print(
        f"CPU:  relgate {result['relgate_cpu_s']} s, curl + jq {result['curl_jq_cpu_s']} s, "
        f"ratio {result['cpu_ratio']} (target ≤ 0.5)"
    )
    print(f"raw HTTP round trip (http.client keep-alive GET): {result['raw_round_trip_ms']} ms")
    print(f"{'step':<18} {'step ms':>8} {'try ms':>8} {'overhead ms':>12}")
    for row in result["per_step"]:  # type: ignore[attr-defined]
        print(
            f"{row['step']:<18} {row['step_ms']:>8.1f} {row['round_trip_ms']:>8.1f} "
            f"{row['overhead_over_raw_ms']:>12.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("demo", "drf", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each side (default 3)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args()
    for tool in ("curl", "jq", "bash"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (apt-get install -y curl jq)")
    # An installed package has its bytecode compiled; don't measure a compiler.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"RELGATE_DEMO_PASSWORD": PASSWORD, "SMOKE_PASS": PASSWORD, "SMOKE_USER": "prof1"}
    env.pop("GITHUB_ACTIONS", None)
    work = Path(tempfile.mkdtemp(prefix="relgate-smoke-bench-"))
    results = []
    try:
        if args.target in ("demo", "all"):
            server, url = start_demo(env)
            try:
                results.append(measure("demo", url, SCENARIO, env, args.rounds, work, lambda: None))
            finally:
                server.terminate()
                server.wait(timeout=10)
        if args.target in ("drf", "all"):
            sys.path.insert(0, str(ROOT))
            from tests.apps.grading_drf.server import GradingApp

            app = GradingApp(work / "drf", password=PASSWORD, version="bench").start()
            try:
                results.append(measure("drf", app.url, KORRIGO, env, args.rounds, work, app.reset))
            finally:
                app.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for result in results:
        show(result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
