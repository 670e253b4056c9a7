"""``relgate rollback``: redeploy the last-known-good version (quick) or restore the database too (full)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from relgate.cli import command_parser, wait_lock_option
from relgate.cli._app import App

if TYPE_CHECKING:
    pass

EXAMPLES = """\
  relgate --env staging rollback --mode quick
  relgate --env staging rollback --mode quick --to v1.1.0
  relgate --env staging rollback --mode full                  # restores only if migrations ran
  relgate --env staging rollback --mode full --restore always # restore even if the schema is unchanged
  relgate --env staging rollback --mode full --backup /srv/backups/app-20260129.dump --smoke
"""

DESCRIPTION = """\
quick: redeploy the last-known-good version recorded on this host (or --to VERSION, which must
have a record unless --allow-unrecorded), pinned to its exact images, through the health gate.

full: first, whether migrations were involved: the schema version (deploy.schema_version) read
from the running stack now against the one recorded with the target version. Unchanged: no
restore at all (rows written since the backup survive), the rest is a quick rollback; changed, or
unknown (no command configured, no answer, no schema in the record): the restore below runs, and
the result says which and why. --restore always restores even when unchanged.
Then (a) check the backup (exists, readable, recorded sha256/size, younger than
database.max_backup_age) and refuse before touching anything otherwise; (b) stop the
application services (not the database); (c) take a safety dump; (d) restore into a fresh
database swapped in only on success; (e) redeploy the last-known-good; (f) verify (health gate,
plus the smoke scenario with --smoke); once the target runs, its schema must be the recorded
one, or the rollback fails. Every step is timed in results/rollback.json."""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "rollback",
        "redeploy the last-known-good version (quick) or restore the database too (full)",
        EXAMPLES,
        description=DESCRIPTION,
    )
    parser.add_argument("--mode", choices=["quick", "full"], help="default: rollback.default_mode")
    parser.add_argument(
        "--to", metavar="VERSION", help="version to go back to (default: last-good)"
    )
    parser.add_argument(
        "--allow-unrecorded",
        action="store_true",
        help="deploy --to VERSION by its image tag even without a record on this host",
    )
    parser.add_argument(
        "--backup", type=Path, metavar="FILE", help="full: backup to restore (default: newest)"
    )
    parser.add_argument(
        "--restore",
        choices=["auto", "always"],
        help="full: auto (default) restores only when migrations were involved or that is "
        "unknown; always restores even when the schema is unchanged",
    )
    wait_lock_option(parser)
    smoke = parser.add_mutually_exclusive_group()
    smoke.add_argument("--smoke", dest="smoke", action="store_true", default=None)
    smoke.add_argument("--no-smoke", dest="smoke", action="store_false")
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.rollback import rollback

    config = app.config()
    environment, _ = config.environment(app.env_name)
    mode = args.mode or config.rollback.default_mode
    if args.restore is not None and mode != "full":
        from relgate.errors import UsageError

        raise UsageError(f"--restore {args.restore}: only a --mode full rollback restores")
    run = app.open_run(config, environment)
    wait = app.duration("--wait-lock", args.wait_lock, config.lock.wait)
    with app.environment_lock(
        config, run, environment=environment, version=args.to, command="rollback", wait=wait
    ):
        result = rollback(
            config,
            run,
            environment=environment,
            mode=mode,
            to_version=args.to,
            backup=args.backup,
            allow_unrecorded=args.allow_unrecorded,
            smoke=args.smoke,
            restore=args.restore or "auto",
        )
    app.reporter.set_output("outcome", result.outcome)
    app.reporter.set_output("rolled-back-to", result.rolled_back_to or "")
    if result.passed:
        app.reporter.ok(result.summary)
    else:
        app.reporter.error(result.summary, title="rollback")
    app.emit(result)
    return result.exit_code
