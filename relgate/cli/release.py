"""``relgate release``: verify the evidence, then create the annotated tag and the GitHub release."""

from __future__ import annotations

import argparse
from pathlib import Path

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import UsageError

EXAMPLES = """\
  GITHUB_TOKEN=… relgate release --bundle evidence.tar.zst --version v1.2.0
  GITHUB_TOKEN=… relgate release --bundle evidence.tar.zst --version v1.2.0-rc1 --draft
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
        description=(
            "Refuse (exit 1) unless the evidence bundle verifies and proves that every stage in "
            "release.require (deploy, smoke) passed for the commit being tagged. Then create the "
            "annotated tag (message with the bundle digest), a draft release, upload the bundle, "
            "its manifest and the notes, check their digests, and publish. Safe to re-run after a "
            "crash: existing tag, draft and assets are found and reused."
        ),
    )
    parser.add_argument("--version", metavar="VERSION", help="version to tag")
    parser.add_argument("--bundle", metavar="FILE", help="the evidence bundle (relgate archive)")
    parser.add_argument("--notes", metavar="FILE", help="release notes (default: render them)")
    parser.add_argument("--commit", metavar="SHA", help="commit to tag (default: GITHUB_SHA/HEAD)")
    parser.add_argument("--draft", action="store_true", default=None, help="stop before publishing")
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.release import release
    from relgate.results import StageName
    from relgate.run import run_stage

    config = app.config()
    version = app.required_version(args.version)
    if not args.bundle:
        raise UsageError("--bundle is required: the evidence bundle made by relgate archive")
    environment = config.environment(app.env_name)[0] if app.env_name else None
    run = app.open_run(config, environment)
    run.version = version
    result = run_stage(
        run,
        StageName.RELEASE,
        lambda: release(
            config,
            run,
            bundle=Path(args.bundle),
            version=version,
            draft=args.draft,
            target=args.commit,
            notes_file=Path(args.notes) if args.notes else None,
        ),
    )
    app.emit(result)
    return result.exit_code
