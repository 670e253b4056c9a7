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
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub, common, "lock", "show or release the environment lock (deploy host)", EXAMPLES
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


def handle_status(app: App, args: argparse.Namespace) -> int:
    from relgate.lock import lock_for

    config = app.config()
    environment, _ = config.environment(app.env_name)
    status = lock_for(config, environment).status()
    app.reporter.line(f"{environment} lock ({status.path}): {status.describe()}")
    app.emit(
        {
            "environment": environment,
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
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    by = f"{user}@{socket.gethostname()} (pid {os.getpid()})"
    message = lock_for(config, environment).release_by_operator(by=by, force=args.force)
    app.reporter.ok(f"{environment} lock: {message}")
    app.emit({"environment": environment, "message": message, "by": by})
    return 0
