"""relgate status: each source read on its own; a broken one is reported, never fatal."""

from __future__ import annotations

import io
import json
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relgate.cli import main
from relgate.status import last_gate, status
from tests._tools import require_tool
from tests.operations.conftest import Workspace, write_config


def _config(ws: Workspace, stack: str = "") -> None:
    write_config(ws.folder, extra=f"lock:\n  dir: {ws.folder / 'locks'}\n", stack=stack)


def _gate_run(
    ws: Workspace, name: str, *, env: str, started: str, status: str, digest: str
) -> Path:
    folder = ws.folder / ".relgate" / "runs" / name
    (folder / "results").mkdir(parents=True)
    (folder / "meta.json").write_text(
        json.dumps({"run_id": name, "environment": env, "started_at": started})
    )
    (folder / "results" / "gate.json").write_text(json.dumps(
        {"stage": "gate", "status": status, "verdict": f"GATE {status.upper()}", "version": name,
         "bundle_digest": digest}
    ))  # fmt: skip
    return folder


def test_last_gate_is_chosen_by_recorded_start_not_file_time(workspace: Workspace) -> None:
    _config(workspace)
    newer = _gate_run(workspace, "run-b", env="staging", started="2026-11-20T10:00:00+00:00",
                      status="passed", digest="sha256:" + "b" * 64)  # fmt: skip
    older = _gate_run(workspace, "run-a", env="staging", started="2026-11-19T10:00:00+00:00",
                      status="failed", digest="sha256:" + "a" * 64)  # fmt: skip
    _gate_run(workspace, "run-c", env="production", started="2026-11-21T10:00:00+00:00",
              status="failed", digest="sha256:" + "c" * 64)  # fmt: skip
    os.utime(older / "meta.json", (2_000_000_000, 2_000_000_000))  # the older run was touched last
    os.utime(newer / "meta.json", (1_000_000_000, 1_000_000_000))
    gate = last_gate(workspace.config(), "staging")
    assert gate is not None
    assert (gate.run_id, gate.status, gate.verdict) == ("run-b", "passed", "GATE PASSED")
    assert gate.bundle_digest == "sha256:" + "b" * 64


@pytest.mark.parametrize(
    "content",
    [
        pytest.param('{"stage": "gate", "status": "passed", "surprise": 1}', id="unknown-field"),
        pytest.param('{"stage": "gate", "verdict": "GATE PASSED"}', id="no-status"),
        pytest.param('{"stage": "gate", "status": "pass', id="malformed"),
    ],
)
def test_an_unreadable_gate_result_is_shown_as_unreadable(
    workspace: Workspace, content: str
) -> None:
    _config(workspace)
    folder = _gate_run(workspace, "run-x", env="staging", started="2026-11-20T10:00:00+00:00",
                       status="passed", digest="sha256:" + "b" * 64)  # fmt: skip
    (folder / "results" / "gate.json").write_text(content)
    gate = last_gate(workspace.config(), "staging")
    assert gate is not None and gate.status == "unreadable", gate
    assert "gate.json" in gate.verdict


def test_status_shows_lock_holder_backup_and_survives_a_broken_record(workspace: Workspace) -> None:
    from relgate.database import BackupRecord, sidecar_path
    from relgate.lock import LockOwner, lock_for

    _config(workspace)
    config = workspace.config()
    (workspace.folder / "state").mkdir()
    (workspace.folder / "state" / "staging.last-good.json").write_text("{not json")
    backups = workspace.folder / "backups"
    backups.mkdir()
    dump = backups / "gradeapp-staging-1.dump"
    dump.write_bytes(b"PGDMP")
    record = BackupRecord(path=str(dump), format="custom", sha256="0" * 64, size=5,
                          created_at=datetime.now(UTC), project="gradeapp", environment="staging",
                          database="app", app_version="v1.0.0")  # fmt: skip
    sidecar_path(dump).write_text(record.model_dump_json())
    (workspace.folder / "relgate.yml").write_text(
        (workspace.folder / "relgate.yml")
        .read_text()
        .replace(
            "    state_dir:",
            f"    database:\n      dsn_env: X\n      backup_dir: {backups}\n    state_dir:",
        )
    )
    config = workspace.config()
    lock = lock_for(config, "staging", {})
    owner = LockOwner.me(run_id="gh-42-1", environment="staging", command="gate", key=lock.key)
    with lock.held(owner):
        report = status(config, workspace.run(), probe_running=False)
    st = report.environments[0]
    assert st.lock_held is True and "run gh-42-1" in st.lock
    assert st.last_backup is not None and st.last_backup.startswith(
        "gradeapp-staging-1.dump (0.0h old, v1.0.0)"
    )
    assert st.last_good is None
    assert any(p.startswith("last-known-good:") and "unreadable" in p for p in st.problems)
    assert st.running == "not probed (--offline)"


def test_status_reports_drift_from_the_real_engine(workspace: Workspace) -> None:
    require_tool("docker")
    from relgate.deploy.models import LastGood, ServiceImage
    from relgate.deploy.state import write_last_good

    project = f"relgate-ops-status-{uuid.uuid4().hex[:8]}"
    (workspace.folder / "compose.yml").write_text(
        "services:\n  web:\n    image: ${RELGATE_TEST_IMAGE:-relgate-test/busybox:1}\n"
        "    pull_policy: never\n    command: [sleep, '3600']\n    stop_signal: SIGKILL\n"
    )
    stack = f"    stack:\n      driver: compose\n      files: [compose.yml]\n      project_name: {project}\n"
    _config(workspace, stack=stack)
    config = workspace.config()
    base = ["docker", "compose", "-p", project, "-f", str(workspace.folder / "compose.yml")]
    subprocess.run([*base, "up", "-d", "--quiet-pull"], check=True, capture_output=True)
    try:
        image_id = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", "relgate-test/busybox:1"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

        def record(image: str) -> None:
            write_last_good(config, LastGood(
                environment="staging", driver="compose", version="v1.0.0", project=project,
                services={"web": ServiceImage(image="relgate-test/busybox:1", image_id=image)},
                env_hash="x", recorded_at=datetime.now(UTC), run_id="r1",
            ))  # fmt: skip

        record(image_id)
        st = status(config, workspace.run()).environments[0]
        assert (st.last_good, st.running, st.drift) == ("v1.0.0", "v1.0.0 (matches the record)", [])
        record("sha256:" + "f" * 64)
        st = status(config, workspace.run()).environments[0]
        assert st.drift == [
            f"web: runs relgate-test/busybox:1 ({image_id.removeprefix('sha256:')[:12]}), record has ffffffffffff"
        ]
    finally:
        subprocess.run([*base, "down", "-t", "0"], check=False, capture_output=True)


def test_cli_status_json_is_read_only(workspace: Workspace) -> None:
    _config(workspace)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--json", "--config", str(workspace.folder / "relgate.yml"), "status", "--offline"],
                env=workspace.env, stdout=out, stderr=err)  # fmt: skip
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert [e["name"] for e in doc["environments"]] == ["staging"]
    assert doc["environments"][0]["lock"] == "free"
    assert not (workspace.folder / ".relgate").exists()
