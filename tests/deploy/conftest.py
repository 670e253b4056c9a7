"""Fixtures for the deploy tests: real images, a real compose project per test, a real run.

``app_images`` builds the test app variants once per session (tests/images/variants/build.sh);
``compose_stack`` writes a compose file + relgate.yml into a temp dir with a unique project name and
a free port, and tears the project down (``down -v``) whatever happens.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
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
from tests._tools import require_tool

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IMAGES = ROOT / "tests" / "images"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def app_images() -> None:
    require_tool("docker")
    for script in (IMAGES / "build.sh", IMAGES / "variants" / "build.sh"):
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"{script} failed:\n{done.stdout}\n{done.stderr}")


COMPOSE = """\
services:
  web:
    image: relgate-test/app:${RELGATE_VERSION:?set by relgate}
    pull_policy: never
    ports: ["127.0.0.1:${APP_PORT}:8080"]
    stop_signal: SIGKILL   # busybox httpd as PID 1 ignores SIGTERM: don't wait 10 s
    restart: unless-stopped
    environment:
      SLOW_S: "${SLOW_S:-4}"
    healthcheck:   # the image's test; a slow starter gets a grace period (moby start_period)
      start_period: ${START_PERIOD:-0s}
"""


@dataclass
class Stack:
    """One test's deploy target: files on disk, a unique compose project, a free port."""

    dir: Path
    project: str
    port: int
    env: dict[str, str] = field(default_factory=dict)
    deploy_cfg: dict[str, Any] = field(default_factory=dict)
    stack_cfg: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    env_cfg: dict[str, Any] = field(default_factory=dict)
    output: io.StringIO = field(default_factory=io.StringIO)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.dir / "relgate.yml"

    def write_config(self) -> Path:
        doc: dict[str, Any] = {
            "project": {"name": "relgate-test"},
            "environments": {
                "staging": {
                    "base_url": self.base_url,
                    "state_dir": str(self.dir / "state"),
                    "variables": {"APP_PORT": str(self.port)},
                    "stack": {
                        "driver": "compose",
                        "files": ["compose.yml"],
                        "project_name": self.project,
                        **self.stack_cfg,
                    },
                }
            },
            "deploy": {
                "pull": False,
                "timeout": "30s",
                "stability_window": "2s",
                "health": {"url": "/health", "timeout": "2s"},
                **self.deploy_cfg,
            },
            **self.extra,
        }
        self.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return self.config_path

    def config(self) -> RelgateConfig:
        self.write_config()
        return load_config(self.config_path, env=self.full_env())

    def full_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def open_run(self, name: str) -> Run:
        secrets = SecretRegistry()
        reporter = Reporter(self.output, self.full_env(), secrets)
        return Run.open(env=self.full_env(), reporter=reporter, run_dir=self.dir / "runs" / name)

    def deploy(
        self, version: str, *, rollback: bool = True, name: str | None = None
    ) -> DeployResult:
        run = self.open_run(name or f"{version}-{uuid.uuid4().hex[:6]}")
        self.last_run = run
        return deploy(self.config(), run, environment="staging", version=version, rollback=rollback)

    def get(self, path: str = "/") -> str:
        import httpx

        return httpx.get(self.base_url + path, timeout=5).text.strip()

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "-p", self.project, "-f", str(self.dir / "compose.yml"), *args],
            capture_output=True,
            text=True,
            check=False,
            env={**self.full_env(), "RELGATE_VERSION": "v1", "APP_PORT": str(self.port)},
        )

    def running_images(self) -> list[str]:
        out = subprocess.run(
            ["docker", "ps", "--filter", f"label=com.docker.compose.project={self.project}",
             "--format", "{{.Image}} {{.State}}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.split("\n")[:-1]


@pytest.fixture
def compose_stack(app_images: None, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path, f"relgate-t-{uuid.uuid4().hex[:8]}", free_port())
    (tmp_path / "compose.yml").write_text(COMPOSE)
    try:
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", "-t", "0")
        _remove_leftovers(stack.project)  # e.g. when the test left an invalid compose file


def _remove_leftovers(project: str) -> None:
    label = f"label=com.docker.compose.project={project}"
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True, check=False
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True, check=False)
    networks = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", label],
        capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    if networks:
        subprocess.run(["docker", "network", "rm", *networks], capture_output=True, check=False)


@dataclass
class ProcessStack(Stack):
    """The same deploy target run by the process driver (no Docker)."""

    def write_config(self) -> Path:
        doc: dict[str, Any] = {
            "project": {"name": "relgate-test"},
            "environments": {
                "staging": {
                    "base_url": self.base_url,
                    "state_dir": str(self.dir / "state"),
                    **self.env_cfg,
                    "stack": {
                        "driver": "process",
                        "command": [
                            sys.executable,
                            str(HERE / "fake_app.py"),
                            "--port",
                            "{port}",
                            "--version",
                            "{version}",
                        ],
                        "port": self.port,
                        "state_dir": str(self.dir / "process"),
                        "stop_timeout": "2s",
                        **self.stack_cfg,
                    },
                }
            },
            "deploy": {
                "timeout": "10s",
                "stability_window": "1s",
                "health": {"url": "/health", "timeout": "1s"},
                **self.deploy_cfg,
            },
            **self.extra,
        }
        self.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return self.config_path

    def pid(self) -> int | None:
        try:
            return int(json.loads((self.dir / "process/staging.pid.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def stop_all(self) -> None:
        pid = self.pid()
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def process_stack(tmp_path: Path) -> Iterator[ProcessStack]:
    stack = ProcessStack(tmp_path, "process", free_port())
    try:
        yield stack
    finally:
        stack.stop_all()


GATE_WAITS = "app: running"  # the gate's first progress line: the attempt has started


class EndsAt(io.StringIO):
    """A reporter stream that raises ``exc`` once, when a write contains ``text``: a signal or a
    crash at a known point of a real deploy, through a seam relgate already has (the stream)."""

    def __init__(self, text: str, exc: BaseException) -> None:
        super().__init__()
        self.text, self.exc = text, exc
        self.raised = False

    def write(self, s: str) -> int:
        n = super().write(s)
        if not self.raised and self.text in s:
            self.raised = True
            raise self.exc
        return n
