"""The process driver: the same gate and rollback semantics without Docker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from relgate.deploy.state import read_last_good
from relgate.errors import ConfigError, RelgateError
from tests.deploy.conftest import HERE, ProcessStack

FAKE_APP = HERE / "fake_app.py"

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
    # Decided by the crash, not by the 30 s timeout: ordering only (latency is bench/deploy_bench).
    assert decision is not None and decision.verdict == "failed", decision
    assert decision.trigger_at is not None and decision.trigger_at <= decision.decided_at
    assert (decision.decided_at - result.started_at).total_seconds() < 30 / 2


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


def test_post_deploy_commands_gate_the_deploy(process_stack: ProcessStack) -> None:
    ok = {"name": "readiness", "command": [sys.executable, "-c", "print('ready')"]}
    process_stack.deploy_cfg = {"post_deploy": [ok]}
    first = process_stack.deploy("v1")
    assert first.outcome == "deployed", first.summary
    assert [(c.name, c.exit_code) for c in first.post_deploy] == [("post-readiness", 0)]

    failing = {"name": "migrate", "command": [sys.executable, "-c", "raise SystemExit(4)"]}
    process_stack.deploy_cfg = {"post_deploy": [ok, failing]}
    second = process_stack.deploy("v2")
    assert second.outcome == "rolled_back", second.summary
    assert second.decision is not None
    assert "post-deploy command 'migrate' exited 4" in second.decision.reason
    assert process_stack.get() == "version v1"


def test_post_deploy_timeout(process_stack: ProcessStack) -> None:
    slow = {"name": "hang", "command": ["sleep", "30"], "timeout": "0.5s"}
    process_stack.deploy_cfg = {"post_deploy": [slow]}
    result = process_stack.deploy("v1")
    assert result.outcome == "no_previous_version"
    assert result.post_deploy[0].timed_out
    assert "timed out" in (result.decision.reason if result.decision else "")


def test_git_checkout_before_start(process_stack: ProcessStack, tmp_path: Path) -> None:
    repo = tmp_path / "app"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)

    git("init", "-q")
    for tag in ("rel-1", "rel-2"):
        (repo / "app.py").write_text(
            "import runpy, sys\n"
            f"sys.argv[1:] = ['--port', sys.argv[2], '--version', 'from-{tag}']\n"
            f"runpy.run_path({str(FAKE_APP)!r}, run_name='__main__')\n"
        )
        git("add", "app.py")
        git("commit", "-q", "-m", tag)
        git("tag", tag)
    process_stack.extra = {"project": {"name": "relgate-test", "repo_path": str(repo)}}
    process_stack.deploy_cfg = {"git_checkout": True}
    process_stack.stack_cfg = {
        "command": [sys.executable, str(repo / "app.py"), "--port", "{port}"]
    }
    assert process_stack.deploy("rel-1").outcome == "deployed"
    assert process_stack.get() == "version from-rel-1"
    assert process_stack.deploy("rel-2").outcome == "deployed"
    assert process_stack.get() == "version from-rel-2"
    with pytest.raises(ConfigError) as caught:
        process_stack.deploy("rel-9")
    assert "git checkout rel-9 failed" in caught.value.message
    assert process_stack.get() == "version from-rel-2"  # nothing was stopped


def test_generated_secret_reaches_the_process_but_no_evidence(process_stack: ProcessStack) -> None:
    check = "import os; t = os.environ['METRICS_TOKEN']; assert len(t) == 64; print(t)"
    process_stack.extra = {"secrets": [{"name": "METRICS_TOKEN", "generate": True}]}
    process_stack.deploy_cfg = {
        "post_deploy": [{"name": "token", "command": [sys.executable, "-c", check]}]
    }
    result = process_stack.deploy("v1")
    assert result.outcome == "deployed", result.summary
    assert result.generated_secrets == ["METRICS_TOKEN"]
    token = process_stack.last_run.secrets.values()
    value = next(v for v in token if len(v) == 64)
    for path in process_stack.last_run.dir.rglob("*"):
        if path.is_file():
            assert value not in path.read_text(errors="replace"), path
    log = process_stack.last_run.dir / "logs/deploy/01-post-token.log"
    assert "***" in log.read_text()  # printed by the command, redacted in the log


def test_rollback_disabled_in_config(process_stack: ProcessStack) -> None:
    assert process_stack.deploy("v1").outcome == "deployed"
    process_stack.deploy_cfg = {"rollback": False}
    result = process_stack.deploy("crash-v2")
    assert (result.outcome, result.rolled_back) == ("failed", False)


def test_failed_pre_migration_backup_stops_before_anything_changes(
    process_stack: ProcessStack,
) -> None:
    assert process_stack.deploy("v1").outcome == "deployed"
    pid = process_stack.pid()
    process_stack.env = {"APP_DB_URL": "postgresql://relgate@127.0.0.1:1/app"}  # nothing listens
    process_stack.deploy_cfg = {"backup_before_migrations": True}
    process_stack.extra = {}
    cfg_env = {"database": {"dsn_env": "APP_DB_URL"}}
    process_stack.env_cfg = cfg_env
    with pytest.raises(RelgateError):
        process_stack.deploy("v2")
    assert process_stack.pid() == pid and _alive(pid)  # v1 still runs, untouched
    assert process_stack.get() == "version v1"
