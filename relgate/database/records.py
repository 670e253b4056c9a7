"""What is known about each backup: the ``<backup>.json`` sidecar, file digests and formats, names.

A backup is only worth something if it can be trusted when it is needed: each one has a sidecar
(sha256, size, time, the version its data belongs to) written next to it, atomically.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from relgate.config import RelgateConfig

__all__ = [
    "BackupCheck",
    "BackupFormat",
    "BackupKind",
    "BackupRecord",
    "backup_file_name",
    "detect_format",
    "find_backups",
    "read_record",
    "sha256_file",
    "sidecar_path",
]

BackupFormat = Literal["custom", "plain"]
BackupKind = Literal["manual", "pre-migration", "safety"]
CHUNK = 1024 * 1024
CUSTOM_MAGIC = b"PGDMP"
GZIP_MAGIC = b"\x1f\x8b"


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


def sidecar_path(backup_file: Path) -> Path:
    return backup_file.with_name(backup_file.name + ".json")


def read_record(backup_file: Path) -> BackupRecord | None:
    try:
        return BackupRecord.model_validate_json(sidecar_path(backup_file).read_bytes())
    except (OSError, ValueError):
        return None


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def detect_format(path: Path) -> BackupFormat | None:
    """``custom`` (PGDMP magic), ``plain`` (gzip or SQL text), or None when it is neither."""
    with open(path, "rb") as fh:
        head = fh.read(5)
    if head.startswith(CUSTOM_MAGIC):
        return "custom"
    if head.startswith(GZIP_MAGIC) or path.suffix == ".sql":
        return "plain"
    return None


def backup_file_name(
    project: str, environment: str, when: datetime, fmt: BackupFormat, kind: BackupKind
) -> str:
    stamp = when.strftime("%Y%m%dT%H%M%S") + f"{when.microsecond // 1000:03d}Z"
    suffix = ".dump" if fmt == "custom" else ".sql.gz"
    label = "" if kind == "manual" else f"-{kind}"
    return f"{_slug(project)}-{_slug(environment)}-{stamp}{label}{suffix}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def find_backups(config: RelgateConfig, environment: str) -> list[BackupRecord]:
    """Backups of ``environment`` with a readable sidecar, newest first (by recorded time)."""
    _, envcfg = config.environment(environment)
    if envcfg.database is None:
        return []
    folder = config.resolve_path(envcfg.database.backup_dir)
    records = []
    for sidecar in folder.glob("*.json") if folder.is_dir() else []:
        record = read_record(sidecar.with_name(sidecar.name[: -len(".json")]))
        if record and record.environment == environment and record.kind != "safety":
            records.append(record)
    return sorted(records, key=lambda r: r.created_at, reverse=True)
