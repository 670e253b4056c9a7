"""Fixtures for evidence tests: real run directories on disk, packed by the real code."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from relgate.gha import Reporter
from relgate.results import StageResult, Status
from relgate.run import Run
from tests._evidence import deploy_result, smoke_result

SECRET = "s3cr3t-Sm0ke-Passw0rd"

MakeRun = Callable[..., Run]


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    """A fresh run directory with a quiet reporter; ``env`` as the process environment."""
    counter = iter(range(1000))

    def make(env: dict[str, str] | None = None, name: str | None = None) -> Run:
        env = dict(env or {})
        reporter = Reporter(io.StringIO(), env)
        run = Run.open(
            env=env,
            reporter=reporter,
            run_dir=tmp_path / "runs" / (name or f"run-{next(counter)}"),
            environment="staging",
        )
        run.version = "1.2.0"
        return run

    return make


@pytest.fixture
def filled_run(make_run: MakeRun) -> Run:
    """A run as a gate leaves it: results, logs (text and binary), artifacts, a redacted secret."""
    run = make_run({"SMOKE_PASS": SECRET})
    run.secrets.register(SECRET, "SMOKE_PASS")
    run.write_result(StageResult(stage="preflight", status=Status.PASSED, summary="preflight ok"))
    run.write_result(deploy_result(Status.PASSED))
    run.write_result(
        smoke_result(Status.FAILED, steps=9).model_copy(update={"summary": "8/9 passed"})
    )
    run.append_log("logs/deploy/compose-up.log", f"up\nlogin with {SECRET}\ndone\n")
    run.write_bytes("artifacts/smoke/page.png", bytes(range(256)) * 40)
    run.write_text("artifacts/smoke/04-lock.json", '{"status": 409}\n')
    run.write_text("logs/ünïcode name.log", "accents\n")
    return run
