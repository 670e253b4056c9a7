"""The compose driver: Compose v2 CLI to change the stack, the Docker SDK to watch it.

The CLI does what compose is good at (config, pull, build, up with its recreate plan); the SDK gives
what the CLI cannot: a live event stream filtered on the project label, opened *before* ``up``, and
cheap inspects for the starting state, probe outputs and image IDs. docker-py's event stream blocks,
so it runs in a thread that :meth:`_ComposeWatch.close` cancels by closing the stream.

Foreign errors are mapped here, at the boundary: docker-py / requests connection failures become
:class:`ServiceUnreachable` (:func:`~relgate.deploy.sdk.docker_errors`), an invalid compose file
:class:`ConfigError` naming the file, a missing ``docker`` or compose plugin :class:`ToolMissing`.

Why this module is longer than ~500 lines: the driver and its event watcher are one protocol (the
watch is opened before ``up`` and read by the same attempt); the watcher's thread, the snapshot and
the event parsing share private state that splitting would have to make public.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relgate.deploy import commands as cmd
from relgate.deploy import imagecheck
from relgate.deploy.health import Kind, Observation
from relgate.deploy.logcheck import LogLine, parse_timestamped
from relgate.deploy.models import (
    VERSION_LABEL,
    CommandRecord,
    RunningService,
    RunningStack,
    ServiceImage,
)
from relgate.deploy.sdk import docker_errors, parse_time
from relgate.deploy.state import text_hash
from relgate.deploy.target import Prepared, Target, Watch
from relgate.errors import ConfigError, Interrupted, Problem, ToolMissing

if TYPE_CHECKING:
    from relgate.config import ComposeStack, PostDeployCommand
    from relgate.deploy.context import DeployContext

__all__ = ["ComposeDriver"]

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
EVENTS = ["create", "start", "restart", "die", "oom", "kill", "stop", "destroy", "health_status"]
_INSPECT_AFTER = {"create", "start", "restart", "health", "die"}


class ComposeDriver:
    name = "compose"
    project: str | None

    def __init__(self, ctx: DeployContext) -> None:
        self.ctx = ctx
        stack: ComposeStack = ctx.env_config.stack  # type: ignore[assignment]
        self.stack = stack
        self.compose = cmd.ComposeProject.from_stack(ctx.config, stack)
        self.project = self.compose.name
        self.host = ctx.child_env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        self._client: Any = None
        # Importing docker-py and negotiating the API version take ~0.15 s: done in a thread while
        # `compose config` runs. Errors are kept and raised by client(), after config validation,
        # so a bad compose file is still reported first (exit 2) even when the daemon is down.
        self._connect_error: BaseException | None = None
        self._connector = threading.Thread(target=self._connect, daemon=True, name="relgate-dc")
        self._connector.start()
        self._config: dict[str, Any] = {}
        self._version = ""
        self._versioned: list[str] = []  # services stamped with the version label
        # compose interpolates the version variable in every command (ps, logs, stop too)
        self._env: dict[str, str] = {}
        self._base = self.compose
        self._expected: dict[str, str] = {}  # service -> the reference the version asks for

    # -- before touching anything --------------------------------------------------------------
    def prepare(self, target: Target) -> Prepared:
        self._env = self.ctx.with_version(target.version)
        self.compose = self._base
        if self.stack.images:
            override = self.ctx.run.write_text(
                f"artifacts/{self.ctx.area}/images.override.yml",
                imagecheck.images_override_text(self.stack.images, target.version),
            )
            self.compose = self._base.with_override(override)
        project = self._project_for(target)
        out = self.ctx.executor(
            "compose-config", cmd.config_cmd(project, fmt="json"), env=self._env, timeout_s=60
        )
        if not out.ok:
            self._config_failed(out.output)
        # compose's warnings share the stream: the document starts at the first line opening "{"
        start = re.search(r"^\{", out.output, re.MULTILINE)
        try:
            self._config, _ = json.JSONDecoder().raw_decode(
                out.output[start.start() :] if start else ""
            )
        except ValueError:
            self._config_failed(out.output)
        defined = self._config.get("services", {})
        services = list(self.stack.services) or sorted(set(defined) - one_shot_services(defined))
        unknown = [s for s in services if s not in self._config.get("services", {})]
        if unknown:
            raise ConfigError(
                [
                    Problem(str(self.compose.files[0]), None, "", f"no such service: {s}")
                    for s in unknown
                ]
            )
        if target.compose_file is None:  # a snapshot holds resolved images already
            imagecheck.check_overrides(
                self._base.files,
                services,
                managed=self.stack.images,
                relgate_vars={**self.ctx.deploy_vars, **self._env},
                inherited=self.ctx.run.env,
                version=target.version,
            )
        self._expected = imagecheck.expected_images(self._config, services)
        self._version = target.version
        self._versioned = _versioned_services(self._config, target)
        self.client()  # the daemon must answer before anything is changed
        return Prepared(services, text_hash(json.dumps(self._config, sort_keys=True)))

    def _config_failed(self, output: str) -> None:
        if "is not a docker command" in output or "unknown command" in output:
            raise ToolMissing("docker compose v2 plugin missing: install docker-compose-plugin")
        files = ", ".join(str(f) for f in self.compose.files)
        raise ConfigError(
            [Problem(files, None, "", f"docker compose config failed: {_tail(output)}")]
        )

    def _connect(self) -> None:
        try:
            import docker

            with docker_errors(self.host):
                # version="auto": the engine may be older than docker-py's default API (1.41 here)
                self._client = docker.from_env(version="auto", environment=self.ctx.child_env)
        except BaseException as exc:  # interrupt-safe: a worker thread; raised by client()
            self._connect_error = exc

    def client(self) -> Any:
        self._connector.join()
        if self._connect_error is not None:
            raise self._connect_error
        return self._client

    def _project_containers(self) -> list[dict[str, Any]]:
        with docker_errors(self.host):
            found: list[dict[str, Any]] = self.client().api.containers(
                all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"}
            )
        return [c for c in found if c.get("Labels", {}).get(ONEOFF_LABEL) != "True"]

    def _project_for(self, target: Target) -> cmd.ComposeProject:
        """The configured files, or the snapshot of the effective config a rollback goes back to
        (interpolated already: no env file, no profiles — it holds exactly what ran)."""
        if target.compose_file is None:
            return self.compose
        return cmd.ComposeProject(
            name=self.project or "relgate",
            files=(target.compose_file,),
            project_dir=self.compose.project_dir or self.ctx.config.base_dir,
        )

    def snapshot(self) -> dict[str, Any] | None:
        """The effective compose config (as ``compose config`` rendered it), with the version label
        each versioned service carries, so running the snapshot again recreates the same thing."""
        if not self._config:
            return None
        doc = json.loads(json.dumps(self._config))
        for name in self._versioned:
            service = doc.get("services", {}).get(name)
            if isinstance(service, dict):
                labels = service.setdefault("labels", {})
                if isinstance(labels, dict):
                    labels[VERSION_LABEL] = self._version
        return dict(doc)

    def running_stack(self) -> RunningStack:
        services: dict[str, RunningService] = {}
        with docker_errors(self.host):
            api = self.client().api
            for c in self._project_containers():
                labels = c.get("Labels") or {}
                name = labels.get(SERVICE_LABEL)
                if not name or c.get("State") != "running" or name in services:
                    continue
                services[name] = RunningService(
                    name=name,
                    container=str(c.get("Id", ""))[:12],
                    state=str(c.get("State")),
                    image=str(c.get("Image", "")),
                    image_id=str(c.get("ImageID", "")),
                    repo_digests=_repo_digests(api, str(c.get("ImageID", ""))),
                    version=labels.get(VERSION_LABEL),
                    config_hash=labels.get(CONFIG_HASH_LABEL),
                )
        return RunningStack(
            project=self.project,
            engine=self.host,
            captured_at=datetime.fromtimestamp(self.ctx.clock(), UTC),
            services=services,
        )

    def running(self) -> dict[str, ServiceImage]:
        out: dict[str, ServiceImage] = {}
        for c in self._project_containers():
            labels = c.get("Labels", {})
            if c.get("State") != "running":
                continue
            out[labels.get(SERVICE_LABEL, "?")] = ServiceImage(
                image=c.get("Image", ""),
                image_id=c.get("ImageID", ""),
                config_hash=labels.get(CONFIG_HASH_LABEL),
            )
        return out

    # -- changing the stack ----------------------------------------------------------------------
    def fetch(self, target: Target, services: Sequence[str]) -> str | None:
        env = self._env = self.ctx.with_version(target.version)
        if target.pinned:  # recorded images: nothing to build; pruned digests are pulled back
            pinned = self._project_for(target).with_override(self._pin_override(target))
            return self._pull_missing_pins(pinned, target)
        if self.ctx.config.deploy.pull:
            out = self.ctx.executor("compose-pull", cmd.pull_cmd(self.compose, services), env=env)
            if not out.ok:
                return f"compose pull failed: {out.tail(5)}"
        if self.ctx.config.deploy.build:
            out = self.ctx.executor("compose-build", cmd.build_cmd(self.compose, services), env=env)
            if not out.ok:
                return f"compose build failed: {out.tail(5)}"
        return None

    def start(self, target: Target, services: Sequence[str]) -> tuple[Watch, str | None]:
        env = self._env = self.ctx.with_version(target.version)
        project = self._project_for(target)
        if target.compose_file is None and self._versioned:
            project = project.with_override(self._label_override(target))
        if target.pinned:
            project = project.with_override(self._pin_override(target))
        watch = _ComposeWatch(self, services)
        watch.preexisting = {c["Id"] for c in self._project_containers()}
        # `up` itself may hang (a stop grace period, a stuck daemon): bounded, but generously.
        limit = max(300.0, 2 * self.ctx.config.deploy.timeout.total_seconds())
        watch.touched = True
        up = self.ctx.executor(
            "compose-up",
            cmd.up_cmd(project, services, pinned=bool(target.pinned)),
            env=env,
            timeout_s=limit,
        )
        watch.settled_at = self.ctx.clock()
        if up.record.timed_out:
            return watch, f"compose up did not finish within {limit:g}s"
        return watch, None if up.ok else f"compose up failed: {up.tail(5)}"

    def verify_images(self, target: Target, services: Sequence[str]) -> str | None:
        """Read from the engine what each service runs; a difference from what ``target`` asks
        for fails the attempt (one line per service)."""
        expected = {s: ref for s, ref in self._expected.items() if s in services}
        expected.update({s: ref for s, ref in target.pinned.items() if s in services})
        with docker_errors(self.host):
            lines = imagecheck.mismatches(
                self.client().api, self.images(services), expected, version=target.version
            )
        for line in lines:
            self.ctx.run.reporter.error(line, title="deploy")
        return "; ".join(lines) or None

    def _pull_missing_pins(self, project: cmd.ComposeProject, target: Target) -> str | None:
        """Images pinned by registry digest that are no longer on the host are pulled back by
        that digest (the same bytes); an image pinned by local ID cannot be, and ``up`` says so."""
        import docker.errors

        missing = []
        with docker_errors(self.host):
            api = self.client().api
            for service, ref in sorted(target.pinned.items()):
                if "@sha256:" not in ref:
                    continue
                try:
                    api.inspect_image(ref)
                except docker.errors.ImageNotFound:
                    missing.append(service)
        if not missing:
            return None
        self.ctx.run.reporter.line(
            f"pulling back by digest (not on this host any more): {', '.join(missing)}"
        )
        out = self.ctx.executor(
            "compose-pull-pinned", cmd.pull_cmd(project, missing), env=self._env
        )
        return None if out.ok else f"pulling the pinned images back failed: {out.tail(5)}"

    def _label_override(self, target: Target) -> Path:
        """The version label on each versioned service (those whose image carries the version):
        what runs then says what it is, for the next deploy's rollback target. Services that do
        not change with the version are left alone, so they are not recreated by every deploy."""
        lines = ["# written by relgate: the version each container runs", "services:"]
        for service in sorted(self._versioned):
            lines += [
                f"  {json.dumps(service)}:",
                "    labels:",
                f"      {json.dumps(VERSION_LABEL)}: {json.dumps(target.version)}",
            ]
        return self.ctx.run.write_text(
            f"artifacts/{self.ctx.area}/version-labels.override.yml", "\n".join(lines) + "\n"
        )

    def _pin_override(self, target: Target) -> Path:
        """An override file running each recorded image by registry digest or ID: the very bytes
        that passed."""
        lines = ["# written by relgate: rollback to recorded image IDs", "services:"]
        for service, image_id in sorted(target.pinned.items()):
            lines += [f"  {json.dumps(service)}:", f"    image: {json.dumps(image_id)}"]
        return self.ctx.run.write_text(
            f"artifacts/{self.ctx.area}/pinned-images.override.yml", "\n".join(lines) + "\n"
        )

    def exec(self, command: PostDeployCommand) -> CommandRecord:
        timeout = command.timeout.total_seconds()
        if command.service:
            argv = cmd.exec_cmd(self.compose, command.service, command.command)
        else:
            argv = list(command.command)
        return self.ctx.executor(
            f"post-{command.name}", argv, timeout_s=timeout, env=self._env
        ).record

    def recent_logs(self, service: str, tail: int) -> list[LogLine]:
        out = self.ctx.executor(
            f"logs-assert-{service}",
            cmd.recent_logs_cmd(self.compose, service, tail=tail),
            timeout_s=30,
            env=self._env,
            quiet_log=True,  # polled every second: the record keeps the line that decided
        )
        return parse_timestamped(out.output) if out.ok else []

    def stop(self, services: Sequence[str]) -> None:
        self.ctx.executor(
            "compose-stop", cmd.stop_cmd(self.compose, services), timeout_s=120, env=self._env
        )

    # -- evidence ------------------------------------------------------------------------------
    def capture(self, area: str, services: Sequence[str]) -> dict[str, str]:
        """ps, inspect (with State.Health.Log: the last 5 probe outputs) and logs per service."""
        ps = self.ctx.executor("compose-ps", cmd.ps_cmd(self.compose), timeout_s=30, env=self._env)
        if ps.ok:
            self.ctx.run.write_text(f"artifacts/{area}/ps.json", ps.output)
        last_probe: dict[str, str] = {}
        for c in self._project_containers():
            service = c.get("Labels", {}).get(SERVICE_LABEL, "unknown")
            try:
                with docker_errors(self.host):
                    info = self.client().api.inspect_container(c["Id"])
            except Interrupted:
                raise
            except Exception:  # noqa: S112 - evidence is best effort; the container may be gone
                continue
            self.ctx.run.write_json(f"artifacts/{area}/inspect/{service}-{c['Id'][:12]}.json", info)
            probes = ((info.get("State") or {}).get("Health") or {}).get("Log") or []
            if probes:
                last_probe[service] = str(probes[-1].get("Output", "")).strip()[-500:]
        for service in services:
            self.ctx.executor(
                f"logs-{service}", cmd.logs_cmd(self.compose, service), timeout_s=60, env=self._env
            )
        return last_probe

    def images(self, services: Sequence[str]) -> dict[str, ServiceImage]:
        out: dict[str, ServiceImage] = {}
        with docker_errors(self.host):
            api = self.client().api
            for c in self._project_containers():
                labels = c.get("Labels", {})
                service = labels.get(SERVICE_LABEL)
                if service not in services or c.get("State") != "running":
                    continue
                out[service] = imagecheck.running_image(api, c)
        return out

    def inspect(self, container_id: str) -> Observation | None:
        try:
            with docker_errors(self.host):
                info = self.client().api.inspect_container(container_id)
        except Interrupted:
            raise
        except Exception:  # gone between the event and the inspect
            return None
        return snapshot_of(info, self.ctx.clock())

    def close(self) -> None:
        self._connector.join()
        if self._client is not None:
            self._client.close()
            self._client = None


def _versioned_services(config: dict[str, Any], target: Target) -> list[str]:
    """Services whose image reference carries the version (``app:v2``), or that a rollback pins."""
    out = []
    for name, spec in (config.get("services") or {}).items():
        image = str((spec or {}).get("image") or "")
        tag = image.rsplit("/", 1)[-1].partition(":")[2].partition("@")[0]
        if (target.version and tag == target.version) or name in target.pinned:
            out.append(name)
    return sorted(out)


def _repo_digests(api: Any, image_id: str) -> list[str]:
    try:
        info = api.inspect_image(image_id)
    except Interrupted:
        raise
    except Exception:  # the image may have been removed since the container was created
        return []
    return list(info.get("RepoDigests") or [])


def one_shot_services(services: dict[str, Any]) -> set[str]:
    """Services others wait on with ``condition: service_completed_successfully`` (migrations,
    seeders): they are meant to exit 0, and ``compose up`` itself fails when they don't, so the
    gate does not wait for them to be "running and healthy"."""
    found: set[str] = set()
    for spec in services.values():
        depends = spec.get("depends_on") or {}
        if isinstance(depends, dict):
            for name, cond in depends.items():
                if (
                    isinstance(cond, dict)
                    and cond.get("condition") == "service_completed_successfully"
                ):
                    found.add(name)
    return found


class _ComposeWatch(Watch):
    """Docker events for the project (in a thread) plus inspect snapshots."""

    def __init__(self, driver: ComposeDriver, services: Sequence[str]) -> None:
        super().__init__()
        self.driver = driver
        self.services = set(services)
        with docker_errors(driver.host):
            self.stream = driver.client().api.events(
                filters={
                    "type": "container",
                    "label": f"{PROJECT_LABEL}={driver.project}",
                    "event": EVENTS,
                },
                decode=True,
            )
        self._closed = threading.Event()
        self.thread = threading.Thread(target=self._pump, name="relgate-events", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        try:
            for event in self.stream:
                obs = event_observation(event)
                if obs is None:
                    continue
                self.queue.put(obs)
                if obs.kind in _INSPECT_AFTER:  # learn has_healthcheck, restarts, probe output
                    snap = self.driver.inspect(obs.container)
                    if snap is not None:
                        self.queue.put(snap)
        except Exception:  # noqa: S110 # interrupt-safe: the events thread; closed/daemon restart
            pass  # restart; the inspect poll (the safety net) carries on either way

    def snapshot(self) -> list[Observation]:
        out = []
        for c in self.driver._project_containers():
            if c.get("Labels", {}).get(SERVICE_LABEL) in self.services:
                snap = self.driver.inspect(c["Id"])
                if snap is not None:
                    out.append(snap)
        return out

    def close(self) -> None:
        self._closed.set()
        try:
            self.stream.close()
        except Interrupted:
            raise
        except Exception:  # noqa: S110 - closing a dead stream is fine
            pass
        self.thread.join(timeout=2)


_ACTIONS: dict[str, Kind] = {
    "create": "create",
    "start": "start",
    "restart": "restart",
    "die": "die",
    "oom": "oom",
    "kill": "kill",
    "stop": "stop",
    "destroy": "destroy",
}


def event_observation(event: dict[str, Any]) -> Observation | None:
    """A Docker event as an :class:`Observation` (``None`` for events the gate ignores)."""
    action = str(event.get("Action") or event.get("status") or "")
    actor = event.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    if attrs.get(ONEOFF_LABEL) == "True":
        return None
    at = int(event.get("timeNano") or 0) / 1e9 or float(event.get("time") or 0)
    cid = str(actor.get("ID") or event.get("id") or "")
    service = str(attrs.get(SERVICE_LABEL, ""))
    if action.startswith("health_status"):
        health = action.partition(":")[2].strip()
        return Observation(at, cid, service, "health", health=health)
    kind = _ACTIONS.get(action)
    if kind is None:
        return None
    code = attrs.get("exitCode")
    return Observation(at, cid, service, kind, exit_code=int(code) if code is not None else None)


def snapshot_of(info: dict[str, Any], now: float) -> Observation:
    """An inspect result as a ``snapshot`` observation."""
    state = info.get("State") or {}
    health = state.get("Health")
    test = ((info.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    has_check = health is not None and test[:1] != ["NONE"]
    detail = ""
    if health and has_check and health.get("Status") == "unhealthy" and health.get("Log"):
        detail = str(health["Log"][-1].get("Output", "")).strip()[-300:]
    labels = (info.get("Config") or {}).get("Labels") or {}
    return Observation(
        at=now,
        container=str(info.get("Id", "")),
        service=str(labels.get(SERVICE_LABEL, "")),
        kind="snapshot",
        state=str(state.get("Status") or "unknown"),
        health=str(health.get("Status")) if has_check and health else "none",
        exit_code=state.get("ExitCode"),
        restart_count=int(info.get("RestartCount") or 0),
        has_healthcheck=has_check,
        started_at=parse_time(state.get("StartedAt")),
        detail=detail,
    )


def _tail(output: str, lines: int = 6) -> str:
    return " | ".join(line.strip() for line in output.strip().splitlines()[-lines:])
