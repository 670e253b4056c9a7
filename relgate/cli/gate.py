"""``relgate gate``: the one-shot: lock, preflight, deploy, smoke, archive (always), notes."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate --env staging gate --version v1.2.0
  relgate gate --version v1.2.0 --wait-lock 10m
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "gate",
        "the one-shot: lock, preflight, deploy, smoke, archive (always), notes",
        EXAMPLES,
    )
    parser.add_argument("--version", metavar="VERSION", help="version to deploy")
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("gate")
