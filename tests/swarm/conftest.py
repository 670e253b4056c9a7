"""Fixtures for the swarm tests: a real multi-node Swarm (``bed.py``), a stack dir per test, a run.

The bed is module-scoped: a module either uses ``swarm1`` (one node, images loaded with
``docker save | docker load``) or ``swarm3`` (three nodes and a registry, for placement, digests and
node loss) — never both, since a bed's names and subnets are fixed and it holds a lock. Each test
gets its own stack name, so stacks of earlier tests in the module are removed, not shared.

Missing capabilities (not root, no ``ip``/``nsenter``/``unshare``, no registry binary) skip the tests,
and fail them under ``RELGATE_STRICT_TESTS=1``.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
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
from tests._tools import STRICT, require_tool
from tests.swarm.bed import SwarmBed, missing_capabilities

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "images"
APP_IMAGES = (
    "relgate-test/busybox:1",
    "relgate-test/app:v1",
    "relgate-test/app:v2",
    "relgate-test/app:v3-unhealthy",
    "relgate-test/app:degrade",
)


def require_bed(*, registry: bool = False) -> None:
    missing = missing_capabilities(registry=registry)
    if not missing:
        return
    reason = "swarm test bed: " + "; ".join(missing)
    if STRICT:
        pytest.fail(f"RELGATE_STRICT_TESTS=1 and {reason}", pytrace=False)
    pytest.skip(reason)


def build_images() -> None:
    require_tool("docker")
    for script in (IMAGES / "build.sh", IMAGES / "variants" / "build.sh"):
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"{script} failed:\n{done.stdout}\n{done.stderr}")


def _bed(nodes: int, registry: bool) -> Iterator[SwarmBed]:
    require_bed(registry=registry)
    build_images()
    bed = SwarmBed(nodes_wanted=nodes, registry=registry, images=APP_IMAGES)
    bed.up()
    try:
        yield bed
    finally:
        bed.down()


@pytest.fixture(scope="module")
def swarm1() -> Iterator[SwarmBed]:
    yield from _bed(1, registry=False)


@pytest.fixture(scope="module")
def swarm3() -> Iterator[SwarmBed]:
    yield from _bed(3, registry=True)


WEB = {
    "image": "${IMAGE_PREFIX:-}relgate-test/app:${RELGATE_VERSION:?set by relgate}",
    "stop_grace_period": "1s",
    "ports": [{"target": 8080, "published": 18080, "protocol": "tcp", "mode": "host"}],
    "deploy": {
        "replicas": 1,
        "endpoint_mode": "dnsrr",
        "update_config": {"monitor": "3s"},
    },
}


@dataclass
class SwarmStackDir:
    """One test's deploy target on the bed: compose file, relgate.yml, a unique stack name."""

    bed: SwarmBed
    dir: Path
    stack: str
    services: dict[str, Any] = field(default_factory=lambda: {"web": WEB})
    deploy_cfg: dict[str, Any] = field(default_factory=dict)
    stack_cfg: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    output: io.StringIO = field(default_factory=io.StringIO)
    port: int = 18080

    @property
    def base_url(self) -> str:
        return f"http://{self.bed.manager.ip}:{self.port}"

    def write(self) -> Path:
        (self.dir / "stack.yml").write_text(
            yaml.safe_dump({"version": "3.8", "services": self.services}, sort_keys=False)
        )
        doc: dict[str, Any] = {
            "project": {"name": "relgate-test"},
            "environments": {
                "staging": {
                    # the bed's nodes are private addresses of this machine, not loopback
                    "allow_insecure_http": True,
                    "base_url": self.base_url,
                    "state_dir": str(self.dir / "state"),
                    "stack": {
                        "driver": "swarm",
                        "files": ["stack.yml"],
                        "stack_name": self.stack,
                        "resolve_image": "never",
                        **self.stack_cfg,
                    },
                }
            },
            "deploy": {
                "pull": False,
                "timeout": "120s",
                "stability_window": "2s",
                "health": {"url": "/health", "timeout": "2s"},
                **self.deploy_cfg,
            },
        }
        path = self.dir / "relgate.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def full_env(self) -> dict[str, str]:
        return {**os.environ, **self.bed.env(), **self.env}

    def config(self) -> RelgateConfig:
        return load_config(self.write(), env=self.full_env())

    def open_run(self, name: str) -> Run:
        reporter = Reporter(self.output, self.full_env(), SecretRegistry())
        return Run.open(env=self.full_env(), reporter=reporter, run_dir=self.dir / "runs" / name)

    def deploy(self, version: str, *, rollback: bool = True) -> DeployResult:
        run = self.open_run(f"{version}-{uuid.uuid4().hex[:6]}")
        self.last_run = run
        return deploy(self.config(), run, environment="staging", version=version, rollback=rollback)

    def service(self, name: str = "web") -> dict[str, Any]:
        import json

        out = self.bed.docker(1, "service", "inspect", f"{self.stack}_{name}")
        found: dict[str, Any] = json.loads(out)[0]
        return found

    def update_state(self, name: str = "web") -> str | None:
        state = (self.service(name).get("UpdateStatus") or {}).get("State")
        return str(state) if state else None

    def remove(self) -> None:
        self.bed.docker(1, "stack", "rm", self.stack, check=False)
        # the stack's network goes only once its tasks are gone: wait, so the next test's port is free
        end = time.monotonic() + 60
        while time.monotonic() < end:
            left = [
                c
                for n in self.bed.nodes
                for c in self.bed.docker(n, "ps", "-aq", check=False, timeout=10).split()
            ]
            nets = self.bed.docker(
                1, "network", "ls", "-q", "--filter", f"name={self.stack}_", check=False
            ).split()
            if not left and not nets:
                return
            time.sleep(0.3)


def get_text(url: str, timeout: float = 3) -> str:
    import httpx

    return httpx.get(url, timeout=timeout).text.strip()


def serves(url: str, text: str) -> bool:
    import httpx

    try:
        return get_text(url) == text
    except httpx.HTTPError:  # not listening (yet): a task starting, or a node away
        return False


def wait_for(predicate: Callable[[], bool], timeout_s: float = 60, what: str = "condition") -> None:
    """Poll ``predicate`` (the bed has no event to wait on for these): fail after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def stack_dir_factory(tmp_path: Path) -> Iterator[Callable[[SwarmBed], SwarmStackDir]]:
    made: list[SwarmStackDir] = []

    def make(bed: SwarmBed) -> SwarmStackDir:
        s = SwarmStackDir(bed, tmp_path / f"s{len(made)}", f"rg{uuid.uuid4().hex[:6]}")
        s.dir.mkdir()
        made.append(s)
        return s

    yield make
    for s in made:
        s.remove()
