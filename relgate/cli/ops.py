"""``relgate ops``: the scheduled operations checks of an environment."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser, wait_lock_option
from relgate.cli._app import App

EXAMPLES = """\
  relgate --env production ops
  relgate --env production ops --wait-lock 15m   # wait for a deploy in progress to finish
  GITHUB_TOKEN=… relgate --env production --json ops    # also opens/updates/closes the incident issue
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "ops",
        "run the environment's ops checks (recovering what can be) and sync its incident issue",
        EXAMPLES,
        description=(
            "Run each ops.checks command in the running stack; a failing check with a recovery "
            "command gets it once and is checked again. Results go to results/ops.json. With a "
            "GitHub token, one incident issue per environment is opened or updated while a check "
            "fails, and closed with a comment when all pass again. Exit 1 when a check still fails. "
            "It holds the environment's lock (as deploy and rollback do), so a check or a "
            "recovery command never runs against a stack being deployed; exit 3 when the lock "
            "stays busy longer than --wait-lock."
        ),
    )
    wait_lock_option(parser)
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.ops import ops

    config = app.config()
    environment, _ = config.environment(app.env_name)
    run = app.open_run(config, environment)
    wait = app.duration("--wait-lock", args.wait_lock, config.lock.wait)
    with app.environment_lock(
        config, run, environment=environment, version=None, command="ops", wait=wait
    ):
        result = ops(config, run, environment=environment)
    app.emit(result)
    return result.exit_code
