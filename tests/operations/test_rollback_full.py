"""Full rollback against a real PostgreSQL: v1 data back, v2 tables gone, safety dump kept.

The application side is an :class:`AppControl` stand-in that records *what the database looked like*
when each step reached it, so the order of the steps is checked against real state.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from relgate import database as db
from relgate.results import StageResult, Status, utcnow
from relgate.rollback import RollbackResult, rollback
from tests.operations.conftest import DB_PASSWORD, V2_MIGRATION, Cluster, Workspace


class App:
    """Records calls; ``copies`` reads the database state at the moment of each call."""

    def __init__(self, cluster: Cluster, database: str, *, healthy: bool = True,
                 recorded: str | None = "v1.0.0") -> None:  # fmt: skip
        self.cluster, self.database, self.healthy, self._recorded = (
            cluster,
            database,
            healthy,
            recorded,
        )
        self.calls: list[tuple[str, Any, str]] = []
        self.recorded_as_good: list[str] = []

    def _state(self) -> str:
        return self.cluster.psql(
            self.database, "SELECT string_agg(status, ',' ORDER BY id) FROM copies"
        )

    def recorded(self, version: str | None) -> str | None:
        return self._recorded if version in (None, self._recorded) else None

    def schema_now(self, when: str) -> str | None:
        return None  # no deploy.schema_version here: never asked (the real one is in test_rollback_migrations)

    def recorded_schema(self, version: str) -> str | None:
        return None

    def stop(self, keep: Sequence[str]) -> str:
        self.calls.append(("stop", list(keep), self._state()))
        return "stopped web, worker"

    def record(self, version: str) -> str:
        self.recorded_as_good.append(version)
        return f"last-known-good is {version} again"

    def redeploy(self, version: str | None) -> StageResult:
        self.calls.append(("redeploy", version, self._state()))
        target = version or self._recorded
        outcome = "rolled_back" if self.healthy else "rollback_failed"
        return StageResult(stage="deploy", status=Status.PASSED if self.healthy else Status.FAILED,
                           outcome=outcome, version=target, summary=f"{target}: {outcome}")  # fmt: skip


def _backup(ws: Workspace, *, age: timedelta = timedelta(0)) -> db.BackupRecord:
    run = ws.run("backup-run")
    run.clock = lambda: utcnow() - age  # type: ignore[method-assign]
    run.version = "v1.0.0"
    return db.backup(ws.config(), run, "staging", app_version="v1.0.0")


def _state(cluster: Cluster, database: str) -> tuple[str, str]:
    return (
        cluster.psql(database, "SELECT string_agg(status, ',' ORDER BY id) FROM copies"),
        cluster.psql(database, "SELECT coalesce(to_regclass('public.annotations_v2')::text, '-')"),
    )


@pytest.mark.postgres
def test_full_rollback_restores_v1_and_drops_v2_tables(
    db_workspace: Workspace, pg_cluster: Cluster, database: str
) -> None:
    record = _backup(db_workspace)
    pg_cluster.psql(database, V2_MIGRATION)
    app = App(pg_cluster, database)
    run = db_workspace.run()
    with open(db_workspace.folder / "relgate.yml", "a") as fh:
        fh.write("rollback:\n  keep_running: [redis]\n")

    result = rollback(db_workspace.config(), run, environment="staging", mode="full", app=app)

    assert (result.outcome, result.status, result.exit_code) == ("rolled_back", Status.PASSED, 0), (
        result.summary
    )
    assert _state(pg_cluster, database) == ("READY,READY,GRADED", "-")
    # stopped while still v2; redeployed only once the data was v1 again
    assert app.calls == [("stop", ["redis"], "LOCKED_V2,LOCKED_V2,LOCKED_V2"),
                         ("redeploy", None, "READY,READY,GRADED")]  # fmt: skip
    assert [s.name for s in result.steps] == [
        "check migrations", "check backup", "stop application", "safety dump",
        "restore into a fresh database", "redeploy last-known-good", "database reachable",
        "record last-known-good",
    ]  # fmt: skip
    assert app.recorded_as_good == ["v1.0.0"]
    assert result.steps[0].detail == (
        "whether migrations were involved is unknown (no deploy.schema_version configured): "
        "restoring the backup as --mode full asks"
    )
    assert (result.restored, result.migrations_involved) == (True, None)
    assert all(s.status is Status.PASSED and s.duration_s >= 0 for s in result.steps)
    assert result.backup is not None and result.backup.sha256 == record.sha256
    assert result.rolled_back_to == "v1.0.0"
    safety = Path(result.safety_dump.path)  # type: ignore[union-attr]
    assert safety.is_file() and "-safety" in safety.name
    assert db.check_backup(safety, max_age=timedelta(hours=1), now=utcnow()).ok
    stored = json.loads((run.dir / "results" / "rollback.json").read_text())
    assert RollbackResult.model_validate(stored).outcome == "rolled_back"
    evidence = "".join(p.read_text(errors="replace") for p in run.dir.rglob("*") if p.is_file())
    assert DB_PASSWORD not in evidence


def _stale(ws: Workspace, cluster: Cluster, database: str) -> Path:
    return Path(_backup(ws, age=timedelta(hours=25)).path)


def _corrupted(ws: Workspace, cluster: Cluster, database: str) -> Path:
    path = Path(_backup(ws).path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _truncated_without_record(ws: Workspace, cluster: Cluster, database: str) -> Path:
    path = Path(_backup(ws).path)
    path.write_bytes(path.read_bytes()[:40])
    db.sidecar_path(path).unlink()
    return path


def _missing(ws: Workspace, cluster: Cluster, database: str) -> Path:
    return ws.folder / "backups" / "nope.dump"


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        pytest.param(_stale, "more than max_backup_age 24.0h", id="stale"),
        pytest.param(_corrupted, "sha256 mismatch", id="corrupted-bytes"),
        pytest.param(_truncated_without_record, "pg_restore --list cannot read it", id="truncated"),
        pytest.param(_missing, "does not exist", id="missing"),
    ],
)
@pytest.mark.postgres
def test_untrustworthy_backup_is_refused_and_nothing_is_touched(
    db_workspace: Workspace, pg_cluster: Cluster, database: str, make: Any, problem: str
) -> None:
    path = make(db_workspace, pg_cluster, database)
    pg_cluster.psql(database, V2_MIGRATION)
    before = _state(pg_cluster, database)
    backups_before = (
        sorted(os.listdir(db_workspace.folder / "backups"))
        if (db_workspace.folder / "backups").exists()
        else []
    )
    app = App(pg_cluster, database)

    result = rollback(db_workspace.config(), db_workspace.run(), environment="staging",
                      mode="full", app=app, backup=path)  # fmt: skip

    assert (result.outcome, result.exit_code) == ("backup_refused", 1)
    assert problem in (result.error or "") and "nothing was touched" in (result.error or "")
    assert app.calls == []
    assert _state(pg_cluster, database) == before
    assert result.safety_dump is None
    after = (
        sorted(os.listdir(db_workspace.folder / "backups"))
        if (db_workspace.folder / "backups").exists()
        else []
    )
    assert after == backups_before  # no safety dump taken either


@pytest.mark.postgres
def test_restore_failing_half_way_keeps_database_and_says_how_to_restore(
    db_workspace: Workspace, pg_cluster: Cluster, database: str
) -> None:
    pg_cluster.psql(database, V2_MIGRATION)
    broken = db_workspace.folder / "backups" / "broken.sql.gz"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(gzip.compress(
        b"CREATE TABLE copies (id integer PRIMARY KEY, status text);\n"
        b"INSERT INTO copies VALUES (1, 'READY');\n"
        b"SELECT * FROM table_that_does_not_exist;\n"
    ))  # fmt: skip
    app = App(pg_cluster, database)

    result = rollback(db_workspace.config(), db_workspace.run(), environment="staging",
                      mode="full", app=app, backup=broken)  # fmt: skip

    assert (result.outcome, result.exit_code) == ("restore_failed", 1)
    assert _state(pg_cluster, database) == ("LOCKED_V2,LOCKED_V2,LOCKED_V2", "annotations_v2")
    safety = Path(result.safety_dump.path)  # type: ignore[union-attr]
    assert safety.is_file()
    assert str(safety) in (result.error or "")
    assert result.restore_command and result.restore_command in (result.error or "")
    assert (
        '"$APP_DATABASE_URL"' in result.restore_command
        and DB_PASSWORD not in result.restore_command
    )
    assert "relgate rollback --mode quick" in (result.error or "")
    assert [c[0] for c in app.calls] == ["stop"]  # never redeployed over a half-restored database
    assert app.recorded_as_good == []
    assert result.steps[-1].name == "restore into a fresh database"
    assert result.steps[-1].status is Status.FAILED


@pytest.mark.postgres
def test_safety_dump_restores_the_pre_rollback_state(
    db_workspace: Workspace, pg_cluster: Cluster, database: str
) -> None:
    """The command in the message is not decoration: run the equivalent and get v2 back."""
    _backup(db_workspace)
    pg_cluster.psql(database, V2_MIGRATION)
    result = rollback(db_workspace.config(), db_workspace.run(), environment="staging",
                      mode="full", app=App(pg_cluster, database))  # fmt: skip
    assert _state(pg_cluster, database)[1] == "-"
    conn, _ = db.connect(db_workspace.config(), "staging", db_workspace.env)
    safety = Path(result.safety_dump.path)  # type: ignore[union-attr]
    db.restore_fresh(conn, safety, "custom", safety_hint="-")
    assert _state(pg_cluster, database) == ("LOCKED_V2,LOCKED_V2,LOCKED_V2", "annotations_v2")


@pytest.mark.postgres
def test_no_previous_version_refuses_before_touching_the_database(
    db_workspace: Workspace, pg_cluster: Cluster, database: str
) -> None:
    _backup(db_workspace)
    pg_cluster.psql(database, V2_MIGRATION)
    app = App(pg_cluster, database, recorded=None)
    result = rollback(db_workspace.config(), db_workspace.run(), environment="staging",
                      mode="full", app=app)  # fmt: skip
    # Nothing to go back to is a refusal the operator answers with --to (issue 19: exit 2), and
    # it comes before the database is touched.
    assert (result.outcome, result.exit_code) == ("no_previous_version", 2)
    assert app.calls == [] and result.steps == []
    assert _state(pg_cluster, database)[1] == "annotations_v2"


@pytest.mark.postgres
def test_unhealthy_redeploy_fails_the_rollback(
    db_workspace: Workspace, pg_cluster: Cluster, database: str
) -> None:
    _backup(db_workspace)
    app = App(pg_cluster, database, healthy=False)
    result = rollback(db_workspace.config(), db_workspace.run(), environment="staging",
                      mode="full", app=app)  # fmt: skip
    assert (result.outcome, result.exit_code) == ("rollback_failed", 1)
    assert "redeploy did not end healthy" in (result.error or "")
    assert result.steps[-1].status is Status.FAILED


@pytest.mark.parametrize(
    ("to", "allow", "outcome", "redeployed"),
    [
        pytest.param(None, False, "rolled_back", [None], id="last-known-good"),
        pytest.param("v1.0.0", False, "rolled_back", ["v1.0.0"], id="to-recorded"),
        pytest.param("v0.9.0", False, "no_previous_version", [], id="to-unrecorded-refused"),
        pytest.param("v0.9.0", True, "rolled_back", ["v0.9.0"], id="to-unrecorded-allowed"),
    ],
)
def test_quick_rollback_target(
    workspace: Workspace, to: str | None, allow: bool, outcome: str, redeployed: list[Any]
) -> None:
    from tests.operations.conftest import write_config

    write_config(workspace.folder)

    class Quick(App):
        def _state(self) -> str:
            return "-"

    app = Quick(None, "-")  # type: ignore[arg-type]
    result = rollback(workspace.config(), workspace.run(), environment="staging", mode="quick",
                      to_version=to, allow_unrecorded=allow, app=app)  # fmt: skip
    assert result.outcome == outcome, result.summary
    assert [c[1] for c in app.calls if c[0] == "redeploy"] == redeployed
    assert not any(c[0] == "stop" for c in app.calls)


def _sigterm() -> BaseException:
    from relgate.errors import Interrupted

    return Interrupted("interrupted by SIGTERM")


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("raised", "status", "outcome", "said"),
    [
        (_sigterm, Status.INTERRUPTED, "interrupted", "rollback interrupted"),
        (KeyboardInterrupt, Status.INTERRUPTED, "interrupted", "rollback interrupted"),
        (lambda: RuntimeError("boom"), Status.ERROR, "could_not_run", "rollback could not finish"),
    ],
    ids=["sigterm", "ctrl-c", "crash"],
)
def test_a_rollback_cut_short_keeps_its_steps_in_the_evidence(
    db_workspace: Workspace,
    pg_cluster: Cluster,
    database: str,
    raised: Callable[[], BaseException],
    status: Status,
    outcome: str,
    said: str,
) -> None:
    """Issue 11: the rollback's own partial result (through run_stage's hook), whatever cut it
    short — a Ctrl-C or a crash used to leave only the generic fallback, its steps lost."""
    _backup(db_workspace)
    exc = raised()

    class Cancelled(App):
        def redeploy(self, version: str | None) -> StageResult:
            raise exc

    run = db_workspace.run()
    with pytest.raises(type(exc)):
        rollback(db_workspace.config(), run, environment="staging", mode="full",
                 app=Cancelled(pg_cluster, database))  # fmt: skip
    saved = RollbackResult.model_validate_json((run.dir / "results" / "rollback.json").read_bytes())
    assert (saved.status, saved.exit_code, saved.outcome) == (status, 3, outcome)
    assert [s.status for s in saved.steps][-2:] == [Status.PASSED, status]
    assert saved.steps[-1].name == "redeploy last-known-good"
    assert f"{said} during redeploy last-known-good" in (saved.error or "")
    assert saved.safety_dump is not None and saved.safety_dump.path in (saved.error or "")
