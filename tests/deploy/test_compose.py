"""The compose driver against the real Docker Engine: deploy, upgrade, rollback, failures.

Each test gets its own compose project and port (see conftest). Images: tests/images/variants.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from relgate.deploy.models import DeployResult
from relgate.deploy.state import read_last_good
from relgate.errors import ConfigError, ServiceUnreachable
from tests.deploy.conftest import COMPOSE, Stack

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _image_id(ref: str) -> str:
    return subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", ref],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def _statuses(result: DeployResult, service: str = "web") -> list[str]:
    report = next(s for s in result.services if s.name == service)
    return [e.status for e in report.timeline]


def test_first_deploy_then_upgrade_records_last_good(compose_stack: Stack) -> None:
    first = compose_stack.deploy("v1")
    assert (first.outcome, first.exit_code) == ("deployed", 0), first.summary
    assert compose_stack.get() == "version v1"
    assert first.previous_version is None

    second = compose_stack.deploy("v2")
    assert (second.outcome, second.previous_version) == ("deployed", "v1"), second.summary
    assert compose_stack.get() == "version v2"
    web = second.services[0]
    assert (web.state, web.health) == ("running", "healthy")
    assert web.time_to_healthy_s is not None
    assert "healthy" in _statuses(second)
    assert second.http is not None and second.http.ok

    record = read_last_good(compose_stack.config(), "staging")
    assert record is not None and record.version == "v2"
    assert record.services["web"].image_id == _image_id("relgate-test/app:v2")
    assert record.env_keys == ["APP_PORT", "RELGATE_VERSION"]
    assert str(compose_stack.port) not in record.model_dump_json()  # hashes, never values
    assert second.drift == []


def test_unhealthy_upgrade_rolls_back_to_recorded_image(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    assert compose_stack.deploy("v2").outcome == "deployed"

    result = compose_stack.deploy("v3-unhealthy")

    assert (result.outcome, result.exit_code, result.status.value) == ("rolled_back", 1, "failed")
    assert result.rolled_back and result.rolled_back_to == "v2"
    assert result.decision is not None and result.decision.verdict == "failed"
    assert "unhealthy" in result.decision.reason
    assert compose_stack.get() == "version v2"  # the previous version serves again
    rollback = result.rollback
    assert rollback is not None and rollback.healthy
    assert rollback.pinned_images == {"web": _image_id("relgate-test/app:v2")}
    assert rollback.failure_to_healthy_s is not None and rollback.failure_to_healthy_s > 0
    # evidence of the failure: inspect with probe outputs, logs, and the rollback's own logs
    run_dir = compose_stack.last_run.dir
    inspected = list((run_dir / "artifacts/deploy/inspect").glob("web-*.json"))
    assert inspected and "Health" in json.loads(inspected[0].read_text())["State"]
    assert any(p.name.endswith("logs-web.log") for p in (run_dir / "logs/deploy").iterdir())
    assert "v3-unhealthy" in (run_dir / "artifacts/deploy/ps.json").read_text()
    assert (run_dir / "logs/deploy/rollback").is_dir()
    saved = DeployResult.model_validate_json((run_dir / "results/deploy.json").read_bytes())
    assert saved.outcome == "rolled_back"
    # the record still names v2: a rollback does not promote anything
    assert read_last_good(compose_stack.config(), "staging").version == "v2"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        pytest.param("crashloop", "code 1", id="crash-loop"),
        pytest.param("exits", "code 3", id="exits-at-once"),
    ],
)
def test_crash_fails_at_once_not_at_timeout(compose_stack: Stack, image: str, reason: str) -> None:
    compose_stack.deploy_cfg = {"timeout": "60s"}
    assert compose_stack.deploy("v1").outcome == "deployed"
    result = compose_stack.deploy(image)
    assert result.outcome == "rolled_back", result.summary
    decision = result.decision
    assert decision is not None and reason in decision.reason
    # Ordering, not speed (decision latency is measured in bench/deploy_bench.py): the crash
    # event decided, before relgate did, long before the 60 s timeout could have.
    assert decision.verdict == "failed", decision
    assert decision.trigger_at is not None and decision.trigger_at <= decision.decided_at
    gate_s = (decision.decided_at - result.started_at).total_seconds()
    assert gate_s < 60 / 2, f"crash loop took {gate_s:.1f}s to detect; timeout is 60s"
    assert compose_stack.get() == "version v1"


def test_slow_but_healthy_start_passes(compose_stack: Stack) -> None:
    compose_stack.env = {"SLOW_S": "3", "START_PERIOD": "20s"}
    result = compose_stack.deploy("slow")
    assert result.outcome == "deployed", result.summary
    web = result.services[0]
    assert web.time_to_healthy_s is not None and web.time_to_healthy_s >= 3


def test_timeout_rolls_back(compose_stack: Stack) -> None:
    compose_stack.deploy_cfg = {"timeout": "4s"}
    assert compose_stack.deploy("v1").outcome == "deployed"
    # starting forever (inside its grace period): neither healthy nor unhealthy
    compose_stack.env = {"SLOW_S": "120", "START_PERIOD": "120s"}
    result = compose_stack.deploy("slow")
    assert result.outcome == "rolled_back", result.summary
    assert result.decision is not None and result.decision.verdict == "timeout"
    assert "not healthy after 4s" in result.decision.reason
    assert compose_stack.get() == "version v1"


def test_first_deploy_failing_has_no_previous_version_and_stops(compose_stack: Stack) -> None:
    result = compose_stack.deploy("v3-unhealthy")
    assert (result.outcome, result.exit_code) == ("no_previous_version", 1)
    assert "nothing ran before this deploy and no last-known-good is recorded" in result.summary
    assert "stopped only what this deploy started (web)" in result.summary
    assert not any(line.endswith("running") for line in compose_stack.running_images())
    assert read_last_good(compose_stack.config(), "staging") is None


def test_rollback_that_fails_is_rollback_failed(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    # Nothing runs (stopped by hand), so the record is the target, and it no longer works on
    # this host (its image now crashes).
    assert compose_stack.compose("stop", "-t", "0").returncode == 0
    state = next((compose_stack.dir / "state").glob("*.last-good.json"))
    record = json.loads(state.read_text())
    record["services"]["web"]["image_id"] = _image_id("relgate-test/app:crashloop")
    record["compose_snapshot"] = None
    state.write_text(json.dumps(record))

    result = compose_stack.deploy("v3-unhealthy")
    assert (result.outcome, result.exit_code) == ("rollback_failed", 1), result.summary
    assert result.rollback is not None and not result.rollback.healthy
    assert (result.rolled_back, result.rolled_back_to) == (False, None)  # nothing was restored
    assert "exited" in (result.rollback.error or "")


def test_no_rollback_leaves_the_failed_stack(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    result = compose_stack.deploy("v3-unhealthy", rollback=False)
    assert (result.outcome, result.exit_code, result.rolled_back) == ("failed", 1, False)
    assert any("v3-unhealthy" in line for line in compose_stack.running_images())


def test_invalid_compose_file_is_bad_config_and_touches_nothing(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    before = compose_stack.running_images()
    (compose_stack.dir / "compose.yml").write_text(
        "services:\n  web:\n    image: [not, a, string\n"
    )
    with pytest.raises(ConfigError) as caught:
        compose_stack.deploy("v2")
    assert "compose.yml" in caught.value.message
    assert compose_stack.running_images() == before
    saved = json.loads((compose_stack.last_run.dir / "results/deploy.json").read_text())
    assert (saved["outcome"], saved["exit_code"]) == ("bad_config", 2)


def test_drift_is_reported(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    # someone ran v2 by hand behind relgate's back
    done = subprocess.run(
        ["docker", "compose", "-p", compose_stack.project, "-f",
         str(compose_stack.dir / "compose.yml"), "up", "-d"],
        env={**compose_stack.full_env(), "RELGATE_VERSION": "v2",
             "APP_PORT": str(compose_stack.port)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = compose_stack.deploy("v1")
    assert result.outcome == "deployed"
    assert any("web: runs sha256:" in d for d in result.drift), result.drift


def test_daemon_unreachable_is_exit_3(compose_stack: Stack) -> None:
    compose_stack.env = {"DOCKER_HOST": f"unix://{compose_stack.dir}/no-such.sock"}
    with pytest.raises(ServiceUnreachable) as caught:
        compose_stack.deploy("v1")
    assert "Docker daemon not reachable" in caught.value.message
    assert "DOCKER_HOST" in caught.value.message
    saved = json.loads((compose_stack.last_run.dir / "results/deploy.json").read_text())
    assert saved["exit_code"] == 3 and saved["status"] == "error"


def test_generated_secret_reaches_compose_by_environment_and_post_deploy_execs(
    compose_stack: Stack,
) -> None:
    (compose_stack.dir / "compose.yml").write_text(
        COMPOSE.replace(
            "    environment:\n", "    environment:\n      METRICS_TOKEN: ${METRICS_TOKEN:?}\n"
        )
    )
    compose_stack.extra = {"secrets": [{"name": "METRICS_TOKEN", "generate": True}]}
    check = ["sh", "-c", 'test "$${#METRICS_TOKEN}" -eq 64 && cat /www/index.html']
    compose_stack.deploy_cfg = {
        "post_deploy": [{"name": "token", "service": "web", "command": check}]
    }
    result = compose_stack.deploy("v1")
    assert result.outcome == "deployed", result.summary
    assert result.generated_secrets == ["METRICS_TOKEN"]
    assert [(c.name, c.exit_code) for c in result.post_deploy] == [("post-token", 0)]
    assert result.post_deploy[0].argv[-6:-3] == ["exec", "-T", "web"]
    token = next(v for v in compose_stack.last_run.secrets.values() if len(v) == 64)
    assert all(token not in " ".join(c.argv) for c in result.commands)  # never on a command line
    for path in compose_stack.last_run.dir.rglob("*"):
        if path.is_file():
            assert token not in path.read_text(errors="replace"), path


def test_redeploy_last_good_is_the_quick_rollback(compose_stack: Stack) -> None:
    from relgate.deploy.stage import redeploy_last_good

    assert compose_stack.deploy("v1").outcome == "deployed"
    compose_stack.compose("down", "-t", "0")  # the stack is gone (host rebooted, someone ran down)
    run = compose_stack.open_run("quick-rollback")
    result = redeploy_last_good(compose_stack.config(), run, environment="staging")
    assert (result.outcome, result.rolled_back_to, result.exit_code) == ("rolled_back", "v1", 0)
    assert compose_stack.get() == "version v1"
    assert not (run.dir / "results/deploy.json").exists()  # the rollback stage writes its own
    assert any((run.dir / "logs/rollback").iterdir())


def test_degrading_version_is_caught_by_the_soak(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    compose_stack.deploy_cfg = {"soak": "7s"}  # the rollback soaks too: v1 must stay healthy
    result = compose_stack.deploy("degrade")  # healthy at first, unhealthy ~3 s after start
    assert result.outcome == "rolled_back", result.summary
    assert result.decision is not None and "soak" in result.decision.reason
    statuses = [e.status for e in result.services[0].timeline]
    assert statuses.index("healthy") < statuses.index("unhealthy")
    assert compose_stack.get() == "version v1"


TWO_SERVICES = (
    COMPOSE
    + """\
  worker:   # no healthcheck: judged by the stability window
    image: relgate-test/busybox:1
    pull_policy: never
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
  migrate:  # a one-shot container outside the gated services
    image: relgate-test/busybox:1
    pull_policy: never
    command: ["true"]
"""
)


def test_selected_services_and_the_stability_window(compose_stack: Stack) -> None:
    (compose_stack.dir / "compose.yml").write_text(TWO_SERVICES)
    compose_stack.stack_cfg = {"services": ["web", "worker"]}
    compose_stack.deploy_cfg = {"stability_window": "3s"}
    result = compose_stack.deploy("v1")
    assert result.outcome == "deployed", result.summary
    reports = {s.name: s for s in result.services}
    assert set(reports) == {"web", "worker"}
    assert reports["worker"].health == "none"
    assert reports["worker"].time_to_healthy_s is not None
    assert reports["worker"].time_to_healthy_s >= 3
    record = read_last_good(compose_stack.config(), "staging")
    assert record is not None and set(record.services) == {"web", "worker"}


def test_unknown_service_is_bad_config(compose_stack: Stack) -> None:
    compose_stack.stack_cfg = {"services": ["web", "wrokers"]}
    with pytest.raises(ConfigError) as caught:
        compose_stack.deploy("v1")
    assert "no such service: wrokers" in caught.value.message
    assert compose_stack.running_images() == []


ONE_SHOT = (
    COMPOSE.replace(
        "    restart: unless-stopped\n",
        "    restart: unless-stopped\n    depends_on:\n"
        "      migrate: {condition: service_completed_successfully}\n",
    )
    + """\
  migrate:
    image: relgate-test/busybox:1
    pull_policy: never
    command: ["sh", "-c", "echo migrating; exit ${MIGRATE_EXIT:-0}"]
"""
)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        pytest.param("0", "deployed", id="migration-ok"),
        pytest.param("5", "no_previous_version", id="migration-fails"),
    ],
)
def test_one_shot_services_are_not_gated_but_must_succeed(
    compose_stack: Stack, code: str, outcome: str
) -> None:
    (compose_stack.dir / "compose.yml").write_text(ONE_SHOT)
    compose_stack.env = {"MIGRATE_EXIT": code}
    result = compose_stack.deploy("v1")
    assert result.outcome == outcome, result.summary
    assert [s.name for s in result.services] == ["web"]
    if code != "0":
        assert result.decision is not None and "compose up failed" in result.decision.reason


def test_failed_build_changes_nothing_and_does_not_roll_back(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    before = compose_stack.running_images()
    (compose_stack.dir / "Broken.Dockerfile").write_text(
        "FROM relgate-test/busybox:1\nRUN exit 7\n"
    )
    (compose_stack.dir / "compose.yml").write_text(
        COMPOSE.replace(
            "    pull_policy: never\n",
            "    pull_policy: never\n    build: {context: ., dockerfile: Broken.Dockerfile}\n",
        )
    )
    compose_stack.deploy_cfg = {"build": True}
    result = compose_stack.deploy("v2")
    assert (result.outcome, result.exit_code, result.rolled_back) == ("failed", 1, False)
    assert (
        "compose build failed" in result.summary and "nothing on the host changed" in result.summary
    )
    assert result.rollback is None
    assert compose_stack.running_images() == before
    assert compose_stack.get() == "version v1"
