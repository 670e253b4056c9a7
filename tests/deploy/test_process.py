"""The process driver: the same gate and rollback semantics without Docker."""

from __future__ import annotations

import os

import pytest

from relgate.deploy.state import read_last_good
from relgate.errors import ConfigError
from tests.deploy.conftest import ProcessStack

pytestmark = pytest.mark.slow


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rpartition(")")[2].split()[0] != "Z"


def test_deploy_then_upgrade(process_stack: ProcessStack) -> None:
    first = process_stack.deploy("v1")
    assert first.outcome == "deployed", first.summary
    old_pid = process_stack.pid()
    assert process_stack.get() == "version v1"
    second = process_stack.deploy("v2")
    assert (second.outcome, second.previous_version) == ("deployed", "v1"), second.summary
    assert process_stack.get() == "version v2"
    assert not _alive(old_pid)  # the old version was stopped (SIGTERM)
    record = read_last_good(process_stack.config(), "staging")
    assert record is not None and record.version == "v2" and record.driver == "process"


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        pytest.param("bad-v3", "unhealthy: HTTP 503", id="health-url-503"),
        pytest.param("crash-v3", "exited (code 1)", id="crash-on-start"),
    ],
)
def test_failing_version_rolls_back(process_stack: ProcessStack, version: str, reason: str) -> None:
    assert process_stack.deploy("v1").outcome == "deployed"
    result = process_stack.deploy(version)
    assert (result.outcome, result.rolled_back_to) == ("rolled_back", "v1"), result.summary
    assert result.decision is not None and reason in result.decision.reason
    assert process_stack.get() == "version v1"
    log = process_stack.last_run.dir / "logs/deploy/process-app.log"
    assert f"fake app {version} starting" in log.read_text()


def test_crash_is_detected_at_once(process_stack: ProcessStack) -> None:
    process_stack.deploy_cfg = {"timeout": "30s"}
    assert process_stack.deploy("v1").outcome == "deployed"
    result = process_stack.deploy("crash-v2")
    decision = result.decision
    assert decision is not None and decision.latency_s is not None and decision.latency_s < 0.25
    assert (decision.decided_at - result.started_at).total_seconds() < 5


def test_slow_start_passes(process_stack: ProcessStack) -> None:
    result = process_stack.deploy("slow-v1")
    assert result.outcome == "deployed", result.summary
    assert result.services[0].time_to_healthy_s is not None
    assert result.services[0].time_to_healthy_s >= 2


def test_timeout_rolls_back(process_stack: ProcessStack) -> None:
    process_stack.deploy_cfg = {"timeout": "3s"}
    assert process_stack.deploy("v1").outcome == "deployed"
    result = process_stack.deploy("hang-v2")
    assert result.outcome == "rolled_back", result.summary
    assert result.decision is not None and result.decision.verdict == "timeout"
    assert process_stack.get() == "version v1"


def test_first_failure_has_no_previous_version(process_stack: ProcessStack) -> None:
    result = process_stack.deploy("bad-v1")
    assert (result.outcome, result.exit_code) == ("no_previous_version", 1)
    assert not _alive(process_stack.pid())


def test_unknown_placeholder_is_bad_config(process_stack: ProcessStack) -> None:
    process_stack.stack_cfg = {"command": ["true", "{nope}"]}
    with pytest.raises(ConfigError) as caught:
        process_stack.deploy("v1")
    assert "stack.command" in caught.value.message
