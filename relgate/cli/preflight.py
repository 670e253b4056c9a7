"""``relgate preflight``: check that everything a release needs is in place."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate preflight --version v1.2.0
  relgate --json preflight
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub, common, "preflight", "check that everything a release needs is in place", EXAMPLES
    )
    parser.add_argument("--version", metavar="VERSION", help="version (git tag) to be released")
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("preflight")
