"""Restoring a backup so the database holds exactly the backup's objects, never in place.

``pg_restore --clean --if-exists`` only drops objects that are *in the archive*: a table created by
the failed release's migration survives an in-place restore. So a restore never goes into the live
database. It goes into a freshly created scratch database; only when that succeeded is the live
database swapped out (renamed, then dropped). A restore that fails half-way therefore leaves the
live database exactly as it was.
"""

from __future__ import annotations

import gzip
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import BaseModel, Field

from relgate import proc
from relgate.database.connection import PG_HINT, CommandRunner, Connection, tail
from relgate.database.records import GZIP_MAGIC, BackupFormat, detect_format
from relgate.errors import BadInputError, CannotRun

__all__ = [
    "RestoreError",
    "RestoreRehearsal",
    "RestoreReport",
    "manual_restore_command",
    "rehearse_restore",
    "restore_argv",
    "restore_fresh",
    "sql_argv",
]


class RestoreError(CannotRun):
    """A restore failed; the live database was left as it was and ``hint`` says what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(f"{message}. {hint}")
        self.hint = hint


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def restore_argv(conn: Connection, fmt: BackupFormat, database: str) -> list[str]:
    """All-or-nothing restore from stdin into ``database``."""
    if fmt == "custom":
        return conn.argv(
            "pg_restore",
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            database=database,
        )
    return conn.argv(
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", database=database
    )


def sql_argv(conn: Connection, sql: str) -> list[str]:
    """One statement on the maintenance database (DROP/CREATE DATABASE cannot run inside one)."""
    return conn.argv(
        "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql,
        database=conn.maintenance_db,
    )  # fmt: skip


@dataclass
class RestoreReport:
    scratch: str
    steps: list[tuple[str, float]] = field(default_factory=list)


def restore_fresh(
    conn: Connection,
    backup_file: Path,
    fmt: BackupFormat,
    *,
    safety_hint: str,
    timeout: float | None = None,
    runner: CommandRunner = proc.run,
    log: Callable[[str], None] = lambda _: None,
) -> RestoreReport:
    """Restore ``backup_file`` so that the database holds exactly the backup's objects.

    1. create a scratch database like the live one (encoding, collation, owner);
    2. restore into it in one transaction;
    3. swap: rename live → old, scratch → live; drop old.

    On a failure in steps 1 or 2 the scratch database is dropped and the live one is untouched; a failure in
    3 is undone where possible. Either way :class:`RestoreError` carries ``safety_hint``.
    """
    if conn.database == conn.maintenance_db:
        raise BadInputError(
            f"database {conn.database!r} is also database.maintenance_db; set maintenance_db to "
            "another database (e.g. postgres or template1) so the target can be recreated"
        )
    live, scratch, old = (
        conn.database,
        f"{conn.database}__relgate_restore",
        f"{conn.database}__relgate_old",
    )
    report = RestoreReport(scratch)

    def sql(statement: str) -> proc.Finished:
        log(f"psql: {statement}")
        return runner(sql_argv(conn, statement), env=conn.env, timeout=120, hint=PG_HINT)

    def fail(what: str, result: proc.Finished) -> RestoreError:
        sql(f"DROP DATABASE IF EXISTS {quote_ident(scratch)}")
        return RestoreError(f"{what}: {tail(result.err)}", safety_hint)

    started = time.monotonic()
    created = _create_scratch(sql, live, scratch)
    if not created.ok:
        raise fail(f"could not create the scratch database {scratch}", created)
    report.steps.append(("create scratch database", time.monotonic() - started))
    started = time.monotonic()
    restored = _restore_into(conn, fmt, backup_file, scratch, timeout=timeout, runner=runner)
    if not restored.ok:
        raise fail(
            f"restore of {backup_file.name} failed (the live database was not changed)", restored
        )
    report.steps.append(("restore into scratch database", time.monotonic() - started))
    started = time.monotonic()
    _swap(sql, live, scratch, old, safety_hint)
    report.steps.append(("swap scratch in, drop the old database", time.monotonic() - started))
    return report


class RestoreRehearsal(BaseModel):
    """A backup restored into a scratch database and dropped again: proof it restores, and how long
    that takes (the RTO evidence a full rollback will need)."""

    database: str
    duration_s: float
    tables: dict[str, int] = Field(default_factory=dict, description="Rows per restored table.")


def rehearse_restore(
    conn: Connection,
    backup_file: Path,
    fmt: BackupFormat,
    *,
    timeout: float | None = None,
    runner: CommandRunner = proc.run,
) -> RestoreRehearsal:
    """Restore into ``<db>__relgate_verify`` (never the live database), count rows, drop it."""
    scratch = f"{conn.database}__relgate_verify"

    def sql(statement: str, database: str | None = None) -> proc.Finished:
        argv = conn.argv(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", statement,
            database=database or conn.maintenance_db,
        )  # fmt: skip
        return runner(argv, env=conn.env, timeout=120, hint=PG_HINT)

    started = time.monotonic()
    try:
        created = _create_scratch(sql, conn.database, scratch)
        if not created.ok:
            raise CannotRun(f"could not create {scratch}: {tail(created.err)}")
        restored = _restore_into(conn, fmt, backup_file, scratch, timeout=timeout, runner=runner)
        if not restored.ok:
            raise RestoreError(
                f"test restore of {backup_file.name} failed: {tail(restored.err)}",
                "The live database was not touched.",
            )
        counted = sql(_COUNT_ROWS, scratch)
        tables = dict(_count_lines(counted.stdout.decode("utf-8", "replace"))) if counted.ok else {}
        return RestoreRehearsal(
            database=scratch, duration_s=round(time.monotonic() - started, 3), tables=tables
        )
    finally:
        sql(f"DROP DATABASE IF EXISTS {quote_ident(scratch)}")


# Exact counts, one query: query_to_xml runs a count(*) per user table.
_COUNT_ROWS = (
    "SELECT n.nspname || '.' || c.relname || '|' || (xpath('/row/c/text()', query_to_xml("
    "format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
)


def _count_lines(text: str) -> Iterator[tuple[str, int]]:
    for line in text.splitlines():
        name, _, count = line.rpartition("|")
        if name and count.isdigit():
            yield name, int(count)


def _create_scratch(sql: Callable[[str], proc.Finished], live: str, scratch: str) -> proc.Finished:
    """CREATE DATABASE scratch like the live one (encoding, collation, ctype, owner).

    Two round trips because CREATE DATABASE refuses to run inside the implicit transaction of a
    multi-statement ``psql -c``. Falls back to no OWNER when the role may not grant it.
    """
    dropped = sql(f"DROP DATABASE IF EXISTS {quote_ident(scratch)}")
    if not dropped.ok:
        return dropped
    info = sql(  # names go through quote_literal: not an injection vector
        "SELECT pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype || '|' || "  # noqa: S608
        f"pg_get_userbyid(datdba) FROM pg_database WHERE datname = {quote_literal(live)}"
    )
    if not info.ok:
        return info
    fields = info.stdout.decode("utf-8", "replace").strip().split("|")
    create = f"CREATE DATABASE {quote_ident(scratch)} TEMPLATE template0"
    if len(fields) == 4:
        encoding, collate, ctype, owner = fields
        create += (
            f" ENCODING {quote_literal(encoding)} LC_COLLATE {quote_literal(collate)}"
            f" LC_CTYPE {quote_literal(ctype)}"
        )
        with_owner = sql(f"{create} OWNER {quote_ident(owner)}")
        if with_owner.ok:
            return with_owner
    return sql(create)


def _restore_into(
    conn: Connection,
    fmt: BackupFormat,
    backup_file: Path,
    database: str,
    *,
    timeout: float | None,
    runner: CommandRunner,
) -> proc.Finished:
    """``backup_file`` (gzipped or not) restored into ``database``, never the live one by name."""
    with _restore_stream(backup_file) as stream:
        return runner(
            restore_argv(conn, fmt, database),
            env=conn.env,
            stdin=stream,
            timeout=timeout,
            hint=PG_HINT,
        )


@contextmanager
def _restore_stream(path: Path) -> Iterator[IO[bytes]]:
    with open(path, "rb") as raw:
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz  # type: ignore[misc]
        else:
            raw.seek(0)
            yield raw


def _swap(
    sql: Callable[[str], proc.Finished], live: str, scratch: str, old: str, hint: str
) -> None:
    terminate = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "  # noqa: S608 (quoted)
        f"WHERE datname IN ({quote_literal(live)}, {quote_literal(old)}) AND pid <> pg_backend_pid()"
    )
    sql(f"DROP DATABASE IF EXISTS {quote_ident(old)}")
    sql(terminate)
    moved = sql(f"ALTER DATABASE {quote_ident(live)} RENAME TO {quote_ident(old)}")
    if not moved.ok:
        sql(f"DROP DATABASE IF EXISTS {quote_ident(scratch)}")
        raise RestoreError(
            f"could not take the live database out of the way: {tail(moved.err)} "
            "(the live database was not changed)",
            hint,
        )
    placed = sql(f"ALTER DATABASE {quote_ident(scratch)} RENAME TO {quote_ident(live)}")
    if not placed.ok:
        back = sql(f"ALTER DATABASE {quote_ident(old)} RENAME TO {quote_ident(live)}")
        state = (
            "the live database was renamed back"
            if back.ok
            else (
                f"the live database is now named {old}: rename it back with "
                f"ALTER DATABASE {quote_ident(old)} RENAME TO {quote_ident(live)}"
            )
        )
        raise RestoreError(f"could not put the restored database in place ({state})", hint)
    sql(terminate)
    sql(f"DROP DATABASE IF EXISTS {quote_ident(old)}")


def manual_restore_command(conn: Connection, dsn_env: str | None, path: Path) -> str:
    """The exact command an operator runs to put a (safety) dump back by hand."""
    fmt = detect_format(path) if path.exists() else "custom"
    if dsn_env:
        target = f'"${dsn_env}"'
        if fmt == "custom":
            return f"pg_restore --clean --if-exists --single-transaction --dbname={target} {shlex.quote(str(path))}"
        return f"gunzip -c {shlex.quote(str(path))} | psql -v ON_ERROR_STOP=1 --single-transaction {target}"
    prefix = shlex.join(conn.prefix)
    user = shlex.quote(conn.user or "postgres")
    db = shlex.quote(conn.database)
    if fmt == "custom":
        return (
            f"{prefix} pg_restore --clean --if-exists --single-transaction -U {user} -d {db} "
            f"< {shlex.quote(str(path))}"
        )
    return (
        f"gunzip -c {shlex.quote(str(path))} | {prefix} psql -v ON_ERROR_STOP=1 "
        f"--single-transaction -U {user} {db}"
    )
