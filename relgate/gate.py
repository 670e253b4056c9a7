"""``relgate gate``: the one-shot — lock → preflight → deploy → smoke → archive (always) → notes.

The gate reads as the runbook's one-shot command, with the holes closed: it fails fast (a failed
deploy skips smoke, recorded as ``skipped``), rolls back after a failed smoke, archives *whatever
happened* (a failure, a crash, SIGTERM/SIGINT: signals are held while the bundle is written), and
ends with one verdict line, a job summary (per-stage table, Mermaid timeline) and step outputs.

The stage functions are passed in as a mapping ``name -> fn(config, run)``, so the orchestration
can be tested with real stages or with stand-ins; :func:`default_stages` binds relgate's own.
Stages left out of the mapping are recorded as skipped, never silently absent. Every stage runs
through :func:`relgate.run.run_stage` and is read back through the typed ``Run.read_result``.
The lock and signal holding live in :mod:`relgate.gate_guard`, the report in
:mod:`relgate.gate_report`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from relgate.errors import Interrupted, RelgateError
from relgate.gate_guard import environment_lock, signals_held
from relgate.gate_report import report
from relgate.recorded import ReadState, Recorded
from relgate.results import StageName, StageResult, Status
from relgate.results.archive import ArchiveResult
from relgate.results.deploy import DeployResult
from relgate.results.gate import GateResult, GateStageRow
from relgate.results.notes import NotesResult
from relgate.results.smoke import SmokeReport
from relgate.run import run_stage

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.run import Run

__all__ = ["CHECKS", "GateResult", "GateStageRow", "StageFn", "default_stages", "gate"]

StageFn = Callable[["RelgateConfig", "Run"], StageResult]
CHECKS = ("preflight", "deploy", "smoke")


def gate(
    config: RelgateConfig,
    run: Run,
    *,
    environment: str,
    version: str,
    wait_lock: timedelta,
    stages: Mapping[str, StageFn] | None = None,
    notes: bool = True,
) -> GateResult:
    """Run the whole gate; the result's ``exit_code`` is 0, 1 (a gate said no) or 2/3."""
    stages = default_stages(environment=environment, version=version) if stages is None else stages
    run.environment, run.version = environment, version
    result = GateResult(status=Status.PASSED, started_at=run.clock())
    with environment_lock(
        config, run, environment=environment, version=version, wait=wait_lock, result=result
    ):
        interrupted = _checks_until_interrupted(config, run, stages, result)
        _record_verdict_so_far(run, result, interrupted)
        interrupted = _archive_always(config, run, stages, result) or interrupted
    if notes and not interrupted and _all_passed(result):
        interrupted = _notes_after_a_pass(config, run, stages, result)
    _conclude(result, interrupted)
    run.write_result(result)
    report(run, result)
    return result


def default_stages(*, environment: str, version: str) -> dict[str, StageFn]:
    """relgate's own stages, bound to the gate's environment and version (imported lazily)."""

    def preflight(config: RelgateConfig, run: Run) -> StageResult:
        from relgate.preflight import preflight

        return preflight(config, run, environment=environment, version=version)

    def deploy(config: RelgateConfig, run: Run) -> StageResult:
        from relgate.deploy.stage import deploy
        from relgate.smoke.after_rollback import smoke_after_rollback

        after = smoke_after_rollback(config, run, environment=environment)
        return deploy(
            config, run, environment=environment, version=version, smoke_after_rollback=after
        )

    def smoke(config: RelgateConfig, run: Run) -> StageResult:
        from relgate.smoke.stage import smoke

        return smoke(config, run, environment=environment)

    def archive(config: RelgateConfig, run: Run) -> StageResult:
        from relgate.evidence.archive import archive

        return archive(config, run)

    def notes(config: RelgateConfig, run: Run) -> StageResult:
        from relgate.notes.stage import default_output, notes

        return notes(config, run, version=version, output=default_output(config, version))

    return {
        "preflight": preflight,
        "deploy": deploy,
        "smoke": smoke,
        "archive": archive,
        "notes": notes,
        "rollback": _bound_rollback(environment),
    }


def _bound_rollback(environment: str) -> StageFn:
    """Quick rollback to the version that ran *before* this deploy.

    Not to the last-known-good: the deploy recorded the new version as good once it was healthy,
    and it is that version's smoke test that just failed.
    """

    def call(config: RelgateConfig, run: Run) -> StageResult:
        from relgate.rollback import rollback

        deployed = run.read_result(DeployResult)
        previous = deployed.result.previous_version if deployed.result else None
        if not previous:
            why = (
                "no version ran before this deploy; nothing to roll back to"
                if deployed.result
                else f"the deploy result is {deployed.state.value} ({deployed.problem}), so "
                "the version to go back to is unknown"
            )
            return StageResult(
                stage="rollback", status=Status.SKIPPED, summary=f"skipped: {why}",
                started_at=run.clock(),
            )  # fmt: skip
        return rollback(
            config, run, environment=environment, mode="quick", to_version=previous,
            smoke_area="rollback",  # results/smoke.json stays the failed smoke of the new version
        )  # fmt: skip

    return call


# -- the outline's steps ----------------------------------------------------------------------
def _checks_until_interrupted(
    config: RelgateConfig, run: Run, stages: Mapping[str, StageFn], result: GateResult
) -> bool:
    try:
        return _run_checks(config, run, stages, result)
    except (Interrupted, KeyboardInterrupt):  # a signal between two stages
        return True


def _record_verdict_so_far(run: Run, result: GateResult, interrupted: bool) -> None:
    """The gate's verdict as it stands before archiving goes *into* the bundle: the auditor sees
    the verdict, the stage table and the lock; the final result (with the digest) follows it."""
    provisional = result.model_copy(deep=True)
    _conclude(provisional, interrupted)
    run.write_result(provisional)


def _archive_always(
    config: RelgateConfig, run: Run, stages: Mapping[str, StageFn], result: GateResult
) -> bool:
    """Archive with SIGTERM/SIGINT held; True if one arrived meanwhile."""
    with signals_held() as held:
        _run_stage("archive", stages, config, run, result)
    packed = run.read_result(ArchiveResult).result
    if packed is not None:
        result.bundle_path, result.bundle_digest = packed.bundle_path, packed.bundle_digest
    return held.signal


def _notes_after_a_pass(
    config: RelgateConfig, run: Run, stages: Mapping[str, StageFn], result: GateResult
) -> bool:
    """Render the release notes; True if interrupted."""
    interrupted = False
    try:
        _run_stage("notes", stages, config, run, result)
    except (Interrupted, KeyboardInterrupt):
        _record_interruption(run, result, "notes")
        interrupted = True
    rendered = run.read_result(NotesResult).result
    if rendered is not None:
        result.notes_path = rendered.output or rendered.artifact or None
    return interrupted


def _run_checks(
    config: RelgateConfig, run: Run, stages: Mapping[str, StageFn], result: GateResult
) -> bool:
    """preflight → deploy → smoke, fail-fast; roll back after a failed smoke. True if interrupted."""
    blocked: str | None = None
    for name in CHECKS:
        if blocked is not None:
            _skip(run, result, name, _after_rollback(run, name, blocked))
            continue
        try:
            row = _run_stage(name, stages, config, run, result)
        except (Interrupted, KeyboardInterrupt):
            _record_interruption(run, result, name)
            for later in CHECKS[CHECKS.index(name) + 1 :]:
                _skip(run, result, later, f"the gate was interrupted during {name}")
            return True
        if row.status not in (Status.PASSED, Status.SKIPPED):
            blocked = f"{name} {row.status.value}"
    if _failed_after_deploy(result) and config.deploy.rollback:
        try:
            _run_stage("rollback", stages, config, run, result)
        except (Interrupted, KeyboardInterrupt):
            _record_interruption(run, result, "rollback")
            return True
    return False


def _after_rollback(run: Run, name: str, blocked: str) -> str:
    """Why smoke is skipped, and — when the deploy rolled back — what the smoke tested instead:
    the version it ran against is named, so no reader takes it for the new version's smoke."""
    deployed = run.read_result(DeployResult).result if name == "smoke" else None
    rollback = deployed.rollback if deployed is not None else None
    if deployed is None or rollback is None:
        return blocked
    new = deployed.target_version or "the new version"
    if rollback.smoke is None:
        return f"{blocked}; {new} was never smoke-tested (rolled back to {rollback.version})"
    ran = rollback.smoke
    return (
        f"{blocked}; {new} was never smoke-tested; the smoke ran against the rolled-back "
        f"{ran.version} instead: {ran.status.value} ({ran.failed_step or ran.summary}; "
        f"{ran.report or ran.log})"
    )


def _failed_after_deploy(result: GateResult) -> bool:
    rows = {row.stage: row for row in result.stages}
    deploy, smoke = rows.get("deploy"), rows.get("smoke")
    return bool(
        deploy
        and deploy.status is Status.PASSED
        and smoke
        and smoke.status in (Status.FAILED, Status.ERROR)
    )


def _run_stage(
    name: str,
    stages: Mapping[str, StageFn],
    config: RelgateConfig,
    run: Run,
    result: GateResult,
) -> GateStageRow:
    """Run one stage; one that raises is recorded (by ``run_stage``) and the gate goes on (to
    archive). Interruptions are re-raised after recording, so the caller can stop the checks."""
    fn = stages.get(name)
    if fn is None:
        return _skip(run, result, name, "not part of this gate")
    with run.reporter.group(name):
        try:
            run_stage(run, StageName(name), lambda: fn(config, run))
        except (Interrupted, KeyboardInterrupt):
            raise
        except RelgateError as exc:
            for line in exc.lines():
                run.reporter.error(line, title=name)
        except Exception as exc:  # a bug in a stage must not cost the evidence
            run.reporter.error(f"{type(exc).__name__}: {exc}", title=f"{name} crashed")
    recorded = run.read_result(StageName(name))
    return _add_row(result, _usable(recorded, run), _detail(recorded))


def _usable(recorded: Recorded[StageResult], run: Run) -> StageResult:
    """The recorded result, or an error row saying why there is none (never a pass)."""
    if recorded.result is not None:
        return recorded.result
    why = "wrote no result" if recorded.state is ReadState.MISSING else "result is unreadable"
    stage = recorded.stage.value
    return StageResult(
        stage=stage, status=Status.ERROR, summary=f"{stage} {why}", error=recorded.problem
    ).finish(run.clock())


def _detail(recorded: Recorded[StageResult]) -> str:
    """What the verdict line says about a stage: for smoke, the failing step."""
    found = recorded.result
    if found is None:
        return recorded.describe()
    if found.status is Status.PASSED:
        return found.summary
    step = found.failed_step if isinstance(found, SmokeReport) else None
    if step is None:
        return found.summary or found.status.value
    assert isinstance(found, SmokeReport)
    where = f"step {step.index}/{found.total} {step.name}".strip()
    why = f"HTTP {step.status_code}" if step.status_code else (step.message or "failed")
    return f"{where} — {why}"


def _skip(run: Run, result: GateResult, name: str, why: str) -> GateStageRow:
    skipped = StageResult(stage=name, status=Status.SKIPPED, summary=f"skipped: {why}")
    skipped.started_at = run.clock()
    run.write_result(skipped)
    return _add_row(result, skipped, skipped.summary)


def _record_interruption(run: Run, result: GateResult, name: str) -> None:
    recorded = run.read_result(StageName(name)).result
    if recorded is None or recorded.status is not Status.INTERRUPTED:
        recorded = StageResult(
            stage=name,
            status=Status.INTERRUPTED,
            exit_code=3,
            summary=f"{name} interrupted",
            error="interrupted by a signal",
        )
        run.write_result(recorded)
    run.reporter.warning(f"interrupted during {name}; archiving the evidence before stopping")
    _add_row(result, recorded, recorded.summary)


def _add_row(result: GateResult, stage: StageResult, detail: str) -> GateStageRow:
    row = GateStageRow(
        stage=stage.stage,
        status=stage.status,
        summary=stage.summary,
        detail=detail,
        exit_code=stage.exit_code,
        started_at=stage.started_at,
        finished_at=stage.finished_at,
        duration_s=stage.duration_s,
    )
    result.stages = [r for r in result.stages if r.stage != row.stage] + [row]
    return row


def _all_passed(result: GateResult) -> bool:
    return all(r.status in (Status.PASSED, Status.SKIPPED) for r in result.stages) and not any(
        r.stage in ("deploy", "smoke") and r.status is Status.SKIPPED for r in result.stages
    )


# -- verdict ----------------------------------------------------------------------------------
def _conclude(result: GateResult, interrupted: bool) -> None:
    broken = [r for r in result.stages if r.status in (Status.FAILED, Status.ERROR)]
    stopped = [r for r in result.stages if r.status is Status.INTERRUPTED]
    if interrupted or stopped:
        where = stopped[0].stage if stopped else "archive"
        result.status, result.exit_code, result.failed_stage = Status.INTERRUPTED, 3, where
        result.verdict = f"GATE INTERRUPTED during {where}: evidence archived, nothing released"
    elif broken:
        bad = broken[0]
        result.status, result.failed_stage = Status.FAILED, bad.stage
        # failed: the gate said no (1); error: bad input (2) or could not run (3), as recorded.
        result.exit_code = (
            1 if bad.status is Status.FAILED or bad.exit_code not in (2, 3) else bad.exit_code
        )
        result.verdict = f"GATE FAILED at {bad.stage}: {bad.detail or bad.status.value}"
    else:
        result.status, result.exit_code = Status.PASSED, 0
        result.verdict = "GATE PASSED"
    result.summary = result.verdict
