"""relgate.github.incidents against the contract-checked fake: one issue per environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from relgate.config import load_config
from relgate.github.client import GitHubClient
from relgate.github.incidents import sync_incident
from tests.github_fake import _issues
from tests.github_fake._fake import FakeGitHub


def _client(tmp_path: Path) -> GitHubClient:
    (tmp_path / "relgate.yml").write_text(
        "project: {name: app, repository: acme/app}\n"
        "environments: {prod: {base_url: 'https://p.example.com'}}\n"
    )
    env = {"GITHUB_TOKEN": "ghp_test_token_0000"}
    return GitHubClient.from_env(
        load_config(tmp_path / "relgate.yml", env=env), env, sleep=lambda s: None
    )


def test_open_update_close_and_one_issue_per_environment(tmp_path: Path) -> None:
    with FakeGitHub(owner="acme", repo="app") as fake:
        client = _client(tmp_path)
        assert sync_incident(client, "prod", failing=False, body="fine").action == "none"
        opened = sync_incident(client, "prod", failing=True, body="readiness fails")
        staging = sync_incident(client, "staging", failing=True, body="staging too")
        updated = sync_incident(client, "prod", failing=True, body="still failing")
        closed = sync_incident(client, "prod", failing=False, body="recovered")
        reopened = sync_incident(client, "prod", failing=True, body="again")
    assert (opened.action, updated.action, closed.action) == ("opened", "updated", "closed")
    assert opened.number == updated.number == closed.number != staging.number
    assert reopened.action == "opened" and reopened.number not in (opened.number, staging.number)
    prod = fake.state.issues[opened.number]
    assert prod.state == "closed" and prod.state_reason == "completed"
    assert [c.body for c in prod.comments] == ["still failing", "recovered"]
    assert fake.state.issues[staging.number].state == "open"


def test_a_5xx_on_create_does_not_open_a_second_issue(tmp_path: Path) -> None:
    with FakeGitHub(owner="acme", repo="app") as fake:
        fake.fail_next("POST", "/repos/{owner}/{repo}/issues", 502)
        change = sync_incident(_client(tmp_path), "prod", failing=True, body="down")
    assert change.action == "opened" and len(fake.state.issues) == 1


def test_the_contract_still_closes_composed_responses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issues/update answers allOf(issue, {suggestions}): an undocumented field is still refused."""
    real = _issues.render_issue
    monkeypatch.setattr(  # only the closing PATCH (issues/update) answers with the bogus field
        _issues, "render_issue",
        lambda api, i: {**real(api, i), **({"bogus": 1} if i.state == "closed" else {})},
    )  # fmt: skip
    with pytest.raises(AssertionError, match="bogus"), FakeGitHub(owner="acme", repo="app"):
        client = _client(tmp_path)
        assert sync_incident(client, "prod", failing=True, body="x").action == "opened"
        sync_incident(client, "prod", failing=False, body="y")
