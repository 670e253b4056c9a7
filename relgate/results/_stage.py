"""What every stage result has in common: its status and the fields every reader may rely on."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RESULT_SCHEMA_VERSION", "STAGES", "StageName", "StageResult", "Status", "utcnow"]

# The one result schema this relgate writes and reads; a result with another is unreadable.
RESULT_SCHEMA_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class StageName(StrEnum):
    """Every result file relgate knows: ``results/<name>.json``."""

    PREFLIGHT = "preflight"
    DEPLOY = "deploy"
    SMOKE = "smoke"
    ARCHIVE = "archive"
    NOTES = "notes"
    RELEASE = "release"
    ROLLBACK = "rollback"
    GATE = "gate"
    APPROVALS = "approvals"
    ENVIRONMENTS = "environments"
    OPS = "ops"


# The order a gate runs them in; evidence reports every one of them, run or not.
STAGES = ("preflight", "deploy", "smoke", "archive", "notes", "release", "rollback")


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the stage judged and said no (gate failure)
    ERROR = "error"  # the stage could not run or crashed (bad input, tool missing, bug)
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM arrived while it ran
    SKIPPED = "skipped"  # deliberately not run (an earlier stage failed, or not configured)
    NOT_RUN = "not_run"  # no result at all was found (recorded by archive)


class StageResult(BaseModel):
    """Common fields of every stage result. ``status`` has no default: a result that does not say
    how its stage ended is unreadable, never taken as passed."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = RESULT_SCHEMA_VERSION
    stage: str
    status: Status
    summary: str = Field("", description="One line a human reads first.")
    outcome: str | None = Field(None, description="Stage-specific outcome, e.g. rolled_back.")
    error: str | None = None
    exit_code: int = 0
    run_id: str = ""
    environment: str | None = None
    version: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    duration_s: float | None = None

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def finish(self, now: datetime | None = None) -> StageResult:
        self.finished_at = now or utcnow()
        self.duration_s = round((self.finished_at - self.started_at).total_seconds(), 3)
        return self
