"""``relgate release``: verify the evidence, then create the annotated tag and the GitHub release."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  GITHUB_TOKEN=… relgate release --bundle evidence.tar.gz --version v1.2.0
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "release",
        "verify the evidence, then create the annotated tag and the GitHub release",
        EXAMPLES,
    )
    parser.add_argument("--version", metavar="VERSION", help="version to tag")
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("release")
