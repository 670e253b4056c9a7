"""The one place deploy runs external commands (compose, git, post-deploy checks).

Each command's output goes, redacted, to its own log under ``logs/<area>/`` as it is produced, and a
:class:`CommandRecord` (argv, exit code, duration) is kept for the result. Commands run through
:func:`relgate.proc.run`: a missing program is :class:`ToolMissing`; a timeout kills the command and
is recorded, not raised.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from relgate import proc
from relgate.deploy.models import CommandRecord
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
        chunks: list[bytes] = []
        with self.run.open_log(rel) as log:
            lines = _LineWriter(log)

            def sink(chunk: bytes) -> None:
                chunks.append(chunk)
                lines.feed(chunk)

            try:
                # `compose up` recreating containers or a pull can take a while with no output.
                with self.run.reporter.waiting(name):
                    done = proc.run(
                        argv,
                        env={**self.env, **(env or {})},
                        cwd=self.cwd,
                        sink=sink,
                        merge_stderr=True,
                        timeout=timeout_s,
                        hint=f"needed for: {name}",
                    )
            finally:
                lines.close()
        output = self.run.secrets.redact(b"".join(chunks).decode("utf-8", "replace"))
        record = CommandRecord(
            name=name,
            argv=[self.run.secrets.redact(a) for a in argv],
            exit_code=done.returncode,
            duration_s=round(self.monotonic() - t0, 3),
            started_at=started_at,
            timed_out=done.timed_out,
            log=None if quiet_log else rel,
        )
        if quiet_log:
            self.run.path(rel).unlink(missing_ok=True)
        self.records.append(record)
        return Ran(record, output)


class _Log(Protocol):
    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class _LineWriter:
    """Writes whole lines only, decoded incrementally: the log redacts each write, and a secret
    split across two pipe reads would escape it (and so would a UTF-8 character split in two)."""

    def __init__(self, log: _Log) -> None:
        self._log = log
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> None:
        text = self._pending + self._decoder.decode(chunk)
        head, sep, self._pending = text.rpartition("\n")
        if sep:
            self._log.write(head + sep)
            self._log.flush()  # the log is live: a human may be tailing it

    def close(self) -> None:
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        if rest:
            self._log.write(rest)
