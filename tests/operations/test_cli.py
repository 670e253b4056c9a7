"""The operations commands through ``relgate.cli.main``: exit codes, --json, outputs."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from relgate.cli import main
from tests.operations.conftest import DB_PASSWORD, Workspace


def cli(ws: Workspace, *argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(ws.folder)
    try:
        code = main(["--json", *argv], env=ws.env, stdout=out, stderr=err)
    finally:
        os.chdir(cwd)
    return code, json.loads(out.getvalue() or "{}"), err.getvalue()


@pytest.mark.postgres
def test_backup_command_records_the_backup(db_workspace: Workspace) -> None:
    code, record, err = cli(db_workspace, "--env", "staging", "backup", "--version", "v1.4.2")
    assert code == 0, err
    assert record["app_version"] == "v1.4.2" and len(record["sha256"]) == 64
    assert Path(record["path"]).is_file() and Path(record["path"] + ".json").is_file()
    assert DB_PASSWORD not in json.dumps(record) + err


@pytest.mark.postgres
def test_full_rollback_with_stale_backup_exits_1_and_says_why(db_workspace: Workspace) -> None:
    code, record, _ = cli(db_workspace, "backup")
    assert code == 0
    old = json.loads(Path(record["path"] + ".json").read_text())
    old["created_at"] = "2020-01-01T00:00:00Z"
    Path(record["path"] + ".json").write_text(json.dumps(old))
    (db_workspace.folder / "state").mkdir(exist_ok=True)

    code, result, _err = cli(db_workspace, "--run-dir", "r", "rollback", "--mode", "full",
                            "--to", "v1.0.0", "--allow-unrecorded")  # fmt: skip

    assert code == 1
    doc = result.get("result", result)
    assert doc["outcome"] == "backup_refused"
    assert "more than max_backup_age 24.0h" in doc["summary"]
    assert (
        json.loads((db_workspace.folder / "r" / "results" / "rollback.json").read_text())["outcome"]
        == "backup_refused"
    )


def test_full_rollback_without_database_is_bad_config(workspace: Workspace) -> None:
    from tests.operations.conftest import write_config

    write_config(workspace.folder)
    code, _result, err = cli(
        workspace, "rollback", "--mode", "full", "--to", "v1", "--allow-unrecorded"
    )
    assert code == 2
    assert "environments.staging.database: not set" in err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--mode", "quick", "--restore", "always"], id="quick-always"),
        pytest.param(["--restore", "auto"], id="default-mode-quick"),
    ],
)
def test_restore_flag_without_full_mode_is_bad_input(workspace: Workspace, argv: list[str]) -> None:
    from tests.operations.conftest import write_config

    write_config(workspace.folder)
    code, _result, err = cli(workspace, "rollback", *argv)
    assert code == 2
    assert "only a --mode full rollback restores" in err
    assert not (workspace.folder / "state").exists()  # refused before anything ran


def test_rollback_waits_for_the_lock_then_exits_3_naming_the_holder(workspace: Workspace) -> None:
    from relgate.lock import LockOwner, lock_for
    from tests.operations.conftest import write_config

    write_config(workspace.folder, extra=f"lock:\n  dir: {workspace.folder / 'locks'}\n")
    lock = lock_for(workspace.config(), "staging", {})
    owner = LockOwner.me(run_id="gh-7-1", environment="staging", command="gate", key=lock.key)
    with lock.held(owner):
        code, _, err = cli(workspace, "rollback", "--mode", "quick", "--wait-lock", "300ms")
    assert code == 3
    assert "another relgate gate for gradeapp/staging is running" in err and "run gh-7-1" in err
    assert "waited 0.3s" in err


@pytest.mark.postgres
def test_backup_verify_and_test_restore(
    db_workspace: Workspace, pg_cluster: object, database: str
) -> None:
    assert cli(db_workspace, "backup")[0] == 0
    code, report, err = cli(db_workspace, "backup", "--verify", "--test-restore")
    assert code == 0, err
    assert report["problems"] == [] and report["tables"] == 1
    assert report["test_restore"]["tables"] == {"public.copies": 3}
    assert report["test_restore"]["database"] == f"{database}__relgate_verify"
    assert f"{database}__relgate_verify" not in pg_cluster.databases()  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_backup_verify_refuses_a_backup_that_does_not_restore(
    db_workspace: Workspace, pg_cluster: object, database: str
) -> None:
    import gzip

    broken = db_workspace.folder / "broken.sql.gz"
    broken.write_bytes(
        gzip.compress(b"CREATE TABLE t (id int);\nINSERT INTO nowhere VALUES (1);\n")
    )
    code, report, _ = cli(db_workspace, "backup", "--verify", str(broken), "--test-restore")
    assert code == 1
    assert any('relation "nowhere" does not exist' in p for p in report["problems"])
    assert pg_cluster.psql(database, "SELECT count(*) FROM copies") == "3"  # type: ignore[attr-defined]
    assert f"{database}__relgate_verify" not in pg_cluster.databases()  # type: ignore[attr-defined]


def _record_last_good(ws: Workspace, version: str) -> None:
    from relgate.deploy.models import LastGood
    from relgate.deploy.state import write_last_good
    from relgate.results import utcnow

    record = LastGood(environment="staging", driver="process", version=version, env_hash="sha256:0",
                      recorded_at=utcnow(), run_id="r")  # fmt: skip
    write_last_good(ws.config(), record)


@pytest.mark.postgres
def test_backup_records_the_last_good_version_unless_version_is_given(
    db_workspace: Workspace,
) -> None:
    """--version says which version's data this is (its help says so); it used to lose to the
    last-known-good record silently."""
    _record_last_good(db_workspace, "v1.0.0")
    code, record, err = cli(db_workspace, "--env", "staging", "backup")
    assert (code, record["app_version"]) == (0, "v1.0.0"), err
    code, record, err = cli(db_workspace, "--env", "staging", "backup", "--version", "v0.9.0")
    assert (code, record["app_version"]) == (0, "v0.9.0"), err
