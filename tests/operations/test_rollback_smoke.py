"""Full/quick rollback's verify step (f): the smoke scenario after the redeploy, against the real
embedded demo service (the seed's 9 steps), healthy and with a broken endpoint."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from relgate.results import StageResult, Status
from relgate.rollback import rollback
from tests.operations.conftest import Workspace, free_port, write_config

SCENARIO = Path(__file__).resolve().parents[2] / "relgate" / "demo" / "smoke.yml"


class Healthy:
    def recorded(self, version: str | None) -> str | None:
        return "v1.0.0"

    def stop(self, keep: Sequence[str]) -> str:
        return "stopped"

    def record(self, version: str) -> str:
        return "recorded"

    def redeploy(self, version: str | None) -> StageResult:
        return StageResult(stage="deploy", status=Status.PASSED, outcome="rolled_back",
                           version="v1.0.0", summary="v1.0.0 redeployed and healthy")  # fmt: skip


@pytest.fixture
def demo(request: pytest.FixtureRequest) -> Iterator[int]:
    port = free_port()
    faults = getattr(request, "param", [])
    argv = [
        sys.executable,
        "-m",
        "relgate.demo.service",
        "--port",
        str(port),
        "--version",
        "v1.0.0",
    ]
    for fault in faults:
        argv += ["--fault", fault]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.parametrize(
    ("demo", "outcome", "says"),
    [
        pytest.param([], "rolled_back", "9/9", id="smoke-green"),
        pytest.param(["broken-endpoint"], "rollback_failed", "smoke after rollback failed", id="smoke-red"),
    ],
    indirect=["demo"],
)  # fmt: skip
def test_rollback_runs_the_smoke_scenario_after_the_redeploy(
    workspace: Workspace, demo: int, outcome: str, says: str
) -> None:
    write_config(workspace.folder, extra=f"smoke:\n  scenario: {SCENARIO}\n")
    text = (
        (workspace.folder / "relgate.yml")
        .read_text()
        .replace("http://127.0.0.1:9", f"http://127.0.0.1:{demo}")
    )
    (workspace.folder / "relgate.yml").write_text(text)
    workspace.env["SMOKE_PASS"] = "demo-password"
    run = workspace.run()
    result = rollback(
        workspace.config(), run, environment="staging", mode="quick", smoke=True, app=Healthy()
    )
    assert result.outcome == outcome, result.summary
    assert says in (result.summary + " " + (result.smoke_verdict or ""))
    recorded = ["record last-known-good"] if outcome == "rolled_back" else []  # never a red one
    assert [s.name for s in result.steps] == ["redeploy last-known-good", "smoke", *recorded]
    assert (run.dir / "results" / "smoke.json").is_file()
