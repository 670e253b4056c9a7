"""Preflight: each check's failure mode on its own, all of them together, skips with reasons.

Real git repositories, the real Docker CLI/daemon for the compose checks, real disk usage (the
threshold is what changes), the contract-checked GitHub fake for CI checks.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from relgate.cli import main
from relgate.github.checks import CommitChecks
from relgate.preflight import CheckStatus, PreflightResult, ci_verdict, github_ci, preflight
from tests._tools import require_tool
from tests.github_fake import FakeGitHub
from tests.operations.conftest import Workspace

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                         check=True, env={**os.environ, **GIT_ENV})  # fmt: skip
    return out.stdout.strip()


def base_doc() -> dict:
    return {
        "project": {"name": "gradeapp"},
        "environments": {"staging": {
            "base_url": "https://staging.example.com",
            "stack": {"driver": "process", "command": ["true"]},
        }},
        # TLS has its own tests below, against a real TLS server on loopback
        "preflight": {"min_disk_free": "1MB", "check_tls": False},
    }  # fmt: skip


@pytest.fixture
def repo_ws(workspace: Workspace) -> Workspace:
    """A git repository with v1.0.0 tagged on main, and an all-green relgate.yml."""
    require_tool("git")
    folder = workspace.folder
    git(folder, "init", "-q", "-b", "main")
    git(folder, "commit", "-q", "--allow-empty", "-m", "first")
    git(folder, "tag", "v1.0.0")
    git(folder, "commit", "-q", "--allow-empty", "-m", "second")
    (folder / "relgate.yml").write_text(yaml.safe_dump(base_doc()))
    return workspace


def run_preflight(ws: Workspace, doc: dict | None = None, version: str | None = "1.0.0",
                  **kw: object) -> PreflightResult:  # fmt: skip
    if doc is not None:
        (ws.folder / "relgate.yml").write_text(yaml.safe_dump(doc))
    return preflight(ws.config(), ws.run(), environment="staging", version=version, **kw)  # type: ignore[arg-type]


def test_all_green_on_the_process_driver_with_reasoned_skips(repo_ws: Workspace) -> None:
    result = run_preflight(repo_ws)
    assert (result.status.value, result.exit_code, result.failed) == ("passed", 0, [])
    status = {c.name: (c.status, c.detail) for c in result.checks}
    assert status["tool: docker"] == (CheckStatus.SKIP, "not needed by the process driver")
    assert status["docker daemon"][0] is CheckStatus.SKIP
    assert status["compose file"] == (CheckStatus.SKIP, "not used by the process driver")
    assert status["git tag"][0] is CheckStatus.PASS and result.tag_commit == git(
        repo_ws.folder, "rev-parse", "v1.0.0"
    )
    assert status["tag on main"][0] is CheckStatus.PASS
    assert status["CI checks"] == (
        CheckStatus.SKIP,
        "skipped: no GitHub token (GITHUB_TOKEN not set)",
    )
    saved = json.loads((repo_ws.folder / "run" / "results" / "preflight.json").read_text())
    assert saved["stage"] == "preflight" and len(saved["checks"]) == len(result.checks)


def _tool(ws: Workspace, doc: dict) -> None:
    doc["preflight"]["tools"] = ["relgate-no-such-tool"]


def _secret(ws: Workspace, doc: dict) -> None:
    doc["secrets"] = ["SMOKE_PASS"]


def _health_http(ws: Workspace, doc: dict) -> None:
    doc["deploy"] = {"health": {"url": "http://health.example.com/api/health/"}}


def _disk(ws: Workspace, doc: dict) -> None:
    doc["preflight"]["min_disk_free"] = "1000TB"


def _placeholders(ws: Workspace, doc: dict) -> None:
    (ws.folder / "notes.md.j2").write_text(
        "# {{ version }}\n\nCI run: <CI_RUN_ID>\n{% if smoke %}ok{% endif %}\nContact: [Admin Email]\n"
    )
    doc["notes"] = {"template": "notes.md.j2"}


def _no_backup(ws: Workspace, doc: dict) -> None:
    doc["preflight"]["require_backup"] = True
    doc["environments"]["staging"]["database"] = {"dsn_env": "APP_DATABASE_URL",
                                                  "backup_dir": str(ws.folder / "backups")}  # fmt: skip
    ws.env["APP_DATABASE_URL"] = "postgresql://u@127.0.0.1:1/app"


def _full_mode_no_backup(ws: Workspace, doc: dict) -> None:
    _no_backup(ws, doc)
    doc["preflight"]["require_backup"] = False
    doc["rollback"] = {"default_mode": "full"}  # the plan needs a backup even so


def _not_a_repo(ws: Workspace, doc: dict) -> None:
    import tempfile

    doc["project"]["repo_path"] = tempfile.mkdtemp(
        prefix="relgate-not-a-repo-", dir=ws.folder.parent
    )


def _tag_elsewhere(ws: Workspace, doc: dict) -> None:
    ws.env["RELGATE_EXPECTED_SHA"] = git(ws.folder, "rev-parse", "HEAD")


def _tag_off_main(ws: Workspace, doc: dict) -> None:
    git(ws.folder, "checkout", "-q", "-b", "side")
    git(ws.folder, "commit", "-q", "--allow-empty", "-m", "side")
    git(ws.folder, "tag", "-f", "v1.0.0")
    git(ws.folder, "checkout", "-q", "main")


def _main_behind(ws: Workspace, doc: dict) -> None:
    git(ws.folder, "commit", "-q", "--allow-empty", "-m", "on origin only")
    git(ws.folder, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(ws.folder, "reset", "-q", "--hard", "HEAD~1")


@pytest.mark.parametrize(
    ("break_it", "version", "failed", "says"),
    [
        pytest.param(_tool, "1.0.0", ["tool: relgate-no-such-tool"], "not found on PATH", id="missing-tool"),
        pytest.param(None, "9.9.9", ["git tag"], "v9.9.9 does not exist", id="tag-missing"),
        pytest.param(_not_a_repo, "1.0.0", ["git tag"], "is not a git repository (project.repo_path)", id="not-a-git-repo"),
        pytest.param(_tag_elsewhere, "1.0.0", ["git tag"], "expected", id="tag-points-elsewhere"),
        pytest.param(_tag_off_main, "1.0.0", ["tag on main"], "is not on main", id="tag-not-on-main"),
        pytest.param(_main_behind, "1.0.0", ["main up to date"], "1 commit(s) behind origin/main", id="main-behind"),
        pytest.param(_health_http, "1.0.0", ["https: deploy.health.url"], "is not https://", id="http-url"),
        pytest.param(_secret, "1.0.0", ["secrets"], "not set: SMOKE_PASS", id="secret-missing"),
        pytest.param(_no_backup, "1.0.0", ["database reachable", "database backup"], "127.0.0.1:1", id="backup-missing-db-down"),
        pytest.param(_full_mode_no_backup, "1.0.0", ["database reachable", "database backup"], "127.0.0.1:1", id="full-rollback-plan-needs-backup"),
        pytest.param(_placeholders, "1.0.0", ["notes.template"], "line 3: <CI_RUN_ID>, line 5: [Admin Email]", id="notes-placeholders"),
        pytest.param(_disk, "1.0.0", ["disk space"], "(need 1000.0 TB)", id="disk-low"),
    ],
)  # fmt: skip
def test_each_failure_mode_is_reported(
    repo_ws: Workspace, break_it: Callable[[Workspace, dict], None] | None, version: str,
    failed: list[str], says: str,
) -> None:  # fmt: skip
    doc = base_doc()
    if break_it:
        break_it(repo_ws, doc)
    result = run_preflight(repo_ws, doc, version=version)
    assert result.failed == failed, result.checks
    assert (result.status.value, result.exit_code) == ("failed", 1)
    detail = next(c.detail for c in result.checks if c.name == failed[0])
    assert says in detail


def test_all_failures_are_listed_together_and_secrets_never_shown(repo_ws: Workspace) -> None:
    doc = base_doc()
    for breaker in (_tool, _secret, _health_http, _disk, _placeholders):
        breaker(repo_ws, doc)
    doc["secrets"].append("API_TOKEN")
    repo_ws.env["API_TOKEN"] = "tok-visible-nowhere-123"
    (repo_ws.folder / "relgate.yml").write_text(yaml.safe_dump(doc))
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(repo_ws.folder)
    try:
        code = main(["--json", "--run-dir", "run", "preflight", "--version", "2.0.0"],
                    env=repo_ws.env, stdout=out, stderr=err)  # fmt: skip
    finally:
        os.chdir(cwd)
    assert code == 1
    result = json.loads(out.getvalue())
    assert result["failed"] == ["tool: relgate-no-such-tool", "git tag", "https: deploy.health.url",
                                "secrets", "notes.template", "disk space"]  # fmt: skip
    for name in result["failed"]:
        assert name in result["summary"] and name in err.getvalue()
    everything = (
        out.getvalue()
        + err.getvalue()
        + "".join(p.read_text() for p in (repo_ws.folder / "run").rglob("*") if p.is_file())
    )
    assert "tok-visible-nowhere-123" not in everything
    assert "SMOKE_PASS" in result["error"]


@pytest.fixture
def compose_ws(repo_ws: Workspace) -> Workspace:
    require_tool("docker")
    (repo_ws.folder / "compose.yml").write_text(
        "services:\n  web:\n    image: relgate-test/busybox:${RELGATE_VERSION}\n"
    )
    return repo_ws


def compose_doc(files: list[str]) -> dict:
    doc = base_doc()
    doc["environments"]["staging"]["stack"] = {"driver": "compose", "files": files,
                                               "project_name": "relgate-ops-preflight"}  # fmt: skip
    return doc


def test_compose_driver_checks_docker_and_the_compose_file(compose_ws: Workspace) -> None:
    result = run_preflight(compose_ws, compose_doc(["compose.yml"]))
    status = {c.name: c for c in result.checks}
    assert result.failed == []
    assert status["tool: docker compose v2"].status is CheckStatus.PASS
    assert status["docker daemon"].detail.startswith("Docker Engine ")
    assert status["compose file"].detail == "compose.yml accepted by compose config"


@pytest.mark.parametrize(
    ("content", "files", "says"),
    [
        pytest.param("services:\n  web:\n    image: x\n    ports: [\"not-a-port:abc\"]\n",
                     ["compose.yml"], "docker compose config refuses it", id="invalid-compose"),
        pytest.param("services: {}\n", ["compose.yml", "missing.yml"], "not found:", id="missing-file"),
    ],
)  # fmt: skip
def test_bad_compose_file_fails(
    compose_ws: Workspace, content: str, files: list[str], says: str
) -> None:
    (compose_ws.folder / "compose.yml").write_text(content)
    result = run_preflight(compose_ws, compose_doc(files))
    assert result.failed == ["compose file"]
    assert says in next(c.detail for c in result.checks if c.name == "compose file")


@pytest.mark.parametrize(
    ("runs", "statuses", "expected", "says"),
    [
        pytest.param([("tests", "success"), ("lint", "skipped")], [], CheckStatus.PASS, "2 check(s) green", id="green"),
        pytest.param([("tests", "failure"), ("lint", "success")], [], CheckStatus.FAIL, "failed: tests (failure)", id="red-check-run"),
        pytest.param([("tests", None)], [], CheckStatus.FAIL, "still running: tests", id="in-progress"),
        pytest.param([], [("ci/jenkins", "failure")], CheckStatus.FAIL, "commit status failure", id="red-status"),
        pytest.param([], [], CheckStatus.FAIL, "no CI checks reported", id="no-checks"),
    ],
)  # fmt: skip
def test_ci_checks_through_the_github_client(
    repo_ws: Workspace, runs: list, statuses: list, expected: CheckStatus, says: str
) -> None:
    doc = base_doc()
    doc["project"]["repository"] = "acme/app"
    repo_ws.env.update({"GITHUB_TOKEN": "ghp_test_token_0000", "GITHUB_RUN_ID": "77"})
    with FakeGitHub(owner="acme", repo="app") as fake:
        sha = fake.seed_commit("release", branch="main")
        for name, conclusion in runs:
            fake.seed_check_run(sha, name, status="completed" if conclusion else "in_progress",
                                conclusion=conclusion)  # fmt: skip
        # this very run's own job is in progress: it must not count against the commit
        fake.seed_check_run(sha, "release-gate", status="in_progress", conclusion=None,
                            details_url="https://github.com/acme/app/actions/runs/77/job/1")  # fmt: skip
        for context, state in statuses:
            fake.seed_status(sha, context, state)
        repo_ws.env["GITHUB_SHA"] = sha
        result = run_preflight(repo_ws, doc, version=None)
    ci = next(c for c in result.checks if c.name == "CI checks")
    assert ci.status is expected and says in ci.detail, ci.detail
    assert (
        "ghp_test_token_0000"
        not in (repo_ws.folder / "run" / "results" / "preflight.json").read_text()
    )


def test_ci_verdict_is_pure() -> None:
    green = CommitChecks(sha="a" * 40, total=2, passed=1, state="success", statuses=1)
    assert ci_verdict(green) == (CheckStatus.PASS, "aaaaaaaaaaaa: 2 check(s) green")
    pending_status = CommitChecks(sha="a" * 40, total=2, passed=1, state="pending", statuses=1)
    assert ci_verdict(pending_status)[0] is CheckStatus.FAIL
    assert github_ci.__doc__ and "GITHUB_RUN_ID" in github_ci.__doc__


@pytest.mark.parametrize(
    ("files", "status", "says"),
    [
        pytest.param(
            ["stack.yml"], CheckStatus.PASS, "stack.yml: usable as a swarm stack", id="present"
        ),
        pytest.param(["stack.yml", "gone.yml"], CheckStatus.FAIL, "not found:", id="missing"),
        pytest.param(
            ["refused.yml"],
            CheckStatus.FAIL,
            "refused.yml:3 services.web.container_name: Swarm names task containers",
            id="refused-feature",
        ),
    ],
)
def test_swarm_stack_files_must_exist(
    repo_ws: Workspace, files: list[str], status: CheckStatus, says: str
) -> None:
    (repo_ws.folder / "stack.yml").write_text("services: {}\n")
    (repo_ws.folder / "refused.yml").write_text(
        "services:\n  web:\n    container_name: web\n    image: app\n"
    )
    doc = base_doc()
    doc["environments"]["staging"]["stack"] = {
        "driver": "swarm",
        "files": files,
        "stack_name": "grading",
    }
    result = run_preflight(repo_ws, doc)
    row = next(c for c in result.checks if c.name == "compose file")
    assert (row.status, says in row.detail) == (status, True), row
