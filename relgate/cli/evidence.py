"""``relgate evidence``: verify or show an evidence bundle."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate evidence verify bundle.tar.gz --require deploy,smoke
  relgate evidence show bundle.tar.gz
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(sub, common, "evidence", "verify or show an evidence bundle", EXAMPLES)
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("evidence")
