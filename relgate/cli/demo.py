"""``relgate demo``: run the whole gate on the embedded demo service (Python only, no Docker)."""

from __future__ import annotations

import argparse
from pathlib import Path

from relgate.cli import command_parser
from relgate.cli._app import App

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
        description=(
            "Deploy the embedded demo service v0.9.0 (the last-known-good), then run the whole "
            "gate for v1.0.0 on it: lock, preflight, deploy with health gate, the 9-step smoke "
            "test, evidence bundle, release notes. --break shows a failure path with its "
            "automatic rollback (exit 1). No Docker, network or GitHub token needed."
        ),
    )
    parser.add_argument(
        "--break",
        dest="break_mode",
        choices=("deploy", "smoke"),
        help="make v1.0.0 fail its deploy (crash on start) or its smoke test (503s)",
    )
    parser.add_argument(
        "--home", metavar="DIR", help="keep the demo's state here (default: a new temp dir)"
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.demo.run import run_demo
    from relgate.errors import UsageError

    # The demo runs its own packaged relgate.yml and environment: a --config or --env given here
    # would be silently ignored, and the user would believe their file was tried.
    for flag, value in (
        ("--config", getattr(args, "config", None)),
        ("--env", getattr(args, "env", None)),
        ("--run-dir", getattr(args, "run_dir", None)),
    ):
        if value:
            raise UsageError(
                f"{flag}: relgate demo runs its own packaged relgate.yml (environment 'demo') in "
                "its own home; drop the flag, or run `relgate gate` on your config"
            )
    home = Path(args.home) if args.home else None
    outcome = run_demo(reporter=app.reporter, env=app.env, break_mode=args.break_mode, home=home)
    app.emit(outcome.gate)
    if not outcome.verified:
        return 1
    return outcome.gate.exit_code
