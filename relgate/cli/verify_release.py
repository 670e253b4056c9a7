"""``relgate verify-release``: verify a published release: tag digest, attached bundle, evidence."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from relgate.cli import command_parser
from relgate.cli._app import App

if TYPE_CHECKING:
    from relgate.results import RunMeta

EXAMPLES = """\
  relgate verify-release v1.2.0
  relgate --json verify-release v1.2.0
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "verify-release",
        "verify a published release: tag digest, attached bundle, evidence",
        EXAMPLES,
        description=(
            "Fetch the annotated tag and its release, download the attached evidence bundle, "
            "check that its digest is the one the tag message names, verify every file of it, "
            "and that the required stages passed for the tagged commit. Exit 1 if anything "
            "does not match."
        ),
    )
    parser.add_argument("tag", metavar="TAG", help="the release tag, e.g. v1.2.0")
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.gha import Summary
    from relgate.release import verify_release

    config = app.config()
    result = verify_release(config, args.tag, env=app.env)
    summary = Summary().heading(f"Evidence of {result.tag}", 3)
    summary.table(
        ["", ""],
        [
            ["verdict", result.status.value],
            ["evidence", result.authenticity or "not checked"],
            ["commit", result.commit or "?"],
            ["tag digest", result.tag_digest or "none"],
            ["bundle", result.bundle_asset or "none"],
            ["release", result.release_url or "none"],
            ["CI run", _run_url(result.meta) or "—"],
        ]
        + [[f"stage {name}", status] for name, status in result.verdicts.items()],
    )
    if result.problems:
        summary.bullets(result.problems)
    if result.warnings:
        summary.bullets([f"⚠️ {w}" for w in result.warnings])
    app.reporter.write_summary(summary)
    for warning in result.warnings:
        app.reporter.warning(warning, title="relgate verify-release")
    for problem in result.problems:
        app.reporter.error(problem, title="relgate verify-release")
    app.emit(result)
    return result.exit_code


def _run_url(meta: RunMeta | None) -> str | None:
    return meta.github.run_url if meta is not None and meta.github is not None else None
