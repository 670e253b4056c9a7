"""release-gate.yml under act against a real compose stack on the real Docker Engine.

The application is the deploy tests' busybox app (``tests/images``, built locally, never pulled):
``relgate-test/app:v1`` is healthy, ``relgate-test/app:v3-unhealthy`` never passes its healthcheck.
A passing gate deploys v1 and smoke-tests it; then v3-unhealthy fails the deploy's health gate and
is rolled back to v1's recorded image, which still answers; both runs leave verifiable evidence.
"""

from __future__ import annotations

import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._tools import require_tool
from tests.workflows._act import (
    ActRun,
    bundle_files,
    free_port,
    make_repo,
    run_act,
    stage_result,
    verify_bundle,
)

pytestmark = [pytest.mark.act, pytest.mark.docker, pytest.mark.slow]

IMAGES = Path(__file__).resolve().parents[1] / "images"

COMPOSE = """\
services:
  web:
    image: relgate-test/app:${RELGATE_VERSION:?set by relgate}
    pull_policy: never
    ports: ["127.0.0.1:${APP_PORT}:8080"]
    stop_signal: SIGKILL
    restart: unless-stopped
"""

SCENARIO = """\
version: 1
name: compose-app
steps:
  - name: home page answers with a version
    request: {method: GET, url: /}
    expect:
      status: 200
      body: {contains: "version "}
  - name: health
    request: {method: GET, url: /health}
    expect:
      status: 200
"""

CONFIG = """\
version: 1
project:
  name: compose-app
  repository: acme/relgate
  repo_path: ..
environments:
  staging:
    base_url: http://127.0.0.1:{port}
    state_dir: {state}/state
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
lock: {{dir: {state}/locks}}
"""


@dataclass
class ComposeWorld:
    base: Path
    repo: Path
    sha: str
    port: int
    project: str
    env: dict[str, str]

    def gate(self, label: str, version: str) -> ActRun:
        store = self.base / "artifacts" / label
        store.mkdir(parents=True)
        return run_act(
            self.repo,
            ".github/workflows/release-gate.yml",
            event={
                "inputs": {
                    "version": version,
                    "environment": "staging",
                    "working-directory": "app",
                    "release": "false",
                    "setup-python": "false",
                    "relgate-repository": "acme/relgate",
                    "relgate-ref": self.sha,
                }
            },
            env={**self.env, "RELGATE_STANDIN_ARTIFACTS": str(store)},
        )

    def bundle(self, label: str) -> Path:
        found = sorted((self.base / "artifacts" / label).glob("*/relgate-evidence-*.tar.*"))
        assert len(found) == 1, found
        return found[0]

    def page(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=5) as answer:
            return answer.read().decode().strip()


@pytest.fixture(scope="module")
def compose_world(
    tmp_path_factory: pytest.TempPathFactory, action_cache: Path
) -> Iterator[ComposeWorld]:
    require_tool("act")
    require_tool("docker")
    for script in (IMAGES / "build.sh", IMAGES / "variants" / "build.sh"):
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"{script} failed:\n{done.stdout}\n{done.stderr}")
    base = tmp_path_factory.mktemp("gate-compose-act")
    port, project = free_port(), f"relgate-act-{uuid.uuid4().hex[:8]}"
    repos = base / "repos" / "acme"
    repos.mkdir(parents=True)
    repo = base / "relgate"
    sha = make_repo(
        repo,
        extra={
            "app/relgate.yml": CONFIG.format(port=port, state=base / "state", project=project),
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


def test_compose_gate_passes_then_an_unhealthy_version_is_rolled_back(
    compose_world: ComposeWorld,
) -> None:
    good = compose_world.gate("v1", "v1")
    assert good.jobs.get("gate") == "success", good.describe()
    assert good.jobs.get("release") in (None, "skipped")
    assert compose_world.page() == "version v1"
    members = bundle_files(compose_world.bundle("v1"))
    verify_bundle(compose_world.bundle("v1"))
    assert stage_result(members, "deploy")["outcome"] == "deployed"
    assert stage_result(members, "smoke")["status"] == "passed"

    bad = compose_world.gate("v3", "v3-unhealthy")
    assert bad.jobs.get("gate") == "failure", bad.describe()
    deploy = stage_result(bundle_files(compose_world.bundle("v3")), "deploy")
    assert deploy["outcome"] == "rolled_back", deploy
    assert deploy["rolled_back_to"] == "v1"
    assert compose_world.page() == "version v1"
