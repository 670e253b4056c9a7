"""``relgate lock``: show or release the environment lock (for operators on the deploy host)."""

from __future__ import annotations

import argparse
import getpass
import os
import socket

from relgate.cli import command_parser
from relgate.cli._app import App

EXAMPLES = """\
  relgate --env staging lock status
  relgate --env staging lock release           # clears a record left by a run that died
  relgate --env staging lock release --force   # stops the running gate (SIGTERM; it still archives)
  relgate lock recover                         # every environment: clear records of dead owners
  relgate lock recover --stale-after 6h --json # ... and records older than 6h (never a held lock)
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "lock",
        "show or release the lock of this project's environment on its engine",
        EXAMPLES,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser("status", parents=[common], help="who holds the lock, since when")
    status.set_defaults(handler=handle_status)
    release = actions.add_parser(
        "release",
        parents=[common],
        help="clear a stale record; refuses while the owner runs unless --force",
    )
    release.add_argument(
        "--force",
        action="store_true",
        help="stop the running owner with SIGTERM (it archives its evidence, then unlocks)",
    )
    release.set_defaults(handler=handle_release)
    recover = actions.add_parser(
        "recover",
        parents=[common],
        help="clear records whose owner is gone (or older than --stale-after) in every lock "
        "of lock.dir (--env: one); never touches a lock a live process holds",
    )
    recover.add_argument(
        "--stale-after",
        metavar="DURATION",
        help="also recover records older than this (e.g. 6h), if no live process holds the lock",
    )
    recover.set_defaults(handler=handle_recover)


def handle_status(app: App, args: argparse.Namespace) -> int:
    from relgate.lock import lock_for

    config = app.config()
    environment, _ = config.environment(app.env_name)
    lock = lock_for(config, environment, app.env)
    status = lock.status()
    app.reporter.line(f"{lock.key.describe()} lock ({status.path}): {status.describe()}")
    app.emit(
        {
            "environment": environment,
            "project": lock.key.project,
            "engine": lock.key.engine,
            "path": status.path,
            "held": status.held,
            "owner": status.owner.to_dict() if status.owner else None,
            "owner_alive": status.owner_alive,
            "stale_record": status.stale_record,
            "holders": status.holders,
        }
    )
    return 0


def handle_release(app: App, args: argparse.Namespace) -> int:
    from relgate.lock import lock_for

    config = app.config()
    environment, _ = config.environment(app.env_name)
    by = _operator()
    lock = lock_for(config, environment, app.env)
    message = lock.release_by_operator(by=by, force=args.force)
    app.reporter.ok(f"{lock.key.describe()} lock: {message}")
    app.emit({"environment": environment, "message": message, "by": by})
    return 0


def handle_recover(app: App, args: argparse.Namespace) -> int:
    """Exit 0 when everything stale was recovered (or nothing was); 3 when a live holder blocks."""
    from relgate.errors import UsageError
    from relgate.fields import parse_duration
    from relgate.gha import Summary
    from relgate.lock import lock_dir, lock_key, recover_all

    try:
        stale_after = parse_duration(args.stale_after) if args.stale_after else None
    except ValueError as exc:
        raise UsageError(f"--stale-after {args.stale_after}: {exc}") from None
    config = app.config()
    key = lock_key(config, config.environment(app.env_name)[0], app.env) if app.env_name else None
    directory = lock_dir(config)
    by = _operator()
    found = recover_all(directory, by=by, key=key, stale_after=stale_after)
    if found:
        rows = [
            (f"{r.project}/{r.environment}", r.engine, r.outcome.replace("_", " "), r.detail)
            for r in found
        ]
        table = Summary().table(["environment", "engine", "lock", "detail"], rows)
        app.reporter.line(table.text().rstrip())
    else:
        app.reporter.line(f"no lock files in {directory}; nothing to recover")
    blocked = [r for r in found if r.outcome == "blocked"]
    for r in blocked:
        app.reporter.error(f"{r.environment} lock: {r.detail}")
    code = 3 if blocked else 0
    app.emit(
        {
            "directory": str(directory),
            "by": by,
            "stale_after_s": stale_after.total_seconds() if stale_after else None,
            "recovered": [r.environment for r in found if r.outcome == "recovered"],
            "blocked": [r.environment for r in blocked],
            "locks": [r.to_dict() for r in found],
            "exit_code": code,
        }
    )
    return code


def _operator() -> str:
    """Who ran the command, for the audit log: user@host (pid N)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"
