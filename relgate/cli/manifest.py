"""``relgate manifest``: write or verify a release manifest (latest.json)."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import NotBuiltYet

EXAMPLES = """\
  relgate manifest write --version 1.2.0 --asset dist/app.tar.gz --asset-url https://… --output latest.json
  relgate manifest verify --manifest latest.json app.tar.gz
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub, common, "manifest", "write or verify a release manifest (latest.json)", EXAMPLES
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    raise NotBuiltYet("manifest")
