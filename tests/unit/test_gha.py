from __future__ import annotations

import io
from pathlib import Path

import pytest

from relgate.gha import (
    Reporter,
    Summary,
    append_file_command,
    escape_data,
    escape_property,
    format_command,
)
from relgate.secrets import SecretRegistry
from tests.unit.runner_files import parse_env_file


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        pytest.param("100%", "100%25", "100%25", id="percent"),
        pytest.param("%25", "%2525", "%2525", id="literal-escape"),
        pytest.param("a\rb", "a%0Db", "a%0Db", id="cr"),
        pytest.param("a\nb", "a%0Ab", "a%0Ab", id="lf"),
        pytest.param("a:b", "a:b", "a%3Ab", id="colon"),
        pytest.param("a,b", "a,b", "a%2Cb", id="comma"),
        pytest.param("::", "::", "%3A%3A", id="double-colon"),
    ],
)
def test_escaping(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_format_command_skips_none_and_escapes() -> None:
    line = format_command("error", {"file": "a,b.py", "line": 3, "col": None}, "bad\nthing")
    assert line == "::error file=a%2Cb.py,line=3::bad%0Athing"
    assert format_command("endgroup", None, "") == "::endgroup::"


def test_file_command_round_trips_through_runner_parser(tmp_path: Path) -> None:
    out = tmp_path / "output"
    append_file_command(out, "notes", "line 1\nEOF\nline=3")
    append_file_command(out, "empty", "")
    append_file_command(out, "status", "passed")
    assert parse_env_file(out) == {"notes": "line 1\nEOF\nline=3", "empty": "", "status": "passed"}


def test_file_command_refuses_value_containing_delimiter(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="delimiter"):
        append_file_command(tmp_path / "o", "k", "x\nDELIM\ny", delimiter="DELIM")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("key", ["", "a\nb", "a=b"], ids=["empty", "newline", "equals"])
def test_file_command_refuses_bad_keys(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        append_file_command(tmp_path / "o", key, "v")


def _actions_env(tmp_path: Path) -> dict[str, str]:
    for name in ("output", "env", "summary"):
        (tmp_path / name).touch()
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_ENV": str(tmp_path / "env"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }


def test_reporter_in_actions_writes_runner_files(tmp_path: Path) -> None:
    stream = io.StringIO()
    rep = Reporter(stream, _actions_env(tmp_path))
    rep.set_output("rolled-back", True)
    rep.set_output("verdict", "GATE FAILED at smoke\nstep 4/9")
    rep.export_env("RELGATE_RUN_DIR", "/tmp/run")
    rep.write_summary(Summary().heading("Gate").table(["stage", "status"], [["deploy", "passed"]]))
    assert parse_env_file(tmp_path / "output") == {
        "rolled-back": "true",
        "verdict": "GATE FAILED at smoke\nstep 4/9",
    }
    assert parse_env_file(tmp_path / "env") == {"RELGATE_RUN_DIR": "/tmp/run"}
    summary = (tmp_path / "summary").read_text()
    assert "## Gate" in summary and "| deploy | passed |" in summary
    assert stream.getvalue() == ""  # the summary is not echoed into the log in Actions


def test_reporter_masks_and_redacts_in_actions(tmp_path: Path) -> None:
    stream = io.StringIO()
    secrets = SecretRegistry()
    rep = Reporter(stream, _actions_env(tmp_path), secrets)
    rep.mask("s3cr3t-value\nsecond-line", "TOKEN")
    rep.line("token is s3cr3t-value")
    rep.set_output("leak", "s3cr3t-value")
    log = stream.getvalue().splitlines()
    assert log[:2] == ["::add-mask::s3cr3t-value", "::add-mask::second-line"]
    assert log[2] == "token is ***"
    assert parse_env_file(tmp_path / "output") == {"leak": "***"}


def test_reporter_annotations_groups_and_debug_in_actions(tmp_path: Path) -> None:
    stream = io.StringIO()
    rep = Reporter(stream, _actions_env(tmp_path))
    rep.error("step 4 failed: HTTP 409", title="smoke: lock", file="smoke.yml", line=42)
    with rep.group("deploy"):
        rep.debug("inspecting")
    assert stream.getvalue().splitlines() == [
        "::error title=smoke%3A lock,file=smoke.yml,line=42::step 4 failed: HTTP 409",
        "::group::deploy",
        "::debug::inspecting",
        "::endgroup::",
    ]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("env", "tty", "colored"),
    [
        pytest.param({}, True, True, id="tty"),
        pytest.param({"NO_COLOR": "1"}, True, False, id="no-color"),
        pytest.param({}, False, False, id="pipe"),
    ],
)
def test_terminal_colour_rules(env: dict[str, str], tty: bool, colored: bool) -> None:
    stream = _Tty() if tty else io.StringIO()
    rep = Reporter(stream, env)
    rep.error("boom", file="a.yml", line=3)
    assert ("\033[" in stream.getvalue()) is colored
    assert "error: a.yml:3: " in stream.getvalue()


def test_terminal_outputs_and_summary(tmp_path: Path) -> None:
    stream = io.StringIO()
    rep = Reporter(stream, {}, summary_path=tmp_path / "summary.md")
    rep.set_output("status", "passed")
    rep.write_summary(
        Summary()
        .heading("Deploy")
        .table(["service", "health"], [["web", "healthy"], ["db|x", "<b>"]])
        .details("logs", "line1\nline2")
        .mermaid("gantt\n  title t", "deploy ###")
    )
    assert rep.outputs == {"status": "passed"}
    text = stream.getvalue()
    assert "Deploy\n======" in text and "web      healthy" in text and "deploy ###" in text
    md = (tmp_path / "summary.md").read_text()
    assert "db\\|x" in md and "&lt;b&gt;" in md and "<details><summary>logs</summary>" in md
    assert "```mermaid" in md


def test_debug_hidden_on_terminal_unless_enabled() -> None:
    quiet, loud = io.StringIO(), io.StringIO()
    Reporter(quiet, {}).debug("x")
    Reporter(loud, {"RELGATE_DEBUG": "1"}).debug("x")
    assert quiet.getvalue() == "" and "debug: x" in loud.getvalue()


ISSUE_SECRET = 'Pa55/w0rd+&"x 9='


def test_summary_redacts_before_it_escapes(tmp_path: Path) -> None:
    """Escape-then-redact: ``&`` became ``&amp;`` before redaction looked for ``&``."""
    secrets = SecretRegistry()
    secrets.register(ISSUE_SECRET, "SMOKE_PASS")
    summary_file = tmp_path / "summary.md"
    rep = Reporter(io.StringIO(), {}, secrets, summary_path=summary_file)
    leak = f"auth failed for password {ISSUE_SECRET}"
    rep.write_summary(
        Summary()
        .heading(leak)
        .paragraph(leak)
        .table(["step", "note"], [["login", leak]])
        .bullets([leak])
        .details(leak, leak)
        .mermaid(f"graph LR; a-->{leak}", leak),
        echo=False,
    )
    text = summary_file.read_text()
    assert "auth failed for password ***" in text
    for part in ("Pa55/w0rd", "&amp;", "&quot;", "&#34;"):
        assert part not in text


def test_annotation_title_and_debug_are_redacted_before_escaping() -> None:
    secrets = SecretRegistry()
    secrets.register("p%a,s:s\nword!", "S")
    out = io.StringIO()
    rep = Reporter(out, {"GITHUB_ACTIONS": "true", "RUNNER_DEBUG": "1"}, secrets)
    rep.error("m p%a,s:s\nword!", title="t p%a,s:s\nword!")
    rep.debug("d p%a,s:s\nword!")
    with rep.group("g p%a,s:s\nword!"):
        pass
    lines = [x for x in out.getvalue().splitlines() if not x.startswith("::add-mask::")]
    text = "\n".join(lines)
    assert "p%25a" not in text and "p%a" not in text
    assert "::error title=t ***::m ***" in text
    assert "::debug::d ***" in text
    assert "::group::g ***" in text


# -- heartbeat: a wait is never silent -----------------------------------------------------------


class _FakeClock:
    """A monotonic clock the test moves by hand: the heartbeat thread reads it, so whether a beat
    is due never depends on how busy the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wait_for(predicate: object, *, attempts: int = 3000) -> bool:
    import time

    for _ in range(attempts):
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_waiting_speaks_once_the_log_was_silent_for_the_interval() -> None:
    out = io.StringIO()
    clock = _FakeClock()
    reporter = Reporter(out, env={}, monotonic=clock)
    reporter.line("compose up started")
    with reporter.waiting("compose up", every_s=0.02):
        clock.now += 7
        assert _wait_for(lambda: "still waiting" in out.getvalue())
    beat = next(line for line in out.getvalue().splitlines() if "still waiting" in line)
    assert beat == "… compose up: still waiting (7s)"


def test_waiting_stays_quiet_while_the_log_is_alive() -> None:
    out = io.StringIO()
    clock = _FakeClock()
    reporter = Reporter(out, env={}, monotonic=clock)
    reporter.line("start")
    with reporter.waiting("health", every_s=0.02):
        for i in range(20):
            clock.now += 0.001  # less than the interval since the last line, each time
            reporter.line(f"event {i}")
    assert "still waiting" not in out.getvalue()


def test_waiting_thread_ends_with_the_block() -> None:
    import threading

    reporter = Reporter(io.StringIO(), env={})
    with reporter.waiting("pull", every_s=0.02):
        assert any(t.name == "heartbeat: pull" for t in threading.enumerate())
    assert not any(t.name == "heartbeat: pull" for t in threading.enumerate())


def test_waiting_heartbeat_is_redacted() -> None:
    out = io.StringIO()
    secrets = SecretRegistry()
    secrets.register("hunter2-secret", "TOKEN")
    clock = _FakeClock()
    reporter = Reporter(out, env={}, secrets=secrets, monotonic=clock)
    with reporter.waiting("login as hunter2-secret", every_s=0.02):
        clock.now += 10
        assert _wait_for(lambda: "still waiting" in out.getvalue())
    assert "hunter2-secret" not in out.getvalue()
