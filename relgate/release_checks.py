"""Release checks: the runbook's ``composer release:check`` / ``composer audit``, run by preflight.

Each configured command runs in the application's checkout (``project.repo_path``), never in the
stack, through the executor every stage uses: its output goes, redacted, to
``logs/preflight/NN-check-<name>.log`` as it is produced, and the result keeps its exit code, its
duration and its last output lines, so an auditor sees *why* a release was stopped without the log.
A progress line is printed every 5 s while a check runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from relgate.config import ReleaseCheck, RelgateConfig
from relgate.results.preflight import ReleaseCheckRecord
from relgate.run import Run

__all__ = ["LAST_LINES", "ReleaseCheckRecord", "run_release_check"]

LAST_LINES = 20
HEARTBEAT_S = 5.0


@contextmanager
def _heartbeat(run: Run, name: str, every_s: float = HEARTBEAT_S) -> Iterator[None]:
    stop = threading.Event()
    start = time.monotonic()

    def beat() -> None:
        while not stop.wait(every_s):
            run.reporter.progress(
                f"release check {name}: still running ({time.monotonic() - start:.0f}s)"
            )

    thread = threading.Thread(target=beat, daemon=True, name="relgate-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1)


def run_release_check(
    config: RelgateConfig, run: Run, check: ReleaseCheck, *, heartbeat_s: float = HEARTBEAT_S
) -> ReleaseCheckRecord:
    from relgate.deploy.executor import Executor
    from relgate.errors import ToolMissing

    repo = config.resolve_path(config.project.repo_path)
    cwd = (repo / check.cwd) if check.cwd else repo
    record = ReleaseCheckRecord(
        name=check.name, argv=list(check.command), cwd=str(cwd), duration_s=0
    )
    if not cwd.is_dir():
        record.error = f"no such directory {cwd} (project.repo_path / cwd)"
        return record
    executor = Executor(run, "preflight", {**run.env, **check.env}, cwd=cwd)
    run.reporter.line(f"release check {check.name}: {' '.join(check.command)} (in {cwd})")
    try:
        with _heartbeat(run, check.name, heartbeat_s):
            ran = executor(
                f"check-{check.name}", check.command, timeout_s=check.timeout.total_seconds()
            )
    except ToolMissing as exc:
        record.error = exc.message
        return record
    record.exit_code = ran.record.exit_code
    record.duration_s = ran.record.duration_s
    record.timed_out = ran.record.timed_out
    record.log = ran.record.log
    record.last_lines = ran.output.strip().splitlines()[-LAST_LINES:]
    record.argv = ran.record.argv
    return record
