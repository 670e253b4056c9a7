"""``relgate status``: per environment: last-known-good, running version, drift, lock, last verdict."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App

EXAMPLES = """\
  relgate status
  relgate --env production status
  relgate --json status --offline
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "status",
        "per environment: last-known-good, running version, drift, lock, last verdict",
        EXAMPLES,
        description=(
            "Show, for every environment (or --env NAME): the last-known-good version recorded "
            "on this host, what the deploy driver says is running and how it drifts from the "
            "record, the lock, the newest gate run's verdict and bundle digest (display only), "
            "and the newest database backup. Read-only: nothing is written."
        ),
    )
    parser.add_argument(
        "--offline", action="store_true", help="do not ask Docker/the process what is running"
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from relgate.run import Run
    from relgate.status import status

    config = app.config()
    names = [config.environment(app.env_name)[0]] if app.env_name else None
    # A scratch run (never Run.open: that would create .relgate/runs/<id> and export
    # RELGATE_RUN_DIR to later workflow steps) only for the driver's command logs.
    with tempfile.TemporaryDirectory(prefix="relgate-status-") as scratch:
        run = Run("status", Path(scratch), env=app.env, secrets=app.secrets, reporter=app.reporter)
        report = status(config, run, environments=names, probe_running=not args.offline)
    app.emit(report)
    return 0
