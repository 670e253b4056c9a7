"""`relgate deploy` as a real subprocess: exit codes, messages, and SIGTERM mid-gate."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deploy.conftest import ProcessStack, Stack

pytestmark = pytest.mark.slow


def _relgate(stack: Stack, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    stack.write_config()
    return subprocess.Popen(
        [sys.executable, "-m", "relgate", "--config", str(stack.config_path), "--env", "staging",
         "--run-dir", str(stack.dir / "cli-run"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**stack.full_env(), **(env or {})},
        preexec_fn=_as_from_a_terminal,
    )  # fmt: skip


def _as_from_a_terminal() -> None:
    """relgate as an operator starts it: Ctrl-C is SIGINT's default. A suite started in the
    background (nohup, ``cmd &`` in a script, some CI runners) ignores SIGINT, and that
    disposition is inherited, so the SIGINT tests would wait for a relgate that rightly ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _result(stack: Stack) -> dict[str, object]:
    return json.loads((stack.dir / "cli-run/results/deploy.json").read_text())


def _wait_for(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    pytest.fail(f"{path} never contained {text!r}")


@pytest.mark.docker
def test_bad_compose_file_exits_2(compose_stack: Stack) -> None:
    (compose_stack.dir / "compose.yml").write_text("services: [not a mapping\n")
    proc = _relgate(compose_stack, "--json", "deploy", "--version", "v1")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "compose.yml" in err
    assert _result(compose_stack)["outcome"] == "bad_config"


@pytest.mark.docker
def test_dead_docker_host_exits_3_with_a_clear_message(compose_stack: Stack) -> None:
    dead = f"unix://{compose_stack.dir}/dead.sock"
    proc = _relgate(compose_stack, "deploy", "--version", "v1", env={"DOCKER_HOST": dead})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, out + err
    assert f"Docker daemon not reachable at {dead}" in out + err
    assert "start dockerd or set DOCKER_HOST" in out + err


def test_version_from_environment_and_json_output(process_stack: ProcessStack) -> None:
    proc = _relgate(process_stack, "--json", "deploy", env={"RELGATE_VERSION": "v7"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert (doc["outcome"], doc["target_version"]) == ("deployed", "v7")
    assert process_stack.get() == "version v7"


def test_missing_version_is_usage_error(process_stack: ProcessStack) -> None:
    proc = _relgate(process_stack, "deploy")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "--version" in out + err


@pytest.mark.parametrize(
    ("driver", "sig"),
    [
        pytest.param("process", signal.SIGTERM, id="process-sigterm"),
        pytest.param("process", signal.SIGINT, id="process-sigint"),
        pytest.param("compose", signal.SIGTERM, marks=pytest.mark.docker, id="compose-sigterm"),
        pytest.param("compose", signal.SIGINT, marks=pytest.mark.docker, id="compose-sigint"),
    ],
)
def test_a_signal_during_the_gate_still_writes_result_and_logs(
    driver: str, sig: signal.Signals, request: pytest.FixtureRequest
) -> None:
    """SIGTERM (Interrupted) and SIGINT (KeyboardInterrupt) alike: exit 3, and results/deploy.json
    is the deploy's own partial result — interrupted, naming the signal, with what the gate saw."""
    stack: Stack = request.getfixturevalue(f"{driver}_stack")
    stack.deploy_cfg = {"timeout": "60s"}
    if driver == "compose":
        stack.env = {"SLOW_S": "120", "START_PERIOD": "120s"}
        version = "slow"
        marker = "logs/deploy/02-compose-up.log"
    else:
        version = "hang-v1"
        marker = "meta.json"
    proc = _relgate(stack, "deploy", "--version", version)
    try:
        _wait_for(stack.dir / "cli-run" / marker, "" if driver == "process" else "Started")
        time.sleep(1.0)  # well inside the gate's wait
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    result = _result(stack)
    assert (result["status"], result["exit_code"]) == ("interrupted", 3)
    assert sig.name in str(result["error"])
    assert result["target_version"] == version and result["driver"] == driver
    attempted = [s["name"] for s in result["services"]]  # type: ignore[attr-defined]
    assert attempted == (["web"] if driver == "compose" else ["app"]), "what the gate saw is kept"
    assert "runs now:" in str(result["summary"]), "what runs now is recorded"
    assert (
        f"Deploy {version} to staging: interrupted"
        in (stack.dir / "cli-run/summary.md").read_text()
    )
    assert any((stack.dir / "cli-run/logs/deploy").iterdir())


def test_lock_held_is_lock_busy_exit_3(process_stack: ProcessStack) -> None:
    from relgate.lock import LockOwner, lock_for

    process_stack.extra = {"lock": {"dir": str(process_stack.dir / "locks"), "mode": "always"}}
    config = process_stack.config()
    lock = lock_for(config, "staging", {})
    owner = LockOwner.me(run_id="other-run", environment="staging", command="gate", key=lock.key)
    with lock.held(owner):
        proc = _relgate(process_stack, "--json", "deploy", "--version", "v1")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, out + err
    assert "other-run" in err
    assert _result(process_stack)["outcome"] == "lock_busy"
    assert process_stack.pid() is None  # nothing was started


@pytest.mark.parametrize(
    ("fake_docker", "expected"),
    [
        pytest.param(None, "docker not found on PATH", id="no-docker"),
        pytest.param(
            "echo \"docker: 'compose' is not a docker command.\" >&2; exit 1",
            "docker compose v2 plugin missing",
            id="no-compose-plugin",
        ),
    ],
)
def test_missing_tools_exit_3(tmp_path: Path, fake_docker: str | None, expected: str) -> None:
    stack = Stack(tmp_path, "relgate-t-tools", 1)
    (tmp_path / "compose.yml").write_text("services: {web: {image: x}}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if fake_docker is not None:
        (bin_dir / "docker").write_text(f"#!/bin/sh\n{fake_docker}\n")
        (bin_dir / "docker").chmod(0o755)
    proc = _relgate(stack, "deploy", "--version", "v1", env={"PATH": str(bin_dir)})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, out + err
    assert expected in out + err
