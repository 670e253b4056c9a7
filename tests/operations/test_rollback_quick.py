"""Quick rollback on the real Docker Engine through the deploy stage's machinery.

Uses the deploy tests' images and compose fixture (read, not edited): relgate-test/app:v1/v2 are
healthy httpds printing "version <tag>", v3-unhealthy never passes its healthcheck.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

import tests.deploy.conftest as deploy_fixtures

Stack = deploy_fixtures.Stack
app_images = deploy_fixtures.app_images
compose_stack = deploy_fixtures.compose_stack

from relgate.cli import main  # noqa: E402
from relgate.rollback import rollback  # noqa: E402


@pytest.fixture
def broken_after_v2(compose_stack: Stack) -> Stack:  # type: ignore[valid-type]
    """v1 then v2 deployed (v2 is the last-known-good, v1 in the history), then v3-unhealthy
    left running (deployed with --no-rollback): the state a quick rollback exists for."""
    compose_stack.extra = {"lock": {"dir": str(compose_stack.dir / "locks")}}
    assert compose_stack.deploy("v1").outcome == "deployed"
    assert compose_stack.deploy("v2").outcome == "deployed"
    assert compose_stack.deploy("v3-unhealthy", rollback=False).outcome == "failed"
    return compose_stack


@pytest.mark.docker
def test_quick_rollback_redeploys_the_last_known_good(broken_after_v2: Stack) -> None:  # type: ignore[valid-type]
    stack = broken_after_v2
    run = stack.open_run("rollback")
    result = rollback(stack.config(), run, environment="staging", mode="quick")
    assert (result.outcome, result.exit_code, result.rolled_back_to) == ("rolled_back", 0, "v2"), (
        result.summary
    )
    assert stack.get() == "version v2"
    assert [s.name for s in result.steps] == ["redeploy last-known-good", "record last-known-good"]
    assert result.steps[-1].detail == "v2 already is the last-known-good"
    saved = json.loads((run.dir / "results" / "rollback.json").read_text())
    assert saved["stage"] == "rollback" and saved["deploy_outcome"] == "rolled_back"
    deploy_record = json.loads((run.dir / "artifacts" / "rollback" / "deploy.json").read_text())
    assert deploy_record["rollback"]["healthy"] is True
    assert deploy_record["rollback"]["pinned_images"]["web"].startswith("sha256:")


@pytest.mark.docker
def test_cli_quick_rollback_to_a_recorded_version(broken_after_v2: Stack) -> None:  # type: ignore[valid-type]
    stack = broken_after_v2
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(stack.dir)
    try:
        code = main(["--json", "--run-dir", "runs/cli-rollback", "rollback", "--mode", "quick",
                     "--to", "v1"], env=stack.full_env(), stdout=out, stderr=err)  # fmt: skip
    finally:
        os.chdir(cwd)
    result = json.loads(out.getvalue())
    assert code == 0, err.getvalue()
    assert (result["outcome"], result["rolled_back_to"]) == ("rolled_back", "v1")
    assert stack.get() == "version v1"
    # v1 is the last-known-good again, and v2 (rolled away from) is never gone back to: a plain
    # quick rollback now has nowhere to go before v1, and says so (exit 2) without touching it
    from relgate.deploy.state import read_last_good

    assert read_last_good(stack.config(), "staging").version == "v1"  # type: ignore[union-attr]
    again = rollback(stack.config(), stack.open_run("again"), environment="staging", mode="quick")
    assert (again.outcome, again.exit_code) == ("no_previous_version", 2), again.summary
    assert "no last-known-good before v1 (which runs now)" in again.summary
    assert stack.get() == "version v1"


@pytest.mark.docker
def test_quick_rollback_to_an_unrecorded_version_is_refused(broken_after_v2: Stack) -> None:  # type: ignore[valid-type]
    stack = broken_after_v2
    result = rollback(stack.config(), stack.open_run("refused"), environment="staging",
                      mode="quick", to_version="v0-never-deployed")  # fmt: skip
    assert (result.outcome, result.exit_code) == ("no_previous_version", 1)
    assert "--allow-unrecorded" in result.summary
    assert "v3-unhealthy" in " ".join(stack.running_images())  # nothing was touched


@pytest.mark.docker
@pytest.mark.postgres
def test_full_rollback_end_to_end_with_the_deploy_driver(
    compose_stack: Stack,  # type: ignore[valid-type]
    pg_cluster: object,
    database: str,
) -> None:
    """Compose app on the real engine + PostgreSQL by DSN, through the default DeployMachinery:
    v1 deployed and backed up, v2 deployed with its migration, full rollback → v1 serving on v1
    data, the v2 table gone, the app stopped during the restore."""
    from relgate.database import backup
    from relgate.deploy.state import running_version
    from tests.operations.conftest import V1_SCHEMA, V2_MIGRATION

    cluster = pg_cluster
    stack = compose_stack
    stack.extra = {"lock": {"dir": str(stack.dir / "locks")}}
    stack.env["APP_DATABASE_URL"] = cluster.dsn(database)  # type: ignore[attr-defined]
    stack.write_config()
    text = stack.config_path.read_text().replace(
        "    variables:",
        f"    database:\n      dsn_env: APP_DATABASE_URL\n      backup_dir: {stack.dir / 'backups'}\n    variables:",
    )
    stack.write_config = lambda: stack.config_path.write_text(text)  # keep the database section
    cluster.psql(database, V1_SCHEMA)  # type: ignore[attr-defined]
    assert stack.deploy("v1").outcome == "deployed"
    config = stack.config()
    backup(
        config, stack.open_run("backup"), "staging", app_version=running_version(config, "staging")
    )
    assert stack.deploy("v2").outcome == "deployed"
    cluster.psql(database, V2_MIGRATION)  # type: ignore[attr-defined]
    # v2 is the last-known-good now: going back to v1 is an explicit, recorded --to
    run = stack.open_run("full")
    result = rollback(stack.config(), run, environment="staging", mode="full", to_version="v1")

    assert (result.outcome, result.exit_code) == ("rolled_back", 0), result.summary
    assert stack.get() == "version v1"
    assert cluster.psql(database, "SELECT to_regclass('public.annotations_v2')") == ""  # type: ignore[attr-defined]
    assert cluster.psql(database, "SELECT min(status) FROM copies") == "GRADED"  # type: ignore[attr-defined]
    steps = {s.name: s for s in result.steps}
    assert steps["stop application"].detail == "stopped web"
    assert result.backup is not None and result.backup.record is not None
    assert result.backup.record.app_version == "v1"  # the data's version, read from deploy's record
    assert result.warnings == []
    assert (run.dir / "logs" / "rollback").is_dir()
