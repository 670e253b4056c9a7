"""The demo service as a process: startup line, SIGTERM, faults from flags and env."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from relgate.demo.service import parse_faults, render_pdf


@contextmanager
def _service(
    args: Sequence[str] = (), env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "relgate.demo.service", "--port", "0", "--version", "v7", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        yield proc, line.removeprefix("listening on ")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_starts_fast_prints_its_url_and_stops_cleanly_on_sigterm() -> None:
    with _service() as (proc, url):  # how fast it starts is bench/cli_start.py's question
        assert url.startswith("http://127.0.0.1:")
        assert _get(url + "/api/health/") == (200, {"status": "ok", "version": "v7"})
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(["--fault", "unhealthy"], {}, id="flag"),
        pytest.param([], {"RELGATE_DEMO_FAULTS": "unhealthy"}, id="env"),
    ],
)
def test_unhealthy_fault_makes_health_503(args: list[str], env: dict[str, str]) -> None:
    with _service(args, env) as (_, url):
        assert _get(url + "/api/health/") == (503, {"status": "unhealthy", "version": "v7"})


def test_crash_on_start_exits_before_listening() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "relgate.demo.service", "--port", "0", "--fault", "crash-on-start"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert (
        proc.returncode == 1 and "listening" not in proc.stdout and "crash-on-start" in proc.stderr
    )


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault 'fire'"):
        parse_faults(["slow=1,fire"])


def test_final_pdf_is_structurally_valid() -> None:
    pdf = render_pdf(7, "GRADED")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref:].startswith(b"xref")
    offsets = [int(line[:10]) for line in pdf[xref:].split(b"\n")[3:8]]
    for number, offset in enumerate(offsets, 1):
        assert pdf[offset:].startswith(b"%d 0 obj" % number)


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        pytest.param(None, True, id="no-accept"),
        pytest.param("*/*", True, id="any"),
        pytest.param("application/*", True, id="application-any"),
        pytest.param("application/pdf", True, id="pdf"),
        pytest.param("application/json, application/pdf;q=0.5", True, id="pdf-lower-q"),
        pytest.param("application/json", False, id="json-only"),
        pytest.param("application/pdf;q=0", False, id="pdf-q0"),
        pytest.param("text/html", False, id="html"),
    ],
)
def test_accept_negotiation_matches_drf(accept: str | None, ok: bool) -> None:
    from relgate.demo.service import accepts

    assert accepts(accept, "application/pdf") is ok
