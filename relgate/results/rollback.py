"""``results/rollback.json``: the steps of a quick or full rollback."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from relgate.results._stage import StageResult, Status
from relgate.results.backup import BackupCheck, BackupRecord

__all__ = ["Mode", "RestorePolicy", "RollbackResult", "RollbackStep"]

Mode = Literal["quick", "full"]
RestorePolicy = Literal["auto", "always"]


class RollbackStep(BaseModel):
    name: str
    status: Status
    detail: str = ""
    started_at: datetime
    duration_s: float = 0.0


class RollbackResult(StageResult):
    """``results/rollback.json``."""

    stage: Literal["rollback"] = "rollback"
    mode: Mode = "quick"
    target_version: str | None = Field(None, description="The version redeployed.")
    target_reason: str | None = Field(
        None, description="Why that version: e.g. the last-known-good before the one running now."
    )
    rolled_back_to: str | None = None
    migrations_involved: bool | None = Field(
        None,
        description="Full mode: did the schema change since the target version was recorded? "
        "(None: unknown, or a quick rollback).",
    )
    schema_now: str | None = Field(
        None, description="deploy.schema_version read from the running stack before anything."
    )
    schema_target: str | None = Field(
        None, description="deploy.schema_version the target version's record holds."
    )
    schema_after: str | None = Field(
        None, description="deploy.schema_version read again once the target runs."
    )
    restore_policy: RestorePolicy = "auto"
    restored: bool = Field(False, description="The database was restored from the backup.")
    restore_decision: str | None = Field(
        None, description="Why the database was (or was not) restored, in one sentence."
    )
    steps: list[RollbackStep] = Field(default_factory=list)
    backup: BackupCheck | None = None
    safety_dump: BackupRecord | None = None
    restore_command: str | None = Field(
        None, description="The exact command that puts the safety dump back by hand."
    )
    deploy_outcome: str | None = None
    smoke_verdict: str | None = None
    warnings: list[str] = Field(default_factory=list)
