"""Benchmark: `relgate smoke` (whole process) ÷ the seed-style curl+jq script (whole process).

Same 9-step flow (relgate/demo/smoke.yml vs bench/smoke_curl.sh), same demo server, same machine.
Each side runs once untimed (page cache, bytecode) and then once timed, alternately. Also reports
relgate's per-step overhead over the raw HTTP round trip (a bare keep-alive ``http.client`` GET to
the same server), from the step timings relgate records itself.

    .venv/bin/python bench/smoke_bench.py [--rounds N] [--json out.json]

Target: ratio ≤ 0.5. Needs curl and jq (Debian: apt-get install -y curl jq).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "relgate" / "demo" / "smoke.yml"
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


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def raw_round_trip_ms(url: str, n: int = 50) -> float:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("GET", "/api/health/")
        conn.getresponse().read()
        samples.append((time.perf_counter() - start) * 1000)
    conn.close()
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="timed runs of each side (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args()
    for tool in ("curl", "jq", "bash"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (apt-get install -y curl jq)")
    relgate = str(Path(sys.executable).with_name("relgate"))
    # An installed package has its bytecode compiled; don't measure a compiler.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"RELGATE_DEMO_PASSWORD": PASSWORD, "SMOKE_PASS": PASSWORD, "SMOKE_USER": "prof1"}
    env.pop("GITHUB_ACTIONS", None)
    server, url = start_demo(env)
    work = Path(tempfile.mkdtemp(prefix="relgate-smoke-bench-"))
    try:
        env["BASE_URL"] = url
        rel_argv = [
            relgate,
            "--run-dir",
            "",
            "smoke",
            "--scenario",
            str(SCENARIO),
            "--base-url",
            url,
        ]
        curl_argv = ["bash", str(CURL_SCRIPT)]
        rel_times, curl_times = [], []
        for round_no in range(args.rounds + 1):  # round 0 warms up
            rel_argv[2] = str(work / f"run{round_no}")
            r, c = timed(rel_argv, env), timed(curl_argv, env)
            if round_no:
                rel_times.append(r)
                curl_times.append(c)
        report = json.loads((work / f"run{args.rounds}" / "results" / "smoke.json").read_text())
        raw = raw_round_trip_ms(url)
        startup = min(timed([relgate, "--version"], env) for _ in range(3))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    rel, curl = statistics.median(rel_times), statistics.median(curl_times)
    steps = report["steps"]
    step_ms = [s["duration_ms"] for s in steps]
    in_steps = sum(step_ms)
    result = {
        "relgate_s": round(rel, 3),
        "curl_jq_s": round(curl, 3),
        "ratio": round(rel / curl, 3),
        "target": 0.5,
        "raw_round_trip_ms": round(raw, 2),
        "relgate_cli_start_s": round(startup, 3),
        "relgate_time_in_steps_ms": round(in_steps, 1),
        "relgate_outside_steps_ms": round(rel * 1000 - in_steps, 1),
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
    print(f"relgate smoke (whole process): {rel:.3f} s")
    print(f"curl + jq script (whole process): {curl:.3f} s")
    print(f"ratio: {result['ratio']} (target ≤ 0.5)")
    print(f"relgate --version: {startup:.3f} s; time inside the 9 steps: {in_steps:.1f} ms")
    print(f"raw HTTP round trip (http.client keep-alive GET): {raw:.2f} ms")
    print(f"{'step':<18} {'step ms':>8} {'try ms':>8} {'overhead ms':>12}")
    for row in result["per_step"]:
        print(
            f"{row['step']:<18} {row['step_ms']:>8.1f} {row['round_trip_ms']:>8.1f} "
            f"{row['overhead_over_raw_ms']:>12.2f}"
        )
    print(
        f"mean overhead per step over the raw round trip: {result['mean_overhead_per_step_ms']} ms"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
