"""The environment lock: flock + owner record; stale records taken over; operators' commands."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
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
    env = sys.argv[3] if len(sys.argv) > 3 else "staging"
    lock = EnvironmentLock(Path(sys.argv[1]), env)
    lock.acquire(LockOwner.me(run_id="holder-run", environment=env))
    print("locked", flush=True)
    try:
        time.sleep(float(sys.argv[2]))
    finally:
        lock.release()
    """
)


def _holder(directory: Path, seconds: float, environment: str = "staging") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory), str(seconds), environment],
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
    code, out, err = _run(tmp_path, *argv)
    return code, out + err


def _run(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    config = tmp_path / "relgate.yml"
    config.write_text(
        "project: {name: p}\n"
        "environments: {staging: {base_url: 'https://s.example.com'}}\n"
        f"lock: {{dir: {tmp_path / 'locks'}}}\n"
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *argv], env={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


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


# -- relgate lock recover ------------------------------------------------------------------------
def _write_record(locks: Path, environment: str, owner: LockOwner) -> None:
    locks.mkdir(parents=True, exist_ok=True)
    owner.environment = environment
    (locks / f"{environment}.lock").write_text(json.dumps(owner.to_dict()))


def _audit(locks: Path, environment: str) -> list[dict[str, object]]:
    path = locks / f"{environment}.lock.log"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_recover_clears_dead_owners_and_leaves_a_live_holder_alone(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    _write_record(locks, "staging", _owner("crashed", pid=_dead_pid()))
    holder = _holder(locks, 30, "production")  # a live gate on another environment
    try:
        code, out, _ = _run(tmp_path, "lock", "recover", "--json")
    finally:
        holder.kill()
        holder.wait()
    doc = json.loads(out)
    assert code == 0, out
    assert doc["recovered"] == ["staging"] and doc["blocked"] == []
    assert [(x["environment"], x["outcome"]) for x in doc["locks"]] == [
        ("production", "held"),
        ("staging", "recovered"),
    ]
    assert "holder-run" in (locks / "production.lock").read_text()
    assert _audit(locks, "production") == []
    assert (locks / "staging.lock").read_text() == ""
    entry = _audit(locks, "staging")[-1]
    previous = entry["previous"]
    assert entry["action"] == "recovered" and isinstance(previous, dict)
    assert previous["run_id"] == "crashed"
    assert f"(pid {os.getpid()})" in str(entry["by"]) and "is gone" in str(entry["reason"])


@pytest.mark.parametrize(
    ("stale_after", "expected"),
    [(None, "not_stale"), ("1h", "recovered"), ("2h", "not_stale")],
    ids=["no-stale-after", "older-than-stale-after", "younger-than-stale-after"],
)
def test_recover_by_age_when_the_owner_is_alive(
    tmp_path: Path, stale_after: str | None, expected: str
) -> None:
    """A record whose pid is alive (a recycled pid, say) but whose kernel lock is free."""
    locks = tmp_path / "locks"
    owner = _owner("old")  # this test process: alive
    owner.started_at = (datetime.now(UTC) - timedelta(minutes=90)).isoformat()
    _write_record(locks, "staging", owner)
    argv = ["lock", "recover", "--json", *(["--stale-after", stale_after] if stale_after else [])]
    code, out, _ = _run(tmp_path, *argv)
    doc = json.loads(out)
    assert code == 0 and doc["locks"][0]["outcome"] == expected, out
    cleared = (locks / "staging.lock").read_text() == ""
    assert cleared is (expected == "recovered")
    assert bool(_audit(locks, "staging")) is (expected == "recovered")


def test_recover_never_touches_a_lock_held_by_a_live_process(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    holder = _holder(locks, 30)
    try:
        before = (locks / "staging.lock").read_text()
        # not stale: held, exit 0
        code, out = _cli(tmp_path, "lock", "recover", "--stale-after", "1h")
        assert code == 0 and "held, not stale" in out, out
        # looks stale by age, but a live process holds the kernel lock: blocked, exit 3
        code, out = _cli(tmp_path, "--env", "staging", "lock", "recover", "--stale-after", "0s")
        assert code == 3 and "held, not stale" in out and "release --force" in out, out
        assert holder.poll() is None
        assert (locks / "staging.lock").read_text() == before
        assert _audit(locks, "staging") == []
    finally:
        holder.kill()
        holder.wait()


def test_recover_with_nothing_to_do(tmp_path: Path) -> None:
    code, out = _cli(tmp_path, "lock", "recover")
    assert code == 0 and "nothing to recover" in out
    code, out = _cli(tmp_path, "lock", "recover", "--stale-after", "soon")
    assert code == 2 and "--stale-after soon" in out
