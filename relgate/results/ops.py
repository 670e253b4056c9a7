"""``results/ops.json``: the scheduled ops checks of an environment and its incident issue."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from relgate.results._stage import StageResult

__all__ = ["Incident", "OpsCheckRecord", "OpsResult", "OpsRun"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpsRun(_Model):
    """One command of a check (the check itself, its recovery, the re-check)."""

    argv: list[str]
    exit_code: int | None
    duration_s: float
    timed_out: bool = False
    log: str | None = None
    last_lines: list[str] = Field(default_factory=list)


class OpsCheckRecord(_Model):
    name: str
    service: str | None
    status: Literal["passed", "failed", "recovered"]
    reason: str = ""
    value: float | None = Field(None, description="The number the threshold was applied to.")
    first: OpsRun
    recovery: OpsRun | None = None
    recheck: OpsRun | None = None


class Incident(_Model):
    action: Literal["opened", "updated", "closed", "none", "skipped", "error"]
    number: int | None = None
    url: str | None = None
    detail: str = ""


class OpsResult(StageResult):
    """``results/ops.json``."""

    stage: Literal["ops"] = "ops"
    checks: list[OpsCheckRecord] = Field(default_factory=list)
    incident: Incident | None = None
    incident_url: str | None = Field(None, description="The incident issue, when one was touched.")
