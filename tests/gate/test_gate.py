"""The gate's orchestration with stand-in stages: fail-fast, rollback after a failed smoke, archive
always, verdict line, job summary, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from relgate.config import RelgateConfig, load_config
from relgate.errors import ConfigError, Interrupted, LockHeld, Problem
from relgate.evidence.archive import archive
from relgate.evidence.bundle import verify_bundle
from relgate.gate import GateResult, StageFn, gate
from relgate.gha import Reporter
from relgate.lock import LockOwner, lock_for
from relgate.results import StageResult, Status
from relgate.results.archive import ArchiveResult
from relgate.run import Run

Calls = list[str]


def _config(tmp_path: Path) -> RelgateConfig:
    (tmp_path / "relgate.yml").write_text(
        "project: {name: shop}\n"
        "environments: {staging: {base_url: 'https://staging.example.com'}}\n"
        f"archive: {{output_dir: {tmp_path / 'evidence'}}}\n"
        f"lock: {{dir: {tmp_path / 'locks'}, mode: always}}\n"
    )
    return load_config(tmp_path / "relgate.yml", env={})


def _stage(name: str, calls: Calls, status: Status = Status.PASSED, **extra: object) -> StageFn:
    def fn(config: RelgateConfig, run: Run) -> StageResult:
        calls.append(name)
        if extra:
            raw = {"stage": name, "status": status.value, "summary": f"{name} {status.value}",
                   "exit_code": 0 if status is Status.PASSED else 1,
                   "started_at": run.clock().isoformat(), **extra}  # fmt: skip
            run.write_json(f"results/{name}.json", raw)
        code = 0 if status is Status.PASSED else 1
        return StageResult(
            stage=name, status=status, summary=f"{name} {status.value}", exit_code=code
        )

    return fn


def _raise(name: str, calls: Calls, exc: BaseException) -> StageFn:
    def fn(config: RelgateConfig, run: Run) -> StageResult:
        calls.append(name)
        raise exc

    return fn


def _archive(calls: Calls) -> StageFn:
    def fn(config: RelgateConfig, run: Run) -> StageResult:
        calls.append("archive")
        return archive(config, run)

    return fn


def _run_gate(
    tmp_path: Path, stages: dict[str, StageFn], *, env: dict[str, str] | None = None
) -> tuple[GateResult, Run, str]:
    config = _config(tmp_path)
    out = io.StringIO()
    reporter = Reporter(out, env or {})
    run = Run.open(env=env or {}, reporter=reporter, base_dir=tmp_path, environment="staging")
    result = gate(
        config, run, environment="staging", version="v1.4.0", wait_lock=timedelta(0), stages=stages
    )
    return result, run, out.getvalue()


def _all(calls: Calls, **override: StageFn) -> dict[str, StageFn]:
    stages = {n: _stage(n, calls) for n in ("preflight", "deploy", "smoke", "rollback", "notes")}
    stages["archive"] = _archive(calls)
    stages.update(override)
    return stages


def test_all_pass(tmp_path: Path) -> None:
    calls: Calls = []
    result, run, out = _run_gate(tmp_path, _all(calls))
    assert calls == ["preflight", "deploy", "smoke", "archive", "notes"]
    assert (result.status, result.exit_code, result.verdict) == (Status.PASSED, 0, "GATE PASSED")
    assert (
        result.bundle_digest
        and result.bundle_digest == verify_bundle(Path(result.bundle_path or "")).digest
    )
    summary = (run.dir / "summary.md").read_text()
    assert "```mermaid\ngantt" in summary and "| deploy | passed |" in summary
    assert (
        run.reporter.outputs["status"] == "passed"
        and run.reporter.outputs["verdict"] == "GATE PASSED"
    )
    assert out.rstrip().endswith("GATE PASSED")
    assert json.loads((run.dir / "results" / "gate.json").read_text())["verdict"] == "GATE PASSED"


def test_failed_deploy_skips_smoke_and_still_archives(tmp_path: Path) -> None:
    calls: Calls = []
    stages = _all(calls, deploy=_stage("deploy", calls, Status.FAILED))
    result, _, _ = _run_gate(tmp_path, stages)
    assert calls == ["preflight", "deploy", "archive"]
    assert (result.exit_code, result.failed_stage) == (1, "deploy")
    assert result.verdict == "GATE FAILED at deploy: deploy failed"
    report = verify_bundle(Path(result.bundle_path or ""))
    assert report.verdicts["smoke"] == "skipped"
    assert report.stages["smoke"].summary == "skipped: deploy failed"


def test_failed_smoke_names_the_step_and_rolls_back(tmp_path: Path) -> None:
    calls: Calls = []
    smoke = _stage(
        "smoke", calls, Status.FAILED,
        failed_step={"index": 4, "name": "lock", "status_code": 409, "message": "expected 201"},
        total=9,
    )  # fmt: skip
    result, _, out = _run_gate(tmp_path, _all(calls, smoke=smoke))
    assert calls == ["preflight", "deploy", "smoke", "rollback", "archive"]
    assert result.verdict == "GATE FAILED at smoke: step 4/9 lock — HTTP 409"
    assert result.exit_code == 1
    assert "GATE FAILED at smoke: step 4/9 lock — HTTP 409" in out


@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        pytest.param(RuntimeError("boom"), 3, "error", id="crash"),
        pytest.param(
            ConfigError([Problem("relgate.yml", 3, "stack", "bad")]), 2, "error", id="bad-config"
        ),
    ],
)
def test_a_stage_that_raises_is_recorded_and_archived(
    tmp_path: Path, exc: Exception, code: int, status: str
) -> None:
    calls: Calls = []
    result, _, _ = _run_gate(tmp_path, _all(calls, deploy=_raise("deploy", calls, exc)))
    assert calls == ["preflight", "deploy", "archive"]
    assert result.exit_code == code
    report = verify_bundle(Path(result.bundle_path or ""))
    assert report.verdicts["deploy"] == status
    assert result.verdict.startswith("GATE FAILED at deploy: deploy error: ")


def test_an_interruption_archives_then_stops(tmp_path: Path) -> None:
    calls: Calls = []
    stages = _all(calls, smoke=_raise("smoke", calls, Interrupted("interrupted by SIGTERM")))
    result, _, _ = _run_gate(tmp_path, stages)
    assert calls == ["preflight", "deploy", "smoke", "archive"]
    assert (result.status, result.exit_code) == (Status.INTERRUPTED, 3)
    assert result.verdict.startswith("GATE INTERRUPTED during smoke")
    assert verify_bundle(Path(result.bundle_path or "")).verdicts["smoke"] == "interrupted"
    assert not lock_for(_config(tmp_path), "staging", {}).status().held


def test_a_secret_written_raw_is_redacted_in_the_bundle_never_packed(tmp_path: Path) -> None:
    """A stage that bypassed the redacting writer: the bundle is still produced (issue 15: never
    lose the evidence), the file is packed redacted, and the archive says so."""
    import tarfile

    import zstandard

    calls: Calls = []

    def leaky(config: RelgateConfig, run: Run) -> StageResult:
        (run.dir / "logs" / "hook.log").write_text("token=tok-0123456789abcdef\n")
        return StageResult(stage="deploy", status=Status.PASSED, summary="ok")

    env = {"DEPLOY_TOKEN": "tok-0123456789abcdef"}
    result, run, _ = _run_gate(tmp_path, _all(calls, deploy=leaky), env=env)
    assert result.bundle_path, result.verdict
    archive = run.read_result(ArchiveResult).get()
    assert archive.outcome == "packed_redacted"
    assert any("hook.log" in w for w in archive.warnings + result.warnings), archive.warnings
    raw = Path(result.bundle_path).read_bytes()
    data = (
        zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
        if result.bundle_path.endswith(".zst")
        else raw
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            fh = tar.extractfile(member)
            if fh is not None:
                assert b"tok-0123456789abcdef" not in fh.read(), member.name


def test_optional_stages_left_out_are_recorded_as_skipped(tmp_path: Path) -> None:
    calls: Calls = []
    stages = _all(calls)
    del stages["preflight"]
    result, _, _ = _run_gate(tmp_path, stages)
    assert result.exit_code == 0
    assert verify_bundle(Path(result.bundle_path or "")).verdicts["preflight"] == "skipped"


def test_a_held_lock_stops_the_gate_before_anything_runs(tmp_path: Path) -> None:
    calls: Calls = []
    _config(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from relgate.config import load_config; from relgate.lock import LockOwner, lock_for;"
         "lock = lock_for(load_config(sys.argv[1], env={}), 'staging', {});"
         "lock.acquire(LockOwner.me(run_id='other',environment='staging',key=lock.key));"
         "print('locked',flush=True); time.sleep(30)", str(tmp_path / "relgate.yml")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld, match=rf"\(pid {holder.pid}, run other"):
            _run_gate(tmp_path, _all(calls))
        assert calls == []
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_record_is_taken_over_and_recorded_in_the_evidence(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = LockOwner.me(run_id="crashed-run", environment="staging")
    stale.pid = dead.pid
    (tmp_path / "locks").mkdir()
    lock = lock_for(_config(tmp_path), "staging", {})
    lock.path.write_text(json.dumps(stale.to_dict()))
    calls: Calls = []
    result, _, out = _run_gate(tmp_path, _all(calls))
    assert result.exit_code == 0
    assert any("crashed-run" in w and "ended without releasing it" in w for w in result.warnings)
    meta = verify_bundle(Path(result.bundle_path or "")).meta
    assert meta.lock is not None and meta.lock["took_over"]["run_id"] == "crashed-run"
    assert "took over the staging lock" in out


def test_in_actions_the_lock_is_taken_too(tmp_path: Path) -> None:
    """A concurrency group serialises one repository's runs, not an operator on the deploy host."""
    calls: Calls = []
    config = _config(tmp_path)
    config.lock.mode = "auto"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "5",
        "GITHUB_OUTPUT": str(tmp_path / "out.txt"),
    }
    run = Run.open(
        env=env, reporter=Reporter(io.StringIO(), env), base_dir=tmp_path, environment="staging"
    )
    result = gate(
        config, run, environment="staging", version="v1", wait_lock=timedelta(0), stages=_all(calls)
    )
    assert result.lock is not None and result.lock["key"] == (
        "shop/staging on unix:///var/run/docker.sock"
    )
    assert result.lock["path"] == str(tmp_path / "locks" / "shop@staging@local.lock")
    assert not lock_for(config, "staging", env).status().held
    assert "verdict<<ghadelimiter_" in (tmp_path / "out.txt").read_text()


Check = Callable[[GateResult], None]


def test_the_bundle_holds_the_gate_verdict(tmp_path: Path) -> None:
    calls: Calls = []
    result, _, _ = _run_gate(tmp_path, _all(calls, deploy=_stage("deploy", calls, Status.FAILED)))
    inside = verify_bundle(Path(result.bundle_path or "")).stages["gate"]
    assert isinstance(inside, GateResult)
    assert inside.verdict == result.verdict == "GATE FAILED at deploy: deploy failed"
    assert inside.lock is not None and inside.lock["owner"]["run_id"] == result.run_id
