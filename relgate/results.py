"""Result models: what each stage writes to ``results/<stage>.json`` in the run directory.

Every stage result extends :class:`StageResult`. The next stage, the evidence verifier, the job
summary and the Jinja templates read these models, never ad-hoc dicts.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RESULT_MODELS", "STAGES", "StageResult", "Status", "result_model", "utcnow"]

# The order a gate runs them in; evidence reports every one of them, run or not.
STAGES = ("preflight", "deploy", "smoke", "archive", "notes", "release", "rollback")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the stage judged and said no (gate failure)
    ERROR = "error"  # the stage could not run or crashed (bad input, tool missing, bug)
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM arrived while it ran
    SKIPPED = "skipped"  # deliberately not run (an earlier stage failed, or not configured)
    NOT_RUN = "not_run"  # no result at all was found (recorded by archive)


class StageResult(BaseModel):
    """Common fields of every stage result."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
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


# stage -> "module:Class". Imported lazily so loading a bundle does not import every stage.
RESULT_MODELS: dict[str, str] = {
    "approvals": "relgate.github.environments:ApprovalsResult",
    "archive": "relgate.evidence.archive:ArchiveResult",
    "deploy": "relgate.deploy.models:DeployResult",
    "gate": "relgate.gate:GateResult",
    "notes": "relgate.notes.stage:NotesResult",
    "preflight": "relgate.preflight:PreflightResult",
    "release": "relgate.release:ReleaseRecord",
    "rollback": "relgate.rollback:RollbackResult",
    "smoke": "relgate.smoke.report:SmokeReport",
}


def result_model(stage: str) -> type[StageResult]:
    target = RESULT_MODELS.get(stage)
    if not target:
        return StageResult
    module, _, name = target.partition(":")
    cls: Any = getattr(importlib.import_module(module), name)
    return cls  # type: ignore[no-any-return]
