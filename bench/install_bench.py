"""The composite actions' install: the hash-pinned uv install against the old unpinned pip install.

Run on demand:  .venv/bin/python bench/install_bench.py [--runs 3]
Targets (issue 18): cold <= 8 s and warm <= 1 s under act; the peer is what every job paid before,
`python -m venv` + `pip install <action source>` (unpinned, no cache: a hosted runner's fresh job).

* old cold  — venv + pip install of the source (builds relgate's wheel, resolves 8 dependencies);
* new cold  — actions/_lib/run.sh with an empty cache: pinned uv from PyPI, then the lock;
* new warm  — run.sh again on the same cache (what the 2nd..5th relgate step of a job pays);
* new relock — an empty venv dir but uv's cache kept (a new relgate version, same lock).

Each variant runs `run.sh` with a command that exits at once (an unknown command: exit 2 after
importing relgate), so the time is install + one import. Variants are interleaved per round, so
machine noise hits them alike; medians and ratios are printed, wall and CPU (children's user+sys).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_SH = ROOT / "actions" / "_lib" / "run.sh"


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def old_cold(work: Path) -> tuple[float, float]:
    venv = work / "old-venv"
    shutil.rmtree(venv, ignore_errors=True)
    script = (
        f"set -e; {sys.executable} -m venv {venv}; "
        f"{venv}/bin/python -m pip install --no-cache-dir --disable-pip-version-check -q {ROOT}"
    )
    return _timed(["bash", "-c", script], dict(os.environ), work)


def new(work: Path, *, cache: Path) -> tuple[float, float]:
    env = {**os.environ, "RELGATE_ACTION_CACHE": str(cache), "RELGATE_PYTHON": sys.executable}
    return _timed(["bash", str(RUN_SH), "bench-no-such-command"], env, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("old cold", "new cold", "new warm", "new relock")
    }
    with tempfile.TemporaryDirectory(prefix="relgate-install-bench-") as tmp:
        work = Path(tmp)
        for _ in range(args.runs):
            cache = work / "cache"
            shutil.rmtree(cache, ignore_errors=True)
            cache.mkdir()
            rows["old cold"].append(old_cold(work))
            rows["new cold"].append(new(work, cache=cache))
            rows["new warm"].append(new(work, cache=cache))
            for venv in cache.glob("relgate-venv-*"):
                shutil.rmtree(venv)
            rows["new relock"].append(new(work, cache=cache))
    med = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in rows.items()
    }
    base_wall, base_cpu = med["old cold"]
    print(f"{'variant':<12} {'wall s':>8} {'cpu s':>8} {'wall/old':>9} {'cpu/old':>8}")
    for name, (wall, cpu) in med.items():
        print(f"{name:<12} {wall:8.2f} {cpu:8.2f} {wall / base_wall:9.3f} {cpu / base_cpu:8.3f}")
    print(
        f"targets: new cold <= 8 s (got {med['new cold'][0]:.1f}), "
        f"new warm <= 1 s (got {med['new warm'][0]:.2f})"
    )


if __name__ == "__main__":
    main()
