"""``database.retention``: after every backup, exactly what the policy says stays — across many runs,
against a real PostgreSQL — and never the backup a pending full rollback needs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from relgate.config import BackupRetention
from relgate.database import BackupRecord, backup, find_backups
from relgate.database.retention import plan_retention
from tests.operations import test_rollback_process
from tests.operations.conftest import Workspace

process_ws = test_rollback_process.process_ws  # the process-driver workspace fixture
_deploy = test_rollback_process._deploy

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _record(minutes: int, **kw: object) -> BackupRecord:
    fields: dict[str, object] = {
        "path": f"/b/{minutes:03d}.dump", "format": "custom", "sha256": "0" * 64, "size": 1,
        "created_at": T0 + timedelta(minutes=minutes), "project": "p", "environment": "staging",
        "database": "app", **kw,
    }  # fmt: skip
    return BackupRecord.model_validate(fields)


@pytest.mark.parametrize(
    ("keep_last", "max_age", "expected"),
    [
        pytest.param(3, None, [50, 40, 30], id="keep-last-3"),
        pytest.param(None, timedelta(minutes=25), [50, 40, 30], id="max-age-25m"),
        pytest.param(2, timedelta(minutes=25), [50, 40, 30], id="union-age-wins"),
        pytest.param(4, timedelta(minutes=5), [50, 40, 30, 20], id="union-count-wins"),
        pytest.param(None, None, [50, 40, 30, 20, 10, 0], id="both-off-keeps-all"),
        pytest.param(1, None, [50], id="keep-last-1"),
    ],
)
def test_policy_decides_which_stay(
    keep_last: int | None, max_age: timedelta | None, expected: list[int]
) -> None:
    records = [_record(m) for m in (0, 30, 10, 50, 20, 40)]  # any order
    policy = BackupRetention(keep_last=keep_last, max_age=max_age)
    plan = plan_retention(records, policy, now=T0 + timedelta(minutes=55))
    assert plan.kept == [f"/b/{m:03d}.dump" for m in expected]
    assert sorted(plan.deleted + plan.kept) == sorted(r.path for r in records)


def test_the_backup_before_the_running_version_is_never_deleted() -> None:
    records = [
        _record(0, kind="pre-migration", taken_before="v1"),
        _record(10, kind="pre-migration", taken_before="v2", app_version="v1"),
        _record(20, app_version="v2"),
        _record(30, app_version="v2"),
    ]
    plan = plan_retention(records, BackupRetention(keep_last=1), now=T0, running_version="v2")
    assert plan.kept == ["/b/030.dump", "/b/010.dump"]
    assert plan.deleted == ["/b/020.dump", "/b/000.dump"]
    assert "v2 (running now)" in plan.protected["/b/010.dump"]


# -- many runs against a real PostgreSQL ------------------------------------------------------------
def _configure(ws: Workspace, retention: dict[str, object]) -> None:
    path = ws.folder / "relgate.yml"
    doc = yaml.safe_load(path.read_text())
    doc["environments"]["staging"]["database"]["retention"] = retention
    path.write_text(yaml.safe_dump(doc))


def _take(ws: Workspace, at: datetime, **kw: object) -> BackupRecord:
    run = ws.run(f"backup-{uuid.uuid4().hex[:6]}")
    run.clock = lambda: at  # type: ignore[method-assign]
    return backup(ws.config(), run, "staging", **kw)  # type: ignore[arg-type]


def _on_disk(ws: Workspace) -> list[str]:
    return sorted(p.name for p in (ws.folder / "backups").iterdir())


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("retention", "step", "survivors"),
    [
        pytest.param({"keep_last": 3}, timedelta(hours=1), 3, id="keep-last-3-hourly"),
        pytest.param(
            {"keep_last": None, "max_age": "150m"}, timedelta(hours=1), 3, id="max-age-150m-hourly"
        ),
        pytest.param(
            {"keep_last": 2, "max_age": "20h"}, timedelta(hours=8), 3, id="age-wins-every-8h"
        ),
        pytest.param(
            {"keep_last": 4, "max_age": "20h"}, timedelta(hours=8), 4, id="count-wins-every-8h"
        ),
    ],
)
def test_retention_keeps_exactly_the_policy_across_many_runs(
    db_workspace: Workspace, retention: dict[str, object], step: timedelta, survivors: int
) -> None:
    _configure(db_workspace, retention)
    taken: list[BackupRecord] = []
    for i in range(8):
        taken.append(_take(db_workspace, T0 + i * step, app_version="v1"))
        expected = taken[-min(len(taken), survivors) :]
        names = sorted(
            n for r in expected for n in (Path(r.path).name, Path(r.path).name + ".json")
        )
        assert _on_disk(db_workspace) == names, f"after run {i + 1}"
        assert [r.path for r in find_backups(db_workspace.config(), "staging")] == [
            r.path for r in reversed(expected)
        ]


@pytest.mark.postgres
def test_retention_spares_what_it_does_not_own_and_the_pending_rollback(
    db_workspace: Workspace,
) -> None:
    _configure(db_workspace, {"keep_last": 1})
    folder = db_workspace.folder / "backups"
    folder.mkdir()
    stray = folder / "hand-made.dump"
    stray.write_bytes(b"PGDMP not relgate's")  # no sidecar: not ours to judge
    before_v2 = _take(db_workspace, T0, app_version="v1", kind="pre-migration", taken_before="v2")
    for hour in (1, 2, 3):
        _take(db_workspace, T0 + timedelta(hours=hour), app_version="v2")
    newest = _take(db_workspace, T0 + timedelta(hours=4), app_version="v2")

    kept = {r.path for r in find_backups(db_workspace.config(), "staging")}
    assert kept == {before_v2.path, newest.path}  # v2 runs: its pre-migration backup stays
    assert stray.exists()
    evidence = list((db_workspace.folder).glob("backup-*/artifacts/backup/retention-*.json"))
    assert evidence, "each pass that deleted something says so in the run's evidence"


@pytest.fixture
def deploying(process_ws: tuple[Workspace, int]) -> Workspace:
    """The demo service under the process driver, pre-migration backups on, keep_last 2."""
    ws, _port = process_ws
    path = ws.folder / "relgate.yml"
    doc = yaml.safe_load(path.read_text())
    doc["deploy"]["backup_before_migrations"] = True
    doc["environments"]["staging"]["database"]["retention"] = {"keep_last": 2}
    path.write_text(yaml.safe_dump(doc))
    return ws


@pytest.mark.postgres
@pytest.mark.slow
def test_deploys_keep_two_pre_migration_backups(deploying: Workspace) -> None:
    for n in range(1, 6):
        assert _deploy(deploying, f"v{n}") == "deployed"
        records = find_backups(deploying.config(), "staging")
        assert [r.taken_before for r in records] == [f"v{k}" for k in range(n, max(n - 2, 0), -1)]
        assert len(list((deploying.folder / "backups").iterdir())) == 2 * len(records)
