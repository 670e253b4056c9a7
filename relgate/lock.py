"""One lock per environment on the deploy host: the kernel's ``flock`` plus an owner record.

Why ``flock``: the kernel releases it when the holder dies, however it dies (SIGKILL, OOM, power
cut of a container), so the lock itself never goes stale. What *can* go stale is the owner record
written inside the lock file (pid, host, user, run id, start time): a holder that was killed never
got to clear it. So:

* lock free, record present — the previous owner died without cleaning up. The new run takes over,
  and says so (a warning in its evidence and a line in ``<env>.lock.log``);
* lock held, recorded pid dead — someone else holds the kernel lock (a child that inherited the
  descriptor, a process on a shared filesystem): waiting or ``relgate lock release --force`` is the
  answer, never deleting the file (a deleted lock file lets two runs "hold" two different files).

The descriptor is opened close-on-exec, so services started by a deploy do not inherit the lock.
In GitHub Actions the workflow's ``concurrency`` group is the lock (``lock.mode: auto``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from relgate.errors import CannotRun, LockHeld

if TYPE_CHECKING:
    from relgate.config import RelgateConfig

__all__ = [
    "EnvironmentLock",
    "LockOwner",
    "LockStatus",
    "Recovery",
    "lock_enabled",
    "lock_for",
    "pid_alive",
    "recover_all",
]

POLL_S = 0.5
Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


def _now() -> datetime:
    return datetime.now(UTC)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


@dataclass
class LockOwner:
    """Who holds (or last held) the lock."""

    pid: int
    host: str
    user: str
    run_id: str
    started_at: str
    environment: str
    version: str | None = None
    command: str = "gate"

    @classmethod
    def me(
        cls,
        *,
        run_id: str,
        environment: str,
        version: str | None = None,
        command: str = "gate",
        clock: Clock = _now,
    ) -> LockOwner:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return cls(
            os.getpid(),
            socket.gethostname(),
            user,
            run_id,
            clock().isoformat(),
            environment,
            version,
            command,
        )

    @classmethod
    def parse(cls, data: bytes) -> LockOwner | None:
        try:
            doc = json.loads(data)
            return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})
        except (ValueError, TypeError, KeyError):
            return None

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool | None:
        """True/False on this host; None when the owner is on another host (cannot tell)."""
        return pid_alive(self.pid) if self.on_this_host() else None

    def since(self) -> str:
        try:
            return datetime.fromisoformat(self.started_at).astimezone(UTC).strftime("%H:%M:%S UTC")
        except ValueError:
            return self.started_at

    def describe(self) -> str:
        where = "" if self.on_this_host() else f" on {self.host}"
        return (
            f"another relgate {self.command} for {self.environment} is running since "
            f"{self.since()} (pid {self.pid}{where}, run {self.run_id}, user {self.user})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LockStatus:
    path: str
    held: bool
    owner: LockOwner | None
    owner_alive: bool | None
    holders: list[int] = field(default_factory=list)  # pids from /proc/locks, when readable

    @property
    def stale_record(self) -> bool:
        """A record left behind by an owner that died (the kernel lock itself is free)."""
        return not self.held and self.owner is not None

    def describe(self) -> str:
        if self.held and self.owner is not None:
            state = {True: "alive", False: "NOT running", None: "on another host"}[self.owner_alive]
            extra = (
                f"; the kernel lock is held by pid {', '.join(map(str, self.holders))}"
                if self.holders and self.owner.pid not in self.holders
                else ""
            )
            return f"held: {self.owner.describe()} (owner {state}){extra}"
        if self.held:
            return "held (owner record not written yet or unreadable)"
        if self.owner is not None:
            return (
                f"free; stale record left by run {self.owner.run_id} "
                f"(pid {self.owner.pid}, started {self.owner.since()}), which ended without "
                "releasing it; the next run takes it over"
            )
        return "free"


@dataclass
class Acquired:
    owner: LockOwner
    waited_s: float
    took_over: LockOwner | None  # the stale record found on acquisition


RecoveryOutcome = Literal["recovered", "free", "not_stale", "held", "blocked"]


@dataclass
class Recovery:
    """What ``relgate lock recover`` found (and did) for one lock file.

    ``held``: a live process holds the kernel lock and its record does not look stale — normal.
    ``blocked``: the record looks stale (dead pid / too old) but a live process holds the kernel
    lock, so nothing was touched; that needs a human (``lock release --force``), hence exit 3.
    """

    environment: str
    path: str
    outcome: RecoveryOutcome
    detail: str
    previous: LockOwner | None = None
    reason: str | None = None
    holders: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lock_enabled(config: RelgateConfig, env: Mapping[str, str]) -> bool:
    mode = config.lock.mode
    return mode == "always" or (mode == "auto" and env.get("GITHUB_ACTIONS") != "true")


def lock_for(config: RelgateConfig, environment: str) -> EnvironmentLock:
    return EnvironmentLock(config.resolve_path(config.lock.dir), environment)


class EnvironmentLock:
    """The lock file ``<dir>/<environment>.lock`` and its audit log ``<environment>.lock.log``."""

    def __init__(self, directory: Path, environment: str) -> None:
        self.directory = directory
        self.environment = environment
        self.path = directory / f"{environment}.lock"
        self.audit_path = directory / f"{environment}.lock.log"
        self._fd: int | None = None

    # -- holding ----------------------------------------------------------------------------
    def acquire(
        self,
        owner: LockOwner,
        *,
        wait: timedelta = timedelta(0),
        clock: Clock = _now,
        sleep: Sleep = time.sleep,
        on_wait: Callable[[LockOwner | None, float], None] | None = None,
    ) -> Acquired:
        """Take the lock, waiting up to ``wait``; :class:`LockHeld` names the owner otherwise."""
        fd = self._open()
        start = clock()
        deadline = start + wait
        try:
            while not _try_flock(fd):
                holder = LockOwner.parse(_read(fd))
                now = clock()
                if now >= deadline:
                    raise LockHeld(self._held_message(holder, wait))
                if on_wait is not None:
                    on_wait(holder, (deadline - now).total_seconds())
                sleep(min(POLL_S, (deadline - now).total_seconds()))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        previous = LockOwner.parse(_read(fd))
        _write(fd, json.dumps(owner.to_dict(), indent=2).encode() + b"\n")
        if previous is not None:
            self._audit("took-over", owner, previous=previous)
        return Acquired(owner, (clock() - start).total_seconds(), previous)

    def release(self) -> None:
        """Clear the record, then unlock. Closing the descriptor alone would leave a record."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _write(fd, b"")
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def held(self, owner: LockOwner, **kw: Any) -> Iterator[Acquired]:
        acquired = self.acquire(owner, **kw)
        try:
            yield acquired
        finally:
            self.release()

    def _held_message(self, holder: LockOwner | None, wait: timedelta) -> str:
        who = (
            holder.describe()
            if holder
            else f"another relgate run holds the {self.environment} lock ({self.path})"
        )
        waited = f"; waited {wait.total_seconds():g}s" if wait else ""
        hint = "wait for it, pass --wait-lock 10m, or see: relgate lock status"
        if holder is not None and holder.alive() is False:
            hint = (
                f"its pid {holder.pid} is gone, so another process holds the lock file "
                "(an inherited descriptor?): relgate lock status shows the holder"
            )
        return f"{who}{waited}; {hint}"

    # -- operators ------------------------------------------------------------------------
    def status(self) -> LockStatus:
        if not self.path.exists():
            return LockStatus(str(self.path), False, None, None)
        fd = self._open()
        try:
            free = _try_flock(fd)
            owner = LockOwner.parse(_read(fd))
            if free:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        holders = [] if free else _proc_lock_holders(self.path)
        return LockStatus(
            str(self.path), not free, owner, owner.alive() if owner else None, holders
        )

    def release_by_operator(
        self,
        *,
        by: str,
        force: bool,
        timeout: timedelta = timedelta(seconds=30),
        clock: Clock = _now,
        sleep: Sleep = time.sleep,
    ) -> str:
        """``relgate lock release``: clear a stale record, or (``force``) stop the owner.

        A kernel lock cannot be taken from a live process; ``--force`` therefore sends SIGTERM to
        the holder, which (being relgate) still archives its evidence and then releases the lock.
        """
        status = self.status()
        if not status.held:
            if status.owner is None:
                return f"the {self.environment} lock is free; nothing to release"
            self._clear_stale(by, status.owner)
            return f"cleared the stale record of run {status.owner.run_id} (pid {status.owner.pid})"
        if not force:
            raise LockHeld(f"refusing: {status.describe()}; add --force to stop the holder")
        pids = sorted({*status.holders, *([status.owner.pid] if status.owner else [])})
        pids = [p for p in pids if p != os.getpid() and pid_alive(p)]
        if not pids:
            raise CannotRun(f"{self.path} is locked but no holder process could be found")
        self._audit("forced-release", None, previous=status.owner, by=by, signalled=pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = clock() + timeout
        while self.status().held:
            if clock() >= deadline:
                raise CannotRun(f"sent SIGTERM to pid {pids}, but the lock is still held")
            sleep(POLL_S)
        return f"stopped pid {', '.join(map(str, pids))} (SIGTERM); the lock is free"

    def recover(
        self, *, by: str, stale_after: timedelta | None = None, clock: Clock = _now
    ) -> Recovery:
        """``relgate lock recover``: clear the record if its owner is gone or it is too old.

        The decision is taken while holding the kernel lock (non-blocking), so a run that takes
        the lock meanwhile cannot have its fresh record cleared; a lock held by a live process is
        never touched, however stale its record looks.
        """
        if not self.path.exists():
            return self._found("free", "free (no lock file)")
        fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        try:
            if not _try_flock(fd):
                return self._held(fd, stale_after, clock)
            try:
                return self._recover_locked(fd, by, stale_after, clock)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _recover_locked(
        self, fd: int, by: str, stale_after: timedelta | None, clock: Clock
    ) -> Recovery:
        raw = _read(fd)
        if not raw.strip():
            return self._found("free", "free")
        owner = LockOwner.parse(raw)
        reason = self._stale_reason(owner, stale_after, clock)
        if reason is None:
            return self._found("not_stale", _kept(owner, stale_after), owner)
        _write(fd, b"")
        self._audit("recovered", None, previous=owner, by=by, reason=reason)
        run = f"run {owner.run_id} (pid {owner.pid})" if owner else "an unreadable record"
        return self._found("recovered", f"recovered: cleared {run}; {reason}", owner, reason)

    def _held(self, fd: int, stale_after: timedelta | None, clock: Clock) -> Recovery:
        owner = LockOwner.parse(_read(fd))
        holders = _proc_lock_holders(self.path)
        who = (
            f"a live process (pid {', '.join(map(str, holders))})" if holders else "a live process"
        )
        reason = self._stale_reason(owner, stale_after, clock)
        if reason is None:
            detail = f"held, not stale: {who} holds the kernel lock"
            return self._found("held", detail, owner, None, holders)
        detail = (
            f"held, not stale: {reason}, but {who} holds the kernel lock; "
            "left untouched (wait, or: relgate lock release --force)"
        )
        return self._found("blocked", detail, owner, reason, holders)

    def _stale_reason(
        self, owner: LockOwner | None, stale_after: timedelta | None, clock: Clock
    ) -> str | None:
        if owner is not None and owner.alive() is False:
            return f"its owner pid {owner.pid} is gone"
        if stale_after is None:
            return None
        started = _started(owner) or datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        age = clock() - started
        if age >= stale_after:
            return f"the record is {_age(age)} old (--stale-after {_age(stale_after)})"
        return None

    def _found(
        self,
        outcome: RecoveryOutcome,
        detail: str,
        previous: LockOwner | None = None,
        reason: str | None = None,
        holders: list[int] | None = None,
    ) -> Recovery:
        return Recovery(
            self.environment, str(self.path), outcome, detail, previous, reason, holders or []
        )

    def _clear_stale(self, by: str, previous: LockOwner) -> None:
        fd = self._open()
        try:
            if _try_flock(fd):
                _write(fd, b"")
                fcntl.flock(fd, fcntl.LOCK_UN)
                self._audit("cleared-stale", None, previous=previous, by=by)
        finally:
            os.close(fd)

    # -- files ----------------------------------------------------------------------------
    def _open(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _audit(
        self,
        action: str,
        owner: LockOwner | None,
        *,
        previous: LockOwner | None = None,
        **extra: Any,
    ) -> None:
        entry = {
            "at": _now().isoformat(),
            "action": action,
            "environment": self.environment,
            "owner": owner.to_dict() if owner else None,
            "previous": previous.to_dict() if previous else None,
            **extra,
        }
        with open(self.audit_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")


def recover_all(
    directory: Path,
    *,
    by: str,
    environment: str | None = None,
    stale_after: timedelta | None = None,
    clock: Clock = _now,
) -> list[Recovery]:
    """:meth:`EnvironmentLock.recover` for every ``*.lock`` in ``directory`` (or one environment)."""
    if environment is not None:
        names = [environment]
    else:
        names = sorted(p.stem for p in directory.glob("*.lock") if p.is_file())
    return [
        EnvironmentLock(directory, name).recover(by=by, stale_after=stale_after, clock=clock)
        for name in names
    ]


def _kept(owner: LockOwner | None, stale_after: timedelta | None) -> str:
    if owner is None:
        who = "the record is unreadable"
    elif owner.on_this_host():
        who = f"its owner pid {owner.pid} is alive"
    else:
        who = f"its owner is on another host ({owner.host})"
    age = f"younger than {_age(stale_after)}" if stale_after else "no --stale-after given"
    return f"free; record kept: {who}, {age}"


def _started(owner: LockOwner | None) -> datetime | None:
    if owner is None:
        return None
    try:
        started = datetime.fromisoformat(owner.started_at)
    except (TypeError, ValueError):
        return None
    return started if started.tzinfo else started.replace(tzinfo=UTC)


def _age(td: timedelta) -> str:
    """``3342s`` reads badly in a table: ``55m42s``, ``26h3m``."""
    total = round(td.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{seconds}s" if seconds else f"{minutes}m"
    return f"{seconds}s"


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    return True


def _read(fd: int) -> bytes:
    return os.pread(fd, 64 * 1024, 0)


def _write(fd: int, data: bytes) -> None:
    os.ftruncate(fd, 0)
    if data:
        os.pwrite(fd, data, 0)
    os.fsync(fd)


def _proc_lock_holders(path: Path) -> list[int]:
    """pids holding a FLOCK on ``path`` per /proc/locks (Linux; empty elsewhere)."""
    try:
        st = path.stat()
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = []
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4312 08:01:123456 0 EOF" (blocked waiters have "->")
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == wanted and parts[4].isdigit():
            pids.append(int(parts[4]))
    return sorted(set(pids))
