"""Backups, backup checks and fresh restores against a real PostgreSQL on loopback."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from relgate import database as db
from relgate import proc
from relgate.errors import BadInputError, ConfigError
from relgate.results import utcnow
from tests.operations.conftest import DB_PASSWORD, V2_MIGRATION, Cluster, Workspace, write_config


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        pytest.param(
            "postgresql://app:p%40ss@db.internal:6543/grading?sslmode=require",
            {"PGUSER": "app", "PGPASSWORD": "p@ss", "PGHOST": "db.internal", "PGPORT": "6543",
             "PGDATABASE": "grading", "PGSSLMODE": "require"},
            id="uri",
        ),
        pytest.param(
            "postgres://[::1]/x", {"PGHOST": "::1", "PGDATABASE": "x"}, id="uri-ipv6-no-port"
        ),
        pytest.param(
            "host=localhost port=5433 dbname=app user=u password='it\\'s a \\\\ pass'",
            {"PGHOST": "localhost", "PGPORT": "5433", "PGDATABASE": "app", "PGUSER": "u",
             "PGPASSWORD": "it's a \\ pass"},
            id="keywords-quoted",
        ),
    ],
)  # fmt: skip
def test_dsn_becomes_pg_environment(dsn: str, expected: dict[str, str]) -> None:
    assert db.dsn_environment(dsn) == expected


@pytest.mark.parametrize(
    "dsn",
    [
        pytest.param("postgresql://u:hunter22@h/db?bogus=1", id="unknown-query-keyword"),
        pytest.param("host=h password=hunter22 frobnicate=yes", id="unknown-keyword"),
        pytest.param("=hunter22", id="garbage"),
    ],
)
def test_bad_dsn_is_refused_without_quoting_it(dsn: str) -> None:
    with pytest.raises(BadInputError) as info:
        db.dsn_environment(dsn)
    assert "hunter22" not in info.value.message


def test_missing_dsn_variable_is_a_config_error(workspace: Workspace) -> None:
    write_config(workspace.folder, database={"dsn_env": "APP_DATABASE_URL"})
    with pytest.raises(ConfigError, match="APP_DATABASE_URL is not set"):
        db.connect(workspace.config(), "staging", workspace.env)


@pytest.mark.parametrize(
    ("stack", "base"),
    [
        pytest.param(
            "    stack:\n      driver: compose\n      files: [compose.yml]\n      project_name: grading\n",
            ["--project-name", "grading", "--file", "{d}/compose.yml"],
            id="project-name",
        ),
        pytest.param(
            "    stack:\n      driver: compose\n      files: [compose.yml]\n      profiles: [db]\n"
            "      env_file: stack.env\n      working_dir: app\n",
            ["--project-name", "gradeapp", "--project-directory", "{d}/app",
             "--file", "{d}/compose.yml", "--profile", "db", "--env-file", "{d}/stack.env"],
            id="directory-profiles-env-file",
        ),
        pytest.param(
            "    stack:\n      driver: compose\n      files: [compose.yml]\n      project_name: Korrigo\n",
            ["--project-name", "korrigo", "--file", "{d}/compose.yml"],
            id="capitals-normalised-as-deploy",
        ),
    ],
)  # fmt: skip
def test_compose_service_connection_addresses_deploys_project(
    workspace: Workspace, stack: str, base: list[str]
) -> None:
    from relgate.deploy.commands import ComposeProject, compose_base

    write_config(workspace.folder, database={"service": "db", "name": "grading"}, stack=stack)
    config = workspace.config()
    conn, _ = db.connect(config, "staging", workspace.env, version="v7")
    deployed = ComposeProject.from_stack(config, config.environments["staging"].stack)  # type: ignore[arg-type]
    expected = ["docker", "compose", *(a.format(d=workspace.folder) for a in base)]
    assert compose_base(deployed) == expected
    assert db.dump_argv(conn, "custom") == [
        *expected, "exec", "-T", "db", "pg_dump", "--username", "postgres", "--format=custom",
        "--dbname=grading",
    ]  # fmt: skip
    assert conn.env["RELGATE_VERSION"] == "v7"  # compose interpolates it in exec too


@pytest.mark.parametrize("fmt", ["custom", "plain"])
@pytest.mark.postgres
def test_backup_records_digest_and_passes_its_check(
    db_workspace: Workspace, fmt: str, pg_cluster: Cluster
) -> None:
    text = (db_workspace.folder / "relgate.yml").read_text()
    (db_workspace.folder / "relgate.yml").write_text(
        text.replace("dsn_env: APP_DATABASE_URL", f"dsn_env: APP_DATABASE_URL\n      format: {fmt}")
    )
    seen: list[list[str]] = []

    def recording(argv: list[str], **kw: Any) -> proc.Finished:
        seen.append(list(argv))
        return proc.run(argv, **kw)

    run = db_workspace.run()
    record = db.backup(
        db_workspace.config(), run, "staging", app_version="v1.0.0", runner=recording
    )

    path = Path(record.path)
    assert path.suffix == (".dump" if fmt == "custom" else ".gz")
    assert (record.sha256, record.size) == db.sha256_file(path)
    assert record.app_version == "v1.0.0" and record.format == fmt
    assert json.loads(record.sidecar.read_text())["sha256"] == record.sha256
    check = db.check_backup(path, max_age=timedelta(hours=1), now=utcnow())
    assert check.ok, check.problems
    if fmt == "custom":
        assert check.tables == 1
    else:
        assert b"CREATE TABLE public.copies" in gzip.decompress(path.read_bytes())
    assert seen and all(DB_PASSWORD not in " ".join(argv) for argv in seen)
    assert DB_PASSWORD not in (run.dir / "artifacts" / "backup" / f"{path.name}.json").read_text()
    # the DSN variable's name does not look secret, yet its password is registered for redaction
    assert DB_PASSWORD not in run.secrets.redact(f"psql: password {DB_PASSWORD} rejected")


def _corrupt_sha(path: Path) -> None:
    side = db.sidecar_path(path)
    data = json.loads(side.read_text())
    data["sha256"] = "0" * 64
    side.write_text(json.dumps(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    db.sidecar_path(path).unlink()


def _not_a_dump(path: Path) -> None:
    path.write_bytes(b"hello, not a dump")
    db.sidecar_path(path).unlink()


def _missing(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize(
    ("damage", "fmt", "expected"),
    [
        pytest.param(_corrupt_sha, "custom", "sha256 mismatch", id="recorded-sha256-differs"),
        pytest.param(
            _truncate, "custom", "pg_restore --list cannot read it", id="truncated-custom"
        ),
        pytest.param(_truncate, "plain", "gzip integrity check failed", id="truncated-gzip"),
        pytest.param(_not_a_dump, "custom", "not a PostgreSQL custom dump", id="not-a-dump"),
        pytest.param(_missing, "custom", "does not exist", id="missing"),
    ],
)
@pytest.mark.postgres
def test_untrustworthy_backup_is_reported(
    db_workspace: Workspace, damage: Any, fmt: str, expected: str
) -> None:
    conn, _ = db.connect(db_workspace.config(), "staging", db_workspace.env)
    target = db_workspace.folder / "backups" / ("b.dump" if fmt == "custom" else "b.sql.gz")
    db.take_backup(conn, target, fmt=fmt, kind="manual", project="p",  # type: ignore[arg-type]
                   environment="staging", app_version="v1", run_id=None)  # fmt: skip
    damage(target)
    check = db.check_backup(target, max_age=timedelta(hours=1), now=utcnow())
    assert not check.ok
    assert any(expected in p for p in check.problems), check.problems


@pytest.mark.postgres
def test_stale_backup_is_reported_with_its_age(db_workspace: Workspace) -> None:
    conn, _ = db.connect(db_workspace.config(), "staging", db_workspace.env)
    target = db_workspace.folder / "backups" / "old.dump"
    db.take_backup(conn, target, fmt="custom", kind="manual", project="p", environment="staging",
                   app_version="v1", run_id=None, clock=lambda: utcnow() - timedelta(hours=30))  # fmt: skip
    check = db.check_backup(target, max_age=timedelta(hours=24), now=utcnow())
    assert check.problems == ["backup is 30.0h old, more than max_backup_age 24.0h"]


@pytest.mark.parametrize("fmt", ["custom", "plain"])
@pytest.mark.postgres
def test_restore_fresh_drops_tables_the_backup_does_not_have(
    db_workspace: Workspace, pg_cluster: Cluster, database: str, fmt: str
) -> None:
    conn, _ = db.connect(db_workspace.config(), "staging", db_workspace.env)
    target = db_workspace.folder / "backups" / f"v1.{fmt}"
    db.take_backup(conn, target, fmt=fmt, kind="manual", project="p",  # type: ignore[arg-type]
                   environment="staging", app_version="v1", run_id=None)  # fmt: skip
    pg_cluster.psql(database, V2_MIGRATION)

    report = db.restore_fresh(conn, target, fmt, safety_hint="-")  # type: ignore[arg-type]

    assert pg_cluster.psql(database, "SELECT string_agg(status, ',' ORDER BY id) FROM copies") == (
        "READY,READY,GRADED"
    )
    assert pg_cluster.psql(database, "SELECT to_regclass('public.annotations_v2')") == ""
    assert not any("__relgate_" in name for name in pg_cluster.databases())
    assert [name for name, _ in report.steps] == [
        "create scratch database",
        "restore into scratch database",
        "swap scratch in, drop the old database",
    ]


@pytest.mark.postgres
def test_restore_failing_half_way_leaves_live_database_untouched(
    db_workspace: Workspace, pg_cluster: Cluster, database: str
) -> None:
    pg_cluster.psql(database, V2_MIGRATION)
    broken = db_workspace.folder / "broken.sql.gz"
    broken.write_bytes(
        gzip.compress(
            b"CREATE TABLE copies (id integer PRIMARY KEY, status text);\n"
            b"INSERT INTO copies VALUES (1, 'READY');\n"
            b"INSERT INTO no_such_table VALUES (1);\n"
            b"INSERT INTO copies VALUES (2, 'READY');\n"
        )
    )
    conn, _ = db.connect(db_workspace.config(), "staging", db_workspace.env)
    with pytest.raises(db.RestoreError) as info:
        db.restore_fresh(conn, broken, "plain", safety_hint="HINT: restore /x/safety.dump")
    assert "no_such_table" in info.value.message
    assert "the live database was not changed" in info.value.message
    assert info.value.message.endswith("HINT: restore /x/safety.dump")
    assert pg_cluster.psql(database, "SELECT count(*) FROM annotations_v2") == "1"
    assert pg_cluster.psql(database, "SELECT min(status) FROM copies") == "LOCKED_V2"
    assert not any("__relgate_" in name for name in pg_cluster.databases())


@pytest.mark.postgres
def test_restore_refuses_when_target_is_the_maintenance_database(db_workspace: Workspace) -> None:
    conn = db.Connection("postgres", maintenance_db="postgres")
    with pytest.raises(BadInputError, match="maintenance_db"):
        db.restore_fresh(conn, db_workspace.folder / "x.dump", "custom", safety_hint="-")
