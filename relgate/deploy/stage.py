"""The deploy stage: bring an environment to a version, prove it healthy, or go back.

``deploy`` reads as the runbook it replaces: check the config without touching anything, warn about
drift from the last-known-good, bring the version up and gate on real health; on success record the
new last-known-good; on failure save ps/inspect/logs and redeploy the last-known-good by its exact
image IDs, then prove *that* healthy. Every path writes ``results/deploy.json`` — interruptions too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from relgate.config import RelgateConfig
from relgate.deploy.back import (
    GoingBack,
    SmokeAfterRollback,
    finish_first,
    rollback_target,
    rollback_verdict,
    smoke_after,
    target_of_record,
)
from relgate.deploy.context import DeployContext, check_version
from relgate.deploy.driver import Driver, open_driver
from relgate.deploy.gate import Attempt, rollback_checks, run_attempt
from relgate.deploy.ghrecord import GitHubRecord
from relgate.deploy.models import (
    OUTCOME_EXIT,
    DeployResult,
    LastGood,
    Outcome,
    RollbackRecord,
    RunningStack,
    ServiceImage,
)
from relgate.deploy.report import report
from relgate.deploy.schema import database_note, read_schema
from relgate.deploy.state import (
    check_state_dir,
    env_hash,
    find_in_history,
    read_last_good,
    write_last_good,
    write_snapshot,
)
from relgate.deploy.target import Target
from relgate.errors import ConfigError, Interrupted, RelgateError
from relgate.results import StageName, Status
from relgate.run import Run, describe_end, ended_by, run_stage

__all__ = ["deploy", "lock_busy", "read_last_good", "redeploy_last_good"]


@dataclass
class _Live:
    """What the stage has seen so far; an error or interruption reports from it."""

    ctx: DeployContext | None = None
    driver: Driver | None = None
    attempt: Attempt | None = None
    before: RunningStack | None = None
    back: GoingBack | None = None
    github: GitHubRecord | None = None
    last: LastGood | None = None
    smoke_after: SmokeAfterRollback | None = None
    closed: bool = False


def deploy(
    config: RelgateConfig,
    run: Run,
    *,
    environment: str,
    version: str,
    rollback: bool = True,
    smoke_after_rollback: SmokeAfterRollback | None = None,
) -> DeployResult:
    """``relgate deploy``: outcome deployed | rolled_back | rollback_failed | no_previous_version.

    The result is written on every path — success, gate failure, bad input, crash or signal — before
    any exception propagates, so callers need no fallback of their own: ``run_stage`` writes it,
    and on an exception the :func:`_partial` hook makes it the deploy's own (what was done so far),
    not a generic one. The driver is closed and GitHub told on every path, before the write.
    ``smoke_after_rollback`` (``rollback.smoke_after``; built by the caller, a layer above smoke)
    runs against the version an automatic rollback brought back, and decides that rollback's verdict.
    """
    result = DeployResult(
        status=Status.ERROR, target_version=version or None, started_at=run.clock()
    )
    result.environment = environment
    live = _Live(smoke_after=smoke_after_rollback)

    def body() -> DeployResult:
        _deploy(config, run, result, live, version=version, rollback=rollback)
        _close(result, live)
        return result

    try:
        return run_stage(
            run, StageName.DEPLOY, body, partial=lambda exc: _partial(result, live, exc)
        )
    finally:
        report(run, result)


def _partial(result: DeployResult, live: _Live, exc: BaseException) -> DeployResult:
    """The deploy's own result when it raised: the error (or signal) and what was done so far. An
    exception from the cleanup of a complete deploy changes nothing: the deploy itself ended. A
    second signal only cuts the capture or the cleanup short; it never costs the result."""
    try:
        if not live.closed:
            _record_error(result, exc, live)
            if isinstance(exc, Interrupted | KeyboardInterrupt):
                _capture_quietly(live, result)
    except (Interrupted, KeyboardInterrupt) as again:  # interrupt-safe: run_stage re-raises exc
        result.warnings.append(f"capture cut short: {_said(again)}")
    try:
        _close(result, live)
    except BaseException as problem:  # interrupt-safe: run_stage re-raises exc, which ends the run
        result.warnings.append(f"cleanup cut short: {_said(problem)}")
    return result


def _said(exc: BaseException) -> str:
    if isinstance(exc, RelgateError):
        return exc.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _capture_quietly(live: _Live, result: DeployResult) -> None:
    """On a signal, record what runs now and save ps/inspect/logs as they are: the stack is left
    as it is, for a human, and the result says what that is."""
    if live.driver is None or live.ctx is None or live.attempt is None:
        return
    with contextlib.suppress(Exception):  # interrupt-safe: a 2nd signal only cuts this short
        now = result.running_after = live.driver.running_stack()
        runs = ", ".join(
            f"{s.name} {s.version or s.image_id[:19]} ({s.state})" for s in now.services.values()
        )
        result.summary += f"; runs now: {runs or 'nothing'}"
    board = live.attempt.board
    with contextlib.suppress(Exception):  # interrupt-safe: a 2nd signal only cuts this short
        live.driver.capture(live.ctx.area, board.selected if board else [])


def _deploy(
    config: RelgateConfig,
    run: Run,
    result: DeployResult,
    live: _Live,
    *,
    version: str,
    rollback: bool,
) -> None:
    version = check_version(version)
    name, env_config = config.environment(result.environment)
    run.version = version
    ctx = live.ctx = DeployContext(config, run, name, env_config)
    result.driver, result.generated_secrets = env_config.stack.driver, list(ctx.generated)
    check_state_dir(config, name, run.env)
    driver = live.driver = open_driver(ctx)
    result.project = driver.project
    gh = live.github = GitHubRecord.open(config, run, name)
    last = live.last = read_last_good(config, name) or (gh.last_good() if gh else None)
    prepared = driver.prepare(Target(version))
    before = live.before = result.running_before = driver.running_stack()
    back = live.back = rollback_target(config, before, last)
    result.previous_version, result.rollback_target = back.version, back.description
    result.drift = _drift(ctx, before, last)
    result.schema_before = read_schema(ctx, driver, "before")
    live.attempt = Attempt(Target(version))

    def backup_first() -> None:
        result.backup = _backup_first(ctx, back.version or version, version)

    if gh is not None:
        gh.started(version)
        result.github_deployment = gh.deployment_id
    attempt = run_attempt(ctx, driver, live.attempt, prepared.services, before_change=backup_first)
    _take_attempt(result, attempt)
    result.schema_after = read_schema(ctx, driver, "after")
    result.migrations_involved, result.database_note = database_note(
        result.schema_before,
        result.schema_after,
        backup=result.backup,
        configured=config.deploy.schema_version is not None,
    )
    if attempt.passed:
        _record_last_good(ctx, driver, result, prepared.services, prepared.config_hash)
        _conclude(result, Outcome.DEPLOYED, f"{version} deployed and healthy")
    else:
        rollback = rollback and ctx.config.deploy.rollback
        _after_failure(
            ctx, driver, result, live, prepared.services, rollback, touched=attempt.touched
        )
        if attempt.touched and config.deploy.schema_version is not None:
            result.summary = result.error = f"{result.summary}; {result.database_note}"
            ctx.run.reporter.line(f"database: {result.database_note}")


def _backup_first(ctx: DeployContext, data_version: str, deploying: str) -> str | None:
    """``deploy.backup_before_migrations``: dump the database while the old version still runs,
    so a full rollback has the data as it was. Taken after pull/build (which cannot change the
    database) and right before ``up``; a failed backup stops the deploy (nothing touched)."""
    if not ctx.config.deploy.backup_before_migrations or ctx.env_config.database is None:
        return None
    from relgate.database import backup

    record = backup(
        ctx.config,
        ctx.run,
        ctx.environment,
        app_version=data_version,
        kind="pre-migration",
        taken_before=deploying,
    )
    return record.path


def _close(result: DeployResult, live: _Live) -> None:
    """Close the driver, tell GitHub how it ended, keep the commands run: once, on every path."""
    if live.closed:
        return
    live.closed = True
    try:
        if live.driver is not None:
            live.driver.close()
        if live.github is not None:
            live.github.finished(result, live.back.record if live.back else live.last)
            result.warnings += live.github.warnings
    finally:
        if live.ctx is not None:
            result.commands = list(live.ctx.executor.records)


def lock_busy(run: Run, *, environment: str, version: str | None, message: str) -> DeployResult:
    """The result of a deploy that could not take the environment's lock (nothing was touched)."""
    result = DeployResult(status=Status.ERROR, target_version=version, started_at=run.clock())
    result.environment = environment
    _conclude(result, Outcome.LOCK_BUSY, message)
    result.status = Status.ERROR
    run.write_result(result)
    report(run, result)
    return result


def redeploy_last_good(
    config: RelgateConfig, run: Run, *, environment: str, to_version: str | None = None
) -> DeployResult:
    """Quick rollback: run the last-known-good (or ``to_version`` from the history) again, pinned
    to its recorded images, through the same health gate. Logs go to ``logs/rollback/``; the caller
    (the rollback stage) writes its own result, so ``results/deploy.json`` is left alone."""
    name, env_config = config.environment(environment)
    ctx = DeployContext(config, run, name, env_config, area="rollback")
    result = DeployResult(
        status=Status.ERROR, started_at=run.clock(), driver=env_config.stack.driver
    )
    result.environment = name
    check_state_dir(config, name, run.env)
    last = (
        find_in_history(config, name, check_version(to_version))
        if to_version
        else read_last_good(config, name)
    )
    driver = open_driver(ctx)
    result.project = driver.project
    try:
        if last is None and to_version is None:
            _conclude(result, Outcome.NO_PREVIOUS_VERSION, "no last-known-good on this host")
            return result
        target = target_of_record(config, last) if last else Target(to_version or "")
        result.target_version = result.version = target.version
        result.previous_version = last.version if last else None
        prepared = driver.prepare(target)
        result.drift = _drift(ctx, driver.running_stack(), last)
        record = _redeploy(ctx, driver, target, prepared.services, failure_at=None)
        result.rollback, result.services = record, record.services
        result.rolled_back = record.healthy
        if record.healthy:
            result.rolled_back_to = target.version
            _conclude(result, Outcome.ROLLED_BACK, f"{target.version} redeployed and healthy")
            result.status, result.exit_code = Status.PASSED, 0
        else:
            _conclude(result, Outcome.ROLLBACK_FAILED, f"{target.version} is not healthy either")
        _raise_deferred(record, result.summary)
    finally:
        driver.close()
        result.commands = list(ctx.executor.records)
        result.finish(run.clock())
    return result


# -- steps --------------------------------------------------------------------------------------
def _record_error(result: DeployResult, exc: BaseException, live: _Live) -> None:
    if live.attempt is not None and not result.services:
        _take_attempt(result, live.attempt)
    result.status, result.exit_code = ended_by(exc)
    if result.status is Status.INTERRUPTED:
        # KeyboardInterrupt says nothing itself: name the signal, as the CLI does
        result.error = str(exc) or "interrupted by SIGINT"
        result.summary = f"deploy of {result.target_version} interrupted: {result.error}"
        return
    if isinstance(exc, ConfigError):
        result.outcome = Outcome.BAD_CONFIG.value
    result.error = describe_end(exc)
    result.summary = f"deploy of {result.target_version} could not run: {result.error}"


def _drift(ctx: DeployContext, before: RunningStack, last: LastGood | None) -> list[str]:
    """How what runs now differs from the last-known-good record (a warning, not a failure)."""
    if last is None:
        return []
    running = before.services
    drift = [f"{s}: recorded {rec.image_id[:19]} but not running" for s, rec in
             last.services.items() if s not in running]  # fmt: skip
    for service, now in running.items():
        rec = last.services.get(service)
        if rec is None:
            drift.append(f"{service}: running but not in the last-good record")
        elif now.image_id != rec.image_id:
            drift.append(f"{service}: runs {now.image_id[:19]}, recorded {rec.image_id[:19]}")
        elif rec.config_hash and now.config_hash and now.config_hash != rec.config_hash:
            drift.append(f"{service}: compose config changed since {last.version} was recorded")
    for line in drift:
        ctx.run.reporter.warning(f"drift from last-known-good {last.version}: {line}")
    return drift


def _take_attempt(result: DeployResult, attempt: Attempt) -> None:
    result.services = attempt.services()
    result.decision, result.http, result.post_deploy = (
        attempt.decision,
        attempt.http,
        attempt.post_deploy,
    )
    result.log_assertions = attempt.log_assertions


def _record_last_good(
    ctx: DeployContext,
    driver: Driver,
    result: DeployResult,
    services: Sequence[str],
    config_hash: str | None,
) -> None:
    version = result.target_version or ""
    images = driver.images(services)
    _merge_images(result, images)
    variables = {**ctx.deploy_vars, **ctx.with_version(version)}
    snapshot = driver.snapshot()
    record = LastGood(
        environment=ctx.environment,
        driver=driver.name,
        version=version,
        project=driver.project,
        engine=result.running_before.engine if result.running_before else None,
        services=images,
        compose_config_hash=config_hash,
        compose_snapshot=(
            write_snapshot(ctx.config, ctx.environment, snapshot) if snapshot else None
        ),
        env_hash=env_hash(variables),
        env_keys=sorted(variables),
        recorded_at=ctx.run.clock(),
        run_id=ctx.run.id,
        database_schema=result.schema_after,
    )
    write_last_good(ctx.config, record)
    ctx.run.write_json(f"artifacts/{ctx.area}/last-good.json", record)
    result.last_good_written = True


def _merge_images(result: DeployResult, images: dict[str, ServiceImage]) -> None:
    for service in result.services:
        if service.name in images:
            service.image = images[service.name].image
            service.image_id = images[service.name].image_id
            service.registry_digest = images[service.name].registry_digest


def _after_failure(  # noqa: PLR0917 - one call site, reads in order
    ctx: DeployContext,
    driver: Driver,
    result: DeployResult,
    live: _Live,
    services: Sequence[str],
    rollback: bool,
    *,
    touched: bool,
) -> None:
    decision = result.decision
    why = decision.reason if decision else "failed"
    ctx.run.reporter.error(f"deploy of {result.target_version} failed: {why}", title="deploy")
    if not touched:
        _conclude(
            result, Outcome.FAILED, f"{why}; nothing on the host changed (no rollback needed)"
        )
        return
    probes = driver.capture(ctx.area, services)
    for service in result.services:
        service.last_probe = probes.get(service.name)
    if not rollback:
        _conclude(result, Outcome.FAILED, f"{why}; left as is (--no-rollback)")
        return
    assert live.back is not None and live.before is not None
    back, before = live.back, live.before
    started = [s for s in services if s not in before.services]
    if back.target is None:
        driver.stop(started)
        _conclude(
            result, Outcome.NO_PREVIOUS_VERSION,
            f"{why}; nothing ran before this deploy and no last-known-good is recorded: stopped "
            f"only what this deploy started ({', '.join(started) or 'nothing'})",
        )  # fmt: skip
        return
    target = back.target
    failure_at = decision.trigger_at.timestamp() if decision and decision.trigger_at else None
    rctx = ctx.for_area(f"{ctx.area}/rollback")
    going = sorted(target.pinned) or list(services)
    record = _redeploy(rctx, driver, target, going, failure_at=failure_at)
    result.rollback, result.rolled_back = record, record.healthy
    extra = [s for s in started if s not in going]
    if extra:  # services this deploy added: what ran before did not have them
        driver.stop(extra)
    if record.healthy:
        result.rolled_back_to = target.version
        _re_record(rctx, driver, back, going)
        if live.smoke_after is not None and record.interrupted_by is None:
            record.smoke = smoke_after(rctx, live.smoke_after, target.version)
    _conclude(result, *rollback_verdict(why, back.description, record))
    # true only for a rollback that worked: healthy, checks passed, and its smoke too when run
    result.rolled_back = result.outcome == Outcome.ROLLED_BACK.value
    _raise_deferred(record, result.summary)


def _raise_deferred(record: RollbackRecord, summary: str) -> None:
    """The signal held while the rollback finished: the run ends interrupted (exit 3), saying
    what the rollback achieved."""
    if record.interrupted_by is not None:
        raise Interrupted(
            f"interrupted by {record.interrupted_by} during the rollback, which was finished "
            f"first: {summary}"
        )


def _re_record(ctx: DeployContext, driver: Driver, back: GoingBack, services: list[str]) -> None:
    """After a rollback the record must describe what runs again (the rolled-back containers'
    compose hashes differ from the recorded ones), or every later deploy warns of a drift that is
    not there. A stack learned from the engine becomes the record when its version is known."""
    images = driver.images(services)
    if back.record is not None:
        updated = back.record.model_copy(update={"services": {**back.record.services, **images}})
        write_last_good(ctx.config, updated, push_history=False)
    elif back.target is not None and back.version != "unrecorded":
        write_last_good(
            ctx.config,
            LastGood(
                environment=ctx.environment,
                driver=driver.name,
                version=back.target.version,
                project=driver.project,
                services=images,
                env_hash=env_hash({}),
                recorded_at=ctx.run.clock(),
                run_id=ctx.run.id,
            ),
        )


def _redeploy(
    ctx: DeployContext,
    driver: Driver,
    target: Target,
    services: Sequence[str],
    *,
    failure_at: float | None,
) -> RollbackRecord:
    pins = f" (pinned to {len(target.pinned)} recorded images)" if target.pinned else ""
    ctx.run.reporter.line(f"rolling back to {target.version}{pins}")
    driver.ctx = ctx
    started, t0 = ctx.run.clock(), ctx.monotonic()
    attempt = Attempt(target)
    error = None

    def first(name: str) -> None:
        ctx.run.reporter.warning(
            f"{name} received: finishing the rollback to {target.version} first "
            "(send it again to abort, leaving the stack as it is)"
        )

    try:
        with finish_first(first) as held:
            checks = rollback_checks(ctx.config.deploy.post_deploy)
            run_attempt(ctx, driver, attempt, services, post_deploy=checks)
    except Interrupted:
        raise
    except RelgateError as exc:
        error = exc.message
    healthy = attempt.passed
    if not healthy:
        error = error or (attempt.decision.reason if attempt.decision else "unknown")
        driver.capture(ctx.area, services)
    decided = attempt.decision.decided_at.timestamp() if attempt.decision else None
    return RollbackRecord(
        version=target.version,
        pinned_images=dict(target.pinned),
        healthy=healthy,
        decision=attempt.decision,
        services=attempt.services(),
        http=attempt.http,
        post_deploy=attempt.post_deploy,
        error=error,
        started_at=started,
        duration_s=round(ctx.monotonic() - t0, 3),
        failure_to_healthy_s=(
            round(decided - failure_at, 3) if healthy and decided and failure_at else None
        ),
        interrupted_by=held.signal,
    )


def _conclude(result: DeployResult, outcome: Outcome, summary: str) -> None:
    result.outcome = outcome.value
    result.exit_code = OUTCOME_EXIT[outcome]
    result.status = Status.PASSED if outcome is Outcome.DEPLOYED else Status.FAILED
    if outcome in (Outcome.BAD_CONFIG, Outcome.LOCK_BUSY):
        result.status = Status.ERROR
    result.summary = summary
    if outcome is not Outcome.DEPLOYED:
        result.error = summary
