"""``relgate smoke``: run the HTTP smoke scenario against the environment."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate smoke
  relgate smoke --scenario smoke.yml --base-url https://staging.example.com
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub, common, "smoke", "run the HTTP smoke scenario against the environment", EXAMPLES
    )
    parser.add_argument(
        "--scenario", metavar="FILE", help="scenario YAML (default: smoke.scenario in relgate.yml)"
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("smoke")
