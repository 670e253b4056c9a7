"""Fixtures of the smoke tests: the real demo service on an OS-chosen loopback port, and runs.

The demo server runs in a thread for the whole session (it starts in milliseconds); each test
resets its data and faults first, so tests never see each other's locks or graded copies.
"""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from relgate.demo.service import DemoServer
from relgate.gha import Reporter
from relgate.run import Run
from relgate.secrets import SecretRegistry
from tests.apps.grading_drf.server import GradingApp

DEMO_SCENARIO = Path(__file__).parents[2] / "relgate" / "demo" / "smoke.yml"
KORRIGO_SCENARIO = Path(__file__).parents[2] / "examples" / "korrigo.smoke.yml"
PASSWORD = "s3cr3t-Pässword/with+chars"


class Demo:
    """The running demo service and a few admin calls."""

    def __init__(self, server: DemoServer) -> None:
        self.server = server
        self.url = server.url
        self.state = server.state

    def admin(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def faults(self, **faults: Any) -> None:
        self.admin(
            "/__demo/faults", {"faults": {k.replace("_", "-"): v for k, v in faults.items()}}
        )


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    server = DemoServer("127.0.0.1", 0, version="v1.0.0-test", password=PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def demo(demo_server: DemoServer) -> Demo:
    d = Demo(demo_server)
    d.admin("/__demo/reset")
    return d


@dataclass
class Harness:
    """A run directory with a captured console, and the environment the stage sees."""

    tmp: Path
    env: dict[str, str] = field(default_factory=lambda: {"SMOKE_PASS": PASSWORD})
    out: io.StringIO = field(default_factory=io.StringIO)
    count: int = 0

    def run(self) -> Run:
        self.count += 1
        reporter = Reporter(self.out, self.env, SecretRegistry())
        return Run.open(env=self.env, reporter=reporter, run_dir=self.tmp / f"run{self.count}")


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def no_sleep(waits: list[float]) -> Any:
    """A sleep function that records what it was asked to wait (the real clock still runs)."""
    return waits.append


# -- the real Django REST Framework app (tests/apps/grading_drf) under gunicorn ------------------
@pytest.fixture(scope="session")
def drf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GradingApp]:
    app = GradingApp(tmp_path_factory.mktemp("grading-drf"), password=PASSWORD)
    try:
        yield app.start()
    finally:
        app.stop()


@pytest.fixture
def drf(drf_server: GradingApp) -> GradingApp:
    """The DRF app with freshly seeded data (3 READY copies with pages, no locks)."""
    drf_server.reset()
    return drf_server
