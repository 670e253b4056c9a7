"""``relgate backup``: take a database backup with its digest recorded."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App

EXAMPLES = """\
  relgate --env staging backup
  relgate --env production --json backup --version v1.4.2
  relgate --env staging backup --verify                     # the newest recorded backup
  relgate --env staging backup --verify FILE --test-restore # restore into a scratch database
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
    parser.add_argument(
        "--verify",
        nargs="?",
        const="",
        metavar="FILE",
        help="check a backup (default: the newest recorded) instead of taking one: exists, "
        "readable, recorded sha256/size, max_backup_age; exit 1 when it cannot be trusted",
    )
    parser.add_argument(
        "--test-restore",
        action="store_true",
        help="with --verify: restore into a scratch database, count rows, drop it (RTO evidence)",
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.database import backup
    from relgate.deploy.state import running_version

    if args.verify is not None:
        return _verify(app, args)
    if args.test_restore:
        from relgate.errors import UsageError

        raise UsageError("--test-restore goes with --verify [FILE]")
    config = app.config()
    environment, _ = config.environment(app.env_name)
    run = app.open_run(config, environment)
    run.version = args.version
    version = args.version or running_version(config, environment)
    record = backup(config, run, environment, app_version=version)
    app.reporter.ok(
        f"backup {record.path} ({record.size} bytes, sha256 {record.sha256}, "
        f"version {record.app_version or 'unknown'})"
    )
    app.reporter.set_output("backup", record.path)
    app.reporter.set_output("sha256", record.sha256)
    app.emit(record)
    return 0


def _verify(app: App, args: argparse.Namespace) -> int:
    from pathlib import Path

    from relgate.database import (
        RestoreError,
        check_backup,
        connect,
        find_backups,
        rehearse_restore,
    )
    from relgate.deploy.state import running_version
    from relgate.errors import BadInputError

    config = app.config()
    environment, _ = config.environment(app.env_name)
    run = app.open_run(config, environment)
    version = running_version(config, environment)
    conn, db = connect(config, environment, app.env, app.secrets, version=version)
    if args.verify:
        path = Path(args.verify)
    else:
        records = find_backups(config, environment)
        if not records:
            raise BadInputError(f"no recorded backup of {environment} in {db.backup_dir}")
        path = Path(records[0].path)
    check = check_backup(path, max_age=db.max_backup_age, now=run.clock(), conn=conn)
    report = check.model_dump(mode="json")
    if check.ok and args.test_restore and check.format is not None:
        try:
            rehearsal = rehearse_restore(
                conn, path, check.format, timeout=db.timeout.total_seconds()
            )
        except RestoreError as exc:
            check.problems.append(exc.message)
            report = check.model_dump(mode="json")
        else:
            report["test_restore"] = rehearsal.model_dump(mode="json")
            rows = sum(rehearsal.tables.values())
            app.reporter.line(
                f"test restore: {len(rehearsal.tables)} tables, {rows} rows "
                f"in {rehearsal.duration_s:.1f}s"
            )
    run.write_json(f"artifacts/backup/verify-{path.name}.json", report)
    app.emit(report)
    if not check.ok:
        for problem in check.problems:
            app.reporter.error(problem, title=f"backup {path.name}")
        return 1
    app.reporter.ok(f"backup {path} can be trusted (sha256 {check.sha256})")
    return 0
