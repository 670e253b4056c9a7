"""``relgate notes``: render release notes from a Jinja template."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate notes --version v1.2.0 --output RELEASE_NOTES_v1.2.0.md
  relgate notes --version v1.2.0 --context-json   # what templates can use
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub, common, "notes", "render release notes from a Jinja template", EXAMPLES
    )
    parser.add_argument("--version", metavar="VERSION", help="version being released")
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("notes")
