"""Reaching an environment's PostgreSQL database: a DSN split into libpq's ``PG*`` variables, or
``docker compose exec -T <service>`` into the very compose project deploy runs.

Passwords never reach argv (the process list): a DSN is split into environment variables. With
``database.service`` the PostgreSQL programs run inside the database container, so client and server
versions match. Programs run through one replaceable runner (:data:`CommandRunner`, by default
:func:`relgate.proc.run`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from relgate.errors import BadInputError, ConfigError, Problem
from relgate.proc import Finished

if TYPE_CHECKING:
    from relgate.config import DatabaseConfig, EnvironmentConfig, RelgateConfig
    from relgate.secrets import SecretRegistry

__all__ = [
    "PG_HINT",
    "CommandRunner",
    "Connection",
    "connect",
    "dsn_environment",
    "tail",
]

#: How every database program is run: :func:`relgate.proc.run`'s signature; tests pass their own.
CommandRunner = Callable[..., Finished]
#: What a missing pg_dump / psql / pg_restore needs.
PG_HINT = "install the PostgreSQL client programs"


def tail(text: str, lines: int = 5) -> str:
    """The last non-blank lines of a program's error output, on one line."""
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"


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
