"""The rollback stage: quick (redeploy the last-known-good) or full (restore the database too).

The seed runbook's full rollback was ``compose down`` + ``gunzip | psql`` into the live database +
redeploy: an unchecked backup, restored over a database whose new tables survive, with no safety
net. Here a full rollback is, in order, and every step is recorded with its timing:

a. check the backup (exists, readable, recorded sha256 and size, age) — refuse before touching
   anything otherwise; also refuse when there is no version to go back to;
b. stop the application services (not the database) through the deploy driver;
c. take a safety dump of the database as it is now;
d. restore into a freshly created database, swapped in only on success
   (:func:`relgate.database.restore_fresh`), so the failed release's tables do not survive;
e. redeploy the last-known-good version through the deploy stage's machinery (health gate included);
f. verify: the health gate of (e), the database answering, and the smoke scenario when asked;
g. record the restored version as the last-known-good again (deploy's record), so the next quick
   rollback does not bring back the version just rolled away from.

Services listed in ``rollback.keep_running`` (and ``database.service``) are never stopped.

Before (a), a full rollback checks whether migrations were involved
(:func:`relgate.deploy.schema.decide_restore`): the schema version read from the running stack against the one
recorded with the target version. Unchanged, the database is not touched at all (no backup check, no
stop, no dump: rows written since the backup survive) and the rollback goes on as a quick one;
changed or unknown, (a)-(d) run. ``--restore always`` restores even when unchanged. Once the target
runs, the schema is read again and must be the recorded one, or the rollback fails.

Quick is (e), (f) and (g). The application is driven through :class:`AppControl`, whose default is the
deploy stage; tests and the embedded demo may pass their own.

The default :class:`AppControl` is :class:`relgate.deploy.control.DeployMachinery`; the restore
decision itself is in :mod:`relgate.deploy.schema`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Protocol

from relgate import proc
from relgate.database import (
    BackupCheck,
    BackupRecord,
    CommandRunner,
    Connection,
    RestoreError,
    backup_file_name,
    check_backup,
    connect,
    find_backups,
    manual_restore_command,
    restore_fresh,
    server_version,
    take_backup,
)
from relgate.deploy.control import DeployMachinery
from relgate.errors import Interrupted, RelgateError
from relgate.results import StageName, StageResult, Status
from relgate.results.rollback import Mode, RestorePolicy, RollbackResult, RollbackStep
from relgate.run import describe_end, ended_by, run_stage

if TYPE_CHECKING:
    from relgate.config import DatabaseConfig, RelgateConfig
    from relgate.run import Run

__all__ = ["AppControl", "DeployMachinery", "RollbackResult", "RollbackStep", "rollback"]


class AppControl(Protocol):
    """What a rollback needs from the deploy side."""

    def recorded(self, version: str | None) -> str | None:
        """The version a redeploy would run: the last-known-good, or ``version`` if this host has
        a record of it; None when there is none."""
        ...

    def schema_now(self, when: str) -> str | None:
        """``deploy.schema_version`` read from the running stack; None when it cannot be read
        (the reason is reported as a warning)."""
        ...

    def recorded_schema(self, version: str) -> str | None:
        """The schema version the record of ``version`` holds (None: no record, or none in it)."""
        ...

    def stop(self, keep: Sequence[str]) -> str:
        """Stop the application services except ``keep`` (the database); say what was stopped."""
        ...

    def redeploy(self, version: str | None) -> StageResult:
        """Redeploy through the health gate; outcome ``rolled_back`` when healthy."""
        ...

    def record(self, version: str) -> str:
        """Make ``version`` the last-known-good again: it runs now, proven healthy, and the version
        rolled away from was judged bad. Say what changed."""
        ...


class _Failed(Exception):
    """A step failed; the result already says why."""


def rollback(
    config: RelgateConfig,
    run: Run,
    *,
    environment: str,
    mode: Mode,
    to_version: str | None = None,
    backup: Path | None = None,
    allow_unrecorded: bool = False,
    smoke: bool | None = None,
    restore: RestorePolicy = "auto",
    smoke_area: str | None = None,
    app: AppControl | None = None,
    runner: CommandRunner = proc.run,
) -> RollbackResult:
    """``relgate rollback``: outcome rolled_back | no_previous_version | backup_refused |
    restore_failed | rollback_failed.

    ``smoke_area`` (the gate: ``rollback``) keeps the smoke after the rollback apart from the run's
    own smoke stage (``artifacts/<area>/smoke.json``): there, ``results/smoke.json`` is the smoke
    of the version rolled away from. None: this run's smoke result is the rollback's."""
    name, _ = config.environment(environment)
    app = app or DeployMachinery(config, run, name)

    results: list[RollbackResult] = []

    def body() -> RollbackResult:
        # created inside the stage: run_stage keeps a result that started after it did
        result = RollbackResult(status=Status.ERROR, mode=mode, started_at=run.clock())
        results.append(result)
        try:
            result.target_version = _target(result, app, to_version, allow_unrecorded)
            result.version = result.target_version
            if mode == "full":  # a missing database section is bad input (exit 2), restore or not
                connect(config, name, run.env, run.secrets, version=result.target_version)
            if mode == "full" and _check_migrations(config, run, result, app, restore):
                _database(config, run, name, result, app=app, backup=backup, runner=runner)
                result.restored = True
            _redeploy(run, result, app, to_version)
            if mode == "full":
                _database_answers(config, run, name, result, runner)
                _check_schema(config, run, result, app)
            if config.rollback.smoke_after if smoke is None else smoke:
                _smoke(config, run, name, result, smoke_area)
            _record(run, result, app)
            _conclude(result, "rolled_back", _passed_summary(result))
        except _Failed:
            pass
        return result

    def partial(exc: BaseException) -> RollbackResult:
        """Interrupted or crashed: the steps done so far (and the safety dump's way back) stay in
        the evidence, in the rollback's own result."""
        if not results:
            raise exc  # nothing of the rollback's own yet: the generic fallback says it all
        return _ended_early(results[0], exc)

    result = run_stage(run, StageName.ROLLBACK, body, partial=partial)
    _report(run, result)
    return result


# -- steps -------------------------------------------------------------------------------------
@contextmanager
def _step(run: Run, result: RollbackResult, name: str) -> Iterator[RollbackStep]:
    step = RollbackStep(name=name, status=Status.PASSED, started_at=run.clock())
    result.steps.append(step)
    run.reporter.line(f"rollback: {name}…")
    t0 = time.monotonic()
    try:
        yield step
    except RelgateError as exc:
        step.status, step.detail = Status.FAILED, exc.message
        raise
    finally:
        step.duration_s = round(time.monotonic() - t0, 3)


def _target(
    result: RollbackResult, app: AppControl, to_version: str | None, allow_unrecorded: bool
) -> str:
    recorded = app.recorded(to_version)
    why = getattr(app, "why", None)  # DeployMachinery says which version and why
    result.target_reason = str(why) if why and not to_version else None
    if recorded:
        if result.target_reason:
            result.warnings.append(result.target_reason)
        return recorded
    if to_version and allow_unrecorded:
        result.warnings.append(f"{to_version} has no record on this host: deployed by its tag")
        return to_version
    if to_version:
        _refuse(
            result,
            "no_previous_version",
            f"{to_version} has no last-known-good record on this host; pass --allow-unrecorded "
            "to deploy it by its image tag without pinned image IDs",
        )
    _refuse(
        result,
        "no_previous_version",
        result.target_reason or "no last-known-good version recorded on this host",
        exit_code=2,
    )


def _check_migrations(
    config: RelgateConfig, run: Run, result: RollbackResult, app: AppControl, policy: RestorePolicy
) -> bool:
    """Before anything is touched: were migrations involved since the target version?"""
    from relgate.deploy.schema import decide_restore

    result.restore_policy = policy
    target = result.target_version or "?"
    configured = config.deploy.schema_version is not None
    with _guard(run, result, "check migrations", "rollback_failed") as step:
        if configured:
            result.schema_now = app.schema_now("before-rollback")
            result.schema_target = app.recorded_schema(target)
        decision = decide_restore(
            target_version=target,
            schema_now=result.schema_now,
            schema_target=result.schema_target,
            configured=configured,
            policy=policy,
        )
        result.migrations_involved = decision.migrations_involved
        result.restore_decision = step.detail = decision.reason
        run.reporter.line(f"database: {decision.reason}")
    return decision.restore


def _check_schema(config: RelgateConfig, run: Run, result: RollbackResult, app: AppControl) -> None:
    """Once the target runs: its recorded schema, or the rollback is not what it claims (the
    version would run on a schema it never passed the gate with). Fails closed; the safety dump
    (when a restore ran) is named so an operator can go back by hand."""
    from relgate.deploy.schema import schema_after_note

    if config.deploy.schema_version is None or result.schema_target is None:
        return
    target = result.target_version or "?"
    with _guard(run, result, "check schema", "rollback_failed") as step:
        result.schema_after = app.schema_now("after-rollback")
        ok, note = schema_after_note(
            target_version=target,
            schema_after=result.schema_after,
            schema_target=result.schema_target,
            restored=result.restored,
        )
        if not ok:
            hint = f" Safety dump: {result.restore_command}." if result.restore_command else ""
            raise _Refused(f"{note}.{hint}")
        step.detail = note


def _passed_summary(result: RollbackResult) -> str:
    healthy = f"{result.rolled_back_to} redeployed and healthy"
    if result.restore_decision is None:
        return healthy
    done = "database restored" if result.restored else "database not restored"
    return f"{healthy}; {done}: {result.restore_decision}"


def _database(
    config: RelgateConfig,
    run: Run,
    environment: str,
    result: RollbackResult,
    *,
    app: AppControl,
    backup: Path | None,
    runner: CommandRunner,
) -> None:
    running = app.recorded(None) or result.target_version
    conn, db = connect(config, environment, run.env, run.secrets, version=running)
    with _guard(run, result, "check backup", "backup_refused") as step:
        path = backup or _newest_backup(config, environment)
        check = check_backup(
            path, max_age=db.max_backup_age, now=run.clock(), conn=conn, runner=runner
        )
        result.backup = check
        if not check.ok:
            raise _Refused("refusing the backup, nothing was touched: " + "; ".join(check.problems))
        step.detail = f"{path.name}: sha256 {check.sha256}, {_age(check.age_s)} old"
        _note_version(result, check, result.target_version)
    keep = [*([db.service] if db.service else []), *config.rollback.keep_running]
    with _guard(run, result, "stop application", "rollback_failed") as step:
        step.detail = app.stop(keep=keep)
    with _guard(run, result, "safety dump", "rollback_failed", _KEEP_HINT + _APP_STOPPED) as step:
        result.safety_dump = _safety_dump(config, run, environment, conn=conn, db=db, runner=runner)
        step.detail = f"{result.safety_dump.path} (sha256 {result.safety_dump.sha256})"
    safety = Path(result.safety_dump.path)
    result.restore_command = manual_restore_command(conn, db.dsn_env, safety)
    hint = (
        f"The safety dump of the database as it was before the restore is {safety}; to put it "
        f"back by hand: {result.restore_command}. {_APP_STOPPED}"
    )
    with _guard(run, result, "restore into a fresh database", "restore_failed") as step:
        assert check.format is not None
        report = restore_fresh(
            conn,
            path,
            check.format,
            safety_hint=hint,
            timeout=db.timeout.total_seconds(),
            runner=runner,
            log=lambda line: _log(run, line),
        )
        step.detail = "; ".join(f"{n} {d:.1f}s" for n, d in report.steps)


def _log(run: Run, line: str) -> None:
    run.append_log("logs/rollback/restore.log", line + "\n")


_KEEP_HINT = (
    "If the database runs in the stack, list its service in rollback.keep_running "
    "(or reach it with database.service) so stopping the application leaves it up. "
)
_APP_STOPPED = (
    "The application services are stopped: bring them back with "
    "`relgate rollback --mode quick` once the database is sound."
)


class _Refused(RelgateError):
    """A step said no; the message goes into the result as is."""


@contextmanager
def _guard(
    run: Run, result: RollbackResult, name: str, outcome: str, suffix: str = ""
) -> Iterator[RollbackStep]:
    """Run one step; on a relgate error conclude with ``outcome`` and stop the rollback."""
    try:
        with _step(run, result, name) as step:
            yield step
    except Interrupted:
        raise  # an interruption is not a verdict: run.stage records it as such
    except RestoreError as exc:
        _refuse(result, outcome, f"{name} failed: {exc.message}")
    except RelgateError as exc:
        message = exc.message if isinstance(exc, _Refused) else f"{name} failed: {exc.message}"
        _refuse(result, outcome, f"{message} {suffix}".strip())


def _refuse(
    result: RollbackResult, outcome: str, message: str, *, exit_code: int | None = None
) -> NoReturn:
    _conclude(result, outcome, message)
    if exit_code is not None:  # nothing to go back to: the request cannot be met as asked
        result.exit_code, result.status = exit_code, Status.ERROR
    raise _Failed


def _newest_backup(config: RelgateConfig, environment: str) -> Path:
    records = find_backups(config, environment)
    if not records:
        raise _Refused(
            "no backup with a sidecar record found for this environment (take one with "
            "`relgate backup`, or pass --backup FILE); nothing was touched"
        )
    return Path(records[0].path)


def _note_version(result: RollbackResult, check: BackupCheck, target: str | None) -> None:
    taken = check.record.app_version if check.record else None
    if taken and target and taken != target:
        result.warnings.append(
            f"the backup was taken while {taken} was running; redeploying {target}"
        )


def _safety_dump(
    config: RelgateConfig,
    run: Run,
    environment: str,
    *,
    conn: Connection,
    db: DatabaseConfig,
    runner: CommandRunner,
) -> BackupRecord:
    when = run.clock()
    folder = config.resolve_path(db.backup_dir)
    name = backup_file_name(config.project.name, environment, when, db.format, "safety")
    return take_backup(
        conn,
        folder / name,
        fmt=db.format,
        kind="safety",
        project=config.project.name,
        environment=environment,
        app_version=None,
        run_id=run.id,
        clock=run.clock,
        timeout=db.timeout.total_seconds(),
        runner=runner,
    )


def _redeploy(run: Run, result: RollbackResult, app: AppControl, to_version: str | None) -> None:
    with _guard(run, result, "redeploy last-known-good", "rollback_failed") as step:
        deployed = app.redeploy(to_version)
        run.write_json("artifacts/rollback/deploy.json", deployed)
        result.deploy_outcome = deployed.outcome
        step.detail = deployed.summary
        if deployed.outcome != "rolled_back":
            raise _Refused(f"redeploy did not end healthy: {deployed.summary or deployed.outcome}")
        result.rolled_back_to = deployed.version or result.target_version


def _database_answers(
    config: RelgateConfig, run: Run, environment: str, result: RollbackResult, runner: CommandRunner
) -> None:
    """The seed's checklist: "DB accessible" after the rollback, not just the app healthy."""
    with _guard(run, result, "database reachable", "rollback_failed") as step:
        conn, _ = connect(config, environment, run.env, run.secrets, version=result.rolled_back_to)
        version = server_version(conn, runner=runner)
        if version is None:
            raise _Refused(f"the restored database {conn.label} does not answer")
        step.detail = f"{conn.label}: PostgreSQL {version.split()[0]}"


def _smoke(
    config: RelgateConfig, run: Run, environment: str, result: RollbackResult, area: str | None
) -> None:
    with _guard(run, result, "smoke", "rollback_failed") as step:
        from relgate.smoke.stage import Places, smoke

        report = smoke(
            config, run, environment=environment, version=result.rolled_back_to,
            places=Places.under(area) if area else None,
        )  # fmt: skip
        result.smoke_verdict = step.detail = str(getattr(report, "verdict", report.summary))
        if not report.passed:
            raise _Refused(f"smoke after rollback failed: {result.smoke_verdict}")


def _ended_early(result: RollbackResult, exc: BaseException) -> RollbackResult:
    """A signal (exit 3, interrupted), bad input (exit 2) or a crash (exit 3) during a step: that
    step is marked, the result says where it stopped and how to undo a restore that had begun."""
    where = result.steps[-1].name if result.steps else "start"
    status, exit_code = ended_by(exc)
    what = "interrupted" if status is Status.INTERRUPTED else "could not finish"
    if result.steps and (status is Status.INTERRUPTED or result.steps[-1].status is Status.PASSED):
        result.steps[-1].status = status
    result.status, result.exit_code = status, exit_code
    result.outcome = {Status.INTERRUPTED: "interrupted", Status.FAILED: "rollback_failed"}.get(
        status, "bad_config" if exit_code == 2 else "could_not_run"
    )
    result.summary = result.error = f"rollback {what} during {where}: {describe_end(exc)}"
    if result.safety_dump is not None:
        result.error += f"; safety dump: {result.safety_dump.path} ({result.restore_command})"
    return result


def _record(run: Run, result: RollbackResult, app: AppControl) -> None:
    """Without this, the record would still name the version just rolled away from, and the next
    quick rollback would bring it back."""
    if not result.rolled_back_to:
        return
    try:
        with _step(run, result, "record last-known-good") as step:
            step.detail = app.record(result.rolled_back_to)
    except Interrupted:
        raise
    except RelgateError as exc:
        result.warnings.append(f"the last-known-good record was not updated: {exc.message}")


def _conclude(result: RollbackResult, outcome: str, summary: str) -> None:
    result.outcome = outcome
    result.summary = summary
    ok = outcome == "rolled_back"
    result.status = Status.PASSED if ok else Status.FAILED
    result.exit_code = 0 if ok else 1
    result.error = None if ok else summary


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds / 3600:.1f}h" if seconds >= 3600 else f"{seconds / 60:.0f}m"


def _report(run: Run, result: RollbackResult) -> None:
    from relgate.gha import Summary

    summary = Summary().heading(f"Rollback ({result.mode}): {result.outcome}")
    summary.paragraph(result.summary)
    if result.restore_decision and result.restore_decision not in result.summary:
        summary.paragraph(f"Database: {result.restore_decision}")
    summary.table(
        ["step", "status", "seconds", "detail"],
        [[s.name, s.status.value, f"{s.duration_s:.1f}", s.detail] for s in result.steps],
    )
    if result.warnings:
        summary.bullets(result.warnings)
    run.reporter.write_summary(summary)
