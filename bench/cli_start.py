"""CLI start-up: `relgate --version`, `--help` and `config check` against a bare interpreter.

Run on demand:  .venv/bin/python bench/cli_start.py [--runs 30]
Targets (issue 2): --version <= 1.5x `python -c pass`; config check of a typical file <= 2x.
All commands run in one process tree, interleaved, so machine noise hits them alike; medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
project: {name: korrigo, repository: acme/korrigo}
secrets: [SMOKE_PASS, {name: METRICS_TOKEN, generate: true}]
environments:
  staging:
    base_url: https://staging.example.com
    stack: {driver: compose, files: [docker-compose.staging.yml], services: [backend, nginx]}
  production:
    base_url: https://example.com
    stack: {driver: compose, files: [docker-compose.prod.yml]}
deploy:
  timeout: 90s
  health: {url: /api/health/}
  post_deploy:
    - {name: migrate, service: backend, command: [python, manage.py, migrate, --noinput]}
smoke: {scenario: smoke.yml}
notes: {junit: [reports/*.xml]}
"""


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    relgate = str(Path(sys.executable).with_name("relgate"))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "relgate.yml"
        cfg.write_text(CONFIG)
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "relgate --version": [relgate, "--version"],
            "relgate --help": [relgate, "--help"],
            "relgate config check": [relgate, "--config", str(cfg), "config", "check"],
        }
        for argv in cases.values():  # warm the page cache
            timed(argv)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, argv in cases.items():
                samples[name].append(timed(argv))
    base = statistics.median(samples["python -c pass"])
    targets = {"relgate --version": 1.5, "relgate config check": 2.0}
    print(f"{'command':<24}{'median ms':>10}{'ratio':>8}  target")
    for name, values in samples.items():
        med = statistics.median(values)
        target = targets.get(name)
        verdict = (
            ""
            if target is None
            else (f"<= {target}  " + ("ok" if med / base <= target else "MISSED"))
        )
        print(f"{name:<24}{med * 1000:>10.1f}{med / base:>8.2f}  {verdict}")


if __name__ == "__main__":
    main()
