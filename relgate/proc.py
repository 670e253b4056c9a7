"""The one way relgate runs another program: an argv list (never a shell), pumped by threads.

Every caller — deploy's :class:`~relgate.deploy.executor.Executor`, the engine probe, git for the
release notes, pg_dump/psql/pg_restore, preflight — goes through :func:`run` (or :func:`stream` when
the caller consumes the output as it comes, like ``git log`` on a 20,000-commit range). What they
share, and would otherwise each get slightly wrong:

* a missing program is :class:`~relgate.errors.ToolMissing` naming it (and what it was needed for);
* a timeout kills the program and is *recorded* (``timed_out``), never raised;
* an interruption (SIGTERM mapped to :class:`~relgate.errors.Interrupted`, Ctrl-C) or a failing sink
  kills the child before the exception goes on: no orphaned ``pg_dump`` or ``compose up``;
* stdin and stdout are pumped through Python rather than handed over as file descriptors, because
  the interesting ones (a gzip stream, a hashing writer, a redacting log) have no descriptor of their
  own — and a ``GzipFile``'s ``fileno()`` is the *compressed* file's.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from relgate.errors import ToolMissing

__all__ = ["Finished", "Streaming", "run", "stream"]

_CHUNK = 1 << 20
#: How long output still in flight is read after the program exited.
GRACE_S = 5.0

Sink = Callable[[bytes], object]


@dataclass
class Finished:
    """A program that ended (or was killed when its time ran out)."""

    argv: list[str]
    returncode: int | None  # None: killed after ``timeout``
    stdout: bytes = b""  # empty when a sink took it
    stderr: bytes = b""  # empty with merge_stderr (it went into stdout)
    duration_s: float = 0.0
    timed_out: bool = False
    complete: bool = True  # False: something it started still held the pipe after GRACE_S

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        text = self.stderr.decode("utf-8", "replace")
        return f"{text}\n(killed after {self.duration_s:.0f}s)" if self.timed_out else text


def _start(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    cwd: Path | None,
    stdin: bool,
    merge_stderr: bool,
    hint: str,
) -> subprocess.Popen[bytes]:
    if not argv:
        raise ValueError("empty argv")
    try:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        )
    except FileNotFoundError:
        why = f" ({hint})" if hint else ""
        raise ToolMissing(f"{argv[0]} not found on PATH{why}") from None
    except NotADirectoryError as exc:  # cwd is a file: the caller's bad input, said plainly
        raise ToolMissing(f"{argv[0]}: cannot run in {cwd}: {exc.strerror}") from None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with suppress(OSError):
        proc.kill()
    proc.wait()


def _feed(source: IO[bytes] | bytes, target: IO[bytes] | None) -> None:
    if target is None:
        return
    try:
        if isinstance(source, bytes):
            target.write(source)
        else:
            while chunk := source.read(_CHUNK):
                target.write(chunk)
    except OSError:
        pass  # the program stopped reading (it failed): its exit code and stderr say why
    finally:
        with suppress(OSError):
            target.close()


def _drain(stream: IO[bytes] | None, sink: list[bytes]) -> None:
    if stream is not None:
        sink.extend(iter(lambda: stream.read(65536), b""))


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: IO[bytes] | bytes | None = None,
    sink: Sink | None = None,
    merge_stderr: bool = False,
    timeout: float | None = None,
    hint: str = "",
) -> Finished:
    """Run ``argv`` until it exits; capture its output, or hand each chunk to ``sink`` as it comes.

    ``stdin`` is fed from a thread (bytes or a readable stream). With ``merge_stderr`` both streams
    arrive in order as stdout (deploy's logs). ``timeout`` kills the program: ``timed_out`` is set
    and ``returncode`` is None. The program's exit ends the call: output still in flight is read
    for up to :data:`GRACE_S` more, so a background process it left holding the pipe (a daemon
    started by a post-deploy command) cannot hang relgate. A sink that raises kills the program
    and the error is raised here.
    """
    started = time.monotonic()
    proc = _start(
        argv, env=env, cwd=cwd, stdin=stdin is not None, merge_stderr=merge_stderr, hint=hint
    )
    captured: list[bytes] = []
    err_chunks: list[bytes] = []
    failure: list[BaseException] = []
    done = threading.Event()  # set once run() returns: a late chunk is dropped, not written

    def pump() -> None:
        stdout = cast("IO[bytes]", proc.stdout)
        reader = cast("Callable[[int], bytes]", getattr(stdout, "read1", stdout.read))
        try:
            # read1: whatever is there now, so a sink (a live log) sees output as it is produced
            while chunk := reader(_CHUNK):
                if done.is_set():
                    return
                if sink is None:
                    captured.append(chunk)
                else:
                    sink(chunk)
        except BaseException as exc:  # interrupt-safe: a worker thread; re-raised by run()
            failure.append(exc)
            with suppress(OSError):
                proc.kill()

    threads = [threading.Thread(target=pump, daemon=True, name="relgate-proc-out")]
    if not merge_stderr:
        threads.append(threading.Thread(target=_drain, args=(proc.stderr, err_chunks), daemon=True))
    if stdin is not None:
        threads.append(threading.Thread(target=_feed, args=(stdin, proc.stdin), daemon=True))
    for thread in threads:
        thread.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc)
    except BaseException:  # interrupted (SIGTERM/SIGINT): never leave the child behind
        _kill(proc)
        raise
    finally:
        for thread in threads:
            thread.join(timeout=GRACE_S)
        done.set()
    if failure:
        raise failure[0]
    complete = not threads[0].is_alive()
    return Finished(
        argv=list(argv),
        returncode=None if timed_out else proc.returncode,
        stdout=b"".join(captured),
        stderr=b"".join(err_chunks),
        duration_s=time.monotonic() - started,
        timed_out=timed_out,
        complete=complete,
    )


@dataclass
class Streaming:
    """A running program whose stdout the caller reads; filled in when :func:`stream` exits."""

    stdout: IO[bytes]
    returncode: int | None = None
    stderr: bytes = b""
    _errors: list[bytes] = field(default_factory=list)

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


@contextmanager
def stream(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    hint: str = "",
) -> Iterator[Streaming]:
    """Start ``argv`` and yield its stdout to read at the caller's pace; on exit wait for it (or kill
    it when the caller stopped early or failed) and record its exit code and stderr."""
    proc = _start(argv, env=env, cwd=cwd, stdin=False, merge_stderr=False, hint=hint)
    out = Streaming(cast("IO[bytes]", proc.stdout))
    drain = threading.Thread(target=_drain, args=(proc.stderr, out._errors), daemon=True)
    drain.start()
    try:
        yield out
    except BaseException:
        _kill(proc)
        raise
    finally:
        out.stdout.close()  # a caller that stopped early: the program gets SIGPIPE and ends
        out.returncode = proc.wait()
        drain.join(timeout=10)
        out.stderr = b"".join(out._errors)
