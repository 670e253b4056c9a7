"""``results/smoke.json``: the smoke scenario's verdict, step by step."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from relgate.results._stage import StageResult

__all__ = ["Check", "FailedStep", "SmokeReport", "StepReport", "StepStatus"]

StepStatus = Literal["passed", "failed", "warning", "skipped"]


class Check(BaseModel):
    """One evaluated operator."""

    what: str
    op: str
    expected: Any = None
    actual: Any = None
    passed: bool
    message: str = ""


class StepReport(BaseModel):
    index: int = Field(description="1-based position in the scenario.")
    name: str
    status: StepStatus
    gating: bool = True
    always: bool = False
    method: str
    url: str | None = None
    http_status: int | None = None
    attempts: int = 0
    duration_ms: float = 0.0
    round_trip_ms: float | None = Field(None, description="The answering try alone.")
    message: str = ""
    hint: str | None = None
    artifact: str | None = None
    checks: list[Check] = Field(default_factory=list)
    captures: list[str] = Field(default_factory=list, description="Names only.")


class FailedStep(BaseModel):
    index: int
    name: str
    status_code: int | None = None
    message: str
    hint: str | None = None


class SmokeReport(StageResult):
    """``results/smoke.json``. ``passed_count``/``total`` count steps (``passed`` is the stage's
    boolean verdict, as for every stage)."""

    stage: Literal["smoke"] = "smoke"
    scenario: str = ""
    scenario_name: str = ""
    scenario_digest: str = ""
    base_url: str = ""
    steps: list[StepReport] = Field(default_factory=list)
    passed_count: int = 0
    total: int = 0
    warnings: int = 0
    skipped: int = 0
    failed_step: FailedStep | None = None
    verdict: str = ""
    junit: str | None = None
