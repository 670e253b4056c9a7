"""The rollback target is what runs now (issue 13, item 1), read from the real engine.

A fresh CI workspace has no state dir: the running stack itself (image IDs, the version label
relgate stamps) is what a failed deploy goes back to. The last-known-good record adds the effective
compose configuration that ran, so a compose change that breaks container creation is rolled back
to the configuration that worked, not re-run with pinned images under the broken file.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from relgate.deploy.models import VERSION_LABEL
from relgate.deploy.state import read_last_good
from tests.deploy.conftest import COMPOSE, Stack

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _labels(stack: Stack) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "--filter", f"label=com.docker.compose.project={stack.project}",
         "--format", f'{{{{.Label "{VERSION_LABEL}"}}}}'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.split()


def test_no_state_at_all_rolls_back_to_what_runs_never_stops_it(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    assert _labels(compose_stack) == ["v1"]
    shutil.rmtree(compose_stack.dir / "state")  # a fresh workspace / runner: no record anywhere

    result = compose_stack.deploy("v3-unhealthy")

    assert (result.outcome, result.rolled_back_to) == ("rolled_back", "v1"), result.summary
    assert result.previous_version == "v1"
    assert result.running_before is not None and result.running_before.version == "v1"
    assert "read from the engine" in (result.rollback_target or "")
    assert compose_stack.get() == "version v1"
    # what ran came back, and is now recorded so the next failure has a record too
    record = read_last_good(compose_stack.config(), "staging")
    assert record is not None and record.version == "v1"


def test_a_stack_relgate_never_recorded_is_rolled_back_to_not_stopped(compose_stack: Stack) -> None:
    done = compose_stack.compose("up", "-d")  # started by hand: no label, no record
    assert done.returncode == 0, done.stderr
    result = compose_stack.deploy("v3-unhealthy")
    assert result.outcome == "rolled_back", result.summary
    assert "unrecorded" in (result.rollback_target or "")
    assert compose_stack.get() == "version v1"


def test_a_compose_change_that_breaks_creation_rolls_back_to_the_last_good_config(
    compose_stack: Stack,
) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    record = read_last_good(compose_stack.config(), "staging")
    assert record is not None and record.compose_snapshot
    # valid for `compose config`, but no container can be created from it
    (compose_stack.dir / "compose.yml").write_text(COMPOSE + '    user: "relgate-no-such-user"\n')

    result = compose_stack.deploy("v2")

    assert (result.outcome, result.rolled_back_to) == ("rolled_back", "v1"), result.summary
    assert compose_stack.get() == "version v1"
    up = [c for c in result.commands if c.name == "compose-up"]
    assert any(str(record.compose_snapshot) in " ".join(c.argv) for c in up), up


def test_no_false_drift_after_a_rollback(compose_stack: Stack) -> None:
    assert compose_stack.deploy("v1").outcome == "deployed"
    assert compose_stack.deploy("v3-unhealthy").outcome == "rolled_back"
    after = compose_stack.deploy("v2")
    assert after.outcome == "deployed", after.summary
    assert after.drift == []
