"""``relgate environments``: make GitHub environments' protection rules match relgate.yml."""

from __future__ import annotations

import argparse

from relgate.actions_context import ActionsContext
from relgate.cli import command_parser
from relgate.cli._app import App

EXAMPLES = """\
  relgate environments plan                  # show what differs, change nothing
  relgate environments apply                 # show the diff, then make GitHub match
  relgate environments apply --only production
  relgate --json environments plan           # the diff as JSON (exit 0 either way)
  relgate environments plan --check          # exit 1 if GitHub drifted from relgate.yml
  relgate environments approvals             # record who approved this workflow run's
                                             # deployments in the run's evidence

The token (GITHUB_TOKEN or github.token_env) needs the repository's administration: write
permission; GITHUB_TOKEN in a workflow does not have it: use a GitHub App or fine-grained token.
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "environments",
        "make GitHub environments' protection rules match relgate.yml",
        EXAMPLES,
        description=(
            "Environments as code: environments.<name>.protection in relgate.yml (required "
            "reviewers, prevent self-review, wait timer, deployment branch and tag patterns) is "
            "the desired state; plan shows how GitHub differs, apply shows the same diff and then "
            "writes only what differs (a second apply makes no write)."
        ),
    )
    parser.add_argument(
        "action",
        choices=("plan", "apply", "approvals"),
        help="plan: show; apply: change; approvals: record this run's deployment reviews",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="plan: exit 1 when GitHub differs from relgate.yml (drift detection in CI)",
    )
    parser.add_argument(
        "--workflow-run-id",
        metavar="ID",
        help="approvals: the workflow run (default: $GITHUB_RUN_ID)",
    )
    parser.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        help="only this environment (repeatable; default: every one with a protection section)",
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    if args.action == "approvals":
        return _approvals(app, args)
    return _plan_or_apply(app, args)


def _approvals(app: App, args: argparse.Namespace) -> int:
    from relgate.errors import UsageError
    from relgate.github.client import GitHubClient
    from relgate.github.environments import record_approvals

    workflow_run = args.workflow_run_id or ActionsContext.from_env(app.env).run_id
    if not workflow_run:
        raise UsageError("approvals: no --workflow-run-id and no GITHUB_RUN_ID (not in Actions)")
    config = app.config()
    environment, _ = config.environment(app.env_name)
    client = GitHubClient.from_env(config, app.env, secrets=app.secrets, log=app.reporter.line)
    run = app.open_run(config, environment)
    app.emit(record_approvals(client, run, workflow_run))
    return 0


def _plan_or_apply(app: App, args: argparse.Namespace) -> int:
    from relgate.github.client import GitHubClient
    from relgate.github.environments import EnvironmentsResult, apply, plan
    from relgate.results import Status

    config = app.config()
    client = GitHubClient.from_env(config, app.env, secrets=app.secrets, log=app.reporter.line)
    result = EnvironmentsResult(
        status=Status.PASSED, mode=args.action, repository=client.repository
    )
    changes, states = plan(config, client, only=args.only)
    result.environments = list(states)
    result.changes = changes
    report = app.reporter
    with report.group(f"environments {args.action} ({client.repository})"):
        if not states:
            report.warning("no environment of relgate.yml has a protection section: nothing to do")
        for name in states:
            mine = [c for c in changes if c.environment == name]
            report.line(f"{name}: {'up to date' if not mine else f'{len(mine)} change(s)'}")
            for change in mine:
                report.line(f"  ~ {change.field}: {change.before} -> {change.after}")
    if args.action == "apply" and changes:
        result.writes = apply(client, changes, states)
        report.ok(f"applied {len(changes)} change(s) with {result.writes} write(s)")
    result.summary = f"{len(changes)} change(s) in {len(states)} environment(s)" + (
        f", {result.writes} write(s)" if args.action == "apply" else " (plan only)"
    )
    result.outcome = (
        "no_changes" if not changes else ("applied" if args.action == "apply" else "changes")
    )
    result.requests = client.requests
    drift = bool(changes) and args.check and args.action == "plan"
    if drift:
        result.status, result.exit_code = Status.FAILED, 1
        report.error(f"{len(changes)} difference(s) between relgate.yml and GitHub (--check)")
    result.finish()
    app.emit(result)
    return result.exit_code
