"""After every rollback the configured post-deploy checks run again (issue 19, item 4).

Migrations are excluded unless configured (``after_rollback: true``); a check failing after the
rollback decides its verdict. The process driver keeps these fast; the stage code is shared.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from relgate.config import PostDeployCommand
from relgate.deploy.gate import rollback_checks
from tests.deploy.conftest import ProcessStack


def _append(path: Path, line: str) -> list[str]:
    return [sys.executable, "-c", f"open({str(path)!r}, 'a').write({line!r} + '\\n')"]


def test_checks_run_again_after_an_automatic_rollback_migrations_do_not(
    process_stack: ProcessStack, tmp_path: Path
) -> None:
    checks, migrations = tmp_path / "checks.txt", tmp_path / "migrations.txt"
    process_stack.deploy_cfg = {
        "post_deploy": [
            {"name": "readiness", "command": _append(checks, "ready")},
            {"name": "migrate", "command": _append(migrations, "migrated")},
        ]
    }
    assert process_stack.deploy("v1").outcome == "deployed"
    result = process_stack.deploy("bad-v3")  # never healthy: its own checks never ran
    assert (result.outcome, result.rolled_back_to) == ("rolled_back", "v1"), result.summary
    assert checks.read_text().splitlines() == ["ready", "ready"]
    assert migrations.read_text().splitlines() == ["migrated"]
    assert result.rollback is not None
    assert [(c.name, c.exit_code) for c in result.rollback.post_deploy] == [("post-readiness", 0)]


def test_a_check_failing_after_the_rollback_fails_the_rollback(
    process_stack: ProcessStack, tmp_path: Path
) -> None:
    flag = tmp_path / "broken"
    check = [
        sys.executable,
        "-c",
        f"import os, sys; sys.exit(3 if os.path.exists({str(flag)!r}) else 0)",
    ]
    process_stack.deploy_cfg = {"post_deploy": [{"name": "readiness", "command": check}]}
    assert process_stack.deploy("v1").outcome == "deployed"
    flag.touch()  # the database (say) is gone: v1's readiness check no longer passes
    result = process_stack.deploy("bad-v3")
    assert result.outcome == "rollback_failed", result.summary
    assert result.rollback is not None and not result.rollback.healthy
    assert "post-deploy command 'readiness' exited 3" in (result.rollback.error or "")


@pytest.mark.parametrize(
    ("name", "argv", "setting", "runs"),
    [
        pytest.param("readiness", ["curl", "-f", "x"], None, True, id="check"),
        pytest.param("migrate", ["manage.py", "migrate"], None, False, id="migration-by-name"),
        pytest.param("db", ["alembic", "migrate", "head"], None, False, id="migration-by-argv"),
        pytest.param("migrate", ["x"], True, True, id="migration-configured"),
        pytest.param("readiness", ["x"], False, False, id="check-excluded"),
    ],
)
def test_which_commands_run_again(
    name: str, argv: list[str], setting: bool | None, runs: bool
) -> None:
    command = PostDeployCommand(name=name, command=argv, after_rollback=setting)
    assert (rollback_checks([command]) == [command]) is runs


def test_quick_rollback_after_a_release_that_passed_goes_to_the_one_before(
    process_stack: ProcessStack, tmp_path: Path
) -> None:
    """Issue 19, item 3: v2 passed and later turned out bad; a plain quick rollback returns to v1
    (says which and why), re-runs the checks, and a second one has nowhere to go (exit 2)."""
    import json

    from relgate.rollback import rollback

    checks = tmp_path / "checks.txt"
    process_stack.deploy_cfg = {
        "post_deploy": [{"name": "readiness", "command": _append(checks, "ready")}]
    }
    assert process_stack.deploy("v1").outcome == "deployed"
    assert process_stack.deploy("v2").outcome == "deployed"

    run = process_stack.open_run("quick")
    result = rollback(process_stack.config(), run, environment="staging", mode="quick")

    assert (result.outcome, result.exit_code, result.rolled_back_to) == ("rolled_back", 0, "v1")
    assert "the last-known-good before v2, which runs now" in (result.target_reason or "")
    assert process_stack.get() == "version v1"
    assert checks.read_text().splitlines() == ["ready"] * 3  # v1, v2, and again after rollback
    evidence = json.loads((run.dir / "artifacts/rollback/deploy.json").read_text())
    assert [c["name"] for c in evidence["rollback"]["post_deploy"]] == ["post-readiness"]

    again = rollback(
        process_stack.config(), process_stack.open_run("again"), environment="staging", mode="quick"
    )
    assert (again.outcome, again.exit_code) == ("no_previous_version", 2), again.summary
    assert "no last-known-good before v1 (which runs now)" in again.summary
    assert process_stack.get() == "version v1"
