"""``results/release.json``: the tag, the GitHub release and its assets — or why it was refused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from relgate.results._stage import StageResult

__all__ = ["AssetRecord", "ReleaseRecord"]


class AssetRecord(BaseModel):
    name: str
    size: int
    digest: str | None = None
    url: str
    action: str = Field(description="uploaded, kept (already there) or replaced")


class ReleaseRecord(StageResult):
    stage: Literal["release"] = "release"
    tag: str = ""
    target_sha: str = ""
    bundle: str = ""
    bundle_digest: str | None = None
    problems: list[str] = Field(default_factory=list, description="Why the release was refused.")
    signed_by: str | None = Field(None, description="Key id that signed the gate statement.")
    authenticity: str = Field("", description="signed by <id>, or unauthenticated (why).")
    warnings: list[str] = Field(default_factory=list)
    tag_object: str | None = None
    tag_action: str | None = Field(None, description="created or reused")
    release_id: int | None = None
    release_url: str | None = None
    draft: bool = True
    prerelease: bool = False
    immutable: bool | None = None
    assets: list[AssetRecord] = Field(default_factory=list)
    api_requests: int = Field(0, description="GitHub API requests made by this command.")
