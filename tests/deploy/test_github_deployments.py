"""GitHub Deployments as the record in Actions (issue 13, item 3), against the contract-checked fake.

The process driver keeps these fast (no Docker); the compose driver shares the stage code.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from relgate.errors import Interrupted
from relgate.results import DeployResult
from tests.deploy.conftest import GATE_WAITS, EndsAt, ProcessStack
from tests.github_fake._fake import FakeGitHub

TOKEN = "ghp_fake0000000000000000000000000000000000"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(owner="acme", repo="app") as fake:
        yield fake


def _in_actions(stack: ProcessStack, fake: FakeGitHub, run_id: str = "7") -> str:
    sha = fake.head()
    stack.env = {
        "GITHUB_ACTIONS": "true",
        "RUNNER_ENVIRONMENT": "self-hosted",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_SHA": sha,
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_RUN_ID": run_id,
        "GITHUB_SERVER_URL": "https://github.com",
    }
    return sha


def _states(fake: FakeGitHub) -> list[tuple[str, str, list[str]]]:
    return [
        (str(d.payload["version"]), str(d.payload["role"]), [s.state for s in d.statuses])  # type: ignore[index]
        for d in fake.state.deployments
    ]


def test_each_deploy_is_a_deployment_and_supersedes_the_previous(
    process_stack: ProcessStack, fake: FakeGitHub
) -> None:
    sha = _in_actions(process_stack, fake)
    first = process_stack.deploy("v1")
    assert first.outcome == "deployed", first.summary
    second = process_stack.deploy("v2")
    assert second.outcome == "deployed", second.summary

    assert _states(fake) == [
        ("v1", "deploy", ["in_progress", "success", "inactive"]),
        ("v2", "deploy", ["in_progress", "success"]),
    ]
    d = fake.state.deployments[-1]
    assert (d.environment, d.sha, d.ref) == ("staging", sha, sha)
    assert d.statuses[-1].environment_url == process_stack.base_url
    assert d.statuses[-1].log_url == "https://github.com/acme/app/actions/runs/7/attempts/1"
    assert second.github_deployment == d.id and second.warnings == []


def test_a_rollback_records_a_deployment_of_the_restored_version(
    process_stack: ProcessStack, fake: FakeGitHub
) -> None:
    _in_actions(process_stack, fake)
    assert process_stack.deploy("v1").outcome == "deployed"
    result = process_stack.deploy("bad-v3")
    assert (result.outcome, result.rolled_back_to) == ("rolled_back", "v1"), result.summary
    assert _states(fake) == [
        ("v1", "deploy", ["in_progress", "success", "inactive"]),
        ("bad-v3", "deploy", ["in_progress", "failure"]),
        ("v1", "rollback", ["in_progress", "success"]),
    ]


def test_a_fresh_runner_finds_the_last_known_good_on_github(
    process_stack: ProcessStack, fake: FakeGitHub
) -> None:
    _in_actions(process_stack, fake, run_id="7")
    assert process_stack.deploy("v1").outcome == "deployed"
    # job 2 on a new runner: no state dir, and nothing runs (the engine has nothing to say)
    process_stack.stop_all()
    shutil.rmtree(process_stack.dir / "state")
    _in_actions(process_stack, fake, run_id="8")

    result = process_stack.deploy("bad-v3")

    assert (result.outcome, result.rolled_back_to) == ("rolled_back", "v1"), result.summary
    assert result.previous_version == "v1"
    assert process_stack.get() == "version v1"


def test_github_trouble_is_a_warning_never_a_failed_deploy(
    process_stack: ProcessStack, fake: FakeGitHub
) -> None:
    _in_actions(process_stack, fake)
    fake.fail_next("POST", "/repos/{owner}/{repo}/deployments", status=422)
    result = process_stack.deploy("v1")
    assert result.outcome == "deployed", result.summary
    assert any("could not create the GitHub deployment" in w for w in result.warnings)


def test_outside_actions_nothing_is_recorded(process_stack: ProcessStack, fake: FakeGitHub) -> None:
    assert process_stack.deploy("v1").outcome == "deployed"
    assert fake.state.deployments == []


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(Interrupted("interrupted by SIGTERM"), id="sigterm"),
        pytest.param(KeyboardInterrupt(), id="sigint"),
        pytest.param(ZeroDivisionError("bug"), id="crash"),
    ],
)
def test_a_deploy_cut_short_still_finishes_its_deployment(
    process_stack: ProcessStack, fake: FakeGitHub, exc: BaseException
) -> None:
    """The cleanup runs on every path, before the result is written: the deployment does not stay
    in_progress, and the result keeps its id."""
    _in_actions(process_stack, fake)
    process_stack.deploy_cfg = {"timeout": "60s"}
    process_stack.output = EndsAt(GATE_WAITS, exc)
    with pytest.raises(type(exc)):
        process_stack.deploy("hang-v1")
    assert _states(fake) == [("hang-v1", "deploy", ["in_progress", "error"])]
    got = process_stack.last_run.read_result(DeployResult).get()
    assert got.github_deployment == fake.state.deployments[0].id
