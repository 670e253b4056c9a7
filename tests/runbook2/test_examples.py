"""examples/retaia/: the files a user of the media-ingest runbook copies are valid as they are."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from relgate.cli import main
from tests._tools import require_tool

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "retaia"


def test_relgate_yml_passes_config_check() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--json", "--config", str(EXAMPLE / "relgate.yml"), "config", "check"],
                env={"PATH": os.environ["PATH"]}, stdout=out, stderr=err)  # fmt: skip
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["environments"] == ["production"]


@pytest.mark.parametrize("workflow", sorted(p.name for p in (EXAMPLE / "workflows").glob("*.yml")))
def test_workflows_pass_actionlint(workflow: str) -> None:
    require_tool("actionlint")
    done = subprocess.run(["actionlint", "-no-color", str(EXAMPLE / "workflows" / workflow)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_ops_workflow_is_scheduled_and_dispatchable() -> None:
    doc = yaml.safe_load((EXAMPLE / "workflows" / "ops.yml").read_text())
    triggers = doc[True]  # YAML 1.1 reads the key "on" as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    assert doc["jobs"]["ops"]["uses"].split("@")[0].endswith("/.github/workflows/ops.yml")
    assert doc["jobs"]["ops"]["permissions"]["issues"] == "write"


def test_compose_file_matches_the_config() -> None:
    """Every service relgate.yml names (subset, images, exec targets) is in the compose file, which
    compose itself accepts."""
    require_tool("docker")
    env = {**os.environ, "RETAIA_DB_PASSWORD": "x"}
    done = subprocess.run(
        ["docker", "compose", "-f", str(EXAMPLE / "docker-compose.prod.yaml"),
         "--project-directory", str(EXAMPLE), "config", "--format", "json", "--no-path-resolution"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    services = set(json.loads(done.stdout[done.stdout.index("{") :])["services"])
    config = yaml.safe_load((EXAMPLE / "relgate.yml").read_text())
    stack = config["environments"]["production"]["stack"]
    named = set(stack["services"]) | set(stack["images"])
    named |= {c["service"] for c in config["deploy"]["post_deploy"]}
    named |= {a["service"] for a in config["deploy"]["log_assertions"]}
    named |= {c["service"] for c in config["ops"]["checks"]}
    assert named <= services, named - services
