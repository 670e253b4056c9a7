"""``results/notes.json``: the release notes rendered, and what went into them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from relgate.results._stage import StageResult

__all__ = ["NotesResult"]


class NotesResult(StageResult):
    stage: Literal["notes"] = "notes"
    tag: str = ""
    previous_tag: str | None = None
    target_sha: str = ""
    commits: int = 0
    breaking: int = 0
    groups: dict[str, int] = Field(default_factory=dict)
    tests: str | None = Field(None, description="e.g. '205 passed, 0 failed, 0 skipped'")
    template: str = ""
    output: str | None = Field(None, description="The notes file written (--output).")
    artifact: str = Field("", description="The copy in the run directory, relative to it.")
    sha256: str = ""
    pr_url: str | None = None
    pr_number: int | None = None
    github_requests: int = 0
