"""preflight.checks: the runbook's release checks run in the checkout, recorded, and gating.

Real commands in a real git checkout (scripts standing in for ``composer release:check`` and
``composer audit``); the stack is never involved.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from relgate.preflight import CheckStatus
from tests._tools import require_tool
from tests.operations.conftest import Workspace
from tests.operations.test_preflight import base_doc, git, run_preflight


@pytest.fixture
def checkout(workspace: Workspace) -> Workspace:
    """The application's git checkout, with an all-green relgate.yml."""
    require_tool("git")
    git(workspace.folder, "init", "-q", "-b", "main")
    git(workspace.folder, "commit", "-q", "--allow-empty", "-m", "first")
    (workspace.folder / "relgate.yml").write_text(yaml.safe_dump(base_doc()))
    return workspace


def composer(folder: Path, audit_exit: int = 0) -> Path:
    """A stand-in ``composer`` in the checkout: release:check prints coverage, audit may fail."""
    script = folder / "bin" / "composer"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  release:check) echo 'phpunit: 412 tests, OK'; echo \"cwd=$(pwd)\";"
        " echo 'coverage 87.3% >= 80% threshold' ;;\n"
        f"  audit) echo 'Found 1 security vulnerability advisory affecting 1 package';"
        f" echo 'symfony/http-kernel CVE-2026-0001'; exit {audit_exit} ;;\n"
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def checks_doc(folder: Path, *, audit_exit: int = 0) -> dict:
    composer(folder, audit_exit)
    doc = base_doc()
    doc["preflight"]["checks"] = [
        {"name": "release:check", "command": ["bin/composer", "release:check"]},
        {"name": "audit", "command": ["bin/composer", "audit", "--no-interaction"]},
    ]
    return doc


def test_passing_checks_are_recorded_with_exit_code_duration_and_output(
    checkout: Workspace,
) -> None:
    result = run_preflight(checkout, checks_doc(checkout.folder), version=None)
    assert result.passed, result.summary
    names = [r.name for r in result.release_checks]
    assert names == ["release:check", "audit"]
    first = result.release_checks[0]
    assert first.exit_code == 0 and first.duration_s >= 0
    assert first.last_lines[-1] == "coverage 87.3% >= 80% threshold"
    assert f"cwd={checkout.folder}" in first.last_lines  # ran in the checkout, not the stack
    assert first.log and (checkout.folder / "run" / first.log).is_file()
    saved = json.loads((checkout.folder / "run" / "results" / "preflight.json").read_text())
    assert saved["release_checks"][1]["exit_code"] == 0


def test_a_failing_check_fails_preflight_with_its_cause(checkout: Workspace) -> None:
    result = run_preflight(checkout, checks_doc(checkout.folder, audit_exit=1), version=None)
    assert (result.status.value, result.exit_code) == ("failed", 1)
    assert result.failed == ["release check: audit"]
    row = {c.name: c for c in result.checks}["release check: audit"]
    assert row.status is CheckStatus.FAIL
    assert row.detail.startswith("exit 1 in ")
    assert row.detail.endswith("symfony/http-kernel CVE-2026-0001")
    assert "audit" in result.summary


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        pytest.param(["relgate-no-such-composer"], "not found on PATH", id="missing-program"),
        pytest.param(["sh", "-c", "sleep 30"], "timed out after", id="timeout"),
    ],
)
def test_a_check_that_cannot_run_fails_it(
    checkout: Workspace, command: list[str], expected: str
) -> None:
    doc = base_doc()
    doc["preflight"]["checks"] = [{"name": "release", "command": command, "timeout": "1s"}]
    result = run_preflight(checkout, doc, version=None)
    assert result.exit_code == 1
    assert expected in {c.name: c.detail for c in result.checks}["release check: release"]


def test_duplicate_names_are_a_config_error(checkout: Workspace) -> None:
    from relgate.errors import ConfigError

    doc = base_doc()
    doc["preflight"]["checks"] = [{"name": "a", "command": ["true"]}] * 2
    (checkout.folder / "relgate.yml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="unique"):
        checkout.config()


def test_a_long_check_reports_progress(checkout: Workspace) -> None:
    from relgate.config import ReleaseCheck
    from relgate.release_checks import run_release_check

    (checkout.folder / "relgate.yml").write_text(yaml.safe_dump(base_doc()))
    check = ReleaseCheck(name="slow", command=["sh", "-c", "sleep 1.5; echo done"])
    record = run_release_check(checkout.config(), checkout.run(), check, heartbeat_s=0.2)
    assert record.ok and record.last_lines == ["done"]
    assert "release check slow: still running" in checkout.out.getvalue()
