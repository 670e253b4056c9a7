"""Which backups of an environment stay: ``database.retention`` applied after every new backup.

A backup is deleted only when it is neither among the newest ``keep_last`` nor younger than
``max_age`` (a rule set to ``null`` protects nothing; both ``null`` keeps everything). Whatever the
policy says, these are never deleted:

* the backup just taken (the caller passes it in ``protect``);
* the pre-migration backup taken before the version running now was deployed (``taken_before`` ==
  ``running_version``): the data a full rollback from that version would restore;
* safety dumps (a full rollback's copy of the database it replaced) and files without a readable
  sidecar (relgate cannot tell what they are), and other projects' or environments' backups.

The decision (:func:`plan_retention`) is a pure function of the records, the policy and the time, so
it is tested on its own; :func:`prune_backups` applies it: the sidecar goes first, so a crash in
between leaves an orphan file, never a record pointing at a missing backup.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from relgate.database.records import BackupRecord, find_backups
from relgate.fields import format_duration

if TYPE_CHECKING:
    from relgate.config import BackupRetention, RelgateConfig

__all__ = ["Retention", "plan_retention", "prune_backups"]


class Retention(BaseModel):
    """What a retention pass decided, for the run's evidence (``artifacts/backup/``)."""

    policy: str
    kept: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    protected: dict[str, str] = Field(
        default_factory=dict, description="Path → why it was kept beyond the policy."
    )


def describe(policy: BackupRetention) -> str:
    rules = []
    if policy.keep_last is not None:
        rules.append(f"keep_last {policy.keep_last}")
    if policy.max_age is not None:
        rules.append(f"max_age {format_duration(policy.max_age)}")
    return " or ".join(rules) or "keep everything"


def plan_retention(
    records: Sequence[BackupRecord],
    policy: BackupRetention,
    *,
    now: datetime,
    protect: Collection[str] = (),
    running_version: str | None = None,
) -> Retention:
    """Split ``records`` (one environment's, any order) into kept and deleted paths."""
    newest_first = sorted(records, key=lambda r: r.created_at, reverse=True)
    plan = Retention(policy=describe(policy))
    pending = next(
        (r.path for r in newest_first if running_version and r.taken_before == running_version),
        None,
    )
    for rank, record in enumerate(newest_first):
        by_count = policy.keep_last is not None and rank < policy.keep_last
        by_age = policy.max_age is not None and now - record.created_at <= policy.max_age
        off = policy.keep_last is None and policy.max_age is None
        if by_count or by_age or off:
            plan.kept.append(record.path)
        elif record.path in protect:
            plan.kept.append(record.path)
            plan.protected[record.path] = "just taken"
        elif record.path == pending:
            plan.kept.append(record.path)
            plan.protected[record.path] = (
                f"taken before {running_version} (running now) was deployed: a full rollback "
                "needs it"
            )
        else:
            plan.deleted.append(record.path)
    return plan


def prune_backups(
    config: RelgateConfig,
    environment: str,
    *,
    now: datetime,
    protect: Collection[str] = (),
    running_version: str | None = None,
) -> Retention:
    """Apply ``environment``'s ``database.retention`` to its backups in ``backup_dir``."""
    _, envcfg = config.environment(environment)
    if envcfg.database is None:
        return Retention(policy="no database")
    ours = [r for r in find_backups(config, environment) if r.project == config.project.name]
    plan = plan_retention(
        ours,
        envcfg.database.retention,
        now=now,
        protect=protect,
        running_version=running_version,
    )
    for path in plan.deleted:
        backup_file = Path(path)
        backup_file.with_name(backup_file.name + ".json").unlink(missing_ok=True)
        backup_file.unlink(missing_ok=True)
    return plan
