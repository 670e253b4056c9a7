"""``relgate preflight``: check that everything a release needs is in place."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App

EXAMPLES = """\
  relgate --env staging preflight --version v1.2.0
  relgate --json preflight
"""

DESCRIPTION = """\
Run every prerequisite check of the release runbooks and print a PASS/FAIL/SKIP table (also
written to the job summary): tools (docker, compose v2, git, preflight.tools), Docker daemon,
compose file (docker compose config), git tag exists and is on main, main up to date, base URLs
are https (loopback exempt), required secrets set (names only), database backup fresh enough
(preflight.require_backup), release-notes templates free of placeholders, disk space, and —
with a GitHub token — the commit's CI checks green. Every failure is listed, not just the first."""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "preflight",
        "check that everything a release needs is in place",
        EXAMPLES,
        description=DESCRIPTION,
    )
    parser.add_argument("--version", metavar="VERSION", help="version (git tag) to be released")
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.preflight import preflight

    config = app.config()
    environment, _ = config.environment(app.env_name)
    run = app.open_run(config, environment)
    version = app.version(args.version)
    result = preflight(config, run, environment=environment, version=version)
    app.reporter.set_output("preflight", result.status.value)
    if result.passed:
        app.reporter.ok(result.summary)
    app.emit(result)
    return result.exit_code
