"""SIGTERM during a rollback (issue 13, item 5), at moments chosen by Docker events, not sleeps.

The first signal lets the rollback finish bringing the previous version up, then the run ends
interrupted (exit 3, never "failed"); a second signal aborts at once. Either way the result says
what runs now, read from the engine.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.deploy.conftest import Stack

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _relgate(stack: Stack, *args: str) -> subprocess.Popen[str]:
    stack.write_config()
    return subprocess.Popen(
        [sys.executable, "-m", "relgate", "--config", str(stack.config_path), "--env", "staging",
         "--run-dir", str(stack.dir / "cli-run"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=stack.full_env(),
    )  # fmt: skip


class _OnEvent:
    """Send one SIGTERM to ``proc`` at each of ``actions``, reported in turn by the rollback's
    container (created from a pinned image ID). The watch starts before the deploy, so nothing
    is missed; one signal per event, because two sent at once reach the process as one."""

    def __init__(self, stack: Stack, *actions: str) -> None:
        self.actions = list(actions)
        self.events = subprocess.Popen(
            ["docker", "events", "--format", "{{json .}}",
             "--filter", "type=container",
             "--filter", f"label=com.docker.compose.project={stack.project}"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.fired = threading.Event()
        self.proc: subprocess.Popen[str] | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        assert self.events.stdout is not None
        for line in self.events.stdout:
            event = json.loads(line)
            attrs = (event.get("Actor") or {}).get("Attributes") or {}
            pinned = attrs.get("image", "").startswith("sha256:")
            if pinned and event.get("Action") == self.actions[0]:
                self.ready.wait(30)
                assert self.proc is not None
                self.proc.send_signal(signal.SIGTERM)
                self.actions.pop(0)
                if not self.actions:
                    self.fired.set()
                    return

    def close(self) -> None:
        self.events.kill()
        self.events.wait()


@pytest.mark.parametrize(
    "action",
    [
        pytest.param("create", id="during-compose-up"),
        pytest.param("start", id="container-started"),
        pytest.param("health_status: healthy", id="during-http-check"),
    ],
)
def test_one_sigterm_during_rollback_finishes_it_then_exits_3(
    compose_stack: Stack, action: str
) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    watcher = _OnEvent(compose_stack, action)
    try:
        proc = watcher.proc = _relgate(compose_stack, "deploy", "--version", "v3-unhealthy")
        watcher.ready.set()
        out, err = proc.communicate(timeout=180)
    finally:
        watcher.close()
    assert watcher.fired.is_set(), "the moment never came"
    assert proc.returncode == 3, out + err
    result = json.loads((compose_stack.dir / "cli-run/results/deploy.json").read_text())
    assert result["status"] == "interrupted"
    assert (result["outcome"], result["rolled_back_to"]) == ("rolled_back", "v1")
    assert result["rollback"]["interrupted_by"] == "SIGTERM"
    assert "finished first" in result["error"]
    assert "finishing the rollback to v1 first" in out + err
    assert result["running_after"]["services"]["web"]["version"] == "v1"
    assert compose_stack.get() == "version v1"


def test_a_second_sigterm_aborts_the_rollback_and_records_what_runs(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    watcher = _OnEvent(compose_stack, "create", "start")
    try:
        proc = watcher.proc = _relgate(compose_stack, "deploy", "--version", "v3-unhealthy")
        watcher.ready.set()
        out, err = proc.communicate(timeout=180)
    finally:
        watcher.close()
    assert watcher.fired.is_set(), "the moments never came"
    assert proc.returncode == 3, out + err
    result = json.loads((compose_stack.dir / "cli-run/results/deploy.json").read_text())
    assert result["status"] == "interrupted"
    assert "again: the rollback was aborted" in result["error"]
    assert result["running_after"] is not None, "what runs now must be in the result"
    assert "runs now:" in result["summary"]
    assert any(Path(compose_stack.dir / "cli-run/logs/deploy").iterdir())
