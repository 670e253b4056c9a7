"""Static checks of every action and workflow relgate ships: zizmor, actionlint, JSON schemas, and
the house rules the analyzers do not know (SHA pins, timeouts, least permissions, no ${{ }} in run)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests._tools import require_tool
from tests.workflows._act import PROJECT, pinned_uses

ACTIONS = sorted([PROJECT / "action.yml", *PROJECT.glob("actions/*/action.yml")])
WORKFLOWS = sorted(
    [*PROJECT.glob(".github/workflows/*.yml"), *PROJECT.glob("examples/workflows/*.yml")]
)
BIN = Path(sys.executable).parent


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, check=False)


def _rel(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(PROJECT)) for p in paths]


def test_there_is_something_to_check() -> None:
    names = {p.parent.name for p in ACTIONS}
    assert {"preflight", "deploy", "smoke", "archive", "notes", "release", "rollback"} <= names
    assert {"release-gate.yml", "rollback.yml", "release-notes-pr.yml", "ci.yml"} <= {
        p.name for p in WORKFLOWS
    }


def test_zizmor_offline_has_no_findings() -> None:
    proc = _run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", *_rel(ACTIONS), *_rel(WORKFLOWS)]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint() -> None:
    require_tool("actionlint")
    proc = _run(["actionlint", "-no-color", *_rel(WORKFLOWS)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        pytest.param("vendor.github-actions", ACTIONS, id="actions"),
        pytest.param("vendor.github-workflows", WORKFLOWS, id="workflows"),
        pytest.param("custom.github-workflows-require-timeout", WORKFLOWS, id="timeouts"),
    ],
)
def test_json_schema(schema: str, files: list[Path]) -> None:
    proc = _run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, *_rel(files)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: str(p.relative_to(PROJECT)))
def test_action_metadata_is_complete(path: Path) -> None:
    action = _load(path)
    assert action["name"] and action["description"]
    assert action["branding"]["icon"] and action["branding"]["color"]
    for name, spec in action.get("inputs", {}).items():
        assert spec.get("description"), f"input {name} undocumented"
        assert "required" in spec, f"input {name}: say whether it is required"
        assert spec["required"] == "true" or "default" in spec, f"input {name}: no default"
    for name, spec in action.get("outputs", {}).items():
        assert spec.get("description"), f"output {name} undocumented"
    for step in action["runs"]["steps"]:
        if "run" in step:
            # Inputs reach scripts only through env: (zizmor checks injection; this is stricter).
            assert "${{" not in step["run"], f"{path}: expression inside run: {step['run']}"
            assert step.get("shell") == "bash"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(PROJECT)))
def test_workflow_house_rules(path: Path) -> None:
    workflow = _load(path)
    text = path.read_text(encoding="utf-8")
    assert workflow["permissions"] == {}, "top-level permissions must be {}"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {name} must declare its permissions"
        if "uses" not in job:
            assert "timeout-minutes" in job, f"job {name} needs timeout-minutes"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") == "false"
    # Keys GitHub accepts but act/actionlint reject must stay out of files they parse.
    assert not re.search(r"^\s*queue:", text, re.M)
    assert not re.search(r"^\s*(-\s*)?uses:\s*\$/", text, re.M)


def test_remote_actions_are_pinned_by_sha_with_a_version_comment() -> None:
    for path in [*ACTIONS, *WORKFLOWS]:
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"\s*(?:-\s*)?uses:\s*([^\s#]+)", line)
            if not m or m.group(1).startswith("./"):
                continue
            ref = m.group(1)
            if ref.startswith("org/relgate/"):
                continue  # the example caller's placeholder
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path}: {ref}"
            assert re.search(r"#\s*v\d", line), f"{path}: {ref} lacks a '# vX.Y.Z' comment"
    assert pinned_uses(), "no pinned action found at all"


def test_reusable_workflows_run_relgate_from_their_own_commit() -> None:
    for name in ("release-gate.yml", "rollback.yml", "release-notes-pr.yml"):
        workflow = _load(PROJECT / ".github/workflows" / name)
        assert {"workflow_call", "workflow_dispatch"} <= set(workflow["on"])
        for job in workflow["jobs"].values():
            steps = job["steps"]
            if not any(str(s.get("uses", "")).startswith("./") for s in steps):
                continue  # runs no relgate action (the attest job)
            own = [s for s in steps if s.get("with", {}).get("path") == ".relgate/action"]
            assert own, "relgate must check itself out"
            assert "job.workflow_sha" in own[0]["with"]["ref"]
            assert "job.workflow_repository" in own[0]["with"]["repository"]
            for step in steps:
                uses = str(step.get("uses", ""))
                if uses.startswith("./"):
                    assert uses.startswith("./.relgate/action/actions/"), uses


def test_only_the_attest_job_may_mint_an_oidc_token() -> None:
    for name in ("release-gate.yml", "rollback.yml", "release-notes-pr.yml"):
        workflow = _load(PROJECT / ".github/workflows" / name)
        for job_id, job in workflow["jobs"].items():
            permissions = job.get("permissions") or {}
            attests = any("actions/attest@" in str(s.get("uses", "")) for s in job["steps"])
            assert (permissions.get("id-token") == "write") == attests, (name, job_id)
            assert (permissions.get("attestations") == "write") == attests, (name, job_id)
    attest = _load(PROJECT / ".github/workflows/release-gate.yml")["jobs"]["attest"]
    skipped, real = attest["steps"][-2:]
    assert skipped["if"] == "env.ACT == 'true'" and "::notice" in skipped["run"]
    assert real["if"] == "env.ACT != 'true'"
    assert real["with"]["predicate-type"] == "https://relgate.dev/attestation/gate/v1"


def test_release_gate_shape() -> None:
    workflow = _load(PROJECT / ".github/workflows/release-gate.yml")
    gate, release = workflow["jobs"]["gate"], workflow["jobs"]["release"]
    assert gate["concurrency"]["cancel-in-progress"] == "false"
    assert "inputs.environment" in gate["environment"]
    assert "inputs.production-environment" in release["environment"]
    assert release["needs"] == "gate"
    ids = [s.get("id") for s in gate["steps"]]
    assert [i for i in ids if i in {"preflight", "deploy", "smoke", "archive", "notes"}] == [
        "preflight",
        "deploy",
        "smoke",
        "archive",
        "notes",
    ]
    archive = next(s for s in gate["steps"] if s.get("id") == "archive")
    assert archive["if"] == "always()"


@pytest.mark.parametrize(
    "path",
    [PROJECT / "action.yml", *sorted((PROJECT / "actions").glob("*/action.yml"))],
    ids=lambda p: p.parent.name if p.parent.name != PROJECT.name else "gate",
)
def test_no_expression_in_action_descriptions(path: Path) -> None:
    """The runner (and act) refuse a whole action whose metadata text holds a ${{ }} expression."""
    action = _load(path)
    for section in ("inputs", "outputs"):
        for name, spec in (action.get(section) or {}).items():
            assert "${{" not in str(spec.get("description", "")), (path, section, name)
