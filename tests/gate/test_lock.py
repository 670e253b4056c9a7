"""The environment lock: flock + owner record; stale records taken over; operators' commands."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from relgate.cli import main
from relgate.errors import LockHeld
from relgate.lock import EnvironmentLock, LockOwner


def _owner(run_id: str = "r1", pid: int | None = None) -> LockOwner:
    owner = LockOwner.me(run_id=run_id, environment="staging", version="1.0.0")
    if pid is not None:
        owner.pid = pid
    return owner


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from relgate.lock import EnvironmentLock, LockOwner
    lock = EnvironmentLock(Path(sys.argv[1]), "staging")
    lock.acquire(LockOwner.me(run_id="holder-run", environment="staging"))
    print("locked", flush=True)
    try:
        time.sleep(float(sys.argv[2]))
    finally:
        lock.release()
    """
)


def _holder(directory: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_acquire_writes_the_record_and_release_clears_it(tmp_path: Path) -> None:
    lock = EnvironmentLock(tmp_path, "staging")
    acquired = lock.acquire(_owner())
    assert acquired.took_over is None
    record = json.loads(lock.path.read_text())
    assert (record["pid"], record["run_id"], record["environment"]) == (
        os.getpid(),
        "r1",
        "staging",
    )
    assert lock.status().held
    lock.release()
    assert lock.path.read_text() == ""
    assert lock.status().describe() == "free"


def test_held_by_another_process_names_it(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 30)
    try:
        with pytest.raises(LockHeld) as caught:
            EnvironmentLock(tmp_path, "staging").acquire(_owner())
        assert f"(pid {holder.pid}, run holder-run" in caught.value.message
        assert caught.value.message.startswith("another relgate gate for staging is running since ")
        status = EnvironmentLock(tmp_path, "staging").status()
        assert status.held and status.owner_alive is True
        assert status.holders in ([], [holder.pid])  # /proc/locks, where the kernel shows it
    finally:
        holder.kill()
        holder.wait()


def test_wait_lock_waits_with_progress(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 1.0)
    seen: list[float] = []
    acquired = EnvironmentLock(tmp_path, "staging").acquire(
        _owner(), wait=timedelta(seconds=30), on_wait=lambda owner, left: seen.append(left)
    )
    holder.wait()
    assert acquired.waited_s > 0.3 and seen


def test_the_kernel_frees_the_lock_of_a_killed_holder_and_the_record_is_taken_over(
    tmp_path: Path,
) -> None:
    holder = _holder(tmp_path, 30)
    holder.kill()  # SIGKILL: no chance to clear its record
    holder.wait()
    lock = EnvironmentLock(tmp_path, "staging")
    assert "stale record left by run holder-run" in lock.status().describe()
    acquired = lock.acquire(_owner("next"))
    assert acquired.took_over is not None and acquired.took_over.pid == holder.pid
    lock.release()
    audit = [json.loads(line) for line in lock.audit_path.read_text().splitlines()]
    assert audit[-1]["action"] == "took-over" and audit[-1]["previous"]["run_id"] == "holder-run"


def test_a_record_with_a_dead_pid_is_recovered(tmp_path: Path) -> None:
    lock = EnvironmentLock(tmp_path, "staging")
    tmp_path.mkdir(exist_ok=True)
    lock.path.write_text(json.dumps(_owner("crashed", pid=_dead_pid()).to_dict()))
    acquired = lock.acquire(_owner("new"))
    assert acquired.took_over is not None and acquired.took_over.run_id == "crashed"
    lock.release()


def _cli(tmp_path: Path, *argv: str) -> tuple[int, str]:
    config = tmp_path / "relgate.yml"
    config.write_text(
        "project: {name: p}\n"
        "environments: {staging: {base_url: 'https://s.example.com'}}\n"
        f"lock: {{dir: {tmp_path / 'locks'}}}\n"
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *argv], env={}, stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def test_cli_status_and_release(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    code, out = _cli(tmp_path, "lock", "status")
    assert code == 0 and "lock" in out and ": free" in out

    holder = _holder(locks, 30)
    try:
        code, out = _cli(tmp_path, "lock", "status")
        assert code == 0 and f"pid {holder.pid}" in out and "(owner alive)" in out
        code, out = _cli(tmp_path, "lock", "release")
        assert code == 3 and "refusing" in out and "--force" in out
        assert holder.poll() is None
        code, out = _cli(tmp_path, "lock", "release", "--force")
        assert code == 0 and f"stopped pid {holder.pid}" in out
        holder.wait(10)
    finally:
        holder.kill()
    audit = [json.loads(x) for x in (locks / "staging.lock.log").read_text().splitlines()]
    assert audit[-1]["action"] == "forced-release" and "(pid " in audit[-1]["by"]
    assert audit[-1]["previous"]["run_id"] == "holder-run"


def test_cli_release_clears_a_stale_record(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / "staging.lock").write_text(json.dumps(_owner("gone", pid=_dead_pid()).to_dict()))
    code, out = _cli(tmp_path, "lock", "status")
    assert "stale record left by run gone" in out
    code, out = _cli(tmp_path, "lock", "release")
    assert code == 0 and "cleared the stale record of run gone" in out
    assert (locks / "staging.lock").read_text() == ""
    assert json.loads((locks / "staging.lock.log").read_text().splitlines()[-1])["action"] == (
        "cleared-stale"
    )


def test_a_started_service_does_not_inherit_the_lock(tmp_path: Path) -> None:
    lock = EnvironmentLock(tmp_path, "staging")
    lock.acquire(_owner())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.release()
        time.sleep(0.1)
        assert not lock.status().held, "a deploy's child process must not keep the lock"
    finally:
        child.kill()
        child.wait()
