"""The process driver: the same gate and rollback semantics for an app run directly on the host.

Used by the embedded demo and by users without containers. The app is one local command
(``stack.command`` with ``{version}``, ``{port}`` and ``{state_dir}`` substituted) started in its own
session so it outlives relgate; its pid file and log live under ``stack.state_dir``. Stopping is
SIGTERM to its process group, then SIGKILL after ``stop_timeout``.

"Healthy" means alive *and* the health URL answers (``deploy.health``); without a health URL, alive for
the stability window. A process that exits is ``exited`` — observed the moment it happens, because a
thread waits on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from relgate.deploy.health import Observation
from relgate.deploy.httpcheck import health_url
from relgate.deploy.logcheck import LogLine
from relgate.deploy.models import CommandRecord, RunningService, RunningStack, ServiceImage
from relgate.deploy.state import text_hash
from relgate.deploy.target import Prepared, Target, Watch
from relgate.errors import ConfigError, Problem

if TYPE_CHECKING:
    from relgate.config import PostDeployCommand, ProcessStack
    from relgate.deploy.context import DeployContext

__all__ = ["SERVICE", "ProcessDriver", "render_command"]

SERVICE = "app"
HEALTH_POLL_S = 0.2
# Failing for this long = unhealthy. "Failing" is a non-2xx *answer* (the app is up and says no), or
# no answer once it had been healthy; before its first answer a process is merely starting.
UNHEALTHY_AFTER_S = 2.0


def render_command(template: Sequence[str], values: dict[str, str]) -> list[str]:
    """Substitute ``{version}``, ``{port}``, ``{state_dir}``; KeyError names an unknown field."""
    return [part.format_map(values) for part in template]


class ProcessDriver:
    name = "process"
    project: str | None

    def __init__(self, ctx: DeployContext) -> None:
        self.ctx = ctx
        stack: ProcessStack = ctx.env_config.stack  # type: ignore[assignment]
        self.stack = stack
        self.project = None
        self.state_dir = ctx.config.resolve_path(stack.state_dir)
        self.pid_file = self.state_dir / f"{ctx.environment}.pid.json"
        self.log_file = self.state_dir / f"{ctx.environment}.log"
        port = stack.port or urlsplit(ctx.env_config.base_url).port
        self.port = str(port or "")
        self.proc: subprocess.Popen[bytes] | None = None
        self._watch: _ProcessWatch | None = None

    def _argv(self, version: str) -> list[str]:
        values = {"version": version, "port": self.port, "state_dir": str(self.state_dir)}
        try:
            return render_command(self.stack.command, values)
        except (KeyError, ValueError, IndexError) as exc:
            where = str(self.ctx.config.source or "relgate.yml")
            field = f"environments.{self.ctx.environment}.stack.command"
            raise ConfigError(
                [Problem(where, None, field, f"bad placeholder {exc} (use {{version}}, {{port}}, "
                         "{state_dir})")]
            ) from None  # fmt: skip

    def prepare(self, target: Target) -> Prepared:
        self._argv(target.version)  # placeholders are checked before anything is stopped
        shape = json.dumps([self.stack.command, self.stack.cwd, sorted(self.stack.env)])
        return Prepared([SERVICE], text_hash(shape))

    def running(self) -> dict[str, ServiceImage]:
        info = self._read_pid()
        if info is None or not _alive(info):
            return {}
        return {SERVICE: self._image(str(info.get("version", "")))}

    def running_stack(self) -> RunningStack:
        """The process the pid file names, if alive: its recorded version is what runs."""
        import socket
        from datetime import UTC, datetime

        info = self._read_pid()
        services = {}
        if info is not None and _alive(info):
            version = str(info.get("version", ""))
            image = self._image(version)
            services[SERVICE] = RunningService(
                name=SERVICE,
                container=str(info.get("pid")),
                state="running",
                image=image.image,
                image_id=image.image_id,
                version=version or None,
            )
        return RunningStack(
            project=self.project,
            engine=f"process@{socket.gethostname()}",
            captured_at=datetime.fromtimestamp(self.ctx.clock(), UTC),
            services=services,
        )

    def snapshot(self) -> dict[str, Any] | None:
        return None

    def _image(self, version: str) -> ServiceImage:
        return ServiceImage(image=shlex.join(self.stack.command), image_id=f"process:{version}")

    # -- changing the host -------------------------------------------------------------------------
    def fetch(self, target: Target, services: Sequence[str]) -> str | None:
        return None  # the command runs what is on the host: nothing to pull or build

    def start(self, target: Target, services: Sequence[str]) -> tuple[Watch, str | None]:
        watch = _ProcessWatch(self)
        watch.touched = True
        self._stop_recorded()
        argv = self._argv(target.version)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {**self.ctx.child_env, **self.stack.env, **self.ctx.with_version(target.version)}
        cwd = self.ctx.config.resolve_path(self.stack.cwd) if self.stack.cwd else None
        with open(self.log_file, "ab") as log:
            log.write(f"--- relgate: starting {target.version}: {shlex.join(argv)}\n".encode())
            try:
                self.proc = subprocess.Popen(
                    argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                return watch, f"could not start {argv[0]}: {exc}"
        info = {
            "pid": self.proc.pid,
            "version": target.version,
            "argv": argv,
            "started": _start_ticks(self.proc.pid),
            "run_id": self.ctx.run.id,
        }
        self.pid_file.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        self.ctx.executor.records.append(
            CommandRecord(
                name="process-start", argv=[self.ctx.run.secrets.redact(a) for a in argv],
                exit_code=None, duration_s=0.0, started_at=self.ctx.run.clock(),
            )
        )  # fmt: skip
        watch.follow(self.proc)
        self._watch = watch
        return watch, None

    def _read_pid(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.pid_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _stop_recorded(self) -> None:
        info = self._read_pid()
        if info is not None and _alive(info):
            self.ctx.run.reporter.line(f"stopping {info.get('version')} (pid {info['pid']})")
            _terminate(int(info["pid"]), self.stack.stop_timeout.total_seconds(), self.ctx.sleep)
        if self.proc is not None:
            self.proc.poll()

    def verify_images(self, target: Target, services: Sequence[str]) -> str | None:
        return None  # no images: the process runs what its command line says

    def exec(self, command: PostDeployCommand) -> CommandRecord:
        return self.ctx.executor(
            f"post-{command.name}", list(command.command), timeout_s=command.timeout.total_seconds()
        ).record

    def recent_logs(self, service: str, tail: int) -> list[LogLine]:
        return []  # the process's log has no per-line timestamps: log assertions cannot pass

    def stop(self, services: Sequence[str]) -> None:
        self._stop_recorded()

    # -- evidence -----------------------------------------------------------------------------------
    def capture(self, area: str, services: Sequence[str]) -> dict[str, str]:
        try:
            tail = self.log_file.read_bytes()[-64_000:]
        except OSError:
            tail = b""
        self.ctx.run.write_bytes(f"logs/{area}/process-{SERVICE}.log", tail)
        info = self._read_pid() or {}
        info["alive"] = bool(info) and _alive(info)
        if self.proc is not None:
            info["exit_code"] = self.proc.poll()
        self.ctx.run.write_json(f"artifacts/{area}/process.json", info)
        last = self._watch.last_error if self._watch else None
        return {SERVICE: last} if last else {}

    def images(self, services: Sequence[str]) -> dict[str, ServiceImage]:
        info = self._read_pid()
        return {SERVICE: self._image(str(info.get("version")))} if info else {}

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()


class _ProcessWatch(Watch):
    """A thread waiting on the process (exit = ``die`` at once) and one probing the health URL."""

    def __init__(self, driver: ProcessDriver) -> None:
        super().__init__()
        self.driver = driver
        self.proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self.last_error: str | None = None
        health = driver.ctx.config.deploy.health
        self.url = health_url(driver.ctx.env_config.base_url, health) if health else None

    def follow(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        clock = self.driver.ctx.clock
        cid = str(proc.pid)
        self.queue.put(Observation(clock(), cid, SERVICE, "start"))
        self.queue.put(self._snapshot(clock()))
        threading.Thread(target=self._wait, daemon=True, name="relgate-proc-wait").start()
        if self.url:
            threading.Thread(target=self._probe, daemon=True, name="relgate-proc-health").start()

    def _snapshot(self, now: float) -> Observation:
        assert self.proc is not None
        code = self.proc.poll()
        return Observation(
            now, str(self.proc.pid), SERVICE, "snapshot",
            state="running" if code is None else "exited", exit_code=code,
            has_healthcheck=self.url is not None, restart_count=0,
        )  # fmt: skip

    def _wait(self) -> None:
        assert self.proc is not None
        code = self.proc.wait()
        if not self._stop.is_set():
            now = self.driver.ctx.clock()
            self.queue.put(Observation(now, str(self.proc.pid), SERVICE, "die", exit_code=code))

    def _probe(self) -> None:
        import httpx

        assert self.proc is not None and self.url is not None
        health = self.driver.ctx.config.deploy.health
        assert health is not None
        status, failing_since = "starting", None
        with httpx.Client(timeout=health.timeout.total_seconds()) as client:
            while not self._stop.is_set() and self.proc.poll() is None:
                try:
                    code = client.get(self.url).status_code
                    error = None if 200 <= code < 300 else f"HTTP {code}"
                    answered = True
                except httpx.HTTPError as exc:
                    error, answered = f"{type(exc).__name__}: {exc}", False
                now = self.driver.ctx.clock()
                if error is None:
                    failing_since, new = None, "healthy"
                else:
                    self.last_error = error
                    if answered or status == "healthy":
                        failing_since = failing_since or now
                    failing = failing_since is not None and now - failing_since >= UNHEALTHY_AFTER_S
                    new = "unhealthy" if failing else status
                if new != status:
                    status = new
                    self.queue.put(
                        Observation(now, str(self.proc.pid), SERVICE, "health", health=new,
                                    detail=error or "")
                    )  # fmt: skip
                self._stop.wait(HEALTH_POLL_S)

    def snapshot(self) -> list[Observation]:
        return [self._snapshot(self.driver.ctx.clock())] if self.proc is not None else []

    def close(self) -> None:
        self._stop.set()


def _start_ticks(pid: int) -> str | None:
    """The process start time from /proc: tells our pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _alive(info: dict[str, Any]) -> bool:
    pid = int(info.get("pid") or 0)
    if pid <= 0:
        return False
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[0] == "Z":
        return False
    started = info.get("started")
    return started is None or _start_ticks(pid) == started


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child: init reaps it
        os.waitpid(pid, os.WNOHANG)


def _terminate(pid: int, timeout_s: float, sleep: Any) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    info = {"pid": pid}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(info):
            return
        sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while _alive(info) and time.monotonic() < deadline + 5:
        sleep(0.05)
