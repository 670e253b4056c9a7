"""``database.service``: backups reach the database through the very compose project deploy runs.

Real Docker Engine. There is no PostgreSQL image to pull here, so the ``db`` service is the local
busybox test image with stand-in ``pg_dump``/``psql`` scripts bind-mounted from the project
directory: the dump it writes names what it was given (arguments, and a variable only the
project-directory env file sets), which is what proves the compose wiring — project name (with
capitals in ``project.name``), ``--project-directory``, profiles and the env file, all as deploy.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from relgate.cli import main
from tests._tools import require_tool

pytestmark = [pytest.mark.docker]

IMAGES = Path(__file__).resolve().parents[1] / "images"

COMPOSE = """\
services:
  db:
    image: ${DB_IMAGE:?set by the stack env file}
    pull_policy: never
    profiles: [db]
    env_file: [./db.env]          # relative to the project directory (stack.working_dir)
    volumes: ["./pgbin:/opt/pg/bin:ro"]
    environment:
      PATH: /opt/pg/bin:/bin:/usr/bin:/sbin:/usr/sbin
    labels: ["org.relgate.test.version=${RELGATE_VERSION:?set by relgate}"]
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
"""
PG_DUMP = """#!/bin/sh
printf 'PGDMP'
echo " stand-in dump; marker=$STANDIN_MARKER; args=$*"
"""
PSQL = """#!/bin/sh
echo "16.4 (stand-in)"
"""


@dataclass
class ComposeDb:
    folder: Path
    project: str  # as written in relgate.yml (capitals included)
    env: dict[str, str]

    @property
    def normalised(self) -> str:
        return self.project.lower()

    def cli(self, *argv: str) -> tuple[int, dict[str, object], str]:
        out, err = io.StringIO(), io.StringIO()
        cwd = Path.cwd()
        os.chdir(self.folder)
        try:
            code = main(["--json", *argv], env=self.env, stdout=out, stderr=err)
        finally:
            os.chdir(cwd)
        return code, json.loads(out.getvalue() or "{}"), err.getvalue()

    def containers(self) -> list[str]:
        out = subprocess.run(
            ["docker", "ps", "-a", "--format", "{{.Label \"com.docker.compose.project\"}}",
             "--filter", f"label=com.docker.compose.project={self.normalised}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.split()


@pytest.fixture
def compose_db(tmp_path: Path) -> Iterator[ComposeDb]:
    require_tool("docker")
    built = subprocess.run(["bash", str(IMAGES / "build.sh")], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.fail(f"tests/images/build.sh failed:\n{built.stdout}\n{built.stderr}")
    project = f"Korrigo-T{uuid.uuid4().hex[:8]}"
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "compose.yml").write_text(COMPOSE)
    (tmp_path / "deploy" / "stack.env").write_text("DB_IMAGE=relgate-test/busybox:1\n")
    app = tmp_path / "app"
    (app / "pgbin").mkdir(parents=True)
    (app / "db.env").write_text("STANDIN_MARKER=from-the-project-directory\n")
    for name, text in (("pg_dump", PG_DUMP), ("psql", PSQL)):
        (app / "pgbin" / name).write_text(text)
        (app / "pgbin" / name).chmod(0o755)
    doc = {
        "project": {"name": project},
        "environments": {"staging": {
            "base_url": "http://127.0.0.1:9",
            "state_dir": str(tmp_path / "state"),
            "stack": {"driver": "compose", "files": ["deploy/compose.yml"], "profiles": ["db"],
                      "env_file": "deploy/stack.env", "working_dir": "app"},
            "database": {"service": "db", "name": "grading", "backup_dir": "backups"},
        }},
        "deploy": {"pull": False, "timeout": "60s", "stability_window": "1s"},
    }  # fmt: skip
    (tmp_path / "relgate.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ["HOME"]}
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    db = ComposeDb(tmp_path, project, env)
    try:
        yield db
    finally:
        label = f"label=com.docker.compose.project={db.normalised}"
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", label],
                             capture_output=True, text=True, check=False).stdout.split()  # fmt: skip
        if ids:
            subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True, check=False)
        nets = subprocess.run(["docker", "network", "ls", "-q", "--filter", label],
                              capture_output=True, text=True, check=False).stdout.split()  # fmt: skip
        if nets:
            subprocess.run(["docker", "network", "rm", *nets], capture_output=True, check=False)


def test_backup_uses_the_compose_project_deploy_runs(compose_db: ComposeDb) -> None:
    code, deployed, err = compose_db.cli("--env", "staging", "deploy", "--version", "v1")
    assert code == 0, (deployed, err)
    assert compose_db.containers() == [compose_db.normalised]

    code, record, err = compose_db.cli("--env", "staging", "backup")

    assert code == 0, err
    assert record["app_version"] == "v1"  # the data's version: deploy's last-known-good
    assert record["server_version"] == "16.4 (stand-in)"
    dump = Path(str(record["path"])).read_bytes()
    assert dump.startswith(b"PGDMP stand-in dump; ")
    assert b"marker=from-the-project-directory" in dump  # db.env, found via --project-directory
    assert b"args=--username postgres --format=custom --dbname=grading" in dump
    assert compose_db.containers() == [compose_db.normalised]  # no second project was created
