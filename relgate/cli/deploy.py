"""``relgate deploy``: bring the stack to a version and gate on real health (rolls back on failure)."""

from __future__ import annotations

import argparse
import contextlib

from relgate.cli import command_parser, wait_lock_option
from relgate.cli._app import App
from relgate.errors import LockHeld

EXAMPLES = """\
  relgate --env staging deploy --version v1.2.0
  RELGATE_VERSION=v1.2.0 relgate deploy
  relgate deploy --version v1.2.0 --wait-lock 10m
  relgate deploy --version v1.2.0 --no-rollback   # debugging only: a failed stack is left as is
"""

DESCRIPTION = """\
bring the stack to a version and gate on real health (rolls back on failure)

outcomes (also the step output 'outcome'):
  deployed             0  every service healthy, health URL and post-deploy commands passed
  rolled_back          1  the version failed; the last-known-good runs again and is healthy
  rollback_failed      1  the version failed and so did the last-known-good (its health gate,
                          post-deploy checks or, with rollback.smoke_after, its smoke): act now
  no_previous_version  1  the version failed, nothing to go back to: the stack was stopped
  failed               1  the version failed and --no-rollback left it as is, or pull/build
                          failed before anything changed (the running version is untouched)
  bad_config           2  the compose file/config is invalid; nothing was touched
  lock_busy            3  another run holds the environment's lock; nothing was touched
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "deploy",
        "bring the stack to a version and gate on real health (rolls back on failure)",
        EXAMPLES,
        description=DESCRIPTION,
    )
    parser.add_argument(
        "--version",
        metavar="VERSION",
        help="version to deploy (image tag / git ref; default: $RELGATE_VERSION)",
    )
    parser.add_argument(
        "--no-rollback",
        action="store_true",
        help="on failure, leave the failed stack running for debugging (never in CI)",
    )
    wait_lock_option(parser)
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.deploy.stage import deploy, lock_busy
    from relgate.smoke.after_rollback import smoke_after_rollback

    config = app.config()
    environment, _ = config.environment(app.env_name)
    version = app.version(args.version) or ""
    wait = app.duration("--wait-lock", args.wait_lock, config.lock.wait)
    run = app.open_run(config, environment)
    # No fallback here: deploy() writes results/deploy.json itself on every path (errors and
    # signals included, through run_stage and its own partial result). Only a lock that could not
    # be taken is lock_busy: a LockHeld from inside the deploy must not overwrite its result.
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(app.environment_lock(
                config, run, environment=environment, version=version, command="deploy", wait=wait
            ))  # fmt: skip
        except LockHeld as exc:
            app.emit(lock_busy(run, environment=environment, version=version, message=exc.message))
            raise
        result = deploy(
            config, run, environment=environment, version=version,
            rollback=not args.no_rollback,
            smoke_after_rollback=smoke_after_rollback(config, run, environment=environment),
        )  # fmt: skip
    app.emit(result)
    return result.exit_code
