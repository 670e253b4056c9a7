"""``relgate gate``: the one-shot — lock → preflight → deploy → smoke → archive (always) → notes.

The gate reads as the runbook's one-shot command, with the holes closed: it fails fast (a failed
deploy skips smoke, recorded as ``skipped``), rolls back after a failed smoke, archives *whatever
happened* (a failure, a crash, SIGTERM/SIGINT: signals are held while the bundle is written), and
ends with one verdict line, a job summary (per-stage table, Mermaid timeline) and step outputs.

The stage functions are passed in as a mapping ``name -> fn(config, run)``, so the orchestration
can be tested with real stages or with stand-ins; :func:`default_stages` binds relgate's own.
Optional stages (preflight, rollback, notes) may be left out of the mapping: they are then recorded
as skipped, never silently absent.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relgate.errors import GateFailed, Interrupted, RelgateError
from relgate.gha import Summary
from relgate.results import StageResult, Status

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.run import Run

__all__ = ["CHECKS", "GateResult", "GateStageRow", "StageFn", "default_stages", "gate"]

StageFn = Callable[["RelgateConfig", "Run"], StageResult]
CHECKS = ("preflight", "deploy", "smoke")
_ORDER = ("preflight", "deploy", "smoke", "rollback", "archive", "notes")


class GateStageRow(BaseModel):
    stage: str
    status: Status
    summary: str = ""
    detail: str = Field("", description="What the verdict line says (smoke: the failing step).")
    exit_code: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None


class GateResult(StageResult):
    stage: Literal["gate"] = "gate"
    verdict: str = Field("", description="GATE PASSED / GATE FAILED at smoke: step 4/9 …")
    failed_stage: str | None = None
    stages: list[GateStageRow] = Field(default_factory=list)
    bundle_path: str | None = None
    bundle_digest: str | None = None
    notes_path: str | None = None
    lock: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)


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
    with _environment_lock(
        config, run, environment=environment, version=version, wait=wait_lock, result=result
    ):
        interrupted = _checks_until_interrupted(config, run, stages, result)
        _record_verdict_so_far(run, result, interrupted)
        interrupted = _archive_always(config, run, stages, result) or interrupted
    if notes and not interrupted and _all_passed(result):
        interrupted = _notes_after_a_pass(config, run, stages, result)
    _conclude(result, interrupted)
    run.write_result(result)
    _report(run, result)
    return result


def default_stages(*, environment: str, version: str) -> dict[str, StageFn]:
    """relgate's own stages, bound to the gate's environment and version (imported lazily).

    Optional stages whose module is absent from this build are left out (and so recorded as
    skipped); deploy, smoke and archive are always there.
    """
    bound: dict[str, tuple[str, str, dict[str, Any]]] = {
        "preflight": (
            "relgate.preflight",
            "preflight",
            {"environment": environment, "version": version},
        ),
        "deploy": (
            "relgate.deploy.stage",
            "deploy",
            {"environment": environment, "version": version},
        ),
        "smoke": ("relgate.smoke.stage", "smoke", {"environment": environment}),
        "archive": ("relgate.evidence.archive", "archive", {}),
        "notes": ("relgate.notes.stage", "notes", {"version": version}),
    }
    optional = {"preflight", "rollback", "notes"}
    chosen = {
        name: _lazy(module, attr, kwargs)
        for name, (module, attr, kwargs) in bound.items()
        if name not in optional or _available(module)
    }
    if "notes" in chosen:
        chosen["notes"] = _bound_notes(version)
    if _available("relgate.rollback"):
        chosen["rollback"] = _bound_rollback(environment)
    return chosen


def _bound_rollback(environment: str) -> StageFn:
    """Quick rollback to the version that ran *before* this deploy.

    Not to the last-known-good: the deploy recorded the new version as good once it was healthy,
    and it is that version's smoke test that just failed.
    """

    def call(config: RelgateConfig, run: Run) -> StageResult:
        from relgate.rollback import rollback

        previous = _raw(run, "deploy").get("previous_version")
        if not previous:
            return StageResult(
                stage="rollback",
                status=Status.SKIPPED,
                summary="skipped: no version ran before this deploy; nothing to roll back to",
                started_at=run.clock(),
            )
        return rollback(config, run, environment=environment, mode="quick", to_version=previous)

    return call


def _bound_notes(version: str) -> StageFn:
    def call(config: RelgateConfig, run: Run) -> StageResult:
        from relgate.notes.stage import default_output, notes

        return notes(config, run, version=version, output=default_output(config, version))

    return call


def _available(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _lazy(module: str, attr: str, kwargs: dict[str, Any]) -> StageFn:
    def call(config: RelgateConfig, run: Run) -> StageResult:
        import importlib

        fn: Callable[..., StageResult] = getattr(importlib.import_module(module), attr)
        return fn(config, run, **kwargs)

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
    with _signals_held() as held:
        _run_stage("archive", stages, config, run, result)
    packed = _raw(run, "archive")
    result.bundle_path, result.bundle_digest = (
        packed.get("bundle_path"),
        packed.get("bundle_digest"),
    )
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
    rendered = _raw(run, "notes")
    result.notes_path = rendered.get("output") or rendered.get("artifact")
    return interrupted


def _run_checks(
    config: RelgateConfig, run: Run, stages: Mapping[str, StageFn], result: GateResult
) -> bool:
    """preflight → deploy → smoke, fail-fast; roll back after a failed smoke. True if interrupted."""
    blocked: str | None = None
    for name in CHECKS:
        if blocked is not None:
            _skip(run, result, name, blocked)
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
    """Run one stage; one that raises gets a fallback result and the gate goes on (to archive).

    Interruptions are re-raised after recording, so the caller can stop the checks.
    """
    fn = stages.get(name)
    if fn is None:
        return _skip(run, result, name, "not part of this gate")
    started = run.clock()
    with run.reporter.group(name):
        try:
            stage_result = fn(config, run)
            if _read_loose(run, name, since=started) is None:
                run.write_result(stage_result)
        except (Interrupted, KeyboardInterrupt) as exc:
            why = exc.message if isinstance(exc, Interrupted) else "interrupted by SIGINT"
            _fallback(run, name, started, status=Status.INTERRUPTED, exit_code=3, why=why)
            raise
        except RelgateError as exc:
            failed = isinstance(exc, GateFailed)
            status = Status.FAILED if failed else Status.ERROR
            _fallback(
                run, name, started, status=status, exit_code=int(exc.exit_code), why=exc.message
            )
            for line in exc.lines():
                run.reporter.error(line, title=name)
        except Exception as exc:  # a bug in a stage must not cost the evidence
            why = f"{type(exc).__name__}: {exc}"
            _fallback(run, name, started, status=Status.ERROR, exit_code=3, why=why)
            run.reporter.error(why, title=f"{name} crashed")
    recorded = _read_loose(run, name) or _missing(name, run)
    return _add_row(result, recorded, _detail(run, name, recorded))


class _Loose(StageResult):
    """Any stage's result, read for its common fields (the stage's own model may not be loaded)."""

    model_config = ConfigDict(extra="ignore")


def _read_loose(run: Run, name: str, *, since: datetime | None = None) -> StageResult | None:
    path = run.dir / "results" / f"{name}.json"
    try:
        loaded = _Loose.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None
    if since is not None and loaded.started_at < since:
        return None  # a result from before this gate (a re-used run directory)
    return loaded


def _fallback(
    run: Run, name: str, started: datetime, *, status: Status, exit_code: int, why: str
) -> None:
    if _read_loose(run, name, since=started) is not None:
        return  # the stage recorded its own end, which says more than we can
    fallback = StageResult(stage=name, status=status, exit_code=exit_code, started_at=started)
    fallback.error = run.secrets.redact(why)
    fallback.summary = f"{name} {status.value}: {fallback.error}"
    run.write_result(fallback)


def _missing(name: str, run: Run) -> StageResult:
    return StageResult(stage=name, status=Status.ERROR, summary=f"{name} wrote no result").finish(
        run.clock()
    )


def _raw(run: Run, name: str) -> dict[str, Any]:
    """A result's JSON as a dict, for the stage-specific fields the gate cites."""
    try:
        raw = json.loads((run.dir / "results" / f"{name}.json").read_bytes())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _detail(run: Run, name: str, recorded: StageResult) -> str:
    """What the verdict line says about a stage: for smoke, the failing step."""
    if recorded.status is Status.PASSED:
        return recorded.summary
    raw = _raw(run, name)
    step = raw.get("failed_step")
    if not isinstance(step, dict):
        return recorded.summary or recorded.status.value
    where = f"step {step.get('index', '?')}/{raw.get('total', '?')} {step.get('name', '')}".strip()
    code = step.get("status_code")
    why = f"HTTP {code}" if code else (step.get("message") or step.get("status") or "failed")
    return f"{where} — {why}"


def _skip(run: Run, result: GateResult, name: str, why: str) -> GateStageRow:
    skipped = StageResult(stage=name, status=Status.SKIPPED, summary=f"skipped: {why}")
    skipped.started_at = run.clock()
    run.write_result(skipped)
    return _add_row(result, skipped, skipped.summary)


def _record_interruption(run: Run, result: GateResult, name: str) -> None:
    recorded = _read_loose(run, name)
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


# -- lock and signals ---------------------------------------------------------------------------
@contextmanager
def _environment_lock(
    config: RelgateConfig,
    run: Run,
    *,
    environment: str,
    version: str,
    wait: timedelta,
    result: GateResult,
) -> Iterator[None]:
    from relgate.lock import LockOwner, lock_enabled, lock_for

    if not lock_enabled(config, run.env):
        result.lock = {"mode": "none", "why": "lock.mode never"}
        yield
        return
    lock = lock_for(config, environment, run.env)
    owner = LockOwner.me(
        run_id=run.id, environment=environment, version=version, clock=run.clock, key=lock.key
    )

    def waiting(holder: Any, left: float) -> None:
        who = holder.describe() if holder else "another run holds it"
        run.reporter.progress(f"waiting for the {environment} lock ({left:.0f}s left): {who}")

    with lock.held(owner, wait=wait, on_wait=waiting) as acquired:
        result.lock = {
            "path": str(lock.path),
            "key": lock.key.describe(),
            "owner": owner.to_dict(),
            "waited_s": acquired.waited_s,
        }
        if acquired.took_over is not None:
            old = acquired.took_over
            warning = (
                f"took over the {environment} lock: run {old.run_id} (pid {old.pid} on {old.host}, "
                f"since {old.since()}) ended without releasing it"
            )
            result.warnings.append(warning)
            result.lock["took_over"] = old.to_dict()
            run.reporter.warning(warning)
        run.update_meta(lock=result.lock)
        yield


class _Held:
    signal: bool = False


@contextmanager
def _signals_held() -> Iterator[_Held]:
    """Hold SIGTERM/SIGINT while the bundle is written: evidence half-packed is no evidence."""
    import threading

    held = _Held()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def remember(signum: int, frame: FrameType | None) -> None:
        held.signal = True

    previous = {s: signal.signal(s, remember) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield held
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# -- verdict and report ---------------------------------------------------------------------
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


def _report(run: Run, result: GateResult) -> None:
    out = run.reporter
    summary = Summary().heading(f"relgate gate: {result.version} → {result.environment}")
    summary.paragraph(result.verdict)
    summary.table(
        ["stage", "status", "duration", "summary"],
        [
            [r.stage, r.status.value, f"{r.duration_s:.1f}s" if r.duration_s else "", r.summary]
            for r in sorted(result.stages, key=lambda r: _ORDER.index(r.stage))
        ],
    )
    summary.mermaid(_gantt(result), _timeline_text(result))
    facts = (
        [f"evidence: {result.bundle_path} ({result.bundle_digest})"] if result.bundle_path else []
    )
    facts += [f"release notes: {result.notes_path}"] if result.notes_path else []
    facts += result.warnings
    if facts:
        summary.bullets(facts)
    out.write_summary(summary)
    out.set_output("status", result.status.value)
    out.set_output("verdict", result.verdict)
    out.set_output("version", result.version)
    if result.status is Status.PASSED:
        out.ok(result.verdict)
    else:
        out.error(result.verdict, title="relgate gate")


def _timed(result: GateResult) -> list[GateStageRow]:
    rows = [
        r
        for r in result.stages
        if r.started_at and r.finished_at and r.status not in (Status.SKIPPED, Status.NOT_RUN)
    ]
    return sorted(rows, key=lambda r: (r.started_at, _ORDER.index(r.stage)))


def _gantt(result: GateResult) -> str:
    lines = ["gantt", "  dateFormat x", "  axisFormat %H:%M:%S", "  section gate"]
    for row in _timed(result):
        if row.status in (Status.SKIPPED, Status.NOT_RUN):
            continue
        assert row.started_at and row.finished_at
        start = int(row.started_at.timestamp() * 1000)
        end = max(int(row.finished_at.timestamp() * 1000), start + 1)
        tag = "done" if row.status is Status.PASSED else "crit"
        lines.append(f"  {row.stage} {row.status.value} :{tag}, {row.stage}, {start}, {end}")
    return "\n".join(lines)


def _timeline_text(result: GateResult) -> str:
    rows = _timed(result)
    if not rows:
        return "timeline: no stage ran"
    first = min(r.started_at for r in rows if r.started_at)
    total = max((r.finished_at - first).total_seconds() for r in rows if r.finished_at) or 1.0
    lines = ["timeline:"]
    for row in rows:
        assert row.started_at and row.finished_at
        offset = (row.started_at - first).total_seconds()
        took = (row.finished_at - row.started_at).total_seconds()
        lead, width = int(30 * offset / total), max(1, int(30 * took / total))
        bar = " " * lead + ("█" if row.status is Status.PASSED else "▒") * width
        lines.append(
            f"  {row.stage:<10} {row.status.value:<11} +{offset:6.1f}s {took:6.1f}s |{bar:<31}|"
        )
    return "\n".join(lines)
