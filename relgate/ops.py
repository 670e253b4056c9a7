"""The ops stage: the runbook's daily operations, on a schedule, with evidence and one incident issue.

``relgate ops`` runs each configured check in the running stack (``compose exec`` through the deploy
driver, at the last-known-good version's configuration): a check fails when it exits non-zero or a
number read from its output crosses its threshold. A failing check with a ``recovery`` command (the
runbook's stale-lock watchdog) gets that command once, then is checked again: "recovered" when it
passes then. The results are ``results/ops.json`` (each check's exit code, duration, value and last
output lines; logs under ``logs/ops/``), and through the GitHub API one incident issue per
environment is opened or updated while something fails, and closed with a comment once all passes.

Exit codes: 0 all passed (recovered included), 1 a check still fails, 2 bad configuration, 3 could
not run (nothing deployed, Docker unreachable, GitHub unreachable while checks passed).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from relgate.config import OpsCheck, PostDeployCommand, RelgateConfig
from relgate.errors import CannotRun, Interrupted, RelgateError
from relgate.results import StageName, Status
from relgate.results.ops import Incident, OpsCheckRecord, OpsResult, OpsRun
from relgate.run import Run, run_stage

__all__ = ["OpsCheckRecord", "OpsResult", "incident_body", "ops"]

LAST_LINES = 10


Exec = Callable[[PostDeployCommand], tuple[OpsRun, str]]


def ops(config: RelgateConfig, run: Run, *, environment: str) -> OpsResult:
    """``relgate ops``: run every check, recover what can be, then sync the incident issue."""
    name, _ = config.environment(environment)
    result = OpsResult(status=Status.ERROR, started_at=run.clock())
    result.environment = name
    if not config.ops.checks:
        raise CannotRun(f"no ops checks configured (ops.checks in {config.source})")

    def body() -> OpsResult:
        with _Stack(config, run, name) as execute:
            for check in config.ops.checks:
                record = _check(check, execute)
                result.checks.append(record)
                _say(run, record)
        _conclude(result, name)
        result.incident = _incident(config, run, name, result)
        result.incident_url = result.incident.url
        if result.incident.action == "error" and result.outcome != "failed":
            result.exit_code, result.status = 3, Status.ERROR
        return result

    run_stage(run, StageName.OPS, body)
    if result.passed:
        run.reporter.ok(result.summary)
    else:
        run.reporter.error(result.summary, title="ops")
    return result


def _conclude(result: OpsResult, environment: str) -> None:
    failed = [c.name for c in result.checks if c.status == "failed"]
    recovered = [c.name for c in result.checks if c.status == "recovered"]
    result.outcome = "failed" if failed else "passed"
    result.status = Status.FAILED if failed else Status.PASSED
    result.exit_code = 1 if failed else 0
    if failed:
        result.summary = f"ops {environment}: {len(failed)} failing ({', '.join(failed)})"
    else:
        again = f" ({', '.join(recovered)} recovered)" if recovered else ""
        result.summary = f"ops {environment}: all {len(result.checks)} checks pass{again}"


class _Stack:
    """The environment's running stack, reached through the deploy driver."""

    def __init__(self, config: RelgateConfig, run: Run, environment: str) -> None:
        self.config, self.run, self.environment = config, run, environment

    def __enter__(self) -> Exec:
        from relgate.deploy.context import DeployContext
        from relgate.deploy.driver import open_driver
        from relgate.deploy.state import running_version
        from relgate.deploy.target import Target

        _, env_config = self.config.environment(self.environment)
        ctx = DeployContext(self.config, self.run, self.environment, env_config, area="ops")
        self.driver = open_driver(ctx)
        # A scheduled job usually runs on a fresh runner, with no record of the last deploy: what
        # runs is then read from the engine (the version label relgate stamps on its services).
        try:
            version = running_version(self.config, self.environment)
            if version is None:
                version = self.driver.running_stack().version
                if version is None:
                    raise CannotRun(
                        f"nothing to check: {self.environment} runs no version relgate deployed "
                        "(no last-known-good record on this host, no version label in the engine)"
                    )
                self.run.reporter.line(f"checking {version} (what runs now, read from the engine)")
            self.driver.prepare(Target(version))
        except BaseException:
            self.driver.close()  # __exit__ does not run when __enter__ raises
            raise

        def execute(command: PostDeployCommand) -> tuple[OpsRun, str]:
            record = self.driver.exec(command)
            text = ""
            if record.log:
                text = self.run.path(record.log).read_text(encoding="utf-8", errors="replace")
            lines = text.strip().splitlines()[-LAST_LINES:]
            return (
                OpsRun(argv=record.argv, exit_code=record.exit_code, duration_s=record.duration_s,
                       timed_out=record.timed_out, log=record.log, last_lines=lines),
                text,
            )  # fmt: skip

        return execute

    def __exit__(self, *exc: object) -> None:
        if hasattr(self, "driver"):
            self.driver.close()


def _judge(check: OpsCheck, ran: OpsRun, text: str) -> tuple[bool, str, float | None]:
    if ran.timed_out:
        return False, f"timed out after {check.timeout.total_seconds():g}s", None
    if ran.exit_code != 0:
        last = ran.last_lines[-1] if ran.last_lines else ""
        return False, f"exit {ran.exit_code}" + (f": {last}" if last else ""), None
    if check.threshold is None:
        return True, "", None
    m = re.search(check.threshold.pattern, text)
    if m is None:
        return False, f"no value matching /{check.threshold.pattern}/ in its output", None
    try:
        value = float(m.group(1))
    except ValueError:
        return False, f"{m.group(1)!r} is not a number (/{check.threshold.pattern}/)", None
    t = check.threshold
    if t.max is not None and value > t.max:
        return False, f"{value:g} above the threshold {t.max:g}", value
    if t.min is not None and value < t.min:
        return False, f"{value:g} below the threshold {t.min:g}", value
    return True, "", value


def _check(check: OpsCheck, execute: Exec) -> OpsCheckRecord:
    def command(argv: list[str], suffix: str = "") -> PostDeployCommand:
        return PostDeployCommand(name=f"ops-{check.name}{suffix}", command=argv,
                                 service=check.service, timeout=check.timeout)  # fmt: skip

    first, text = execute(command(check.command))
    ok, reason, value = _judge(check, first, text)
    record = OpsCheckRecord(name=check.name, service=check.service, status="passed",
                            reason=reason, value=value, first=first)  # fmt: skip
    if ok:
        return record
    record.status = "failed"
    if check.recovery is None:
        return record
    record.recovery, _ = execute(command(check.recovery, "-recovery"))
    record.recheck, text = execute(command(check.command, "-recheck"))
    ok, again, record.value = _judge(check, record.recheck, text)
    if ok:
        record.status = "recovered"
    else:
        record.reason = f"{reason}; still failing after recovery: {again}"
    return record


def _say(run: Run, record: OpsCheckRecord) -> None:
    value = f" (value {record.value:g})" if record.value is not None else ""
    if record.status == "passed":
        run.reporter.ok(f"ops check {record.name}: passed{value}")
    elif record.status == "recovered":
        run.reporter.warning(f"ops check {record.name}: {record.reason}; recovered{value}")
    else:
        run.reporter.error(f"ops check {record.name}: {record.reason}", title="ops")


def incident_body(environment: str, result: OpsResult, run: Run) -> str:
    """The issue (or comment) text: a table of the checks, then the run that found it."""
    head = (
        f"**relgate ops: {environment} is failing**"
        if result.outcome == "failed"
        else f"**relgate ops: {environment} recovered**: every check passes again."
    )
    rows = ["| check | status | detail |", "| --- | --- | --- |"]
    for c in result.checks:
        detail = (c.reason or (f"value {c.value:g}" if c.value is not None else "")).replace(
            "|", "\\|"
        )
        rows.append(f"| {c.name} | {c.status} | {detail} |")
    from relgate.actions_context import ActionsContext

    where = ActionsContext.from_env(run.env).run_url() or f"relgate run {run.id}"
    return "\n".join(
        [head, "", *rows, "", f"Found by {where} at {run.clock():%Y-%m-%d %H:%M} UTC."]
    )


def _incident(config: RelgateConfig, run: Run, environment: str, result: OpsResult) -> Incident:
    if not config.ops.incident:
        return Incident(action="skipped", detail="ops.incident is off")
    if not run.env.get(config.github.token_env):
        return Incident(action="skipped", detail=f"no GitHub token ({config.github.token_env})")
    from relgate.github.client import GitHubClient
    from relgate.github.incidents import sync_incident

    try:
        client = GitHubClient.from_env(config, run.env, secrets=run.secrets)
        change = sync_incident(
            client,
            environment,
            failing=result.outcome == "failed",
            body=run.secrets.redact(incident_body(environment, result, run)),
            label=config.ops.incident_label,
        )
    except Interrupted:
        raise
    except RelgateError as exc:
        run.reporter.warning(f"incident issue: {exc.message}")
        return Incident(action="error", detail=exc.message)
    if change.action != "none":
        run.reporter.line(f"incident issue #{change.number} {change.action}: {change.url}")
    return Incident(action=change.action, number=change.number, url=change.url)
