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
from relgate.errors import CannotRun, LockHeld
from relgate.lock import EnvironmentLock, LockKey, LockOwner
from relgate.places import LOCAL_ENGINE


def _key(environment: str = "staging", project: str = "p") -> LockKey:
    return LockKey(project, environment, LOCAL_ENGINE, "local")


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
    from relgate.lock import EnvironmentLock, LockKey, LockOwner
    env = sys.argv[3] if len(sys.argv) > 3 else "staging"
    key = LockKey("p", env, "unix:///var/run/docker.sock", "local")
    lock = EnvironmentLock(Path(sys.argv[1]), key)
    lock.acquire(LockOwner.me(run_id="holder-run", environment=env, key=key))
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
    lock = EnvironmentLock(tmp_path, _key())
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
            EnvironmentLock(tmp_path, _key()).acquire(_owner())
        assert f"(pid {holder.pid}, run holder-run" in caught.value.message
        assert caught.value.message.startswith(
            "another relgate gate for p/staging is running since "
        )
        status = EnvironmentLock(tmp_path, _key()).status()
        assert status.held and status.owner_alive is True
        assert status.holders in ([], [holder.pid])  # /proc/locks, where the kernel shows it
    finally:
        holder.kill()
        holder.wait()


def test_wait_lock_waits_with_progress(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 1.0)
    seen: list[float] = []
    acquired = EnvironmentLock(tmp_path, _key()).acquire(
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
    lock = EnvironmentLock(tmp_path, _key())
    assert "stale record left by run holder-run" in lock.status().describe()
    acquired = lock.acquire(_owner("next"))
    assert acquired.took_over is not None and acquired.took_over.pid == holder.pid
    lock.release()
    audit = [json.loads(line) for line in lock.audit_path.read_text().splitlines()]
    assert audit[-1]["action"] == "took-over" and audit[-1]["previous"]["run_id"] == "holder-run"


def test_a_record_with_a_dead_pid_is_recovered(tmp_path: Path) -> None:
    lock = EnvironmentLock(tmp_path, _key())
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
    audit = [json.loads(x) for x in (locks / "p@staging@local.lock.log").read_text().splitlines()]
    assert audit[-1]["action"] == "forced-release" and "(pid " in audit[-1]["by"]
    assert audit[-1]["previous"]["run_id"] == "holder-run"


def test_cli_release_clears_a_stale_record(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / "p@staging@local.lock").write_text(
        json.dumps(_owner("gone", pid=_dead_pid()).to_dict())
    )
    code, out = _cli(tmp_path, "lock", "status")
    assert "stale record left by run gone" in out
    code, out = _cli(tmp_path, "lock", "release")
    assert code == 0 and "cleared the stale record of run gone" in out
    assert (locks / "p@staging@local.lock").read_text() == ""
    assert json.loads((locks / "p@staging@local.lock.log").read_text().splitlines()[-1])[
        "action"
    ] == ("cleared-stale")


def test_a_started_service_does_not_inherit_the_lock(tmp_path: Path) -> None:
    lock = EnvironmentLock(tmp_path, _key())
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
    (locks / f"p@{environment}@local.lock").write_text(json.dumps(owner.to_dict()))


def _audit(locks: Path, environment: str) -> list[dict[str, object]]:
    path = locks / f"p@{environment}@local.lock.log"
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
    assert "holder-run" in (locks / "p@production@local.lock").read_text()
    assert _audit(locks, "production") == []
    assert (locks / "p@staging@local.lock").read_text() == ""
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
    cleared = (locks / "p@staging@local.lock").read_text() == ""
    assert cleared is (expected == "recovered")
    assert bool(_audit(locks, "staging")) is (expected == "recovered")


def test_recover_never_touches_a_lock_held_by_a_live_process(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    holder = _holder(locks, 30)
    try:
        before = (locks / "p@staging@local.lock").read_text()
        # not stale: held, exit 0
        code, out = _cli(tmp_path, "lock", "recover", "--stale-after", "1h")
        assert code == 0 and "held, not stale" in out, out
        # looks stale by age, but a live process holds the kernel lock: blocked, exit 3
        code, out = _cli(tmp_path, "--env", "staging", "lock", "recover", "--stale-after", "0s")
        assert code == 3 and "held, not stale" in out and "release --force" in out, out
        assert holder.poll() is None
        assert (locks / "p@staging@local.lock").read_text() == before
        assert _audit(locks, "staging") == []
    finally:
        holder.kill()
        holder.wait()


def test_recover_with_nothing_to_do(tmp_path: Path) -> None:
    code, out = _cli(tmp_path, "lock", "recover")
    assert code == 0 and "nothing to recover" in out
    code, out = _cli(tmp_path, "lock", "recover", "--stale-after", "soon")
    assert code == 2 and "--stale-after soon" in out


# -- what a lock locks (issue 13) ---------------------------------------------------------------
def _config_for(tmp_path: Path, project: str, *, mode: str = "auto") -> Path:
    folder = tmp_path / project
    folder.mkdir(exist_ok=True)
    config = folder / "relgate.yml"
    config.write_text(
        f"project: {{name: {project}}}\n"
        "environments: {staging: {base_url: 'https://s.example.com'}}\n"
        f"lock: {{dir: {tmp_path / 'locks'}, mode: {mode}}}\n"
    )
    return config


@pytest.mark.parametrize(
    ("other_project", "other_host", "blocks"),
    [
        pytest.param("shop", None, True, id="same-project-same-engine"),
        pytest.param("blog", None, False, id="other-project-same-engine"),
        pytest.param("shop", "tcp://10.0.0.7:2376", False, id="same-project-other-engine"),
    ],
)
def test_the_lock_is_keyed_by_project_environment_and_engine(
    tmp_path: Path, other_project: str, other_host: str | None, blocks: bool
) -> None:
    from relgate.config import load_config
    from relgate.lock import lock_for

    mine = lock_for(load_config(_config_for(tmp_path, "shop"), env={}), "staging", {})
    env = {"DOCKER_HOST": other_host} if other_host else {}
    theirs = lock_for(load_config(_config_for(tmp_path, other_project), env={}), "staging", env)
    mine.acquire(_owner("mine"))
    try:
        if blocks:
            with pytest.raises(LockHeld):
                theirs.acquire(_owner("theirs"))
        else:
            theirs.acquire(_owner("theirs"))
            theirs.release()
    finally:
        mine.release()
    assert (mine.path == theirs.path) is blocks


def test_an_operator_deploy_during_a_ci_gate_is_refused_naming_the_holder(tmp_path: Path) -> None:
    """The CI gate (GITHUB_ACTIONS=true) takes the lock; the operator's deploy on the host sees it."""
    config = _config_for(tmp_path, "shop")
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(
            """
            import sys, time
            from relgate.config import load_config
            from relgate.lock import LockOwner, lock_enabled, lock_for
            env = {"GITHUB_ACTIONS": "true", "RUNNER_ENVIRONMENT": "self-hosted"}
            config = load_config(sys.argv[1], env={})
            assert lock_enabled(config, env)
            lock = lock_for(config, "staging", env)
            lock.acquire(LockOwner.me(run_id="gh-77-1", environment="staging", key=lock.key))
            print("locked", flush=True)
            time.sleep(30)
            """), str(config)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        out, err = io.StringIO(), io.StringIO()
        code = main(
            ["--config", str(config), "--env", "staging", "--run-dir", str(tmp_path / "run"),
             "deploy", "--version", "v2"],
            env={}, stdout=out, stderr=err,
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert code == 3, out.getvalue() + err.getvalue()
    text = out.getvalue() + err.getvalue()
    assert "another relgate gate for shop/staging is running since" in text
    assert f"(pid {holder.pid}, run gh-77-1" in text


def test_a_symlinked_lock_file_is_refused_and_its_target_left_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("do not truncate me\n")
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    lock = EnvironmentLock(locks, _key())
    lock.path.symlink_to(victim)
    with pytest.raises(CannotRun, match="is a symbolic link: refusing to follow it"):
        lock.acquire(_owner())
    with pytest.raises(CannotRun, match="symbolic link"):
        lock.status()
    with pytest.raises(CannotRun, match="symbolic link"):
        lock.recover(by="test")
    assert victim.read_text() == "do not truncate me\n"
    assert lock.path.is_symlink()


def test_a_hard_linked_lock_file_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "locks" / "other-file"
    victim.parent.mkdir(mode=0o700)
    victim.write_text("keep\n")
    lock = EnvironmentLock(victim.parent, _key())
    os.link(victim, lock.path)
    with pytest.raises(CannotRun, match="single link"):
        lock.acquire(_owner())
    assert victim.read_text() == "keep\n"


def test_a_world_writable_lock_dir_is_refused(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir()
    locks.chmod(0o777)
    with pytest.raises(CannotRun, match="world-writable"):
        EnvironmentLock(locks, _key()).acquire(_owner())
    assert list(locks.iterdir()) == []


def test_a_missing_lock_dir_is_created_private(tmp_path: Path) -> None:
    lock = EnvironmentLock(tmp_path / "a" / "locks", _key())
    lock.acquire(_owner())
    lock.release()
    assert (tmp_path / "a" / "locks").stat().st_mode & 0o777 == 0o700


def test_force_never_signals_a_process_that_is_not_the_recorded_holder(tmp_path: Path) -> None:
    """The kernel lock is held by one process, the record names another live process (a record
    copied from another project, a recycled pid): --force signals neither."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    holder = _holder(tmp_path, 30)
    try:
        lock = EnvironmentLock(tmp_path, _key())
        owner = _owner("forged", pid=bystander.pid)
        fd = os.open(lock.path, os.O_WRONLY)
        try:
            os.pwrite(fd, json.dumps({**owner.to_dict(), "project": "p"}).encode().ljust(4096), 0)
        finally:
            os.close(fd)
        with pytest.raises(CannotRun, match="nothing was signalled"):
            lock.release_by_operator(by="test", force=True)
        assert bystander.poll() is None and holder.poll() is None
    finally:
        for proc in (bystander, holder):
            proc.kill()
            proc.wait()


def test_force_refuses_a_record_of_another_project(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 30)
    try:
        lock = EnvironmentLock(tmp_path, _key())
        record = json.loads(lock.path.read_text())
        fd = os.open(lock.path, os.O_WRONLY)
        try:
            os.pwrite(fd, json.dumps({**record, "project": "other"}).encode().ljust(4096), 0)
        finally:
            os.close(fd)
        with pytest.raises(CannotRun, match="names other/staging, not p/staging"):
            lock.release_by_operator(by="test", force=True)
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()
