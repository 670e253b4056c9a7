"""PostgreSQL backups and restores: the only module that runs pg_dump, psql and pg_restore.

Three facts shape it (see the database notes in the design research):

* ``pg_restore --clean --if-exists`` only drops objects that are *in the archive*: a table created by
  the failed release's migration survives an in-place restore. So a restore never goes into the live
  database. It goes into a freshly created scratch database; only when that succeeded is the live
  database swapped out (renamed, then dropped). A restore that fails half-way therefore leaves the
  live database exactly as it was.
* A backup is only worth something if it can be trusted at the moment it is needed: each backup has
  a ``<backup>.json`` sidecar (sha256, size, time, application version), and :func:`check_backup`
  re-verifies all of it, plus readability (``pg_restore --list`` for custom dumps, a full gzip read
  for ``.sql.gz``), before a full rollback touches anything.
* Passwords never reach argv (the process list): a DSN is split into libpq's ``PG*`` environment
  variables. With ``database.service`` the tools run inside the database container through
  ``docker compose exec -T`` so client and server versions match.

Commands are built by pure functions (:meth:`Connection.argv`, :func:`restore_argv`…) and run by one
thin executor, :func:`run_command`, which tests and callers may replace.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from relgate.errors import BadInputError, CannotRun, ConfigError, Problem, ToolMissing
from relgate.fsutil import atomic_write
from relgate.results import utcnow

if TYPE_CHECKING:
    from relgate.config import DatabaseConfig, EnvironmentConfig, RelgateConfig
    from relgate.run import Run
    from relgate.secrets import SecretRegistry

__all__ = [
    "BackupCheck",
    "BackupRecord",
    "CommandResult",
    "CommandRunner",
    "Connection",
    "RestoreError",
    "RestoreRehearsal",
    "backup",
    "backup_file_name",
    "check_backup",
    "connect",
    "detect_format",
    "dsn_environment",
    "find_backups",
    "manual_restore_command",
    "read_record",
    "rehearse_restore",
    "restore_fresh",
    "run_command",
    "server_version",
    "sha256_file",
    "sidecar_path",
    "take_backup",
]

BackupFormat = Literal["custom", "plain"]
BackupKind = Literal["manual", "pre-migration", "safety"]
_CHUNK = 1024 * 1024
_CUSTOM_MAGIC = b"PGDMP"
_GZIP_MAGIC = b"\x1f\x8b"


# -- the executor ------------------------------------------------------------------------------
@dataclass
class CommandResult:
    argv: list[str]
    returncode: int
    stderr: str
    stdout: bytes = b""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


CommandRunner = Callable[..., CommandResult]


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    timeout: float | None = None,
) -> CommandResult:
    """Run ``argv`` (never through a shell), pumping ``stdin`` in and stdout into ``stdout``.

    Both streams are pumped through Python rather than handed over as file descriptors, because the
    interesting ones (a gzip stream, a hashing writer) have no descriptor of their own, and a
    ``GzipFile``'s ``fileno()`` is the *compressed* file's. Without ``stdout`` the output is captured.
    """
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{argv[0]}: not found on PATH (install the PostgreSQL client)") from exc
    err_chunks: list[bytes] = []
    threads = [threading.Thread(target=_drain, args=(proc.stderr, err_chunks), daemon=True)]
    if stdin is not None:
        threads.append(threading.Thread(target=_feed, args=(stdin, proc.stdin), daemon=True))
    for t in threads:
        t.start()
    timed_out = threading.Event()
    timer = threading.Timer(timeout, _kill, (proc, timed_out)) if timeout else None
    if timer:
        timer.start()
    captured = bytearray()
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(_CHUNK):
            if stdout is None:
                captured += chunk
            else:
                stdout.write(chunk)
        proc.wait()
    except BaseException:  # interrupted (SIGTERM/SIGINT) or the sink failed: never orphan pg_*
        proc.kill()
        proc.wait()
        raise
    finally:
        if timer:
            timer.cancel()
        for t in threads:
            t.join(timeout=10)
    stderr = b"".join(err_chunks).decode("utf-8", "replace")
    if timed_out.is_set():
        stderr += f"\n(killed after {timeout:g}s)"
    return CommandResult(
        list(argv), proc.returncode, stderr, bytes(captured), time.monotonic() - started
    )


def _drain(stream: IO[bytes] | None, sink: list[bytes]) -> None:
    if stream is not None:
        sink.extend(iter(lambda: stream.read(65536), b""))


def _feed(source: IO[bytes], target: IO[bytes] | None) -> None:
    if target is None:
        return
    try:
        while chunk := source.read(_CHUNK):
            target.write(chunk)
    except (BrokenPipeError, OSError):
        pass  # the tool stopped reading (it failed); its exit code and stderr say why
    finally:
        with suppress(OSError):
            target.close()


def _kill(proc: subprocess.Popen[bytes], flag: threading.Event) -> None:
    flag.set()
    proc.kill()


# -- reaching the database ---------------------------------------------------------------------
# libpq connection keywords and the environment variables that carry them (libpq "Environment
# Variables"). Anything else in a DSN is refused rather than silently dropped.
_KEYWORD_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslcompression": "PGSSLCOMPRESSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "channel_binding": "PGCHANNELBINDING",
    "require_auth": "PGREQUIREAUTH",
}
_KV = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")


def dsn_environment(dsn: str) -> dict[str, str]:
    """libpq ``PG*`` variables equivalent to ``dsn`` (URI or ``key=value`` form).

    Raises :class:`BadInputError` without quoting the DSN (it holds a password).
    """
    params = _parse_uri(dsn) if re.match(r"^postgres(ql)?://", dsn) else _parse_keywords(dsn)
    unknown = sorted(k for k in params if k not in _KEYWORD_ENV)
    if unknown:
        raise BadInputError(
            f"database DSN: unsupported connection keyword(s): {', '.join(unknown)}"
        )
    return {_KEYWORD_ENV[k]: v for k, v in params.items() if v != ""}


def _parse_uri(dsn: str) -> dict[str, str]:
    parts = urlsplit(dsn)
    params: dict[str, str] = {}
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        params["user"] = unquote(user)
        if password:
            params["password"] = unquote(password)
    if netloc.startswith("["):  # [::1]:5432
        host, _, rest = netloc[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, _, port = netloc.partition(":")
    params["host"] = unquote(host)
    params["port"] = port
    params["dbname"] = unquote(parts.path.lstrip("/"))
    params.update(parse_qsl(parts.query, keep_blank_values=True))
    return params


def _parse_keywords(dsn: str) -> dict[str, str]:
    params: dict[str, str] = {}
    pos = 0
    while pos < len(dsn.rstrip()):
        m = _KV.match(dsn, pos)
        if not m:
            raise BadInputError("database DSN: not a postgresql:// URL nor key=value pairs")
        value = m.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[m.group(1)] = value
        pos = m.end()
    return params


@dataclass(frozen=True)
class Connection:
    """How to run a PostgreSQL program against one database.

    ``prefix`` is empty for a DSN (local client programs, credentials in ``env``) or
    ``docker compose … exec -T <service>`` to run the program inside the database container.
    """

    database: str
    env: Mapping[str, str] = field(default_factory=dict)
    prefix: tuple[str, ...] = ()
    user: str | None = None
    maintenance_db: str = "postgres"
    label: str = ""

    def argv(self, program: str, *args: str, database: str | None = None) -> list[str]:
        """``program args… --dbname=<database>`` (``database=""``: no connection at all)."""
        argv = [*self.prefix, program]
        if self.user:
            argv += ["--username", self.user]
        argv += args
        db = self.database if database is None else database
        if db:
            argv.append(f"--dbname={db}")
        return argv

    def offline(self, program: str, *args: str) -> list[str]:
        """A program that reads an archive and connects to nothing (``pg_restore --list``)."""
        return [*self.prefix, program, *args]


def connect(
    config: RelgateConfig,
    environment: str,
    env: Mapping[str, str],
    secrets: SecretRegistry | None = None,
    *,
    version: str | None = None,
) -> tuple[Connection, DatabaseConfig]:
    """The connection of ``environment``'s database (raises ConfigError when there is none).

    With ``secrets``, the DSN and its password are registered for redaction: ``dsn_env`` rarely
    has a secret-looking name (``STAGING_DATABASE_URL``), yet it holds a password. With
    ``database.service``, ``version`` is the running version compose interpolates (as deploy did).
    """
    _, envcfg = config.environment(environment)
    db = envcfg.database
    if db is None:
        raise ConfigError(
            [Problem(_source(config), None, f"environments.{environment}.database", "not set")]
        )
    if db.dsn_env:
        dsn = env.get(db.dsn_env)
        if not dsn:
            raise ConfigError(
                [
                    Problem(
                        _source(config),
                        None,
                        f"environments.{environment}.database.dsn_env",
                        f"environment variable {db.dsn_env} is not set",
                    )
                ]
            )
        pg = dsn_environment(dsn)
        if secrets is not None:
            secrets.register(dsn, db.dsn_env)
            secrets.register(pg.get("PGPASSWORD"), f"{db.dsn_env} password")
        name = db.name or pg.pop("PGDATABASE", "") or pg.get("PGUSER", "postgres")
        pg.pop("PGDATABASE", None)
        child = {k: v for k, v in env.items() if not k.startswith("PG")}
        child.update(pg)
        where = f"{pg.get('PGHOST', 'localhost')}:{pg.get('PGPORT', '5432')}"
        label = f"{name} on {where} (DSN from ${db.dsn_env})"
        return Connection(name, child, (), None, db.maintenance_db, label), db
    assert db.service is not None
    name = db.name or db.user
    prefix, variables = _compose_exec(config, envcfg, db.service, version)
    label = f"{name} in compose service {db.service}"
    child = {**env, **variables}
    return Connection(name, child, prefix, db.user, db.maintenance_db, label), db


def _compose_exec(
    config: RelgateConfig, envcfg: EnvironmentConfig, service: str, version: str | None
) -> tuple[tuple[str, ...], Mapping[str, str]]:
    """``docker compose … exec -T <service>`` on the very project deploy runs (same name, files,
    profiles, env file and directory), and the variables compose interpolates there."""
    from relgate.config import ComposeStack
    from relgate.deploy.commands import ComposeProject, compose_variables, exec_cmd

    stack = envcfg.stack
    if not isinstance(stack, ComposeStack):
        raise BadInputError(
            f"database.service needs the compose driver (this environment uses {stack.driver}); "
            "use database.dsn_env instead"
        )
    project = ComposeProject.from_stack(config, stack)
    return tuple(exec_cmd(project, service, ())), compose_variables(config, envcfg, version)


def _source(config: RelgateConfig) -> str:
    return str(config.source or "relgate.yml")


# -- records -----------------------------------------------------------------------------------
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
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def detect_format(path: Path) -> BackupFormat | None:
    """``custom`` (PGDMP magic), ``plain`` (gzip or SQL text), or None when it is neither."""
    with open(path, "rb") as fh:
        head = fh.read(5)
    if head.startswith(_CUSTOM_MAGIC):
        return "custom"
    if head.startswith(_GZIP_MAGIC) or path.suffix == ".sql":
        return "plain"
    return None


# -- backup ------------------------------------------------------------------------------------
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
    clock: Callable[[], datetime] = utcnow,
    timeout: float | None = None,
    runner: CommandRunner = run_command,
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
            result = runner(dump_argv(conn, fmt), env=conn.env, stdout=sink, timeout=timeout)
            if sink is not raw:
                sink.close()
            raw.flush()
            os.fsync(raw.fileno())
        if not result.ok:
            raise CannotRun(f"pg_dump of {conn.label} failed: {_tail(result.stderr)}")
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
        run_id=run_id,
        server_version=server_version(conn, runner=runner),
    )
    atomic_write(record.sidecar, (record.model_dump_json(indent=2) + "\n").encode())
    return record


def server_version(conn: Connection, *, runner: CommandRunner = run_command) -> str | None:
    result = runner(conn.argv("psql", "-X", "-A", "-t", "-c", "SHOW server_version"), env=conn.env)
    return result.stdout.decode().strip() or None if result.ok else None


def backup_file_name(
    project: str, environment: str, when: datetime, fmt: BackupFormat, kind: BackupKind
) -> str:
    stamp = when.strftime("%Y%m%dT%H%M%S") + f"{when.microsecond // 1000:03d}Z"
    suffix = ".dump" if fmt == "custom" else ".sql.gz"
    label = "" if kind == "manual" else f"-{kind}"
    return f"{_slug(project)}-{_slug(environment)}-{stamp}{label}{suffix}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def backup(
    config: RelgateConfig,
    run: Run,
    environment: str,
    *,
    app_version: str | None,
    kind: BackupKind = "manual",
    runner: CommandRunner = run_command,
) -> BackupRecord:
    """Back up ``environment``'s database into ``database.backup_dir`` with its sidecar.

    Called by ``relgate backup`` and by the deploy stage before migrations
    (``deploy.backup_before_migrations``). ``app_version`` is the version whose data this is: the
    caller knows it (the deploy's last-known-good); the database code never reads deploy state.
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
        run_id=run.id,
        clock=run.clock,
        timeout=db.timeout.total_seconds(),
        runner=runner,
    )
    run.write_json(f"artifacts/backup/{target.name}.json", record)
    return record


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


# -- checking ----------------------------------------------------------------------------------
def check_backup(
    path: Path,
    *,
    max_age: timedelta,
    now: datetime,
    conn: Connection | None = None,
    runner: CommandRunner = run_command,
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
        result = runner(conn.offline("pg_restore", "--list"), env=conn.env or None, stdin=fh)
    if not result.ok:
        check.problems.append(f"pg_restore --list cannot read it: {_tail(result.stderr)}")
        return
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    check.tables = sum(1 for line in lines if re.search(r"\d+ \d+ TABLE (?!DATA )", line))


def _check_gzip(path: Path, check: BackupCheck) -> None:
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(_CHUNK):
                pass
    except (OSError, EOFError) as exc:
        check.problems.append(f"gzip integrity check failed: {exc}")


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"


def _tail(text: str, lines: int = 5) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"


# -- restore -----------------------------------------------------------------------------------
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
    runner: CommandRunner = run_command,
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

    def sql(statement: str) -> CommandResult:
        log(f"psql: {statement}")
        return runner(sql_argv(conn, statement), env=conn.env, timeout=120)

    def fail(what: str, result: CommandResult) -> RestoreError:
        sql(f"DROP DATABASE IF EXISTS {quote_ident(scratch)}")
        return RestoreError(f"{what}: {_tail(result.stderr)}", safety_hint)

    started = time.monotonic()
    created = _create_scratch(sql, live, scratch)
    if not created.ok:
        raise fail(f"could not create the scratch database {scratch}", created)
    report.steps.append(("create scratch database", time.monotonic() - started))
    started = time.monotonic()
    with _restore_stream(backup_file) as stream:
        restored = runner(
            restore_argv(conn, fmt, scratch), env=conn.env, stdin=stream, timeout=timeout
        )
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
    runner: CommandRunner = run_command,
) -> RestoreRehearsal:
    """Restore into ``<db>__relgate_verify`` (never the live database), count rows, drop it."""
    scratch = f"{conn.database}__relgate_verify"

    def sql(statement: str, database: str | None = None) -> CommandResult:
        argv = conn.argv(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", statement,
            database=database or conn.maintenance_db,
        )  # fmt: skip
        return runner(argv, env=conn.env, timeout=120)

    started = time.monotonic()
    try:
        created = _create_scratch(sql, conn.database, scratch)
        if not created.ok:
            raise CannotRun(f"could not create {scratch}: {_tail(created.stderr)}")
        with _restore_stream(backup_file) as stream:
            restored = runner(
                restore_argv(conn, fmt, scratch), env=conn.env, stdin=stream, timeout=timeout
            )
        if not restored.ok:
            raise RestoreError(
                f"test restore of {backup_file.name} failed: {_tail(restored.stderr)}",
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


def _create_scratch(sql: Callable[[str], CommandResult], live: str, scratch: str) -> CommandResult:
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


@contextmanager
def _restore_stream(path: Path) -> Iterator[IO[bytes]]:
    with open(path, "rb") as raw:
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz  # type: ignore[misc]
        else:
            raw.seek(0)
            yield raw


def _swap(
    sql: Callable[[str], CommandResult], live: str, scratch: str, old: str, hint: str
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
            f"could not take the live database out of the way: {_tail(moved.stderr)} "
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
