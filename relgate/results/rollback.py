"""``results/rollback.json``: the steps of a quick or full rollback."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from relgate.results._stage import StageResult, Status
from relgate.results.backup import BackupCheck, BackupRecord

__all__ = ["Mode", "RollbackResult", "RollbackStep"]

Mode = Literal["quick", "full"]


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
    steps: list[RollbackStep] = Field(default_factory=list)
    backup: BackupCheck | None = None
    safety_dump: BackupRecord | None = None
    restore_command: str | None = Field(
        None, description="The exact command that puts the safety dump back by hand."
    )
    deploy_outcome: str | None = None
    smoke_verdict: str | None = None
    warnings: list[str] = Field(default_factory=list)
