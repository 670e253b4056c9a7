"""``relgate rollback``: redeploy the last-known-good version (quick) or restore the database too (full)."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate --env staging rollback --mode quick
  relgate rollback --mode full --to v1.1.0
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "rollback",
        "redeploy the last-known-good version (quick) or restore the database too (full)",
        EXAMPLES,
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("rollback")
