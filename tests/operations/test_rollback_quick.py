"""Quick rollback on the real Docker Engine through the deploy stage's machinery.

Uses the deploy tests' images and compose fixture (read, not edited): relgate-test/app:v1/v2 are
healthy httpds printing "version <tag>", v3-unhealthy never passes its healthcheck.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

deploy_fixtures = pytest.importorskip("tests.deploy.conftest")
Stack = deploy_fixtures.Stack
app_images = deploy_fixtures.app_images
compose_stack = deploy_fixtures.compose_stack

from relgate.cli import main  # noqa: E402
from relgate.rollback import rollback  # noqa: E402


@pytest.fixture
def broken_after_v2(compose_stack: Stack) -> Stack:  # type: ignore[valid-type]
    """v1 then v2 deployed (v2 is the last-known-good, v1 in the history), then v3-unhealthy
    left running (deployed with --no-rollback): the state a quick rollback exists for."""
    compose_stack.extra = {"lock": {"dir": str(compose_stack.dir / "locks")}}
    assert compose_stack.deploy("v1").outcome == "deployed"
    assert compose_stack.deploy("v2").outcome == "deployed"
    assert compose_stack.deploy("v3-unhealthy", rollback=False).outcome == "failed"
    return compose_stack


def test_quick_rollback_redeploys_the_last_known_good(broken_after_v2: Stack) -> None:  # type: ignore[valid-type]
    stack = broken_after_v2
    run = stack.open_run("rollback")
    result = rollback(stack.config(), run, environment="staging", mode="quick")
    assert (result.outcome, result.exit_code, result.rolled_back_to) == ("rolled_back", 0, "v2"), (
        result.summary
    )
    assert stack.get() == "version v2"
    assert [s.name for s in result.steps] == ["redeploy last-known-good"]
    saved = json.loads((run.dir / "results" / "rollback.json").read_text())
    assert saved["stage"] == "rollback" and saved["deploy_outcome"] == "rolled_back"
    deploy_record = json.loads((run.dir / "artifacts" / "rollback" / "deploy.json").read_text())
    assert deploy_record["rollback"]["healthy"] is True
    assert deploy_record["rollback"]["pinned_images"]["web"].startswith("sha256:")


def test_cli_quick_rollback_to_a_recorded_version(broken_after_v2: Stack) -> None:  # type: ignore[valid-type]
    stack = broken_after_v2
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(stack.dir)
    try:
        code = main(["--json", "--run-dir", "runs/cli-rollback", "rollback", "--mode", "quick",
                     "--to", "v1"], env=stack.full_env(), stdout=out, stderr=err)  # fmt: skip
    finally:
        os.chdir(cwd)
    result = json.loads(out.getvalue())
    assert code == 0, err.getvalue()
    assert (result["outcome"], result["rolled_back_to"]) == ("rolled_back", "v1")
    assert stack.get() == "version v1"


def test_quick_rollback_to_an_unrecorded_version_is_refused(broken_after_v2: Stack) -> None:  # type: ignore[valid-type]
    stack = broken_after_v2
    result = rollback(stack.config(), stack.open_run("refused"), environment="staging",
                      mode="quick", to_version="v0-never-deployed")  # fmt: skip
    assert (result.outcome, result.exit_code) == ("no_previous_version", 1)
    assert "--allow-unrecorded" in result.summary
    assert "v3-unhealthy" in " ".join(stack.running_images())  # nothing was touched
