"""``meta.json``: who released what, where and when — the facts that tie a bundle to a commit, a
workflow run and a person. Every stage may add to it; :class:`RunMeta` is the whole of it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GithubRunMeta", "RunMeta"]


class GithubRunMeta(BaseModel):
    """The workflow run a bundle came from (only inside GitHub Actions)."""

    model_config = ConfigDict(extra="forbid")

    workflow: str | None = None
    workflow_ref: str | None = None
    run_id: str | None = None
    run_attempt: str | None = None
    run_url: str | None = None
    ref: str | None = None
    event: str | None = None
    job: str | None = None


class RunMeta(BaseModel):
    """``meta.json``. Every field is optional because it fills in as stages run (``run_id`` and
    ``started_at`` when the run opens, the rest at archive time); a reader that needs one treats
    its absence as unknown, never as a default."""

    model_config = ConfigDict(extra="forbid")

    run_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    project: str | None = None
    environment: str | None = None
    version: str | None = None
    tag: str | None = None
    commit: str | None = None
    repository: str | None = None
    relgate_version: str | None = None
    config_digest: str | None = None
    retention_days: int | None = None
    host: str | None = None
    actor: str | None = None
    base_url: str | None = None
    github: GithubRunMeta | None = None
    stages: dict[str, str] | None = Field(None, description="Every stage's status at archive.")
    lock: dict[str, Any] | None = Field(None, description="The environment lock the gate held.")
    approvals: list[dict[str, Any]] | None = Field(
        None, description="Deployment approvals of the workflow run, when recorded."
    )
