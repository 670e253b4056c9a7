from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relgate.errors import BadInputError, GateFailed, Interrupted
from relgate.gha import Reporter
from relgate.results import DeployResult, SmokeReport, StageName, StageResult, Status
from relgate.run import Run, new_run_id, run_stage
from relgate.secrets import SecretRegistry

FIXED = datetime(2026, 1, 29, 10, 42, 7, tzinfo=UTC)


def open_run(tmp_path: Path, env: dict[str, str] | None = None, **kw: object) -> Run:
    reporter = Reporter(io.StringIO(), env or {}, SecretRegistry())
    return Run.open(env=env or {}, reporter=reporter, base_dir=tmp_path, clock=lambda: FIXED, **kw)  # type: ignore[arg-type]


def test_run_id_in_actions_is_shared_by_jobs() -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "9912", "GITHUB_RUN_ATTEMPT": "2"}
    assert new_run_id(env) == "gh-9912-2"


def test_local_run_ids_are_unique_even_in_the_same_second() -> None:
    ids = {new_run_id({}, lambda: FIXED) for _ in range(50)}
    assert len(ids) == 50 and all(i.startswith("20260129T104207Z-") for i in ids)


def test_layout_and_meta(tmp_path: Path) -> None:
    run = open_run(tmp_path, environment="staging")
    assert run.dir.parent == tmp_path / ".relgate" / "runs"
    assert {p.name for p in run.dir.iterdir()} >= {"results", "logs", "artifacts", "meta.json"}
    meta = run.read_meta()
    assert meta.run_id == run.id and meta.environment == "staging"
    assert meta.started_at is not None and meta.started_at.startswith("2026-01-29T10:42:07")


def test_reopening_by_dir_keeps_the_id(tmp_path: Path) -> None:
    first = open_run(tmp_path)
    again = open_run(tmp_path, run_dir=first.dir)
    assert again.id == first.id and again.dir == first.dir


def test_run_dir_exported_for_later_steps(tmp_path: Path) -> None:
    (tmp_path / "env").touch()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_ENV": str(tmp_path / "env"), "GITHUB_RUN_ID": "5"}
    run = open_run(tmp_path, env)
    assert "RELGATE_RUN_DIR<<" in (tmp_path / "env").read_text()
    assert str(run.dir) in (tmp_path / "env").read_text()


@pytest.mark.parametrize(
    "bad", ["/etc/passwd", "../escape.txt", "logs/../../x"], ids=["abs", "dotdot", "nested"]
)
def test_writer_refuses_paths_outside(tmp_path: Path, bad: str) -> None:
    run = open_run(tmp_path)
    with pytest.raises(BadInputError):
        run.write_text(bad, "x")


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    run.write_text("artifacts/x/a.txt", "one")
    run.write_text("artifacts/x/a.txt", "two")
    folder = run.dir / "artifacts" / "x"
    assert [p.name for p in folder.iterdir()] == ["a.txt"]
    assert (folder / "a.txt").read_text() == "two"


def test_failed_write_keeps_previous_content(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    run.write_json("results/x.json", {"ok": 1})

    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("serialisation failed")

    with pytest.raises(RuntimeError):
        run.write_json("results/x.json", {"bad": Boom()})
    assert json.loads((run.dir / "results" / "x.json").read_text()) == {"ok": 1}
    assert sorted(os.listdir(run.dir / "results")) == ["x.json"]


def test_write_result_fills_run_fields(tmp_path: Path) -> None:
    run = open_run(tmp_path, environment="staging")
    run.version = "v1.2.0"
    run.write_result(StageResult(stage="deploy", status=Status.PASSED, started_at=FIXED))
    got = run.read_result(StageName.DEPLOY).get()
    assert got.run_id == run.id and got.environment == "staging"
    assert got.version == "v1.2.0" and got.duration_s == 0.0


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        pytest.param(Interrupted("interrupted by SIGTERM"), Status.INTERRUPTED, 3, id="sigterm"),
        pytest.param(KeyboardInterrupt(), Status.INTERRUPTED, 3, id="sigint"),
        pytest.param(GateFailed("no"), Status.FAILED, 1, id="gate-failed"),
        pytest.param(BadInputError("bad flag"), Status.ERROR, 2, id="bad-input"),
        pytest.param(ZeroDivisionError("bug"), Status.ERROR, 3, id="crash"),
    ],
)
def test_stage_records_a_result_when_the_body_raises(
    tmp_path: Path, exc: BaseException, status: Status, code: int
) -> None:
    run = open_run(tmp_path)

    def body() -> StageResult:
        raise exc

    with pytest.raises(type(exc)):
        run_stage(run, StageName.SMOKE, body)
    got = run.read_result(SmokeReport).get()
    assert got.status is status and got.exit_code == code


def test_stage_keeps_the_result_the_body_wrote(tmp_path: Path) -> None:
    run = open_run(tmp_path)

    def body() -> StageResult:
        run.write_result(StageResult(stage="deploy", status=Status.FAILED, outcome="rolled_back"))
        raise Interrupted("late signal")

    with pytest.raises(Interrupted):
        run_stage(run, StageName.DEPLOY, body)
    assert run.read_result(DeployResult).get().outcome == "rolled_back"


def test_stage_writes_the_returned_result_once(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    returned = run_stage(
        run, StageName.SMOKE, lambda: SmokeReport(status=Status.FAILED, passed_count=3, total=4)
    )
    got = run.read_result(SmokeReport).get()
    assert got == returned and got.passed_count == 3


def test_stage_keeps_an_unreadable_result_beside_the_fallback(tmp_path: Path) -> None:
    """A body that wrote a result its model refuses: the fallback records the exception, and
    the original bytes stay in the run directory as evidence."""
    run = open_run(tmp_path)

    def body() -> StageResult:
        run.write_text("results/deploy.json", '{"stage": "deploy", "outcome_detail": "x"}')
        raise Interrupted("late signal")

    with pytest.raises(Interrupted):
        run_stage(run, StageName.DEPLOY, body)
    assert run.read_result(DeployResult).get().status is Status.INTERRUPTED
    kept = run.dir / "artifacts" / "deploy" / "unreadable-result.json"
    assert '"outcome_detail"' in kept.read_text()


# -- the stage's own partial result (run_stage's ``partial`` hook) -------------------------------
def _interrupted_body() -> DeployResult:
    raise Interrupted("interrupted by SIGTERM")


def test_stage_writes_its_own_partial_result_when_the_body_raises(tmp_path: Path) -> None:
    """The hook turns the exception into the stage's own, richer model (what was done so far)."""
    run = open_run(tmp_path)
    seen: list[BaseException] = []

    def partial(exc: BaseException) -> DeployResult:
        seen.append(exc)
        return DeployResult(
            status=Status.INTERRUPTED, exit_code=3, target_version="v2", previous_version="v1"
        )

    with pytest.raises(Interrupted):
        run_stage(run, StageName.DEPLOY, _interrupted_body, partial=partial)
    got = run.read_result(DeployResult).get()
    assert (got.status, got.exit_code, got.previous_version) == (Status.INTERRUPTED, 3, "v1")
    assert got.run_id == run.id and got.finished_at is not None
    assert len(seen) == 1 and isinstance(seen[0], Interrupted)


def _raising_hook(exc: BaseException) -> DeployResult:
    raise ValueError("bug in the hook")


def _foreign_hook(exc: BaseException) -> DeployResult:
    return SmokeReport(status=Status.INTERRUPTED)  # type: ignore[return-value]


def _second_signal_hook(exc: BaseException) -> DeployResult:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("hook", "why"),
    [
        pytest.param(_raising_hook, "ValueError: bug in the hook", id="hook-raises"),
        pytest.param(
            _foreign_hook, "TypeError: the hook returned a 'smoke' result", id="other-stage"
        ),
        pytest.param(_second_signal_hook, "interrupted (SIGINT)", id="second-signal"),
    ],
)
def test_a_failing_hook_never_costs_the_result(tmp_path: Path, hook: object, why: str) -> None:
    """The generic fallback still records how the stage ended, says the partial result was lost
    and why, and the body's exception (not the hook's) goes on."""
    run = open_run(tmp_path)
    with pytest.raises(Interrupted):
        run_stage(run, StageName.DEPLOY, _interrupted_body, partial=hook)  # type: ignore[arg-type]
    got = run.read_result(StageName.DEPLOY).get()
    assert (got.stage, got.status, got.exit_code) == ("deploy", Status.INTERRUPTED, 3)
    assert got.error is not None and got.error.startswith("interrupted by SIGTERM")
    assert f"its own partial result was lost: {why}" in got.error
    assert not (run.dir / "results" / "smoke.json").exists()


def test_the_hook_is_not_asked_when_the_body_returns_or_recorded_its_end(tmp_path: Path) -> None:
    run = open_run(tmp_path)

    def never(exc: BaseException) -> DeployResult:
        raise AssertionError("the hook ran")

    returned = run_stage(
        run, StageName.DEPLOY, lambda: DeployResult(status=Status.PASSED), partial=never
    )
    assert run.read_result(DeployResult).get() == returned

    def records_then_raises() -> DeployResult:
        run.write_result(DeployResult(status=Status.FAILED, outcome="rolled_back"))
        raise Interrupted("late signal")

    with pytest.raises(Interrupted):
        run_stage(run, StageName.DEPLOY, records_then_raises, partial=never)
    assert run.read_result(DeployResult).get().outcome == "rolled_back"


def test_nested_stages_write_the_inner_partial_result_once(tmp_path: Path) -> None:
    """The gate runs deploy (itself a run_stage with a hook) inside its own run_stage: the
    deploy's own partial result is written once, and the outer fallback leaves it alone."""
    writes: list[str] = []

    class Counting(Run):
        def write_result(self, result: StageResult) -> Path:
            writes.append(f"{result.stage}:{result.status.value}")
            return super().write_result(result)

    plain = open_run(tmp_path)
    run = Counting(plain.id, plain.dir, env={}, secrets=plain.secrets, reporter=plain.reporter,
                   clock=plain.clock)  # fmt: skip

    def deploy() -> DeployResult:
        return run_stage(
            run,
            StageName.DEPLOY,
            _interrupted_body,
            partial=lambda exc: DeployResult(
                status=Status.INTERRUPTED, exit_code=3, rolled_back=True
            ),
        )

    with pytest.raises(Interrupted):
        run_stage(run, StageName.DEPLOY, deploy)
    assert writes == ["deploy:interrupted"]
    assert run.read_result(DeployResult).get().rolled_back is True
