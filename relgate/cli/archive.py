"""``relgate archive``: pack the run directory into a verifiable evidence bundle (always run it)."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate archive
  relgate --run-dir .relgate/runs/20260121T104207Z-a1b2c3 archive
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "archive",
        "pack the run directory into a verifiable evidence bundle (always run it)",
        EXAMPLES,
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("archive")
