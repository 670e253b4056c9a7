"""``relgate environments plan|apply`` and the run's deployment approvals, as recorded."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from relgate.results._stage import StageResult

__all__ = ["Approval", "ApprovalsResult", "Change", "EnvironmentsResult"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(_Model):
    """One difference, and the write that removes it."""

    environment: str
    field: str
    before: str
    after: str
    write: Literal["put", "add-pattern", "remove-pattern"]

    def line(self) -> str:
        return f"{self.environment}: {self.field}: {self.before} -> {self.after}"


class Approval(_Model):
    """One entry of a run's deployment review history."""

    user: str
    state: str
    comment: str = ""
    environments: tuple[str, ...] = ()


class EnvironmentsResult(StageResult):
    """``relgate environments plan|apply``."""

    stage: Literal["environments"] = "environments"
    mode: Literal["plan", "apply"]
    repository: str
    environments: list[str] = Field(default_factory=list)
    changes: list[Change] = Field(default_factory=list)
    writes: int = Field(0, description="Write requests sent (0 for plan, and for a no-op apply).")
    requests: int = Field(0, description="HTTP requests sent, reads included.")


class ApprovalsResult(StageResult):
    """Who approved the workflow run's deployments, as recorded in the evidence."""

    stage: Literal["approvals"] = "approvals"
    workflow_run_id: str = ""
    approvals: list[Approval] = Field(default_factory=list)
    approved_by: list[str] = Field(default_factory=list, description="Logins that approved.")
