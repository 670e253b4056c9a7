"""``relgate demo``: run the whole gate on the embedded demo service (Python only, no Docker)."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate demo
  relgate demo --break smoke
  relgate demo --break deploy
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "demo",
        "run the whole gate on the embedded demo service (Python only, no Docker)",
        EXAMPLES,
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("demo")
