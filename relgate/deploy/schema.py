"""Were migrations involved? The schema version (or applied-migration list) before and after.

The runbook's rollback says: check whether the failed release involved migrations *before* any
database restore. ``deploy.schema_version`` names the command that prints it (``doctrine:migrations:
list``, ``SELECT max(version) FROM schema_migrations``…); deploy runs it on the running stack before
``up`` and again after the attempt (a failed migration may have applied part of its work). The
difference decides, and every deploy says which way and why.

A full rollback asks the same question before it restores anything (:func:`decide_restore`): the
schema read from the running stack now against the one recorded with the target version's
last-known-good record. A restore throws away every row written since the backup, so restoring when
the schema never changed loses data for nothing:

- equal → no restore (``--restore always`` restores anyway);
- different → restore;
- unknown (no command configured, no answer, no schema in the record) → restore, as ``--mode full``
  asked, and the reason names which part is unknown.

Once the target runs again its schema must be the recorded one (:func:`schema_after_note`).
"""

from __future__ import annotations

from dataclasses import dataclass

from relgate.config import PostDeployCommand
from relgate.deploy.context import DeployContext
from relgate.deploy.driver import Driver
from relgate.results.rollback import RestorePolicy

__all__ = [
    "RestoreDecision",
    "database_note",
    "decide_restore",
    "read_schema",
    "schema_after_note",
]


def read_schema(ctx: DeployContext, driver: Driver, when: str) -> str | None:
    """The schema version as the configured command prints it, or None when it cannot be read
    (not configured, its service not running, the command failing)."""
    spec = ctx.config.deploy.schema_version
    if spec is None:
        return None
    if spec.service is not None and spec.service not in driver.running():
        ctx.run.reporter.line(f"schema version {when}: {spec.service} is not running")
        return None
    command = PostDeployCommand(
        name=f"schema-{when}", command=spec.command, service=spec.service, timeout=spec.timeout
    )
    record = driver.exec(command)
    if not record.ok or record.log is None:
        ctx.run.reporter.warning(f"schema version {when}: the command failed (log: {record.log})")
        return None
    text = ctx.run.path(record.log).read_text(encoding="utf-8", errors="replace")
    return " ".join(text.split())[:500] or "(empty)"


def database_note(
    before: str | None, after: str | None, *, backup: str | None, configured: bool
) -> tuple[bool | None, str]:
    """(migrations involved?, the sentence a failed deploy's summary carries about the database)."""
    if not configured:
        return None, (
            "whether migrations were involved is unknown (no deploy.schema_version configured)"
        )
    if before is None or after is None:
        which = "before" if before is None else "after"
        return None, f"whether migrations were involved is unknown (no schema version {which})"
    if before == after:
        return False, (
            f"no migration was involved (schema unchanged: {_short(after)}), so the database "
            "needs no restore"
        )
    how = (
        f"`relgate rollback --mode full` restores the pre-migration backup {backup}"
        if backup
        else "no pre-migration backup was taken (deploy.backup_before_migrations is off)"
    )
    return True, (
        f"migrations were involved (schema {_short(before)} -> {_short(after)}): the database "
        f"keeps the new schema until restored; {how}"
    )


@dataclass(frozen=True)
class RestoreDecision:
    restore: bool
    migrations_involved: bool | None
    reason: str


def decide_restore(
    *,
    target_version: str,
    schema_now: str | None,
    schema_target: str | None,
    configured: bool,
    policy: RestorePolicy = "auto",
) -> RestoreDecision:
    """The decision and the sentence the result, the report and ``--json`` lead with."""
    unknown = _unknown(target_version, schema_now, schema_target, configured)
    if unknown is not None:
        return RestoreDecision(
            True,
            None,
            f"whether migrations were involved is unknown ({unknown}): restoring the backup as "
            "--mode full asks",
        )
    assert schema_now is not None and schema_target is not None
    if schema_now != schema_target:
        return RestoreDecision(
            True,
            True,
            f"migrations were involved since {target_version} (schema {_short(schema_target)} -> "
            f"{_short(schema_now)}): restoring the backup",
        )
    same = f"no migration since {target_version} (schema unchanged: {_short(schema_now)})"
    if policy == "always":
        return RestoreDecision(True, False, f"{same}: restoring anyway, as --restore always asks")
    return RestoreDecision(False, False, f"{same}: the database needs no restore")


def _unknown(
    target_version: str, now: str | None, target: str | None, configured: bool
) -> str | None:
    if not configured:
        return "no deploy.schema_version configured"
    if now is None:
        return "the schema version could not be read from the running stack"
    if target is None:
        return f"the record of {target_version} holds no schema version"
    return None


def schema_after_note(
    *, target_version: str, schema_after: str | None, schema_target: str | None, restored: bool
) -> tuple[bool, str]:
    """(matches?, what to say) once the target runs again: the schema it was recorded with, or a
    mismatch — the version would run on a schema it never passed the gate with."""
    if schema_after is None:
        return False, "the schema version could not be read after the rollback"
    if schema_after == schema_target:
        return True, f"schema {_short(schema_after)}, as recorded with {target_version}"
    how = "after the restore" if restored else "without a restore"
    return False, (
        f"the schema is {_short(schema_after)} {how}, but {target_version} was recorded with "
        f"{_short(schema_target or '?')}: it runs on a schema it never passed the gate with"
    )


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
