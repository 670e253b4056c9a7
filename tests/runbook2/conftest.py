"""The media-ingest runbook's stack (seed 003) on the real engine, pulled from a real registry.

``retaia_images`` builds the stand-in images once (tests/images/retaia/build.sh) and pushes them by tag
to the session's registry (tests/_registry.py) under a namespace of this session's own, then removes
the registry tags from the engine: relgate's ``compose pull`` has to fetch them, so the digests it
records are the registry's. ``retaia`` writes the runbook's compose file and a relgate.yml for one
test, with a unique compose project and a free port, and tears the project down afterwards.
"""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from relgate.config import RelgateConfig, load_config
from relgate.deploy.models import DeployResult
from relgate.deploy.stage import deploy
from relgate.gha import Reporter
from relgate.run import Run
from relgate.secrets import SecretRegistry
from tests._registry import Registry, push
from tests.deploy.conftest import _remove_leftovers, free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "images"
CORE_TAGS = ["v1.0.0", "v1.0.1", "v1.1.0-noready", "v1.1.0-nopoll", "v1.1.0-badmig"]
UI_TAGS = ["v1.0.0", "v1.0.1"]

# The runbook's docker-compose.prod.yaml, as its operators write it: RETAIA_CORE_IMAGE and
# RETAIA_UI_IMAGE may be exported, else the release version picks the tag.
COMPOSE = """\
x-core-image: &core ${RETAIA_CORE_IMAGE:-${RB2_REGISTRY}/${RB2_NS}/core:${RELGATE_VERSION:?set by relgate}}
services:
  db:
    image: ${RB2_REGISTRY}/${RB2_NS}/db:1
    stop_signal: SIGKILL
    volumes: ["dbdata:/var/lib/db"]
    healthcheck: {test: ["CMD", "test", "-f", "/var/lib/db/ready"], interval: 1s, retries: 30}
  core:
    image: *core
    stop_signal: SIGKILL
    volumes: ["dbdata:/var/lib/db"]
    depends_on: {db: {condition: service_healthy}}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/api/v1/health"]
      interval: 1s
      retries: 3
  ingest-cron:
    image: *core
    command: ["sh", "/opt/retaia/ingest.sh"]
    stop_signal: SIGKILL
    volumes: ["dbdata:/var/lib/db"]
    depends_on: {db: {condition: service_healthy}}
  ui:
    image: ${RETAIA_UI_IMAGE:-${RB2_REGISTRY}/${RB2_NS}/ui:${RELGATE_VERSION:?set by relgate}}
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      retries: 3
  caddy:
    image: ${RB2_REGISTRY}/${RB2_NS}/caddy:1
    stop_signal: SIGKILL
    ports: ["127.0.0.1:${RB2_PORT}:8080"]
    depends_on: [core, ui]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      retries: 3
  worker:   # in the file, but not in the runbook's `up -d` subset: never started
    image: *core
    command: ["sh", "-c", "echo worker; sleep 3600"]
    stop_signal: SIGKILL
volumes:
  dbdata: {}
"""


@dataclass
class RetaiaImages:
    registry: Registry
    namespace: str

    def ref(self, name: str, tag: str) -> str:
        return self.registry.ref(f"{self.namespace}/{name}", tag)

    def digest(self, name: str, tag: str) -> str:
        return self.registry.manifest_digest(f"{self.namespace}/{name}", tag)


def _run(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def retaia_images(registry: Registry) -> RetaiaImages:
    for script in (IMAGES / "build.sh", IMAGES / "retaia" / "build.sh"):
        _run(["bash", str(script)])
    images = RetaiaImages(registry, f"relgate-rb2-{uuid.uuid4().hex[:8]}")
    for tag in CORE_TAGS:
        push(registry, f"relgate-rb2/core:{tag}", f"{images.namespace}/core", tag)
    for tag in UI_TAGS:
        push(registry, f"relgate-rb2/ui:{tag}", f"{images.namespace}/ui", tag)
    push(registry, "relgate-rb2/caddy:1", f"{images.namespace}/caddy", "1")
    push(registry, "relgate-rb2/db:1", f"{images.namespace}/db", "1")
    return images


def registry_only_image(images: RetaiaImages, base: str, tag: str) -> str:
    """Push a copy of ``base`` with an image ID of its own (a unique label), then remove it from
    the engine: the only place it exists is the registry, as after an operator's prune."""
    local = f"relgate-rb2/prunable:{uuid.uuid4().hex[:10]}"
    _run(["docker", "build", "-q", "--pull=false", "-t", local, "-"],
         stdin=f"FROM {base}\nLABEL org.relgate.test-retaia.copy={local}\n")  # fmt: skip
    ref = push(images.registry, local, f"{images.namespace}/core", tag)
    _run(["docker", "rmi", local])
    return ref


@dataclass
class Retaia:
    """One test's deploy of the runbook stack."""

    dir: Path
    project: str
    port: int
    images: RetaiaImages
    exported: dict[str, str] = field(default_factory=dict)  # the operator's shell
    stack_cfg: dict[str, Any] = field(default_factory=dict)
    deploy_cfg: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    output: io.StringIO = field(default_factory=io.StringIO)

    @property
    def variables(self) -> dict[str, str]:
        return {
            "RB2_REGISTRY": self.images.registry.host,
            "RB2_NS": self.images.namespace,
            "RB2_PORT": str(self.port),
        }

    def write_config(self) -> Path:
        doc: dict[str, Any] = {
            "project": {"name": "retaia"},
            "environments": {
                "prod": {
                    "base_url": f"http://127.0.0.1:{self.port}",
                    "state_dir": str(self.dir / "state"),
                    "variables": self.variables,
                    "stack": {
                        "driver": "compose",
                        "files": ["docker-compose.prod.yaml"],
                        "project_name": self.project,
                        "services": ["core", "ingest-cron", "ui", "caddy", "db"],
                        **self.stack_cfg,
                    },
                }
            },
            "deploy": {
                "pull": True,
                "timeout": "60s",
                "stability_window": "2s",
                "health": {"url": "/api/v1/health", "timeout": "2s"},
                **self.deploy_cfg,
            },
            **self.extra,
        }
        path = self.dir / "relgate.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.exported}

    def config(self) -> RelgateConfig:
        return load_config(self.write_config(), env=self.env())

    def open_run(self, name: str) -> Run:
        reporter = Reporter(self.output, self.env(), SecretRegistry())
        return Run.open(env=self.env(), reporter=reporter, run_dir=self.dir / "runs" / name)

    def deploy(self, version: str) -> DeployResult:
        run = self.open_run(f"{version}-{uuid.uuid4().hex[:6]}")
        self.last_run = run
        return deploy(self.config(), run, environment="prod", version=version)

    def compose(self, *args: str) -> str:
        env = {**os.environ, **self.variables, "RELGATE_VERSION": "unused"}
        argv = ["docker", "compose", "-p", self.project, "-f", str(self.compose_file), *args]
        return subprocess.run(argv, capture_output=True, text=True, env=env, check=False).stdout

    @property
    def compose_file(self) -> Path:
        return self.dir / "docker-compose.prod.yaml"

    def running(self) -> dict[str, str]:
        """service -> the image reference its running container was created from (engine)."""
        out = subprocess.run(
            ["docker", "ps", "--filter", f"label=com.docker.compose.project={self.project}",
             "--format", '{{.Label "com.docker.compose.service"}} {{.ID}}'],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        found = {}
        for service, cid in zip(out[::2], out[1::2], strict=True):
            found[service] = _run(["docker", "inspect", "-f", "{{.Config.Image}}", cid]).strip()
        return found


@pytest.fixture
def retaia(retaia_images: RetaiaImages, tmp_path: Path) -> Iterator[Retaia]:
    stack = Retaia(tmp_path, f"relgate-rb2-{uuid.uuid4().hex[:8]}", free_port(), retaia_images)
    stack.compose_file.write_text(COMPOSE)
    try:
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", "-t", "0")
        _remove_leftovers(stack.project)
        subprocess.run(
            ["docker", "volume", "rm", "-f", f"{stack.project}_dbdata"],
            capture_output=True, check=False,
        )  # fmt: skip
