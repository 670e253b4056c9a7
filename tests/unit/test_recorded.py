"""The typed read API: a result is recorded, missing or unreadable — never guessed."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relgate.errors import BadInputError
from relgate.gha import Reporter
from relgate.recorded import (
    MAX_RESULT_BYTES,
    ReadState,
    ResultUnavailable,
    parse_result,
    read_result,
)
from relgate.results import (
    RESULT_MODELS,
    DeployResult,
    RunMeta,
    SmokeReport,
    StageName,
    StageResult,
    Status,
)
from relgate.run import Run
from relgate.secrets import SecretRegistry

FIXED = datetime(2026, 1, 29, 10, 42, 7, tzinfo=UTC)


def open_run(tmp_path: Path) -> Run:
    reporter = Reporter(io.StringIO(), {}, SecretRegistry())
    return Run.open(env={}, reporter=reporter, run_dir=tmp_path / "run", clock=lambda: FIXED)


def _smoke(**fields: object) -> bytes:
    doc: dict[str, object] = {"stage": "smoke", "status": "passed", "passed_count": 9, "total": 9}
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def test_missing_is_not_unreadable_nor_failed(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    got = run.read_result(SmokeReport)
    assert got.state is ReadState.MISSING and got.result is None
    assert got.verdict == "missing" and not got.passed and not got.failed
    with pytest.raises(ResultUnavailable, match="smoke: missing"):
        got.get()


def test_recorded_gives_back_the_writers_model(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    run.write_result(SmokeReport(status=Status.FAILED, passed_count=3, total=9))
    got = run.read_result(SmokeReport)
    assert got.state is ReadState.RECORDED and isinstance(got.result, SmokeReport)
    assert got.result.passed_count == 3 and got.failed and not got.passed
    assert got.verdict == "failed"
    with pytest.raises(ResultUnavailable, match="required to pass but smoke: failed"):
        got.require_passed()


def test_by_stage_name_uses_the_registered_model(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    run.write_result(DeployResult(status=Status.PASSED, previous_version="v1"))
    got = run.read_result(StageName.DEPLOY).require_passed()
    assert isinstance(got, DeployResult) and got.previous_version == "v1"


def test_every_stage_name_has_a_model_that_names_it() -> None:
    assert set(RESULT_MODELS) == set(StageName)
    for name, model in RESULT_MODELS.items():
        assert model.model_fields["stage"].default == name.value


@pytest.mark.parametrize(
    ("data", "why"),
    [
        pytest.param(b"{not json", "not a valid SmokeReport", id="malformed"),
        pytest.param(b"", "not a valid SmokeReport", id="empty"),
        pytest.param(b"[1, 2]", "not a valid SmokeReport", id="not-an-object"),
        pytest.param(_smoke(status=None), "status: Field required", id="no-status"),
        pytest.param(_smoke(status="great"), "status: Input should be", id="unknown-status"),
        pytest.param(_smoke(passed_count="x"), "passed_count", id="wrong-type"),
        pytest.param(_smoke(surprise=1), "surprise: Extra inputs", id="unknown-field"),
        pytest.param(_smoke(stage="deploy"), "Input should be 'smoke'", id="another-stage"),
        pytest.param(_smoke(schema_version=2), "schema_version 2", id="another-schema"),
    ],
)
def test_unreadable_says_why(data: bytes, why: str) -> None:
    got = parse_result(SmokeReport, data)
    assert got.state is ReadState.UNREADABLE and got.result is None, got
    assert why in got.problem
    assert got.verdict == "unreadable" and not got.passed and not got.failed


def test_a_result_with_no_status_is_never_taken_as_passed() -> None:
    """Fail closed: a reader never defaults a missing field to passed."""
    got = parse_result(StageName.DEPLOY, b'{"stage": "deploy"}')
    assert got.state is ReadState.UNREADABLE and not got.passed


def test_an_oversized_result_is_unreadable_not_missing(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    path = run.dir / "results" / "smoke.json"
    with path.open("wb") as fh:  # 17 MiB: a valid start, then padding
        fh.write(_smoke()[:-1] + b', "verdict": "')
        fh.write(b"x" * (17 << 20))
        fh.write(b'"}')
    got = read_result(run.dir, SmokeReport)
    assert got.state is ReadState.UNREADABLE
    assert "17.0 MiB" in got.problem and path.stat().st_size > MAX_RESULT_BYTES


def test_a_generic_result_written_for_a_stage_reads_as_its_model(tmp_path: Path) -> None:
    """A fallback (plain StageResult) written for smoke is a valid, failed SmokeReport."""
    run = open_run(tmp_path)
    run.write_result(StageResult(stage="smoke", status=Status.ERROR, summary="crashed"))
    got = run.read_result(SmokeReport).get()
    assert isinstance(got, SmokeReport) and got.status is Status.ERROR and got.passed_count == 0


def test_meta_is_typed_and_refuses_unknown_keys(tmp_path: Path) -> None:
    run = open_run(tmp_path)
    meta = run.update_meta(version="v1.2.0", retention_days=30)
    assert isinstance(meta, RunMeta) and run.read_meta().version == "v1.2.0"
    with pytest.raises(BadInputError, match=r"meta\.json: surprise"):
        run.update_meta(surprise="x")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="malformed"),
        pytest.param('{"run_id": 5}', id="wrong-type"),
        pytest.param('{"run_id": "x", "surprise": 1}', id="unknown-key"),
    ],
)
def test_an_unreadable_meta_is_refused_not_replaced(tmp_path: Path, content: str) -> None:
    run = open_run(tmp_path)
    (run.dir / "meta.json").write_text(content)
    with pytest.raises(BadInputError, match=r"not a valid meta\.json"):
        run.read_meta()
