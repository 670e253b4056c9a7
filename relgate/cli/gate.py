"""``relgate gate``: the one-shot: lock, preflight, deploy, smoke, archive (always), notes."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser, wait_lock_option
from relgate.cli._app import App

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
        description=(
            "Take the environment's lock, then preflight → deploy → smoke (fail-fast; a failed "
            "smoke rolls back), archive the evidence whatever happened (failure, crash, SIGTERM), "
            "and render the release notes when everything passed. Ends with one verdict line: "
            "GATE PASSED, or GATE FAILED at <stage>: <why>."
        ),
    )
    parser.add_argument(
        "--version", metavar="VERSION", help="version to deploy (or RELGATE_VERSION)"
    )
    wait_lock_option(parser)
    parser.add_argument(
        "--no-notes", action="store_true", help="do not render release notes after a pass"
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.gate import gate

    version = app.required_version(args.version)
    config = app.config()
    environment, _ = config.environment(app.env_name)
    wait = app.duration("--wait-lock", args.wait_lock, config.lock.wait)
    run = app.open_run(config, environment)
    result = gate(
        config,
        run,
        environment=environment,
        version=version,
        wait_lock=wait,
        notes=not args.no_notes,
    )
    app.emit(result)
    return result.exit_code
