"""``relgate lock``: show, release or recover the environment lock."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate --env staging lock status
  relgate lock recover --stale-after 2h
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub, common, "lock", "show, release or recover the environment lock", EXAMPLES
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("lock")
