"""``relgate environments plan|apply`` against the contract-checked GitHub fake."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from relgate.config import RelgateConfig, load_config
from relgate.errors import BadInputError
from relgate.github.client import GitHubClient
from relgate.github.environments import apply, approvals, plan
from tests.github_fake import FakeGitHub

TOKEN = "ghp_environments_test_token_000000000000"

CONFIG = """\
version: 1
project: {name: app, repository: acme/app}
environments:
  staging:
    base_url: http://127.0.0.1:8080
    protection:
      branches: ["main", "release/*"]
      tags: ["v*"]
  production:
    base_url: https://app.example.com
    protection:
      reviewers:
        - user: alice
        - team: release-managers
        - team: acme/sre
      prevent_self_review: true
      wait_timer: 15
      protected_branches: true
  preview:
    base_url: http://127.0.0.1:8081
"""

WRITES = ("PUT", "POST", "DELETE", "PATCH")


def writes(fake: FakeGitHub) -> int:
    return sum(fake.count(method) for method in WRITES)


@pytest.fixture
def config(tmp_path: Path) -> RelgateConfig:
    path = tmp_path / "relgate.yml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path, env={})


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(owner="acme", repo="app") as fake:
        fake.seed_user("alice")
        fake.seed_user("bob")
        fake.seed_team("acme", "release-managers")
        fake.seed_team("acme", "sre")
        yield fake


@pytest.fixture
def client(config: RelgateConfig, fake: FakeGitHub) -> GitHubClient:
    return GitHubClient.from_env(config, {"GITHUB_TOKEN": TOKEN}, sleep=lambda _s: None)


def test_plan_on_a_fresh_repository_lists_everything_and_writes_nothing(
    config: RelgateConfig, client: GitHubClient, fake: FakeGitHub
) -> None:
    changes, states = plan(config, client)
    assert list(states) == ["staging", "production"]  # preview has no protection section
    lines = {c.line() for c in changes}
    assert "production: environment: absent -> created" in lines
    assert "production: wait_timer: 0 -> 15" in lines
    assert (
        "production: reviewers: none -> team:acme/release-managers, team:acme/sre, user:alice"
        in lines
    )
    assert "production: deployment_branch_policy: all -> protected" in lines
    assert "staging: branch pattern: - -> release/*" in lines
    assert "staging: tag pattern: - -> v*" in lines
    assert writes(fake) == 0


def test_apply_makes_github_match_and_a_second_apply_is_a_no_op(
    config: RelgateConfig, client: GitHubClient, fake: FakeGitHub
) -> None:
    changes, states = plan(config, client)
    sent = apply(client, changes, states)
    assert sent == writes(fake) == 2 + 3  # one PUT per environment + three patterns
    prod = fake.state.environments["production"]
    assert prod.wait_timer == 15 and prod.prevent_self_review
    assert {(r.type, r.id) for r in prod.reviewers} == {
        ("User", fake.state.user("alice").id),
        ("Team", fake.state.teams[("acme", "release-managers")].id),
        ("Team", fake.state.teams[("acme", "sre")].id),
    }
    assert prod.deployment_branch_policy == {
        "protected_branches": True,
        "custom_branch_policies": False,
    }
    staging = fake.state.environments["staging"]
    assert {(p.type, p.name) for p in staging.branch_policies} == {
        ("branch", "main"),
        ("branch", "release/*"),
        ("tag", "v*"),
    }

    before = writes(fake)
    again, states = plan(config, client)
    assert again == []
    assert apply(client, again, states) == 0
    assert writes(fake) == before


def test_drift_is_repaired_without_dropping_what_was_right(
    config: RelgateConfig, client: GitHubClient, fake: FakeGitHub
) -> None:
    alice, bob = fake.state.user("alice").id, fake.state.user("bob").id
    rm, sre = (
        fake.state.teams[("acme", "release-managers")].id,
        fake.state.teams[("acme", "sre")].id,
    )
    # production is right except the wait timer: the PUT must keep reviewers and branch policy.
    fake.seed_environment(
        "production",
        wait_timer=1,
        reviewers=[("User", alice), ("Team", rm), ("Team", sre)],
        prevent_self_review=True,
        deployment_branch_policy={"protected_branches": True, "custom_branch_policies": False},
    )
    # staging has a stray pattern and lacks one.
    fake.seed_environment(
        "staging",
        reviewers=[("User", bob)],
        deployment_branch_policy={"protected_branches": False, "custom_branch_policies": True},
        branch_policies=[("main", "branch"), ("hotfix/*", "branch"), ("v*", "tag")],
    )
    changes, states = plan(config, client)
    assert {c.line() for c in changes} == {
        "production: wait_timer: 1 -> 15",
        "staging: reviewers: user:bob -> none",
        "staging: branch pattern: - -> release/*",
        "staging: branch pattern: hotfix/* -> -",
    }
    assert apply(client, changes, states) == 4  # 2 PUTs, 1 POST, 1 DELETE
    prod = fake.state.environments["production"]
    assert prod.wait_timer == 15 and len(prod.reviewers) == 3 and prod.prevent_self_review
    staging = fake.state.environments["staging"]
    assert staging.reviewers == []
    assert {p.name for p in staging.branch_policies} == {"main", "release/*", "v*"}
    assert plan(config, client)[0] == []


@pytest.mark.parametrize(
    ("reviewer", "message"),
    [
        pytest.param("- user: nobody-here", "reviewer user nobody-here", id="unknown-user"),
        pytest.param("- team: ghosts", "team ghosts", id="unknown-team"),
    ],
)
def test_unknown_reviewer_is_bad_input(
    tmp_path: Path, fake: FakeGitHub, reviewer: str, message: str
) -> None:
    path = tmp_path / "relgate.yml"
    path.write_text(
        "version: 1\nproject: {name: app, repository: acme/app}\nenvironments:\n"
        "  production:\n    base_url: https://app.example.com\n    protection:\n"
        f"      reviewers:\n        {reviewer}\n",
        encoding="utf-8",
    )
    config = load_config(path, env={})
    client = GitHubClient.from_env(config, {"GITHUB_TOKEN": TOKEN}, sleep=lambda _s: None)
    with pytest.raises(BadInputError, match=message):
        plan(config, client)
    assert writes(fake) == 0


def test_only_selects_and_rejects_unmanaged(config: RelgateConfig, client: GitHubClient) -> None:
    assert list(plan(config, client, only=["staging"])[1]) == ["staging"]
    with pytest.raises(BadInputError, match="preview"):
        plan(config, client, only=["preview"])


def test_approvals_of_a_run(client: GitHubClient, fake: FakeGitHub) -> None:
    fake.seed_environment("production")
    run_id = fake.seed_workflow_run()
    fake.seed_approval(run_id, ["production"], user="alice", comment="GO")
    assert [(a.user, a.state, a.comment, a.environments) for a in approvals(client, run_id)] == [
        ("alice", "approved", "GO", ("production",))
    ]
    assert approvals(client, 999999) == []


def test_cli_plan_then_apply_then_noop(
    tmp_path: Path, config: RelgateConfig, fake: FakeGitHub
) -> None:
    from relgate.cli import main

    env = {"GITHUB_TOKEN": TOKEN, "RELGATE_CONFIG": str(config.source)}

    def run(*argv: str) -> tuple[int, dict, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--json", "environments", *argv], env=env, stdout=out, stderr=err)
        return code, json.loads(out.getvalue()), err.getvalue()

    code, result, report = run("plan")
    assert code == 0 and result["mode"] == "plan" and result["writes"] == 0
    assert result["outcome"] == "changes" and "~ wait_timer: 0 -> 15" in report
    assert writes(fake) == 0
    code, result, _ = run("apply")
    assert code == 0 and result["writes"] == 5 and result["outcome"] == "applied"
    code, result, report = run("apply")
    assert code == 0 and result["writes"] == 0 and result["changes"] == []
    assert result["outcome"] == "no_changes" and "production: up to date" in report
    assert TOKEN not in report
    assert run("plan", "--check")[0] == 0  # in sync
    fake.state.environments["production"].wait_timer = 1  # someone edited it in the UI
    code, result, report = run("plan", "--check")
    assert code == 1 and result["status"] == "failed" and "wait_timer: 1 -> 15" in report


def test_cli_records_approvals_in_the_run_evidence(
    tmp_path: Path, config: RelgateConfig, fake: FakeGitHub
) -> None:
    from relgate.cli import main
    from relgate.recorded import read_result
    from relgate.results import ApprovalsResult

    fake.seed_environment("staging")
    run_id = fake.seed_workflow_run()
    fake.seed_approval(run_id, ["staging"], user="alice", comment="GO")
    fake.seed_approval(run_id, ["staging"], user="bob", state="rejected", comment="not yet")
    run_dir = tmp_path / "run"
    env = {
        "GITHUB_TOKEN": TOKEN,
        "RELGATE_CONFIG": str(config.source),
        "GITHUB_RUN_ID": str(run_id),
    }
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--json", "--run-dir", str(run_dir), "environments", "approvals"],
        env=env,
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue()
    stored = read_result(run_dir, ApprovalsResult).get()
    assert stored.approved_by == ["alice"]
    assert [a.state for a in stored.approvals] == ["approved", "rejected"]
    assert json.loads(out.getvalue())["outcome"] == "approved"
    assert writes(fake) == 0


def test_approvals_needs_a_workflow_run(config: RelgateConfig, fake: FakeGitHub) -> None:
    from relgate.cli import main

    err = io.StringIO()
    env = {"GITHUB_TOKEN": TOKEN, "RELGATE_CONFIG": str(config.source)}
    code = main(["environments", "approvals"], env=env, stdout=io.StringIO(), stderr=err)
    assert code == 2
