"""``relgate backup``: take a database backup with its digest recorded."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App

EXAMPLES = """\
  relgate --env staging backup
  relgate --env production --json backup --version v1.4.2
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "backup",
        "take a database backup with its digest recorded",
        EXAMPLES,
        description=(
            "Dump the environment's PostgreSQL database (pg_dump custom format by default, or "
            "gzip-compressed SQL) into database.backup_dir, with a <backup>.json sidecar "
            "recording sha256, size, time and the application version, so that a full rollback "
            "can check it before trusting it."
        ),
    )
    parser.add_argument(
        "--version",
        metavar="VERSION",
        help="application version to record (default: the environment's last-known-good)",
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.database import backup

    config = app.config()
    environment, _ = config.environment(app.env_name)
    run = app.open_run(config, environment)
    run.version = args.version
    record = backup(config, run, environment)
    app.reporter.ok(
        f"backup {record.path} ({record.size} bytes, sha256 {record.sha256}, "
        f"version {record.app_version or 'unknown'})"
    )
    app.reporter.set_output("backup", record.path)
    app.reporter.set_output("sha256", record.sha256)
    app.emit(record)
    return 0
