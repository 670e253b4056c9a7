"""Silence during waits: the longest gap between two output lines of a gate with long waits.

Run on demand:  .venv/bin/python bench/heartbeat_gaps.py [--slow-start 20] [--slow-answer 15]
Target (issue 18): no gap over 5 s in the log while relgate waits (health wait of a service that
takes --slow-start seconds to listen; a smoke step whose answer takes --slow-answer seconds).

The gate runs as a subprocess (process driver, the tests' slow app); every line it prints is
time-stamped as it arrives. Printed: the number of lines, the longest gap and where it was, and the
same for the heartbeat-free baseline (RELGATE_HEARTBEAT_S=3600), whose gaps are what a person
watching the job saw before.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.gate.conftest import write_project  # noqa: E402


def gaps(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, float, str, int, list[str]]:
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    stamps: list[tuple[float, str]] = []
    for line in proc.stdout:
        stamps.append((time.monotonic(), line.rstrip()))
    code = proc.wait()
    worst, where = 0.0, ""
    for (t0, _), (t1, line) in itertools.pairwise(stamps):
        if t1 - t0 > worst:
            worst, where = t1 - t0, line
    return len(stamps), worst, where, code, [line for _, line in stamps[-3:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow-start", type=float, default=20)
    parser.add_argument("--slow-answer", type=float, default=15)
    args = parser.parse_args()
    relgate = str(Path(sys.executable).with_name("relgate"))
    for label, beat in (("heartbeat on", None), ("heartbeat off", "3600")):
        with tempfile.TemporaryDirectory(prefix="relgate-heartbeat-") as tmp:
            project = write_project(
                Path(tmp), slow_start=args.slow_start, slow_seconds=args.slow_answer
            )
            env = {**os.environ, "NO_COLOR": "1", "HOME": tmp}
            if beat:
                env["RELGATE_HEARTBEAT_S"] = beat
            try:
                n, worst, where, code, tail = gaps(
                    [
                        relgate,
                        "--config",
                        str(project.root / "relgate.yml"),
                        "gate",
                        "--version",
                        "v1.0.0",
                        "--no-notes",
                    ],
                    env,
                    project.root,
                )
            finally:
                project.stop_app()
        print(
            f"{label:<14} exit {code}  {n:4d} lines  longest gap {worst:5.1f}s "
            f"(before: {where[:70]!r})"
        )
        if code != 0:
            print("  the gate did not pass; its last lines:", *tail, sep="\n    ")
    print("target: longest gap <= 5 s with the heartbeat on")


if __name__ == "__main__":
    main()
