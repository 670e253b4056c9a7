"""``results/archive.json``: the bundle archive packed, its digest, and what it left out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from relgate.results._stage import StageResult

__all__ = ["ArchiveResult", "LeakRecord"]


class LeakRecord(BaseModel):
    file: str
    line: int
    secret: str = Field(description="The secret's name (never its value).")


class ArchiveResult(StageResult):
    stage: Literal["archive"] = "archive"
    bundle_path: str | None = None
    bundle_digest: str | None = Field(None, description="sha256:<hex> of the canonical manifest.")
    format: str | None = None
    size: int | None = Field(None, description="Bytes of the bundle file.")
    files: int = Field(0, description="Files in the manifest.")
    content_size: int = 0
    stages: dict[str, str] = Field(default_factory=dict, description="Status of every stage.")
    leaks: list[LeakRecord] = Field(default_factory=list)
    signed_by: str | None = Field(
        None, description="Key id the gate statement is signed with (None: unsigned)."
    )
    predicate_path: str | None = Field(
        None, description="The gate predicate (JSON) beside the bundle, for GitHub's attest."
    )
    skipped: list[str] = Field(default_factory=list, description="Files left out, and why.")
    warnings: list[str] = Field(default_factory=list)
