"""Fixtures for gate and lock tests: a real project on disk (process driver, a tiny slow app, a
one-step smoke scenario) and helpers to run ``relgate gate`` as a real process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).parent
RELGATE = str(Path(sys.executable).with_name("relgate"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Project:
    root: Path
    port: int

    @property
    def config(self) -> Path:
        return self.root / "relgate.yml"

    @property
    def evidence(self) -> Path:
        return self.root / "evidence"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def bundles(self) -> list[Path]:
        return sorted(self.evidence.glob("*.tar.*")) if self.evidence.exists() else []

    def stop_app(self) -> None:
        for pid_file in (self.root / "process").glob("*.pid.json"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                pid = int(json.loads(pid_file.read_text())["pid"])
                os.killpg(pid, signal.SIGKILL)


def write_project(root: Path, *, slow_start: float = 0, slow_seconds: float = 0) -> Project:
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "project": {"name": "gatetest"},
        "environments": {
            "staging": {
                "base_url": f"http://127.0.0.1:{port}",
                "state_dir": str(root / "state"),
                "stack": {
                    "driver": "process",
                    "command": [
                        sys.executable,
                        str(HERE / "slow_app.py"),
                        "--port",
                        "{port}",
                        "--version",
                        "{version}",
                    ],
                    "port": port,
                    "state_dir": str(root / "process"),
                    "stop_timeout": "3s",
                    "env": {"SLOW_START": str(slow_start), "SLOW_SECONDS": str(slow_seconds)},
                },
            }
        },
        "preflight": {"require_tag": False, "check_ci": False, "min_disk_free": "1MB"},
        "deploy": {
            "timeout": "60s",
            "stability_window": "0s",
            "health": {"url": "/health", "timeout": "2s"},
            "rollback": False,
        },
        "smoke": {"scenario": "smoke.yml"},
        "archive": {"output_dir": str(root / "evidence")},
        "lock": {"dir": str(root / "locks"), "mode": "always"},
    }
    (root / "relgate.yml").write_text(json.dumps(config, indent=2))
    scenario = {
        "version": 1,
        "name": "slow",
        "deadline": "2m",
        "defaults": {"timeout": {"read": "60s"}, "step_deadline": "60s"},
        "steps": [{"name": "slow", "request": {"url": "/slow"}, "expect": {"status": 200}}],
    }
    (root / "smoke.yml").write_text(json.dumps(scenario, indent=2))
    return Project(root, port)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made: list[Project] = []

    def make(**kw: float) -> Project:
        p = write_project(tmp_path / f"p{len(made)}", **kw)
        made.append(p)
        return p

    yield make  # type: ignore[misc]
    for p in made:
        p.stop_app()


@dataclass
class GateProcess:
    """A ``relgate gate`` child; its output is collected line by line as it comes."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def start_reading(self) -> None:
        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None and self._reader is not None:
                self._reader.join(2)
                if any(text in line for line in self.lines):
                    return
                raise AssertionError(
                    f"exited {self.proc.returncode} before {text!r}:\n{self.output}"
                )
            time.sleep(0.02)
        raise AssertionError(f"no {text!r} within {timeout}s:\n{self.output}")

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def start_gate(project: Project, *args: str) -> GateProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RELGATE_"))}
    env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [RELGATE, "--config", str(project.config), "--env", "staging", "gate", "--no-notes", *args],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    gate = GateProcess(proc)
    gate.start_reading()
    return gate
