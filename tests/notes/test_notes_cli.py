"""``relgate notes`` end to end: real repositories, real run directories, the real CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from relgate.cli import main
from tests.notes.conftest import GitRepo, write_config


def run_notes(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "--config",
            str(tmp_path / "relgate.yml"),
            "--run-dir",
            str(tmp_path / "run"),
            "notes",
            *args,
        ],
        env=env,
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


def history_with_rc(repo: GitRepo) -> None:
    repo.commit("chore: init")
    repo.tag("v0.9.0")
    repo.commit("feat(api): exams endpoint (#12)")
    repo.commit("fix: crash on empty copy\n\nBREAKING CHANGE: copies now need an id")
    repo.tag("v1.0.0-rc1")
    repo.commit("docs: runbook")
    repo.commit("Tidy things up", author=("Bob Ops", "bob@example.com"))
    repo.tag("v1.0.0-rc2")
    repo.commit("feat!: drop the legacy grader")


def test_final_release_covers_everything_since_the_previous_final(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    history_with_rc(repo)
    write_config(tmp_path)
    output = tmp_path / "RELEASE_NOTES_v1.0.0.md"
    code, _, err = run_notes(tmp_path, clean_env, "--version", "v1.0.0", "--output", str(output))
    assert code == 0, err
    text = output.read_text()
    assert "changes since v0.9.0" in text
    # Breaking changes come first, then the groups in their fixed order.
    order = [
        text.index(h)
        for h in ("## ⚠ Breaking changes", "## Features", "## Documentation", "## Other changes")
    ]
    assert order == sorted(order)
    breaking = text.split("## ⚠ Breaking changes")[1].split("## Features")[0]
    assert "drop the legacy grader" in breaking and "copies now need an id" in breaking
    assert "**api:** exams endpoint" in text and "#12" in text
    assert "https://github.com/acme/viatique/compare/v0.9.0...v1.0.0" in text
    assert "Release Manager: rm@example.com" in text
    assert "5 commits by 2 contributors" in text
    # The copy in the run directory is the same file, and the result points at it.
    result = json.loads((tmp_path / "run" / "results" / "notes.json").read_text())
    assert result["status"] == "passed" and result["commits"] == 5
    assert result["previous_tag"] == "v0.9.0"
    assert (tmp_path / "run" / result["artifact"]).read_text() == text


@pytest.mark.parametrize(
    ("args", "previous", "count"),
    [
        pytest.param(["--version", "v1.0.0-rc2"], "v1.0.0-rc1", 2, id="rc-after-rc"),
        pytest.param(
            ["--version", "v1.0.0", "--since", "v1.0.0-rc2"], "v1.0.0-rc2", 1, id="since-override"
        ),
        pytest.param(["--version", "v0.9.0"], None, 1, id="first-release-all-history"),
    ],
)
def test_range_selection(
    tmp_path: Path,
    repo: GitRepo,
    clean_env: dict[str, str],
    args: list[str],
    previous: str | None,
    count: int,
) -> None:
    history_with_rc(repo)
    write_config(tmp_path)
    code, out, err = run_notes(tmp_path, clean_env, "--json", *args)
    assert code == 0, err
    result = json.loads(out)
    assert (result["previous_tag"], result["commits"]) == (previous, count)


def test_unknown_since_is_a_usage_error(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    repo.commit("init")
    write_config(tmp_path)
    code, _, err = run_notes(tmp_path, clean_env, "--version", "v1.0.0", "--since", "v0.0.9")
    assert code == 2 and "--since v0.0.9" in err


def test_ci_facts_stage_results_and_test_counts(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    history_with_rc(repo)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "unit.xml").write_text(
        '<testsuites><testsuite name="a"><testcase name="t1"/><testcase name="t2">'
        '<failure message="x"/></testcase><testcase name="t3"><skipped/></testcase></testsuite>'
        '<testsuite name="b"><testsuite name="nested"><testcase name="t4"/></testsuite>'
        '<testcase name="t5"><error/></testcase></testsuite></testsuites>'
    )
    (reports / "e2e.xml").write_text('<testsuite><testcase name="e"/></testsuite>')
    write_config(tmp_path, '  strict: true\n  junit: ["reports/*.xml"]')
    results = tmp_path / "run" / "results"
    results.mkdir(parents=True)
    (results / "deploy.json").write_text(
        json.dumps(
            {
                "stage": "deploy",
                "status": "passed",
                "outcome": "deployed",
                "environment": "staging",
                "finished_at": "2026-01-29T10:42:07Z",
            }
        )
    )
    (results / "smoke.json").write_text(
        json.dumps(
            {
                "stage": "smoke",
                "status": "passed",
                "passed_count": 9,
                "total": 9,
                "verdict": "9/9 passed",
            }
        )
    )
    (results / "archive.json").write_text(
        json.dumps(
            {
                "stage": "archive",
                "status": "passed",
                "format": "tar.gz",
                "size": 10,
                "bundle_path": "/x/relgate-evidence-viatique-staging-r1.tar.gz",
                "bundle_digest": "sha256:" + "ab" * 32,
            }
        )
    )
    env = {
        **clean_env,
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "1234567",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_REPOSITORY": "acme/viatique",
        "GITHUB_WORKFLOW": "release-gate",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    output = tmp_path / "notes.md"
    code, _, err = run_notes(tmp_path, env, "--version", "v1.0.0", "--output", str(output))
    assert code == 0, err
    text = output.read_text()
    assert "| Tests | 3 passed, 2 failed, 1 skipped |" in text
    assert "release-gate #1234567 (attempt 2)" in text
    assert "https://github.com/acme/viatique/actions/runs/1234567/attempts/2" in text
    assert "| Smoke test | passed: 9/9 passed |" in text
    assert "passed (deployed), 2026-01-29 10:42:07 UTC" in text
    assert "`relgate-evidence-viatique-staging-r1.tar.gz`" in text
    assert "sha256:" + "ab" * 32 in text


@pytest.mark.parametrize(
    "content",
    [
        pytest.param({"stage": "deploy", "outcome": "deployed"}, id="no-status"),
        pytest.param({"stage": "deploy", "status": "passed", "newer_field": 1}, id="unknown-field"),
        pytest.param({"stage": "deploy", "status": "passed", "schema_version": 9}, id="schema"),
    ],
)
def test_an_unreadable_deploy_result_is_never_shown_as_passed(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str], content: dict[str, object]
) -> None:
    history_with_rc(repo)
    write_config(tmp_path)
    results = tmp_path / "run" / "results"
    results.mkdir(parents=True)
    (results / "deploy.json").write_text(json.dumps(content))
    code, out, err = run_notes(tmp_path, clean_env, "--version", "v1.0.0", "--context-json")
    assert code == 0, err
    assert json.loads(out)["deploy"] is None


def test_context_json_lists_what_templates_can_use(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    history_with_rc(repo)
    write_config(tmp_path)
    code, out, err = run_notes(tmp_path, clean_env, "--version", "v1.0.0", "--context-json")
    assert code == 0, err
    ctx = json.loads(out)
    assert ctx["previous_tag"] == "v0.9.0" and len(ctx["commits"]) == 5
    first = ctx["commits"][0]
    assert {"sha", "short_sha", "subject", "description", "author", "pr", "breaking", "raw"} <= set(
        first
    )
    assert [g["key"] for g in ctx["groups"]] == ["feat", "docs", "other"]
    assert not (tmp_path / "run" / "results" / "notes.json").exists()


HOSTILE = [
    "feat: see [docs](https://evil.example/phish) @everyone",
    "fix: <img src=x onerror=alert(1)> ![i](https://evil.example/p.png)",
    "# Heading from a commit",
    "docs: `code` **bold** | table |",
]


def test_commit_subjects_cannot_inject_markup(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    repo.commit("init")
    repo.tag("v0.1.0")
    for subject in HOSTILE:
        repo.commit(subject, author=("@attacker <b>", "evil@example.com"))
    write_config(tmp_path)
    output = tmp_path / "notes.md"
    code, _, err = run_notes(tmp_path, clean_env, "--version", "v0.2.0", "--output", str(output))
    assert code == 0, err
    text = output.read_text()
    for forbidden in (
        "[docs](",
        "@everyone",
        "<img",
        "![i]",
        "\n# Heading",
        "**bold**",
        "https://evil",
        "@attacker",
        "<b>",
    ):
        assert forbidden not in text, forbidden


def test_placeholder_words_in_commits_do_not_trip_strict_mode(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    repo.commit("init")
    repo.tag("v0.1.0")
    repo.commit("fix: remove the TODO and [Admin Email] from <CI_RUN_ID> docs")
    write_config(tmp_path)
    code, _, err = run_notes(tmp_path, clean_env, "--version", "v0.2.0")
    assert code == 0, err


def test_configured_junit_without_files_is_an_error_in_strict_mode(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    history_with_rc(repo)
    write_config(tmp_path, '  strict: true\n  junit: ["reports/*.xml"]')
    code, _, err = run_notes(tmp_path, clean_env, "--version", "v1.0.0")
    assert code == 2 and "notes.junit: no JUnit file matches reports/*.xml" in err
    code, _, err = run_notes(tmp_path, clean_env, "--version", "v1.0.0", "--no-strict")
    assert code == 0, err


def test_shallow_clone_is_refused(tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]) -> None:
    history_with_rc(repo)
    shallow = tmp_path / "shallow"
    repo.git("clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow))
    write_config(tmp_path)
    (tmp_path / "relgate.yml").write_text(
        (tmp_path / "relgate.yml").read_text().replace("repo_path: app", "repo_path: shallow")
    )
    code, _, err = run_notes(tmp_path, clean_env, "--version", "v1.0.0")
    assert code == 2 and "shallow clone" in err and "fetch-depth: 0" in err


def test_pr_without_a_token_is_bad_input(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    history_with_rc(repo)
    write_config(tmp_path)
    code, _, err = run_notes(tmp_path, clean_env, "--version", "v1.0.0", "--pr")
    assert code == 2 and "GITHUB_TOKEN is not set" in err


def test_version_is_required(tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]) -> None:
    repo.commit("init")
    write_config(tmp_path)
    code, _, err = run_notes(tmp_path, clean_env)
    assert code == 2 and "--version is required" in err
