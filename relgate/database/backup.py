"""Taking a backup (``pg_dump``, streamed, written atomically, with its sidecar) and checking one
before it is trusted (existence, format, recorded sha256 and size, age, readability)."""

from __future__ import annotations

import gzip
import os
import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from relgate import proc
from relgate.database.connection import PG_HINT, CommandRunner, Connection, connect, tail
from relgate.database.records import (
    CHUNK,
    BackupCheck,
    BackupFormat,
    BackupKind,
    BackupRecord,
    backup_file_name,
    detect_format,
    read_record,
    sha256_file,
    sidecar_path,
)
from relgate.database.retention import prune_backups
from relgate.errors import CannotRun
from relgate.fsutil import atomic_write
from relgate.results import utcnow

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.run import Run

__all__ = ["backup", "check_backup", "dump_argv", "server_version", "take_backup"]


def dump_argv(conn: Connection, fmt: BackupFormat) -> list[str]:
    """pg_dump to stdout; custom format is compressed by pg_dump, plain is gzipped by us."""
    return conn.argv("pg_dump", f"--format={'custom' if fmt == 'custom' else 'plain'}")


def take_backup(
    conn: Connection,
    target: Path,
    *,
    fmt: BackupFormat,
    kind: BackupKind,
    project: str,
    environment: str,
    app_version: str | None,
    run_id: str | None,
    taken_before: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    timeout: float | None = None,
    runner: CommandRunner = proc.run,
) -> BackupRecord:
    """Dump ``conn`` into ``target`` (atomically) and write its sidecar; return the record."""
    target.parent.mkdir(parents=True, exist_ok=True)
    created = clock()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            sink: IO[bytes] = (
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0)  # type: ignore[assignment]
                if fmt == "plain"
                else raw
            )
            result = runner(
                dump_argv(conn, fmt), env=conn.env, sink=sink.write, timeout=timeout, hint=PG_HINT
            )
            if sink is not raw:
                sink.close()
            raw.flush()
            os.fsync(raw.fileno())
        if not result.ok:
            raise CannotRun(f"pg_dump of {conn.label} failed: {tail(result.err)}")
        if not result.complete:  # a truncated dump must never carry the final name
            raise CannotRun(f"pg_dump of {conn.label}: its output did not end with the program")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    digest, size = sha256_file(target)
    record = BackupRecord(
        path=str(target.resolve()),
        format=fmt,
        kind=kind,
        sha256=digest,
        size=size,
        created_at=created,
        duration_s=round(result.duration_s, 3),
        project=project,
        environment=environment,
        database=conn.database,
        app_version=app_version,
        taken_before=taken_before,
        run_id=run_id,
        server_version=server_version(conn, runner=runner),
    )
    atomic_write(record.sidecar, (record.model_dump_json(indent=2) + "\n").encode())
    return record


def server_version(conn: Connection, *, runner: CommandRunner = proc.run) -> str | None:
    result = runner(
        conn.argv("psql", "-X", "-A", "-t", "-c", "SHOW server_version"), env=conn.env, hint=PG_HINT
    )
    return result.stdout.decode().strip() or None if result.ok else None


def backup(
    config: RelgateConfig,
    run: Run,
    environment: str,
    *,
    app_version: str | None,
    kind: BackupKind = "manual",
    taken_before: str | None = None,
    runner: CommandRunner = proc.run,
) -> BackupRecord:
    """Back up ``environment``'s database into ``database.backup_dir`` with its sidecar, then apply
    ``database.retention`` to the environment's older backups.

    Called by ``relgate backup`` and by the deploy stage before migrations
    (``deploy.backup_before_migrations``, with ``taken_before`` = the version being deployed).
    ``app_version`` is the version whose data this is — the version running now: the caller knows
    it (the deploy's last-known-good); the database code never reads deploy state. Retention never
    deletes the backup just taken nor the one taken before ``app_version`` was deployed (what a
    full rollback from it would restore).
    """
    conn, db = connect(config, environment, run.env, run.secrets, version=app_version)
    when = run.clock()
    target = config.resolve_path(db.backup_dir) / backup_file_name(
        config.project.name, environment, when, db.format, kind
    )
    run.reporter.line(f"backing up {conn.label} → {target}")
    record = take_backup(
        conn,
        target,
        fmt=db.format,
        kind=kind,
        project=config.project.name,
        environment=environment,
        app_version=app_version,
        taken_before=taken_before,
        run_id=run.id,
        clock=run.clock,
        timeout=db.timeout.total_seconds(),
        runner=runner,
    )
    run.write_json(f"artifacts/backup/{target.name}.json", record)
    _apply_retention(config, run, environment, record)
    return record


def _apply_retention(
    config: RelgateConfig, run: Run, environment: str, taken: BackupRecord
) -> None:
    """Retention is housekeeping: a file it cannot delete is a warning, never a failed backup."""
    try:
        outcome = prune_backups(
            config,
            environment,
            now=run.clock(),
            protect=[taken.path],
            running_version=taken.app_version,
        )
    except OSError as exc:
        run.reporter.warning(f"backup retention: {exc}")
        return
    if outcome.deleted:
        run.write_json(f"artifacts/backup/retention-{Path(taken.path).name}.json", outcome)
        run.reporter.line(
            f"backup retention ({outcome.policy}): deleted {len(outcome.deleted)}, "
            f"kept {len(outcome.kept)}"
        )


# -- checking ----------------------------------------------------------------------------------
def check_backup(
    path: Path,
    *,
    max_age: timedelta,
    now: datetime,
    conn: Connection | None = None,
    runner: CommandRunner = proc.run,
) -> BackupCheck:
    """Every reason not to trust ``path`` (all of them, not the first): existence, format,
    recorded sha256 and size, age (recorded time, else file mtime), readability."""
    check = BackupCheck(path=str(path), max_age_s=max_age.total_seconds())
    if not path.is_file():
        check.problems.append(f"backup {path} does not exist")
        return check
    try:
        check.format = detect_format(path)
        check.sha256, check.size = sha256_file(path)
    except OSError as exc:
        check.problems.append(f"backup {path} is not readable: {exc.strerror}")
        return check
    record = check.record = read_record(path)
    if record is None and sidecar_path(path).exists():
        check.problems.append(f"sidecar {sidecar_path(path)} is not a valid backup record")
    if record is not None:
        if record.sha256 != check.sha256:
            check.problems.append(
                f"sha256 mismatch: recorded {record.sha256[:12]}…, file has {check.sha256[:12]}…"
            )
        if record.size != check.size:
            check.problems.append(f"size mismatch: recorded {record.size}, file has {check.size}")
    taken = (
        record.created_at if record else datetime.fromtimestamp(path.stat().st_mtime, now.tzinfo)
    )
    check.age_s = round((now - taken).total_seconds(), 1)
    if check.age_s > check.max_age_s:
        check.problems.append(
            f"backup is {_human(check.age_s)} old, more than max_backup_age "
            f"{_human(check.max_age_s)}"
        )
    if check.format is None:
        check.problems.append("not a PostgreSQL custom dump nor gzip-compressed SQL")
    elif check.format == "custom":
        _check_custom(path, check, conn or Connection(""), runner)
    elif check.format == "plain" and path.suffix != ".sql":
        _check_gzip(path, check)
    return check


def _check_custom(path: Path, check: BackupCheck, conn: Connection, runner: CommandRunner) -> None:
    with open(path, "rb") as fh:
        result = runner(
            conn.offline("pg_restore", "--list"), env=conn.env or None, stdin=fh, hint=PG_HINT
        )
    if not result.ok:
        check.problems.append(f"pg_restore --list cannot read it: {tail(result.err)}")
        return
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    check.tables = sum(1 for line in lines if re.search(r"\d+ \d+ TABLE (?!DATA )", line))


def _check_gzip(path: Path, check: BackupCheck) -> None:
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(CHUNK):
                pass
    except (OSError, EOFError) as exc:
        check.problems.append(f"gzip integrity check failed: {exc}")


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"
