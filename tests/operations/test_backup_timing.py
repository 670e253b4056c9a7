"""When deploy takes its pre-migration backup: right before the stack changes, never before a
step that cannot change the database (a pull that then fails). Real Docker Engine, real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.deploy.conftest as deploy_fixtures
from tests.operations.conftest import Cluster

Stack = deploy_fixtures.Stack
app_images = deploy_fixtures.app_images
compose_stack = deploy_fixtures.compose_stack

pytestmark = [pytest.mark.docker, pytest.mark.postgres]

# Port 9 (discard) on loopback: nothing answers, so the pull fails at once.
UNREACHABLE = """\
services:
  web:
    image: 127.0.0.1:9/relgate-none/app:${RELGATE_VERSION:?set by relgate}
    ports: ["127.0.0.1:${APP_PORT}:8080"]
"""


def _with_database(stack: Stack, cluster: Cluster, database: str, **deploy: object) -> Path:  # type: ignore[valid-type]
    backups = stack.dir / "backups"
    stack.env["APP_DATABASE_URL"] = cluster.dsn(database)
    stack.deploy_cfg = {"backup_before_migrations": True, **deploy}
    original = type(stack).write_config

    def write_config() -> Path:  # Stack has no database section: add one to what it writes
        path: Path = original(stack)
        path.write_text(path.read_text().replace(
            "    variables:",
            f"    database:\n      dsn_env: APP_DATABASE_URL\n      backup_dir: {backups}\n"
            "    variables:",
        ))  # fmt: skip
        return path

    stack.write_config = write_config
    return backups


def test_no_backup_before_a_pull_that_fails(
    compose_stack: Stack,  # type: ignore[valid-type]
    pg_cluster: Cluster,
    database: str,
) -> None:
    stack = compose_stack
    (stack.dir / "compose.yml").write_text(UNREACHABLE)
    backups = _with_database(stack, pg_cluster, database, pull=True)

    result = stack.deploy("v2")

    assert result.outcome == "failed", result.summary
    assert "compose pull failed" in (result.summary or "")
    assert result.backup is None
    assert not backups.exists() or list(backups.iterdir()) == []


def test_pre_migration_backup_is_taken_right_before_up(
    compose_stack: Stack,  # type: ignore[valid-type]
    pg_cluster: Cluster,
    database: str,
) -> None:
    stack = compose_stack
    _with_database(stack, pg_cluster, database)
    assert stack.deploy("v1").outcome == "deployed"
    stack.deploy_cfg = {"backup_before_migrations": True, "pull": True}  # pull_policy: never

    result = stack.deploy("v2")

    assert result.outcome == "deployed", result.summary
    assert result.backup is not None
    from relgate.database import read_record

    record = read_record(Path(result.backup))
    assert record is not None
    assert (record.kind, record.app_version) == ("pre-migration", "v1")  # v1's data
    commands = {c.name: c for c in result.commands}
    pull, up = commands["compose-pull"], commands["compose-up"]
    assert pull.started_at <= record.created_at <= up.started_at
