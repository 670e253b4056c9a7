"""relgate.github.checks.commit_checks against the contract-checked fake GitHub."""

from __future__ import annotations

from pathlib import Path

import pytest

from relgate.config import load_config
from relgate.github.checks import CommitChecks, commit_checks
from relgate.github.client import GitHubClient
from tests.github_fake._fake import FakeGitHub

OWN_RUN = "https://github.com/acme/app/actions/runs/77/job/1"


def _client(tmp_path: Path, sleeps: list[float]) -> GitHubClient:
    (tmp_path / "relgate.yml").write_text(
        "project: {name: app, repository: acme/app}\n"
        "environments: {staging: {base_url: 'https://s.example.com'}}\n"
    )
    env = {"GITHUB_TOKEN": "ghp_test_token_0000"}
    config = load_config(tmp_path / "relgate.yml", env=env)
    return GitHubClient.from_env(config, env, sleep=sleeps.append)


@pytest.mark.parametrize(
    ("runs", "statuses", "expected"),
    [
        pytest.param(
            [("tests", "completed", "success"), ("lint", "completed", "skipped")],
            [],
            {"total": 2, "passed": 2, "failed": [], "pending": [], "statuses": 0},
            id="green-runs-no-status",
        ),
        pytest.param(
            [("tests", "completed", "failure"), ("e2e", "in_progress", None)],
            [("ci/jenkins", "success")],
            {
                "total": 3,
                "passed": 0,
                "failed": ["tests (failure)"],
                "pending": ["e2e"],
                "state": "success",
                "statuses": 1,
            },
            id="red-pending-and-a-green-status",
        ),
        pytest.param(
            [],
            [("ci/jenkins", "failure")],
            {"total": 1, "passed": 0, "state": "failure", "statuses": 1},
            id="status-only",
        ),
        pytest.param([], [], {"total": 0, "passed": 0, "statuses": 0}, id="nothing-reported"),
    ],
)
def test_commit_checks_summarises_runs_and_statuses(
    tmp_path: Path, runs: list, statuses: list, expected: dict
) -> None:
    sleeps: list[float] = []
    with FakeGitHub(owner="acme", repo="app") as fake:
        sha = fake.seed_commit("release", branch="main")
        for name, status, conclusion in runs:
            fake.seed_check_run(sha, name, status=status, conclusion=conclusion)
        # the calling workflow run's own job: ignored, it is in progress by definition
        fake.seed_check_run(sha, "gate", status="in_progress", conclusion=None, details_url=OWN_RUN)
        for context, state in statuses:
            fake.seed_status(sha, context, state)
        checks = commit_checks(_client(tmp_path, sleeps), sha, ignore_run_id="77")
    assert isinstance(checks, CommitChecks) and checks.sha == sha
    for key, value in expected.items():
        assert getattr(checks, key) == value, key
    assert sleeps == []


def test_without_ignore_run_id_the_own_job_counts_as_pending(tmp_path: Path) -> None:
    with FakeGitHub(owner="acme", repo="app") as fake:
        sha = fake.seed_commit("release", branch="main")
        fake.seed_check_run(sha, "gate", status="in_progress", conclusion=None, details_url=OWN_RUN)
        checks = commit_checks(_client(tmp_path, []), sha)
    assert (checks.total, checks.pending) == (1, ["gate"])


def test_a_transient_5xx_is_retried(tmp_path: Path) -> None:
    sleeps: list[float] = []
    with FakeGitHub(owner="acme", repo="app") as fake:
        sha = fake.seed_commit("release", branch="main")
        fake.seed_check_run(sha, "tests")
        fake.fail_next("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs", 502)
        checks = commit_checks(_client(tmp_path, sleeps), sha)
    assert (checks.total, checks.passed) == (1, 1) and sleeps == [1.0]
