"""One lock per project + environment + engine: the kernel's ``flock`` plus an owner record.

What is locked is what can be changed: a compose project (or swarm stack, or process) in one
environment on one Docker Engine (``DOCKER_HOST``, else the local socket). Two repositories with an
environment called ``staging`` on one engine never block each other; an operator's ``relgate deploy``
on the deploy host and a CI gate for the same project and engine always do — in GitHub Actions too,
where the workflow's ``concurrency`` group serialises one repository's runs and nothing else. The
file is ``<lock.dir>/<project>@<environment>@<engine>.lock``.

Why ``flock``: the kernel releases it when the holder dies, however it dies (SIGKILL, OOM, power
cut of a container), so the lock itself never goes stale. What *can* go stale is the owner record
written inside the lock file (pid, host, user, run id, start time): a holder that was killed never
got to clear it. So:

* lock free, record present — the previous owner died without cleaning up. The new run takes over,
  and says so (a warning in its evidence and a line in ``<env>.lock.log``);
* lock held, recorded pid dead — someone else holds the kernel lock (a child that inherited the
  descriptor, a process on a shared filesystem): waiting or ``relgate lock release --force`` is the
  answer, never deleting the file (a deleted lock file lets two runs "hold" two different files).

The descriptor is opened close-on-exec, so services started by a deploy do not inherit the lock,
and with ``O_NOFOLLOW`` relative to the lock directory's descriptor: a lock file replaced by a
symlink is refused, never followed (a gate must not truncate the file it points to). The directory
must not be world-writable (anyone could plant such a link, or delete a lock file so that two runs
each "hold" a different one); it is created ``0700`` when missing.

Why this module is longer than ~500 lines: the lock is one protocol (key, ``flock``, owner record,
stale-owner recovery, the ``/proc`` look-up of the process that really holds the lock); each part
relies on the others' invariants, and keeping the owner-record format private to this module is what
lets ``relgate lock`` and every stage read it the same way.
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
import stat
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
    "LockKey",
    "LockOwner",
    "LockStatus",
    "Recovery",
    "lock_dir",
    "lock_enabled",
    "lock_for",
    "lock_key",
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


@dataclass(frozen=True)
class LockKey:
    """What one lock serialises: a project's environment on one engine.

    ``engine`` is the ``DOCKER_HOST`` (or ``process@<host>`` for the process driver); ``engine_id``
    is its file-name form: ``local`` for the default socket, else a readable slug plus a hash of
    the exact value, so two hosts that slug alike never share a lock.
    """

    project: str
    environment: str
    engine: str
    engine_id: str

    @property
    def stem(self) -> str:
        return f"{self.project}@{self.environment}@{self.engine_id}"

    def describe(self) -> str:
        return f"{self.project}/{self.environment} on {self.engine}"

    @classmethod
    def from_stem(cls, stem: str) -> LockKey | None:
        parts = stem.split("@")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(parts[0], parts[1], parts[2], parts[2])


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
    project: str | None = None
    engine: str | None = None

    @classmethod
    def me(
        cls,
        *,
        run_id: str,
        environment: str,
        version: str | None = None,
        command: str = "gate",
        clock: Clock = _now,
        key: LockKey | None = None,
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
            key.project if key else None,
            key.engine if key else None,
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
        what = f"{self.project}/{self.environment}" if self.project else self.environment
        return (
            f"another relgate {self.command} for {what} is running since "
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
    project: str = ""
    engine: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lock_enabled(config: RelgateConfig, env: Mapping[str, str]) -> bool:
    """``never`` turns locks off; ``auto`` and ``always`` lock everywhere, GitHub Actions included:
    a workflow's concurrency group serialises one repository's runs, not an operator on the deploy
    host nor another repository deploying to the same engine."""
    return config.lock.mode != "never"


def lock_key(config: RelgateConfig, environment: str, env: Mapping[str, str]) -> LockKey:
    from relgate.places import engine_of, stack_engine, stack_project

    engine = stack_engine(config, environment, env)
    return LockKey(stack_project(config, environment), environment, engine, engine_of(engine))


def lock_dir(config: RelgateConfig) -> Path:
    from relgate.places import state_home

    return config.resolve_path(config.lock.dir) if config.lock.dir else state_home() / "locks"


def lock_for(config: RelgateConfig, environment: str, env: Mapping[str, str]) -> EnvironmentLock:
    return EnvironmentLock(lock_dir(config), lock_key(config, environment, env))


class EnvironmentLock:
    """The lock file ``<dir>/<key>.lock`` and its audit log ``<key>.lock.log``."""

    def __init__(self, directory: Path, key: LockKey) -> None:
        self.directory = directory
        self.key = key
        self.environment = key.environment
        self.path = directory / f"{key.stem}.lock"
        self.audit_path = directory / f"{key.stem}.lock.log"
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
        if not os.path.lexists(self.path):
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
        Only ever the relgate run recorded as the owner of *this* lock, and only when the kernel
        confirms that process holds this very file: never another project's process, never a
        program that merely inherited a descriptor (see :meth:`_forceable_owner`).
        """
        status = self.status()
        if not status.held:
            if status.owner is None:
                return f"the {self.environment} lock is free; nothing to release"
            self._clear_stale(by, status.owner)
            return f"cleared the stale record of run {status.owner.run_id} (pid {status.owner.pid})"
        if not force:
            raise LockHeld(f"refusing: {status.describe()}; add --force to stop the holder")
        pid = self._forceable_owner(status)
        self._audit("forced-release", None, previous=status.owner, by=by, signalled=[pid])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        pids = [pid]
        deadline = clock() + timeout
        while self.status().held:
            if clock() >= deadline:
                raise CannotRun(f"sent SIGTERM to pid {pids}, but the lock is still held")
            sleep(POLL_S)
        return f"stopped pid {', '.join(map(str, pids))} (SIGTERM); the lock is free"

    def _forceable_owner(self, status: LockStatus) -> int:
        """The pid ``--force`` may signal, or CannotRun saying why none may be."""
        owner = status.owner
        if owner is None:
            raise CannotRun(
                f"{self.path} is locked but has no owner record; nothing was signalled "
                "(relgate lock status shows the holder)"
            )
        mismatch = (owner.project is not None and owner.project != self.key.project) or (
            owner.environment != self.key.environment
        )
        if mismatch:
            raise CannotRun(
                f"{self.path}: the record names {owner.project}/{owner.environment}, not "
                f"{self.key.describe()}; nothing was signalled"
            )
        if not owner.on_this_host() or owner.pid == os.getpid() or not pid_alive(owner.pid):
            raise CannotRun(
                f"{self.path} is locked but its recorded owner (pid {owner.pid} on {owner.host}) "
                "is not a live process on this host; nothing was signalled"
            )
        if status.holders and owner.pid not in status.holders:
            raise CannotRun(
                f"{self.path}: the kernel lock is held by pid "
                f"{', '.join(map(str, status.holders))}, not by the recorded owner pid "
                f"{owner.pid}; nothing was signalled (stop the holder yourself if it is stuck)"
            )
        return owner.pid

    def recover(
        self, *, by: str, stale_after: timedelta | None = None, clock: Clock = _now
    ) -> Recovery:
        """``relgate lock recover``: clear the record if its owner is gone or it is too old.

        The decision is taken while holding the kernel lock (non-blocking), so a run that takes
        the lock meanwhile cannot have its fresh record cleared; a lock held by a live process is
        never touched, however stale its record looks.
        """
        if not os.path.lexists(self.path):
            return self._found("free", "free (no lock file)")
        fd = self._open(create=False)
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
            self.environment,
            str(self.path),
            outcome,
            detail,
            previous,
            reason,
            holders or [],
            self.key.project,
            self.key.engine,
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
    def _open(self, *, create: bool = True) -> int:
        """The lock file, opened relative to the checked directory, never through a symlink."""
        dir_fd = _owned_dir(self.directory)
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
        try:
            fd = os.open(self.path.name, flags, 0o660, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CannotRun(
                    f"{self.path} is a symbolic link: refusing to follow it (a lock file is a "
                    "plain file relgate creates); remove the link and run again"
                ) from None
            raise
        finally:
            os.close(dir_fd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            raise CannotRun(
                f"{self.path} is not a plain file with a single link: refusing to use it as a "
                "lock; remove it and run again"
            )
        return fd

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
        dir_fd = _owned_dir(self.directory)
        try:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
            fd = os.open(self.audit_path.name, flags, 0o660, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")


def recover_all(
    directory: Path,
    *,
    by: str,
    key: LockKey | None = None,
    stale_after: timedelta | None = None,
    clock: Clock = _now,
) -> list[Recovery]:
    """:meth:`EnvironmentLock.recover` for every ``*.lock`` in ``directory`` (or the one of ``key``).

    Files whose name is not ``<project>@<environment>@<engine>.lock`` are not relgate's: skipped.
    """
    if key is not None:
        keys = [key]
    else:
        found = (LockKey.from_stem(p.stem) for p in directory.glob("*.lock") if p.is_file())
        keys = sorted((k for k in found if k is not None), key=lambda k: k.stem)
    return [
        EnvironmentLock(directory, k).recover(by=by, stale_after=stale_after, clock=clock)
        for k in keys
    ]


def _owned_dir(directory: Path) -> int:
    """A descriptor of the lock directory, created ``0700`` if missing; refuse one anybody can
    write to (world-writable): there, anyone could swap a lock file for a link or delete it."""
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    st = os.fstat(fd)
    if st.st_mode & stat.S_IWOTH:
        os.close(fd)
        raise CannotRun(
            f"lock directory {directory} is world-writable (mode {stat.S_IMODE(st.st_mode):o}): "
            "anyone could replace a lock file there; use a directory only relgate's users can "
            f"write (chmod o-w {directory}, or lock.dir elsewhere)"
        )
    return fd


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
