"""The one place deploy runs external commands (compose, git, post-deploy checks).

Each command's output goes, redacted, to its own log under ``logs/<area>/`` as it is produced, and a
:class:`CommandRecord` (argv, exit code, duration) is kept for the result. A missing program is
:class:`ToolMissing`; a timeout kills the command and is recorded, not raised.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from relgate.deploy.models import CommandRecord
from relgate.errors import ToolMissing
from relgate.run import Run

__all__ = ["Executor", "Ran"]

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Ran:
    record: CommandRecord
    output: str  # redacted; the tail is used in error messages

    @property
    def ok(self) -> bool:
        return self.record.ok

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])


@dataclass
class Executor:
    """Runs argv lists for one stage area (``deploy`` or ``rollback``), recording each command."""

    run: Run
    area: str
    env: Mapping[str, str]
    cwd: Path | None = None
    monotonic: Callable[[], float] = time.monotonic
    records: list[CommandRecord] = field(default_factory=list)
    _seq: int = 0

    def __call__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        timeout_s: float | None = None,
        env: Mapping[str, str] | None = None,
        quiet_log: bool = False,
    ) -> Ran:
        self._seq += 1
        rel = f"logs/{self.area}/{self._seq:02d}-{_SLUG.sub('-', name)}.log"
        started_at, t0 = self.run.clock(), self.monotonic()
        self.run.reporter.debug(f"$ {' '.join(argv)}")
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=self.cwd,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except FileNotFoundError:
            raise ToolMissing(f"{argv[0]} not found on PATH (needed for: {name})") from None
        chunks: list[bytes] = []
        reader = threading.Thread(target=self._pump, args=(proc, rel, chunks), daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
        except BaseException:  # Interrupted (SIGTERM) or Ctrl-C: don't leave the child behind
            proc.kill()
            proc.wait()
            raise
        finally:
            reader.join(timeout=5)
        output = self.run.secrets.redact(b"".join(chunks).decode("utf-8", "replace"))
        record = CommandRecord(
            name=name,
            argv=[self.run.secrets.redact(a) for a in argv],
            exit_code=None if timed_out else proc.returncode,
            duration_s=round(self.monotonic() - t0, 3),
            started_at=started_at,
            timed_out=timed_out,
            log=None if quiet_log else rel,
        )
        if quiet_log:
            self.run.path(rel).unlink(missing_ok=True)
        self.records.append(record)
        return Ran(record, output)

    def _pump(self, proc: subprocess.Popen[bytes], rel: str, chunks: list[bytes]) -> None:
        assert proc.stdout is not None
        with self.run.open_log(rel) as log:
            for line in iter(proc.stdout.readline, b""):
                chunks.append(line)
                log.write(line.decode("utf-8", "replace"))
                log.flush()
