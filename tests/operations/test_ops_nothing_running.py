"""``relgate ops`` with nothing to check: no last-known-good record here and nothing running that
relgate deployed. It cannot run (exit 3) and says both places it looked (a fresh runner finds the
version in the engine instead: tests/workflows/test_ops_act.py)."""

from __future__ import annotations

import io
from pathlib import Path

from relgate.cli import main

CONFIG = """\
version: 1
project: {name: app, repository: acme/app}
environments:
  prod:
    base_url: http://127.0.0.1:9
    stack: {driver: process, command: ["true"], port: 9, state_dir: %s}
ops:
  checks:
    - {name: readiness, command: ["true"]}
"""


def test_ops_with_nothing_recorded_or_running_cannot_run(tmp_path: Path) -> None:
    (tmp_path / "relgate.yml").write_text(CONFIG % (tmp_path / "process"))
    out, err = io.StringIO(), io.StringIO()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "s")}
    code = main(["ops", "--config", str(tmp_path / "relgate.yml"), "--env", "prod"],
                env=env, stdout=out, stderr=err)  # fmt: skip
    text = out.getvalue() + err.getvalue()
    assert code == 3, text
    assert "prod runs no version relgate deployed" in text, text
    assert "no last-known-good record on this host, no version label in the engine" in text
    assert "Traceback" not in text


def test_ops_holds_the_environment_lock_and_exits_3_naming_the_holder(tmp_path: Path) -> None:
    """A deploy in progress holds the lock: ops waits --wait-lock, then refuses (exit 3) before any
    check or recovery command runs against the half-deployed stack."""
    from relgate.config import load_config
    from relgate.lock import LockOwner, lock_for

    marker = tmp_path / "ran"
    config = CONFIG.replace('["true"]}', f'["touch", "{marker}"]}}') % (tmp_path / "process")
    config += f"lock:\n  dir: {tmp_path / 'locks'}\n"
    (tmp_path / "relgate.yml").write_text(config)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "s")}
    lock = lock_for(load_config(tmp_path / "relgate.yml", env=env), "prod", env)
    owner = LockOwner.me(run_id="gh-9-1", environment="prod", command="deploy", key=lock.key)
    out, err = io.StringIO(), io.StringIO()
    with lock.held(owner):
        code = main(["ops", "--config", str(tmp_path / "relgate.yml"), "--env", "prod",
                     "--wait-lock", "300ms"], env=env, stdout=out, stderr=err)  # fmt: skip
    text = out.getvalue() + err.getvalue()
    assert code == 3, text
    assert "another relgate deploy for app/prod is running" in text and "run gh-9-1" in text, text
    assert "waited 0.3s" in text, text
    assert not marker.exists()  # no check ran
    assert "Traceback" not in text
