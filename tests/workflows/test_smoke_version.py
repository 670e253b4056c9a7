"""The version reaches the smoke stage wherever it runs (issue 14: ``{{ run.version }}`` rendered
empty in the stage actions and the reusable workflow, and a wrong build was released)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def _smoke_steps(workflow: Path) -> list[dict[str, object]]:
    data = yaml.safe_load(workflow.read_text())
    return [
        step
        for job in data["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).rstrip("/").endswith("actions/smoke")
        or "/actions/smoke@" in str(step.get("uses", ""))
    ]


def test_smoke_action_has_a_version_input_passed_as_flag() -> None:
    action = yaml.safe_load((ROOT / "actions/smoke/action.yml").read_text())
    assert "version" in action["inputs"]
    env = action["runs"]["steps"][-1]["env"]
    assert env["RELGATE_INPUT_VERSION"] == "${{ inputs.version }}"


def test_every_workflow_smoke_step_passes_the_version() -> None:
    workflows = [ROOT / ".github/workflows/release-gate.yml"]
    workflows += sorted((ROOT / "examples/workflows").glob("*.yml"))
    found = 0
    for workflow in workflows:
        for step in _smoke_steps(workflow):
            found += 1
            assert "version" in step.get("with", {}), f"{workflow.name}: smoke step without version"
    assert found >= 2
