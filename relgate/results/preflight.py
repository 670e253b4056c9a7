"""``results/preflight.json``: each check that ran before anything was touched."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from relgate.results._stage import StageResult

__all__ = ["CheckStatus", "PreflightCheck", "PreflightResult", "ReleaseCheckRecord"]


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    SKIP = "skip"


class ReleaseCheckRecord(BaseModel):
    """One release check as it ran."""

    model_config = ConfigDict(extra="forbid")

    name: str
    argv: list[str]
    cwd: str
    exit_code: int | None = Field(None, description="None when it timed out or could not start.")
    duration_s: float
    timed_out: bool = False
    log: str | None = Field(None, description="Its full output, relative to the run directory.")
    last_lines: list[str] = Field(default_factory=list, description="Its last output lines.")
    error: str | None = Field(None, description="Why it could not run, if it could not.")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def verdict(self) -> str:
        if self.error:
            return self.error
        if self.timed_out:
            return f"timed out after {self.duration_s:.0f}s"
        tail = self.last_lines[-1] if self.last_lines else ""
        return f"exit {self.exit_code} in {self.duration_s:.1f}s" + (f": {tail}" if tail else "")


class PreflightCheck(BaseModel):
    name: str
    status: CheckStatus
    detail: str = ""


class PreflightResult(StageResult):
    """``results/preflight.json``."""

    stage: Literal["preflight"] = "preflight"
    checks: list[PreflightCheck] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list, description="Names of the failed checks.")
    tag_commit: str | None = None
    release_checks: list[ReleaseCheckRecord] = Field(
        default_factory=list, description="preflight.checks as they ran (in the checkout)."
    )
