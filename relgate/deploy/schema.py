"""Were migrations involved? The schema version (or applied-migration list) before and after.

The runbook's rollback says: check whether the failed release involved migrations *before* any
database restore. ``deploy.schema_version`` names the command that prints it (``doctrine:migrations:
list``, ``SELECT max(version) FROM schema_migrations``…); deploy runs it on the running stack before
``up`` and again after the attempt (a failed migration may have applied part of its work). The
difference decides, and every deploy says which way and why.
"""

from __future__ import annotations

from relgate.config import PostDeployCommand
from relgate.deploy.context import DeployContext
from relgate.deploy.driver import Driver

__all__ = ["database_note", "read_schema"]


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


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
