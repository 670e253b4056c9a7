"""A database backup's sidecar record (``<backup>.json``) and the verdict on one backup file.

The rollback result embeds both, so they are result data like any other.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BackupCheck", "BackupFormat", "BackupKind", "BackupRecord", "sidecar_path"]

BackupFormat = Literal["custom", "plain"]
BackupKind = Literal["manual", "pre-migration", "safety"]


def sidecar_path(backup_file: Path) -> Path:
    return backup_file.with_name(backup_file.name + ".json")


class BackupRecord(BaseModel):
    """The ``<backup>.json`` sidecar: what a full rollback checks before trusting the backup."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    path: str = Field(description="Absolute path of the backup file.")
    format: BackupFormat
    kind: BackupKind = "manual"
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    created_at: datetime
    duration_s: float = 0.0
    project: str
    environment: str
    database: str
    app_version: str | None = Field(None, description="Version running when it was taken.")
    taken_before: str | None = Field(
        None, description="pre-migration backups: the version whose deploy it preceded."
    )
    run_id: str | None = None
    server_version: str | None = None

    @property
    def sidecar(self) -> Path:
        return sidecar_path(Path(self.path))


class BackupCheck(BaseModel):
    """The verdict on one backup file: ``ok`` only when ``problems`` is empty."""

    path: str
    format: BackupFormat | None = None
    sha256: str | None = None
    size: int | None = None
    age_s: float | None = None
    max_age_s: float
    tables: int | None = Field(None, description="TABLE entries listed by pg_restore --list.")
    record: BackupRecord | None = None
    problems: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems
