"""``relgate summary``: the job summary that leads with the verdict, from a run directory."""

from __future__ import annotations

import argparse

from relgate.cli import command_parser
from relgate.cli._app import App

EXAMPLES = """\
  relgate --run-dir .relgate/runs/gh-123-1 summary
  relgate summary --artifact-name relgate-evidence --artifact-url https://github.com/o/r/actions/runs/1/artifacts/2
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "summary",
        "write the job summary: verdict and cause first, then every stage's section",
        EXAMPLES,
        description=(
            "Compose the job summary of a run directory (--run-dir or $RELGATE_RUN_DIR): the "
            "verdict, version and environment, the failing stage and its cause (the failing "
            "service's last log lines, the health probe's answer, the failing smoke step), the "
            "state the environment is left in, a link to the uploaded evidence, then the stage "
            "table and the sections the stages deferred (RELGATE_JOB_SUMMARY=defer). The last "
            "step of a job runs it. Exit 0 whatever the verdict: it reports, it does not gate."
        ),
    )
    parser.add_argument("--artifact-url", metavar="URL", help="link to the uploaded evidence")
    parser.add_argument("--artifact-name", metavar="NAME", help="name of the evidence artifact")
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from pathlib import Path

    from relgate.errors import UsageError
    from relgate.job_summary import compose, headline

    where = getattr(args, "run_dir", None) or app.env.get("RELGATE_RUN_DIR")
    if not where:
        raise UsageError("--run-dir is required (or RELGATE_RUN_DIR): the run to summarise")
    run_dir = Path(where)
    if not (run_dir / "results").is_dir():
        raise UsageError(f"--run-dir {run_dir}: not a run directory (no results/ in it)")
    summary = compose(
        run_dir, artifact_url=args.artifact_url or None, artifact_name=args.artifact_name or None
    )
    app.reporter.write_summary(summary, echo=False)
    head = headline(run_dir)
    app.emit(
        {
            "job_verdict": head.verdict,
            "job_passed": head.passed,
            "job_state": head.state or "",
            "job_cause": "\n".join(head.cause),
        }
    )
    app.reporter.line(head.verdict)
    return 0
