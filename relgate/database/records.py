"""What is known about each backup: the ``<backup>.json`` sidecar, file digests and formats, names.

A backup is only worth something if it can be trusted when it is needed: each one has a sidecar
(sha256, size, time, the version its data belongs to) written next to it, atomically.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from relgate.results.backup import (
    BackupCheck,
    BackupFormat,
    BackupKind,
    BackupRecord,
    sidecar_path,
)

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

CHUNK = 1024 * 1024
CUSTOM_MAGIC = b"PGDMP"
GZIP_MAGIC = b"\x1f\x8b"


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
