"""relgate.proc, the one runner: capture, streams, stdin, timeouts, missing programs, a program
that leaves a child holding the pipe, a failing sink, and the streaming variant."""

from __future__ import annotations

import io
import sys
import time

import pytest

from relgate import proc
from relgate.deploy.executor import _LineWriter
from relgate.errors import ToolMissing

PY = sys.executable


def test_captures_stdout_and_stderr_apart() -> None:
    done = proc.run(
        [PY, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"]
    )
    assert (done.returncode, done.out, done.err, done.ok) == (3, "out\n", "err\n", False)


def test_merged_streams_and_a_sink_see_everything_in_order() -> None:
    seen = bytearray()
    code = "import sys\nfor i in range(3):\n print(i, flush=True); print('e', i, file=sys.stderr, flush=True)"
    done = proc.run([PY, "-c", code], merge_stderr=True, sink=seen.extend)
    assert done.ok and done.stdout == b""
    assert bytes(seen).decode().split() == ["0", "e", "0", "1", "e", "1", "2", "e", "2"]


@pytest.mark.parametrize("stdin", [pytest.param(b"abc" * 100_000, id="bytes"),
                                   pytest.param(io.BytesIO(b"abc" * 100_000), id="stream")])  # fmt: skip
def test_stdin_is_fed(stdin: bytes | io.BytesIO) -> None:
    done = proc.run([PY, "-c", "import sys; print(len(sys.stdin.buffer.read()))"], stdin=stdin)
    assert done.out.strip() == "300000"


def test_missing_program_names_it_and_why() -> None:
    with pytest.raises(
        ToolMissing, match=r"relgate-no-such-tool not found on PATH \(needed for x\)"
    ):
        proc.run(["relgate-no-such-tool"], hint="needed for x")


def test_timeout_kills_and_is_recorded_not_raised() -> None:
    t0 = time.monotonic()
    done = proc.run([PY, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert (done.timed_out, done.returncode, done.ok) == (True, None, False)
    assert time.monotonic() - t0 < 60  # killed, not waited out (ordering, not a latency target)


def test_a_child_left_holding_the_pipe_does_not_hang_the_call() -> None:
    """A post-deploy command that starts a daemon: the call ends with the command, not the daemon."""
    t0 = time.monotonic()
    done = proc.run(["sh", "-c", "sleep 60 & echo started"], timeout=120)
    assert done.ok and done.out == "started\n"
    assert not done.complete  # the daemon still held stdout: said, not hidden
    assert time.monotonic() - t0 < 60


def test_a_failing_sink_stops_the_program_and_raises() -> None:
    def full(_: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        proc.run([PY, "-c", "import time\nwhile True: print('x' * 1000, flush=True)"], sink=full)


def test_stream_reads_at_the_callers_pace_and_records_the_exit() -> None:
    with proc.stream([PY, "-c", "import sys; print('a'); print('b'); sys.exit(2)"]) as running:
        lines = running.stdout.read().split()
    assert (lines, running.returncode) == ([b"a", b"b"], 2)


def test_stream_stopped_early_kills_the_program() -> None:
    t0 = time.monotonic()
    with pytest.raises(KeyError), proc.stream([PY, "-c", "import time; time.sleep(60)"]) as _:
        raise KeyError("caller failed")
    assert time.monotonic() - t0 < 60


@pytest.mark.parametrize(
    ("chunks", "writes"),
    [
        pytest.param([b"tok", b"en=s3cr", b"et\nnext"], ["token=s3cret\n", "next"], id="secret-split"),
        pytest.param(["é\n".encode()[:1], "é\n".encode()[1:]], ["é\n"], id="utf8-split"),
        pytest.param([b"a\nb\nc"], ["a\nb\n", "c"], id="several-lines"),
    ],
)  # fmt: skip
def test_deploy_logs_get_whole_lines(chunks: list[bytes], writes: list[str]) -> None:
    """The log redacts each write: a secret split across two pipe reads must arrive whole."""

    class Log:
        def __init__(self) -> None:
            self.writes: list[str] = []

        def write(self, text: str, /) -> int:
            self.writes.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    log = Log()
    lines = _LineWriter(log)
    for chunk in chunks:
        lines.feed(chunk)
    lines.close()
    assert log.writes == writes
