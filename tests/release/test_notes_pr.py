"""``relgate notes --pr``: one branch, one file, one pull request — updated, never duplicated."""

from __future__ import annotations

import io
import json

from relgate.cli import main
from tests.release.conftest import Setup


def notes_pr(s: Setup) -> dict:  # type: ignore[type-arg]
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "--json",
            "--config",
            str(s.tmp / "relgate.yml"),
            "--run-dir",
            str(s.tmp / "notes-run"),
            "notes",
            "--version",
            "v1.0.0",
            "--pr",
        ],
        env=s.env,
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def test_second_run_updates_the_same_pull_request(setup: Setup) -> None:
    first = notes_pr(setup)
    assert first["pr_number"] and first["pr_url"].endswith(f"/pull/{first['pr_number']}")
    branch_head = setup.fake.state.refs["refs/heads/relgate/release-notes-v1.0.0"]
    notes = setup.fake.state.commits[branch_head].files["RELEASE_NOTES_v1.0.0.md"]
    assert b"pdf export" in notes
    assert first["github_requests"] == len(setup.fake.requests)

    setup.repo.commit("fix: one more thing before the release")
    second = notes_pr(setup)
    assert second["pr_number"] == first["pr_number"]
    assert len(setup.fake.state.pulls) == 1
    new_head = setup.fake.state.refs["refs/heads/relgate/release-notes-v1.0.0"]
    assert new_head != branch_head
    assert b"one more thing" in setup.fake.state.commits[new_head].files["RELEASE_NOTES_v1.0.0.md"]


def test_unchanged_notes_make_no_commit(setup: Setup) -> None:
    notes_pr(setup)
    head = setup.fake.state.refs["refs/heads/relgate/release-notes-v1.0.0"]
    before = setup.fake.count("PUT", "/repos/{owner}/{repo}/contents/{path}")
    notes_pr(setup)
    assert setup.fake.state.refs["refs/heads/relgate/release-notes-v1.0.0"] == head
    assert setup.fake.count("PUT", "/repos/{owner}/{repo}/contents/{path}") == before


def test_notes_show_the_runs_environment_approvals(setup: Setup) -> None:
    setup.fake.seed_environment("staging")
    run_id = setup.fake.seed_workflow_run(head_sha=setup.repo.head())
    setup.fake.seed_approval(run_id, ["staging"], user="carol", comment="LGTM @everyone")
    env = {**setup.env, "GITHUB_RUN_ID": str(run_id), "GITHUB_REPOSITORY": "acme/app"}
    out = setup.tmp / "notes.md"
    code = main(
        [
            "--config",
            str(setup.tmp / "relgate.yml"),
            "--run-dir",
            str(setup.tmp / "appr-run"),
            "notes",
            "--version",
            "v1.0.0",
            "--output",
            str(out),
        ],
        env=env,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert code == 0
    assert "| Approvals | carol (approved) |" in out.read_text()
