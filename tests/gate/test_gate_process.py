"""``relgate gate`` as a real process: SIGTERM during deploy and during smoke still leaves a
verifiable bundle that records the interruption, and the lock is released; two gates on the same
environment never run together."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

from relgate.config import load_config
from relgate.evidence.bundle import verify_bundle
from relgate.lock import EnvironmentLock, lock_for
from tests.gate.conftest import Project, start_gate

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("stage", "slow"),
    [
        pytest.param("deploy", {"slow_start": 30}, id="during-deploy"),
        pytest.param("smoke", {"slow_seconds": 30}, id="during-smoke"),
    ],
)
def test_sigterm_still_archives_and_releases_the_lock(
    project, stage: str, slow: dict[str, float]
) -> None:  # type: ignore[no-untyped-def]
    proj: Project = project(**slow)
    gate = start_gate(proj, "--version", "v2.0.0")
    gate.wait_for(f"▶ {stage}")
    time.sleep(0.8)  # well inside the stage (the app is slow for 30 s)
    gate.proc.send_signal(signal.SIGTERM)
    code = gate.finish(timeout=30)
    assert code == 3, gate.output
    assert f"GATE INTERRUPTED during {stage}" in gate.output

    [bundle] = proj.bundles()
    report = verify_bundle(bundle)
    assert report.verdicts[stage] == "interrupted", report.verdicts
    assert "SIGTERM" in (report.stages[stage].error or "") + report.stages[stage].summary
    if stage == "deploy":
        assert report.verdicts["smoke"] == "skipped"
    assert report.verdicts["preflight"] == "passed"

    status = _lock(proj).status()
    assert not status.held and status.owner is None, status.describe()


def _lock(proj: Project) -> EnvironmentLock:
    return lock_for(load_config(proj.config, env={}), "staging", {})


def test_two_gates_on_one_environment(project) -> None:  # type: ignore[no-untyped-def]
    proj: Project = project(slow_seconds=8)  # the first gate holds the lock ~9 s
    first = start_gate(proj, "--version", "v1.0.0")
    first.wait_for("▶ deploy")
    record = json.loads(_lock(proj).path.read_text())

    second = start_gate(proj, "--version", "v1.0.1")
    assert second.finish(timeout=20) == 3
    pattern = (
        rf"another relgate gate for gatetest/staging is running since \d\d:\d\d:\d\d UTC "
        rf"\(pid {first.proc.pid}, run {re.escape(record['run_id'])}, user \S+\)"
    )
    assert re.search(pattern, second.output), second.output
    assert first.proc.poll() is None, "the first gate must not be disturbed"

    waiting = start_gate(proj, "--version", "v1.0.2", "--wait-lock", "60s")
    waiting.wait_for("waiting for the staging lock")
    assert first.finish(timeout=60) == 0, first.output
    assert waiting.finish(timeout=60) == 0, waiting.output
    assert "GATE PASSED" in waiting.output
    assert len(proj.bundles()) == 2  # the refused gate packed nothing: it did nothing
