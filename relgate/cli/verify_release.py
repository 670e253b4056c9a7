"""``relgate verify-release``: verify a published release: tag digest, attached bundle, evidence."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate verify-release v1.2.0
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "verify-release",
        "verify a published release: tag digest, attached bundle, evidence",
        EXAMPLES,
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("verify-release")
