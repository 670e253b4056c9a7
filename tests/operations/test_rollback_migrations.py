"""A full rollback restores the database only when migrations were involved, and says why.

Real Docker Engine (the deploy tests' compose app), real PostgreSQL (by DSN), the default deploy
machinery. Migrations are real too: the deploy's post-deploy step applies ``migrations/<version>.sql``
when the version has one, and ``deploy.schema_version`` reads the applied list from
``schema_migrations`` — so the schema each last-known-good record holds is the one deploy saw.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.deploy.conftest as deploy_fixtures
from relgate.cli import main
from relgate.database import backup
from relgate.deploy.state import running_version
from relgate.results import Status
from relgate.rollback import RollbackResult, rollback
from tests.operations.conftest import V1_SCHEMA, Cluster

Stack = deploy_fixtures.Stack
app_images = deploy_fixtures.app_images
compose_stack = deploy_fixtures.compose_stack

pytestmark = [pytest.mark.docker, pytest.mark.postgres]

MIGRATE = """\
set -e
f="$MIGRATIONS_DIR/$RELGATE_VERSION.sql"
if [ ! -f "$f" ]; then echo "no migration for $RELGATE_VERSION"; exit 0; fi
psql "$APP_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -f "$f"
"""
SCHEMA = 'psql "$APP_DATABASE_URL" -X -A -t -c ' + (
    "\"SELECT string_agg(version, ' ' ORDER BY version) FROM schema_migrations\""
)
V2_SQL = """
CREATE TABLE annotations_v2 (id serial PRIMARY KEY, body text);
INSERT INTO schema_migrations VALUES ('0002');
"""
LATE_ROW = "INSERT INTO copies VALUES (4, 'WRITTEN_AFTER_BACKUP')"
RESTORE_STEPS = ["check backup", "stop application", "safety dump", "restore into a fresh database"]


def _prepare(stack: Any, cluster: Cluster, database: str, *, schema_version: bool = True) -> None:
    folder: Path = stack.dir
    (folder / "migrations").mkdir()
    (folder / "migrate.sh").write_text(MIGRATE)
    stack.env.update(APP_DATABASE_URL=cluster.dsn(database),
                     MIGRATIONS_DIR=str(folder / "migrations"))  # fmt: skip
    stack.extra = {"lock": {"dir": str(folder / "locks")}}
    stack.deploy_cfg = {
        "post_deploy": [{"name": "migrations", "command": ["sh", str(folder / "migrate.sh")]}],
        **({"schema_version": {"command": ["sh", "-c", SCHEMA]}} if schema_version else {}),
    }
    original = stack.write_config

    def write_config() -> Path:  # the deploy fixture's config, plus the database by DSN
        path: Path = original()
        doc = yaml.safe_load(path.read_text())
        doc["environments"]["staging"]["database"] = {
            "dsn_env": "APP_DATABASE_URL", "backup_dir": str(folder / "backups")}  # fmt: skip
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    stack.write_config = write_config
    cluster.psql(database, V1_SCHEMA + "CREATE TABLE schema_migrations (version text PRIMARY KEY);"
                 "INSERT INTO schema_migrations VALUES ('0001');")  # fmt: skip


def _v1_backed_up_then_v2(stack: Any, *, migration: bool) -> None:
    """v1 deployed and backed up, then v2 (with or without its migration) deployed and passing:
    the release that later turns out bad."""
    if migration:
        (stack.dir / "migrations" / "v2.sql").write_text(V2_SQL)
    assert stack.deploy("v1").outcome == "deployed"
    config = stack.config()
    backup(config, stack.open_run("backup"), "staging",
           app_version=running_version(config, "staging"))  # fmt: skip
    deployed = stack.deploy("v2")
    assert deployed.outcome == "deployed", deployed.summary
    assert deployed.migrations_involved is (migration if config.deploy.schema_version else None)


def _table(cluster: Cluster, database: str, sql: str) -> str:
    return cluster.psql(database, sql)


def _names(result: RollbackResult) -> list[str]:
    return [s.name for s in result.steps]


def test_a_release_with_a_migration_is_rolled_back_with_a_restore(
    compose_stack: Any, pg_cluster: Cluster, database: str
) -> None:
    _prepare(compose_stack, pg_cluster, database)
    _v1_backed_up_then_v2(compose_stack, migration=True)
    assert _table(pg_cluster, database, "SELECT to_regclass('annotations_v2')") == "annotations_v2"

    run = compose_stack.open_run("full")
    result = rollback(compose_stack.config(), run, environment="staging", mode="full")

    assert (result.outcome, result.exit_code) == ("rolled_back", 0), result.summary
    assert result.summary == (
        "v1 redeployed and healthy; database restored: migrations were involved since v1 "
        "(schema 0001 -> 0001 0002): restoring the backup"
    )
    assert (result.migrations_involved, result.restored) == (True, True)
    assert (result.schema_now, result.schema_target, result.schema_after) == (
        "0001 0002", "0001", "0001")  # fmt: skip
    assert _names(result) == ["check migrations", *RESTORE_STEPS, "redeploy last-known-good",
                              "database reachable", "check schema", "record last-known-good"]  # fmt: skip
    assert all(s.status is Status.PASSED for s in result.steps)
    assert compose_stack.get() == "version v1"
    assert _table(pg_cluster, database, "SELECT to_regclass('annotations_v2')") == ""
    saved = json.loads((run.dir / "results" / "rollback.json").read_text())
    assert saved["restore_decision"].startswith("migrations were involved since v1")


def test_a_release_without_migration_is_rolled_back_without_a_restore(
    compose_stack: Any, pg_cluster: Cluster, database: str
) -> None:
    _prepare(compose_stack, pg_cluster, database)
    _v1_backed_up_then_v2(compose_stack, migration=False)
    pg_cluster.psql(database, LATE_ROW)  # written by v2 after the backup
    backups = sorted(p.name for p in (compose_stack.dir / "backups").iterdir())

    result = rollback(compose_stack.config(), compose_stack.open_run("full"),
                      environment="staging", mode="full")  # fmt: skip

    assert (result.outcome, result.exit_code) == ("rolled_back", 0), result.summary
    assert result.summary == (
        "v1 redeployed and healthy; database not restored: no migration since v1 (schema "
        "unchanged: 0001): the database needs no restore"
    )
    assert (result.migrations_involved, result.restored) == (False, False)
    assert _names(result) == ["check migrations", "redeploy last-known-good",
                              "database reachable", "check schema", "record last-known-good"]  # fmt: skip
    assert result.backup is None and result.safety_dump is None
    assert compose_stack.get() == "version v1"
    # the row written after the backup survives: nothing was restored, no dump was taken
    assert _table(pg_cluster, database, "SELECT status FROM copies WHERE id = 4") == (
        "WRITTEN_AFTER_BACKUP")  # fmt: skip
    assert sorted(p.name for p in (compose_stack.dir / "backups").iterdir()) == backups
    report = compose_stack.output.getvalue()
    assert "database: no migration since v1 (schema unchanged: 0001)" in report


@pytest.mark.parametrize(
    ("configure_after_deploys", "why"),
    [
        pytest.param(False, "no deploy.schema_version configured", id="not-configured"),
        pytest.param(True, "the record of v1 holds no schema version", id="record-without-schema"),
    ],
)
def test_unknown_migrations_restore_and_say_so(
    compose_stack: Any, pg_cluster: Cluster, database: str, configure_after_deploys: bool, why: str
) -> None:
    _prepare(compose_stack, pg_cluster, database, schema_version=False)
    _v1_backed_up_then_v2(compose_stack, migration=False)
    pg_cluster.psql(database, LATE_ROW)
    if configure_after_deploys:  # the records were written before the command was configured
        compose_stack.deploy_cfg["schema_version"] = {"command": ["sh", "-c", SCHEMA]}

    result = rollback(compose_stack.config(), compose_stack.open_run("full"),
                      environment="staging", mode="full")  # fmt: skip

    assert (result.outcome, result.exit_code) == ("rolled_back", 0), result.summary
    assert (result.migrations_involved, result.restored) == (None, True)
    assert result.summary.endswith(
        f"database restored: whether migrations were involved is unknown ({why}): restoring the "
        "backup as --mode full asks"
    )
    assert _names(result)[:5] == ["check migrations", *RESTORE_STEPS]
    assert "check schema" not in _names(result)  # nothing recorded to compare with
    assert _table(pg_cluster, database, "SELECT count(*) FROM copies WHERE id = 4") == "0"


def test_a_schema_command_that_fails_restores_then_fails_closed(
    compose_stack: Any, pg_cluster: Cluster, database: str
) -> None:
    """The command answered at deploy, not at rollback: unknown, so the backup is restored; once v1
    runs the schema still cannot be read, so nothing proves v1 runs on its recorded schema."""
    broken = compose_stack.dir / "schema-broken"
    _prepare(compose_stack, pg_cluster, database)
    compose_stack.env["SCHEMA_BROKEN"] = str(broken)
    compose_stack.deploy_cfg["schema_version"] = {
        "command": ["sh", "-c", f'test ! -e "$SCHEMA_BROKEN" && {SCHEMA}']
    }
    _v1_backed_up_then_v2(compose_stack, migration=False)
    broken.touch()

    result = rollback(compose_stack.config(), compose_stack.open_run("full"),
                      environment="staging", mode="full")  # fmt: skip

    assert (result.outcome, result.exit_code) == ("rollback_failed", 1), result.summary
    assert result.restored and result.migrations_involved is None
    assert result.restore_decision == (
        "whether migrations were involved is unknown (the schema version could not be read from "
        "the running stack): restoring the backup as --mode full asks"
    )
    assert result.summary.startswith("the schema version could not be read after the rollback.")
    assert result.steps[-1].name == "check schema" and result.steps[-1].status is Status.FAILED
    assert compose_stack.get() == "version v1"  # left running: the operator decides


def test_restore_always_restores_an_unchanged_schema(
    compose_stack: Any, pg_cluster: Cluster, database: str
) -> None:
    _prepare(compose_stack, pg_cluster, database)
    _v1_backed_up_then_v2(compose_stack, migration=False)
    pg_cluster.psql(database, LATE_ROW)
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(compose_stack.dir)
    try:
        code = main(["--json", "--run-dir", "runs/cli-full", "rollback", "--mode", "full",
                     "--restore", "always"], env=compose_stack.full_env(), stdout=out,
                    stderr=err)  # fmt: skip
    finally:
        os.chdir(cwd)

    assert code == 0, err.getvalue()
    result = json.loads(out.getvalue())
    assert result["summary"] == (
        "v1 redeployed and healthy; database restored: no migration since v1 (schema unchanged: "
        "0001): restoring anyway, as --restore always asks"
    )
    assert (result["restore_policy"], result["restored"], result["migrations_involved"]) == (
        "always", True, False)  # fmt: skip
    assert list(result).index("summary") < list(result).index("steps")
    assert _table(pg_cluster, database, "SELECT count(*) FROM copies WHERE id = 4") == "0"
    assert compose_stack.get() == "version v1"


def test_a_restore_that_leaves_another_schema_fails_the_rollback(
    compose_stack: Any, pg_cluster: Cluster, database: str
) -> None:
    """The only backup was taken after v2's migration: restoring it cannot bring v1's schema back,
    and v1 would run on a schema it never passed the gate with. Fail closed, say so, keep the
    record as it was."""
    from relgate.deploy.state import read_last_good

    _prepare(compose_stack, pg_cluster, database)
    (compose_stack.dir / "migrations" / "v2.sql").write_text(V2_SQL)
    assert compose_stack.deploy("v1").outcome == "deployed"
    assert compose_stack.deploy("v2").outcome == "deployed"
    config = compose_stack.config()
    backup(config, compose_stack.open_run("backup"), "staging", app_version="v2")

    result = rollback(compose_stack.config(), compose_stack.open_run("full"),
                      environment="staging", mode="full")  # fmt: skip

    assert (result.outcome, result.exit_code) == ("rollback_failed", 1), result.summary
    assert result.summary.startswith(
        "the schema is 0001 0002 after the restore, but v1 was recorded with 0001: it runs on a "
        "schema it never passed the gate with. Safety dump: "
    )
    assert (result.restored, result.schema_after) == (True, "0001 0002")
    assert result.steps[-1].name == "check schema" and result.steps[-1].status is Status.FAILED
    assert read_last_good(compose_stack.config(), "staging").version == "v2"  # type: ignore[union-attr]


def test_a_failed_release_whose_migration_ran_is_restored_with_its_pre_migration_backup(
    compose_stack: Any, pg_cluster: Cluster, database: str
) -> None:
    """The runbook's case: v2 migrates, then its readiness check fails; deploy rolls the images
    back to v1 on its own, but the database keeps v2's migration. The full rollback to v1 (which
    runs now) sees the schema changed and restores the pre-migration backup deploy took."""
    _prepare(compose_stack, pg_cluster, database)
    compose_stack.deploy_cfg["backup_before_migrations"] = True
    compose_stack.deploy_cfg["post_deploy"].append(
        {"name": "readiness", "command": ["sh", "-c", 'test "$RELGATE_VERSION" != v2']}
    )
    (compose_stack.dir / "migrations" / "v2.sql").write_text(V2_SQL)
    assert compose_stack.deploy("v1").outcome == "deployed"
    failed = compose_stack.deploy("v2")
    assert failed.outcome == "rolled_back", failed.summary
    assert "migrations were involved (schema 0001 -> 0001 0002)" in failed.summary
    assert compose_stack.get() == "version v1"
    assert _table(pg_cluster, database, "SELECT to_regclass('annotations_v2')") == "annotations_v2"

    result = rollback(compose_stack.config(), compose_stack.open_run("full"),
                      environment="staging", mode="full", to_version="v1")  # fmt: skip

    assert (result.outcome, result.exit_code) == ("rolled_back", 0), result.summary
    assert "database restored: migrations were involved since v1 (schema 0001 -> 0001 0002)" in (
        result.summary)  # fmt: skip
    assert result.backup is not None and result.backup.record is not None
    assert result.backup.record.kind == "pre-migration"
    assert result.backup.path == failed.backup
    assert _table(pg_cluster, database, "SELECT to_regclass('annotations_v2')") == ""
    assert result.schema_after == "0001"
