"""A fresh runner for every job (issue 13), under act against the real Docker Engine.

relgate.yml is the README's kind: no ``state_dir``, no ``lock.dir``. Job 1 deploys v1; job 2 runs
with a new, empty state home — as a hosted runner would, the state of job 1 is gone — and deploys
v3-unhealthy: the running v1 is the rollback target, read from the engine, and it keeps serving.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._tools import require_tool
from tests.workflows._act import bundle_files, free_port, make_repo, stage_result
from tests.workflows.test_release_gate_compose_act import (
    COMPOSE,
    IMAGES,
    SCENARIO,
    ComposeWorld,
)

pytestmark = [pytest.mark.act, pytest.mark.docker, pytest.mark.slow]

CONFIG = """\
version: 1
project:
  name: compose-app
  repository: acme/relgate
  repo_path: ..
environments:
  staging:
    base_url: http://127.0.0.1:{port}
    variables: {{APP_PORT: "{port}"}}
    stack:
      driver: compose
      files: [compose.yml]
      project_name: {project}
preflight: {{require_tag: false, check_ci: false, min_disk_free: 10MB}}
deploy:
  pull: false
  timeout: 30s
  stability_window: 2s
  health: {{url: /health, timeout: 2s}}
smoke: {{scenario: smoke.yml}}
notes: {{strict: false}}
"""


@pytest.fixture(scope="module")
def fresh_world(
    tmp_path_factory: pytest.TempPathFactory, action_cache: Path
) -> Iterator[ComposeWorld]:
    require_tool("act")
    require_tool("docker")
    for script in (IMAGES / "build.sh", IMAGES / "variants" / "build.sh"):
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"{script} failed:\n{done.stdout}\n{done.stderr}")
    base = tmp_path_factory.mktemp("fresh-runner-act")
    port, project = free_port(), f"relgate-act-{uuid.uuid4().hex[:8]}"
    repos = base / "repos" / "acme"
    repos.mkdir(parents=True)
    repo = base / "relgate"
    sha = make_repo(
        repo,
        extra={
            "app/relgate.yml": CONFIG.format(port=port, project=project),
            "app/compose.yml": COMPOSE,
            "app/smoke.yml": SCENARIO,
        },
    )
    (repos / "relgate").symlink_to(repo)
    env = {"RELGATE_STANDIN_REPOS": str(base / "repos"), "RELGATE_ACTION_CACHE": str(action_cache)}
    try:
        yield ComposeWorld(base, repo, sha, port, project, env)
    finally:
        subprocess.run(
            ["docker", "compose", "-p", project, "down", "-v", "--remove-orphans", "-t", "0"],
            capture_output=True,
            check=False,
        )


def _fresh_runner(world: ComposeWorld, job: str) -> Path:
    """A state home and a runner temp no earlier job has seen (what a hosted runner starts with:
    its action venv is made again too)."""
    home = world.base / "runners" / job
    (home / "state").mkdir(parents=True)
    (home / "temp").mkdir()
    world.env["XDG_STATE_HOME"] = str(home / "state")
    world.env["RELGATE_ACTION_CACHE"] = str(home / "temp")
    return home / "state"


def test_job_2_on_a_fresh_runner_rolls_back_to_job_1s_version(fresh_world: ComposeWorld) -> None:
    state_1 = _fresh_runner(fresh_world, "job-1")
    good = fresh_world.gate("v1", "v1")
    assert good.jobs.get("gate") == "success", good.describe()
    assert fresh_world.page() == "version v1"
    assert list(state_1.glob("relgate/*/staging.last-good.json")), "the default state dir"

    state_2 = _fresh_runner(fresh_world, "job-2")
    bad = fresh_world.gate("v3", "v3-unhealthy")
    assert bad.jobs.get("gate") == "failure", bad.describe()
    deploy = stage_result(bundle_files(fresh_world.bundle("v3")), "deploy")
    assert (deploy["outcome"], deploy["rolled_back_to"]) == ("rolled_back", "v1"), deploy
    assert deploy["previous_version"] == "v1"
    assert "read from the engine" in deploy["rollback_target"]
    assert deploy["running_before"]["services"]["web"]["version"] == "v1"
    assert fresh_world.page() == "version v1"  # staging was never stopped
    # what ran came back and is recorded on this runner too
    [record] = state_2.glob("relgate/*/staging.last-good.json")
    assert '"version": "v1"' in record.read_text()
