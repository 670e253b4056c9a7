"""``results/gate.json``: the one-shot gate's verdict and its per-stage table."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from relgate.results._stage import StageResult, Status

__all__ = ["GateResult", "GateStageRow"]


class GateStageRow(BaseModel):
    stage: str
    status: Status
    summary: str = ""
    detail: str = Field("", description="What the verdict line says (smoke: the failing step).")
    exit_code: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None


class GateResult(StageResult):
    stage: Literal["gate"] = "gate"
    verdict: str = Field("", description="GATE PASSED / GATE FAILED at smoke: step 4/9 …")
    failed_stage: str | None = None
    stages: list[GateStageRow] = Field(default_factory=list)
    bundle_path: str | None = None
    bundle_digest: str | None = None
    notes_path: str | None = None
    lock: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)
