"""``relgate deploy``: bring the stack to a version and gate on real health (rolls back on failure)."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate --env staging deploy --version v1.2.0
  relgate deploy --version v1.2.0 --no-rollback   # debugging only
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "deploy",
        "bring the stack to a version and gate on real health (rolls back on failure)",
        EXAMPLES,
    )
    parser.add_argument(
        "--version", metavar="VERSION", help="version to deploy (image tag / git ref)"
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("deploy")
