"""``relgate notes``: render release notes from a Jinja template."""

from __future__ import annotations

import argparse
from pathlib import Path

from relgate.cli import command_parser
from relgate.cli._app import App

EXAMPLES = """\
  relgate notes --version v1.2.0 --output RELEASE_NOTES_v1.2.0.md
  relgate notes --version v1.2.0 --since v1.1.0       # explicit start of the range
  relgate notes --version v1.2.0 --context-json       # what templates can use
  GITHUB_TOKEN=… relgate notes --version v1.2.0 --pr   # open/update the release-notes PR
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "notes",
        "render release notes from a Jinja template",
        EXAMPLES,
        description=(
            "Render release notes: commits since the previous release tag (for v1.0.0 the previous "
            "final release), grouped by conventional-commit type with breaking changes first; the "
            "CI run; deploy time and smoke verdict from the run directory; test counts from JUnit "
            "files (notes.junit); the evidence bundle digest. Strict mode (notes.strict) fails on "
            "leftover placeholders such as <CI_RUN_ID> or [Admin Email], naming file and line."
        ),
    )
    parser.add_argument("--version", metavar="VERSION", help="version being released")
    parser.add_argument("--since", metavar="REF", help="start after this tag/commit instead")
    parser.add_argument("--output", metavar="FILE", help="write the notes to FILE as well")
    parser.add_argument(
        "--context-json", action="store_true", help="print the template context as JSON and stop"
    )
    parser.add_argument(
        "--pr", action="store_true", help="commit the notes on a branch and open/update a PR"
    )
    strict = parser.add_mutually_exclusive_group()
    strict.add_argument(
        "--strict",
        dest="strict",
        action="store_true",
        default=None,
        help="fail on leftover placeholders (default: notes.strict)",
    )
    strict.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="do not check for leftover placeholders",
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.notes.stage import build_context, notes, run_results
    from relgate.results import StageName
    from relgate.run import run_stage

    config = app.config()
    version = app.required_version(args.version)
    if args.strict is not None:
        config.notes.strict = args.strict
    environment = config.environment(app.env_name)[0] if app.env_name else None
    run = app.open_run(config, environment)
    run.version = version
    if args.context_json:
        context = build_context(
            config,
            run.env,
            results=run_results(run),
            version=version,
            since=args.since,
            run_id=run.id,
            environment=run.environment,
            meta=run.read_meta(),
            now=run.clock(),
        )
        app.stdout.write(context.to_json())
        return 0
    output = Path(args.output) if args.output else None
    result = run_stage(
        run,
        StageName.NOTES,
        lambda: notes(config, run, version=version, since=args.since, output=output, pr=args.pr),
    )
    app.reporter.ok(result.summary)
    app.reporter.line(f"notes: {result.output or run.dir / result.artifact}")
    app.emit(result)
    return result.exit_code
