"""Full rollback end to end without Docker: the demo service under the process driver, the real
deploy stage, the real PostgreSQL. v1 deployed + backed up, v2 deployed + migrated, full rollback
to v1: v1 serves again, on v1 data, and the process was stopped while the database was restored."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest
import yaml

import relgate.deploy.stage as deploy_stage
from relgate.database import backup
from relgate.deploy.state import running_version
from relgate.results import StageName
from relgate.rollback import rollback
from relgate.run import run_stage
from tests.operations.conftest import V2_MIGRATION, Cluster, Workspace, free_port


@pytest.fixture
def process_ws(db_workspace: Workspace) -> Iterator[tuple[Workspace, int]]:
    port = free_port()
    doc = yaml.safe_load((db_workspace.folder / "relgate.yml").read_text())
    env = doc["environments"]["staging"]
    env["base_url"] = f"http://127.0.0.1:{port}"
    env["stack"] = {
        "driver": "process",
        "command": [
            sys.executable,
            "-m",
            "relgate.demo.service",
            "--port",
            "{port}",
            "--version",
            "{version}",
        ],
        "port": port,
        "state_dir": str(db_workspace.folder / "process"),
        "stop_timeout": "5s",
    }
    doc["deploy"] = {"timeout": "20s", "stability_window": "0s",
                     "health": {"url": "/api/health/", "timeout": "2s"}}  # fmt: skip
    doc["lock"] = {"dir": str(db_workspace.folder / "locks")}
    (db_workspace.folder / "relgate.yml").write_text(yaml.safe_dump(doc))
    yield db_workspace, port
    from relgate.deploy.context import DeployContext
    from relgate.deploy.driver import open_driver

    config = db_workspace.config()
    run = db_workspace.run("teardown")
    driver = open_driver(DeployContext(config, run, "staging", config.environments["staging"]))
    driver.stop(["app"])
    driver.close()


def _deploy(ws: Workspace, version: str) -> str:
    run = ws.run(f"deploy-{version}")
    result = run_stage(
        run,
        StageName.DEPLOY,
        lambda: deploy_stage.deploy(ws.config(), run, environment="staging", version=version),
    )
    return str(result.outcome)


@pytest.mark.postgres
def test_full_rollback_through_the_process_driver(
    process_ws: tuple[Workspace, int], pg_cluster: Cluster, database: str
) -> None:
    ws, port = process_ws
    assert _deploy(ws, "v1.0.0") == "deployed"
    backup(
        ws.config(),
        ws.run("backup"),
        "staging",
        app_version=running_version(ws.config(), "staging"),
    )
    assert _deploy(ws, "v2.0.0") == "deployed"
    pg_cluster.psql(database, V2_MIGRATION)

    result = rollback(
        ws.config(), ws.run("rollback"), environment="staging", mode="full", to_version="v1.0.0"
    )

    assert (result.outcome, result.rolled_back_to) == ("rolled_back", "v1.0.0"), result.summary
    health = httpx.get(f"http://127.0.0.1:{port}/api/health/", timeout=5).json()
    assert health["version"] == "v1.0.0"
    assert pg_cluster.psql(database, "SELECT to_regclass('public.annotations_v2')") == ""
    steps = {s.name: s.detail for s in result.steps}
    assert steps["stop application"].startswith("stopped")
    assert result.backup is not None and result.backup.record is not None
    assert result.backup.record.app_version == "v1.0.0"
    # v1 is the last-known-good again, and status agrees with what runs
    from relgate.status import status

    st = status(ws.config(), ws.run("status")).environments[0]
    assert (st.last_good, st.drift) == ("v1.0.0", []), st
    assert st.running == "v1.0.0 (matches the record)"
