"""One attempt at bringing a version up and proving it healthy — used for the deploy and for rollback.

An attempt is: start (the driver opens its watch first, then brings the stack up) → wait until every
service is healthy, event-driven → the HTTP health URL answers → post-deploy commands succeed. Any
step failing ends the attempt with a :class:`Decision` saying which service, why, and when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from relgate.config import PostDeployCommand
from relgate.deploy.commands import git_checkout_cmd
from relgate.deploy.context import DeployContext
from relgate.deploy.driver import Driver
from relgate.deploy.health import HealthBoard, Verdict
from relgate.deploy.httpcheck import ClientInAdvance, check_http, health_url
from relgate.deploy.logcheck import LogAssertionRecord, assert_logs
from relgate.deploy.models import CommandRecord, Decision, HttpCheckRecord, ServiceReport
from relgate.deploy.target import Target, Watch
from relgate.errors import ConfigError, Problem

__all__ = ["Attempt", "rollback_checks", "run_attempt", "wait_for_health"]

SETTLE_S = 0.2


@dataclass
class Attempt:
    target: Target
    board: HealthBoard | None = None
    decision: Decision | None = None
    http: HttpCheckRecord | None = None
    post_deploy: list[CommandRecord] = field(default_factory=list)
    log_assertions: list[LogAssertionRecord] = field(default_factory=list)
    touched: bool = True  # False: it failed before anything on the host changed

    @property
    def passed(self) -> bool:
        return self.decision is not None and self.decision.verdict == "passed"

    def services(self) -> list[ServiceReport]:
        return self.board.reports() if self.board is not None else []


def run_attempt(
    ctx: DeployContext,
    driver: Driver,
    attempt: Attempt,
    services: Sequence[str],
    *,
    post_deploy: Sequence[PostDeployCommand] | None = None,
    before_change: Callable[[], None] | None = None,
) -> Attempt:
    """Fill ``attempt`` as it goes, so an interruption still leaves what was seen.

    ``post_deploy``: the commands to run once healthy (default: all of ``deploy.post_deploy``); a
    rollback passes those meant to run again (:func:`rollback_checks`: readiness checks yes,
    migrations only when configured so). ``before_change`` (the pre-migration
    backup) runs once everything is fetched and right before the stack changes: a pull that fails
    costs no backup, and a backup that fails changes nothing.
    """
    deploy = ctx.config.deploy
    attempt.board = HealthBoard(
        services, stability_s=deploy.stability_window.total_seconds(), started_at=ctx.clock()
    )
    if deploy.git_checkout and not attempt.target.pinned:
        git_checkout(ctx, attempt.target.version)
    http_client = ClientInAdvance(deploy.health) if deploy.health is not None else None
    fetch_error = driver.fetch(attempt.target, services)
    if fetch_error is not None:
        attempt.touched = False
        attempt.decision = _decide(ctx, Verdict("failed", fetch_error, None, ctx.clock()))
        return attempt
    if before_change is not None:
        before_change()
    watch, up_error = driver.start(attempt.target, services)
    attempt.board.replacing(watch.preexisting, watch.settled_at)
    attempt.touched = watch.touched
    deadline = ctx.monotonic() + deploy.timeout.total_seconds()
    try:
        if up_error is not None:
            attempt.board.feed_all(watch.snapshot())
            attempt.decision = _decide(ctx, Verdict("failed", up_error, None, ctx.clock()))
            return attempt
        attempt.decision = wait_for_health(ctx, watch, attempt.board, deadline)
        if attempt.passed:
            _what_runs(ctx, driver, attempt, services)
        if attempt.passed and http_client is not None:
            _http_gate(ctx, watch, attempt, deadline, http_client)
        commands = ctx.config.deploy.post_deploy if post_deploy is None else post_deploy
        if attempt.passed and commands:
            _post_deploy(ctx, driver, attempt, commands)
        if attempt.passed:  # after a rollback too: they are checks, not changes
            _log_assertions(ctx, driver, attempt)
        if attempt.passed and deploy.soak.total_seconds() > 0:
            _soak(ctx, watch, attempt, deploy.soak.total_seconds())
    finally:
        watch.close()
    return attempt


def git_checkout(ctx: DeployContext, version: str) -> None:
    """Put the application's working tree on ``version`` before anything is built or started."""
    repo = ctx.config.resolve_path(ctx.config.project.repo_path)
    out = ctx.executor("git-checkout", git_checkout_cmd(repo, version), timeout_s=120)
    if not out.ok:
        raise ConfigError(
            [Problem(str(repo), None, "", f"git checkout {version} failed: {out.tail(3)}")]
        )


def wait_for_health(
    ctx: DeployContext, watch: Watch, board: HealthBoard, deadline: float
) -> Decision:
    """React to each observation as it arrives; poll inspect slowly as the safety net."""
    # Progress lines are printed per change; a heartbeat covers the stretches with none.
    with ctx.run.reporter.waiting("the services to be healthy"):
        return _wait_for_health(ctx, watch, board, deadline)


def _wait_for_health(
    ctx: DeployContext, watch: Watch, board: HealthBoard, deadline: float
) -> Decision:
    _drain(watch, board)  # events queued during `up` first: they carry the first cause and its time
    board.feed_all(watch.snapshot())
    next_poll = ctx.monotonic() + ctx.poll_interval_s
    shown = ""
    while True:
        now = ctx.clock()
        verdict = board.verdict(now)
        shown = _progress(ctx, board, now, shown)
        if verdict.state == "failed" and verdict.from_inspect:
            verdict = _settle(ctx, watch, board)
        if verdict.state != "pending":
            return _decide(ctx, verdict)
        mono = ctx.monotonic()
        if mono >= deadline:
            timeout = ctx.config.deploy.timeout.total_seconds()
            reason = (
                f"not healthy after {timeout:g}s: still waiting for {board.pending_reason(now)}"
            )
            return _decide(ctx, Verdict("failed", reason, None, now), timeout=True)
        wake = min(deadline, next_poll)
        stable_at = board.next_deadline(now)
        if stable_at is not None:
            wake = min(wake, mono + (stable_at - now))
        obs = watch.next(wake - mono)
        if obs is not None:
            board.feed(obs)
        if ctx.monotonic() >= next_poll:
            board.feed_all(watch.snapshot())
            next_poll = ctx.monotonic() + ctx.poll_interval_s


def _soak(ctx: DeployContext, watch: Watch, attempt: Attempt, seconds: float) -> None:
    """Keep watching after the gate passed: a version that degrades minutes later is not "up"."""
    assert attempt.board is not None
    board = attempt.board
    ctx.run.reporter.line(f"soak: watching every service for {seconds:g}s more")
    end = ctx.monotonic() + seconds
    next_poll = ctx.monotonic() + ctx.poll_interval_s
    while (left := end - ctx.monotonic()) > 0:
        obs = watch.next(min(left, max(next_poll - ctx.monotonic(), 0.0)))
        if obs is not None:
            board.feed(obs)
        if ctx.monotonic() >= next_poll:
            board.feed_all(watch.snapshot())
            next_poll = ctx.monotonic() + ctx.poll_interval_s
        verdict = board.verdict(ctx.clock())
        if verdict.state == "failed":
            reason = f"{verdict.reason} (during the {seconds:g}s soak after passing)"
            attempt.decision = _decide(ctx, Verdict("failed", reason, verdict.service, verdict.at))
            return
    ctx.run.reporter.ok(f"soak: stayed healthy for {seconds:g}s")


def _settle(ctx: DeployContext, watch: Watch, board: HealthBoard) -> Verdict:
    """A failure found by inspect (restart count, state) is real, but the event naming its cause
    (``die`` with the exit code, at the exact time) may still be in flight: give it a moment."""
    end = ctx.monotonic() + SETTLE_S
    while ctx.monotonic() < end:
        obs = watch.next(end - ctx.monotonic())
        if obs is None:
            break
        board.feed(obs)
        if not board.verdict(ctx.clock()).from_inspect:
            break
    return board.verdict(ctx.clock())


def _drain(watch: Watch, board: HealthBoard) -> None:
    while (obs := watch.next(0)) is not None:
        board.feed(obs)


def _progress(ctx: DeployContext, board: HealthBoard, now: float, shown: str) -> str:
    line = board.progress_line(now)
    state = line.partition("] ")[2]
    if state != shown:  # a line per change, not per wake-up (non-TTY logs stay short)
        ctx.run.reporter.progress(line)
    return state


def _decide(ctx: DeployContext, verdict: Verdict, *, timeout: bool = False) -> Decision:
    decided = ctx.clock()
    trigger = verdict.at
    return Decision(
        verdict="timeout" if timeout else ("passed" if verdict.state == "passed" else "failed"),
        reason=verdict.reason,
        service=verdict.service,
        trigger_at=_dt(trigger) if trigger else None,
        decided_at=_dt(decided),
        latency_s=round(decided - trigger, 6) if trigger else None,
    )


def _http_gate(
    ctx: DeployContext, watch: Watch, attempt: Attempt, deadline: float, client: ClientInAdvance
) -> None:
    health = ctx.config.deploy.health
    assert health is not None and attempt.board is not None
    board = attempt.board

    def abort() -> str | None:
        _drain(watch, board)
        verdict = board.verdict(ctx.clock())
        return verdict.reason if verdict.state == "failed" else None

    url = health_url(ctx.env_config.base_url, health)
    attempt.http = check_http(
        url, health, deadline=deadline, monotonic=ctx.monotonic, sleep=ctx.sleep, abort=abort,
        prepared=client,
    )  # fmt: skip
    if not attempt.http.ok:
        now = ctx.clock()
        reason = (
            f"health URL {url} failed after {attempt.http.attempts} attempts: {attempt.http.error}"
        )
        attempt.decision = _decide(ctx, Verdict("failed", reason, None, now))
    else:
        ctx.run.reporter.ok(f"health URL {url}: HTTP {attempt.http.status_code}")


def _what_runs(
    ctx: DeployContext, driver: Driver, attempt: Attempt, services: Sequence[str]
) -> None:
    """Healthy is not enough: it must be what the version asked for (read from the engine).
    Checked once healthy, so a failing version is not held up by it."""
    reason = driver.verify_images(attempt.target, services)
    if reason is not None:
        attempt.decision = _decide(ctx, Verdict("failed", reason, None, ctx.clock()))


def rollback_checks(commands: Sequence[PostDeployCommand]) -> list[PostDeployCommand]:
    """The post-deploy commands a rollback runs again: ``after_rollback`` when set; otherwise
    every command but those named like a migration (a migration belongs to the version that
    brought it, and running it again under the previous version is the opposite of going back)."""
    chosen = []
    for command in commands:
        wanted = command.after_rollback
        if wanted is None:
            wanted = "migrat" not in f"{command.name} {' '.join(command.command)}".lower()
        if wanted:
            chosen.append(command)
    return chosen


def _post_deploy(
    ctx: DeployContext, driver: Driver, attempt: Attempt, commands: Sequence[PostDeployCommand]
) -> None:
    for command in commands:
        record = driver.exec(command)
        attempt.post_deploy.append(record)
        if not record.ok:
            how = "timed out" if record.timed_out else f"exited {record.exit_code}"
            reason = f"post-deploy command {command.name!r} {how} (log: {record.log})"
            attempt.decision = _decide(ctx, Verdict("failed", reason, command.service, ctx.clock()))
            return
        ctx.run.reporter.ok(f"post-deploy {command.name}: ok ({record.duration_s:.1f}s)")


def _log_assertions(ctx: DeployContext, driver: Driver, attempt: Attempt) -> None:
    for check in ctx.config.deploy.log_assertions:
        record = assert_logs(
            check, driver.recent_logs, ctx.clock, ctx.monotonic, ctx.sleep,
            ctx.run.reporter.progress,
        )  # fmt: skip
        if record.matched_line is not None:
            record.matched_line = ctx.run.secrets.redact(record.matched_line)
        attempt.log_assertions.append(record)
        if not record.ok:
            reason = ctx.run.secrets.redact(record.reason)
            attempt.decision = _decide(ctx, Verdict("failed", reason, check.service, ctx.clock()))
            return
        ctx.run.reporter.ok(
            f"{record.name}: {record.matched_age_s:.0f}s-old line matches /{check.pattern}/"
        )


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
