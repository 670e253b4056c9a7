"""Fixtures of the operations tests: a throwaway PostgreSQL cluster, a config, a run.

The cluster is started once per session by ``scripts/pg-test-cluster.sh`` on a free loopback port
(trust auth); each test gets its own database, so tests never see each other's data.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from relgate.config import RelgateConfig, load_config
from relgate.gha import Reporter
from relgate.run import Run
from relgate.secrets import SecretRegistry
from tests._tools import require_tool

REPO = Path(__file__).resolve().parents[2]
# Trust auth ignores it, but it proves the password never reaches argv or the evidence.
DB_PASSWORD = "s3cret-Pa55-relgate"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    port: int

    def dsn(self, database: str, password: str = DB_PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def psql(self, database: str, sql: str) -> str:
        out = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.strip()

    def databases(self) -> set[str]:
        return set(self.psql("postgres", "SELECT datname FROM pg_database").split())


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    require_tool("postgres")
    # Not pytest's tmp_path: /tmp/pytest-of-root is 0700 and the postgres user must reach it.
    directory = tempfile.mkdtemp(prefix="relgate-ops-pg-", dir="/tmp")
    os.chmod(directory, 0o755)
    port = free_port()
    script = REPO / "scripts" / "pg-test-cluster.sh"
    subprocess.run(["bash", str(script), "start", directory, str(port)], check=True,
                   capture_output=True)  # fmt: skip
    try:
        yield Cluster(port)
    finally:
        subprocess.run(["bash", str(script), "stop", directory], check=False, capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def database(pg_cluster: Cluster) -> Iterator[str]:
    name = f"app_{uuid.uuid4().hex[:10]}"
    pg_cluster.psql("postgres", f"CREATE DATABASE {name}")
    yield name
    pg_cluster.psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


V1_SCHEMA = """
CREATE TABLE copies (id integer PRIMARY KEY, status text NOT NULL);
INSERT INTO copies VALUES (1, 'READY'), (2, 'READY'), (3, 'GRADED');
"""
V2_MIGRATION = """
CREATE TABLE annotations_v2 (id serial PRIMARY KEY, copy_id integer, body text);
INSERT INTO annotations_v2 (copy_id, body) VALUES (1, 'from v2');
UPDATE copies SET status = 'LOCKED_V2';
"""


def write_config(
    folder: Path,
    *,
    database: dict[str, object] | None = None,
    extra: str = "",
    stack: str = "",
) -> Path:
    import yaml

    env: dict[str, object] = {
        "base_url": "http://127.0.0.1:9",
        "stack": {"driver": "process", "command": ["true"]},
        "state_dir": str(folder / "state"),
    }
    if database is not None:
        env["database"] = {"backup_dir": str(folder / "backups"), **database}
    doc = {"project": {"name": "gradeapp"}, "environments": {"staging": env}}
    path = folder / "relgate.yml"
    text = yaml.safe_dump(doc, sort_keys=False)
    if stack:
        text = text.replace(
            "    stack:\n      driver: process\n      command:\n      - 'true'\n", stack
        )
    path.write_text(text + extra, encoding="utf-8")
    return path


@dataclass
class Workspace:
    folder: Path
    env: dict[str, str]
    out: io.StringIO

    def config(self) -> RelgateConfig:
        return load_config(self.folder / "relgate.yml", env=self.env, secrets=SecretRegistry())

    def run(self, name: str = "run") -> Run:
        reporter = Reporter(self.out, self.env, SecretRegistry())
        return Run.open(
            env=self.env, reporter=reporter, run_dir=self.folder / name, environment="staging"
        )


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    return Workspace(tmp_path, env, io.StringIO())


@pytest.fixture
def db_workspace(workspace: Workspace, pg_cluster: Cluster, database: str) -> Workspace:
    """A workspace whose staging environment points (by DSN in APP_DATABASE_URL) at ``database``."""
    write_config(workspace.folder, database={"dsn_env": "APP_DATABASE_URL"})
    workspace.env["APP_DATABASE_URL"] = pg_cluster.dsn(database)
    pg_cluster.psql(database, V1_SCHEMA)
    return workspace


RecordingRunner = Callable[..., object]
