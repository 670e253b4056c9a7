"""The swarm driver: ``docker stack deploy`` to change a multi-host stack, the Docker API to judge it.

relgate drives an existing orchestrator and never replaces it: Swarm schedules and rolls tasks; this
driver (1) checks the compose files for what Swarm refuses or silently changes (:mod:`swarm_spec`,
located ``file:line``), (2) renders the stack file with safe defaults (``failure_action: pause`` so the
*whole stack* is rolled back by relgate, ``start-first`` where a service allows it, a monitor window
that outlasts the healthcheck), (3) deploys it detached, and (4) watches every service's
``UpdateStatus`` and tasks (:mod:`swarm_watch`) — ``paused`` and ``rollback_*`` are failures whatever
the CLI's exit code says.

The last-known-good is recorded as the exact stack file that passed, each image pinned: by registry
digest when Swarm resolved one (``--resolve-image always``), else by the image ID found on the
manager. A rollback redeploys that file, so every service — not only the one that failed — goes back.

Foreign errors are mapped here: docker-py / requests connection failures become
:class:`ServiceUnreachable` naming the manager (:func:`~relgate.deploy.sdk.docker_errors`), a node
that is not a swarm manager :class:`CannotRun`, an invalid or refused compose file
:class:`ConfigError` with the file and line.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from relgate.deploy import swarm_commands as cmd
from relgate.deploy.logcheck import LogLine, parse_timestamped
from relgate.deploy.models import (
    VERSION_LABEL,
    CommandRecord,
    RunningService,
    RunningStack,
    ServiceImage,
)
from relgate.deploy.sdk import docker_errors
from relgate.deploy.state import text_hash
from relgate.deploy.swarm_spec import Rendered, check_compose, render
from relgate.deploy.swarm_watch import STACK_LABEL, SwarmWatch
from relgate.deploy.target import Prepared, Target, Watch
from relgate.errors import CannotRun, ConfigError, Problem, ServiceUnreachable
from relgate.fsutil import atomic_write

if TYPE_CHECKING:
    from relgate.config import PostDeployCommand, SwarmStack
    from relgate.deploy.context import DeployContext

__all__ = ["SwarmDriver", "escape_dollars", "recorded_spec_path"]


def _manager_errors(host: str) -> AbstractContextManager[None]:
    return docker_errors(host, engine="Docker swarm manager", start="start it")


def escape_dollars(value: Any) -> Any:
    """``docker stack config`` resolved ``$$`` to ``$``; ``stack deploy`` interpolates again, so
    every ``$`` left in the rendered document is written back as ``$$`` (a literal)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    return value


def recorded_spec_path(ctx: DeployContext, version: str) -> Path:
    """Where the stack document that passed for ``version`` is kept (next to the last-good record):
    the rendered document as data, ``$`` not escaped (escaping happens when a file is deployed)."""
    from relgate.deploy.state import state_dir

    return (
        state_dir(ctx.config, ctx.environment)
        / f"{ctx.environment}.swarm"
        / (f"{version}.stack.yml")
    )


class SwarmDriver:
    name = "swarm"
    project: str | None

    def __init__(self, ctx: DeployContext) -> None:
        self.ctx = ctx
        stack: SwarmStack = ctx.env_config.stack  # type: ignore[assignment]
        self.stack = stack
        self.project = stack.stack_name
        self.files = tuple(ctx.config.resolve_path(f) for f in stack.files)
        self.host = ctx.child_env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        self._client: Any = None
        self._lock = threading.Lock()
        self._rendered: Rendered | None = None
        self._rendered_for: str | None = None
        self._healthchecks: dict[str, dict[str, Any] | None] = {}

    # -- Docker API ------------------------------------------------------------------------------
    def api(self) -> Any:
        with self._lock:
            if self._client is None:
                import docker

                with _manager_errors(self.host):
                    self._client = docker.from_env(version="auto", environment=self.ctx.child_env)
            return self._client.api

    def short_name(self, full: str) -> str:
        return full.removeprefix(f"{self.project}_")

    def stack_services(self) -> list[dict[str, Any]]:
        with _manager_errors(self.host):
            found: list[dict[str, Any]] = self.api().services(
                filters={"label": f"{STACK_LABEL}={self.project}"}, status=True
            )
        return found

    def _require_manager(self) -> None:
        with _manager_errors(self.host):
            info = self.api().info()
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise CannotRun(
                f"the Docker engine at {self.host} is not a swarm manager "
                f"(swarm state {swarm.get('LocalNodeState') or 'inactive'}): point DOCKER_HOST "
                "at a manager node"
            )

    # -- before touching anything --------------------------------------------------------------
    def prepare(self, target: Target) -> Prepared:
        checked = check_compose(self.files)
        if checked.errors:
            raise ConfigError(checked.errors)
        for problem in checked.warnings:
            self.ctx.run.reporter.warning(f"swarm: {problem}")
        in_service = [c.name for c in self.ctx.config.deploy.post_deploy if c.service]
        if in_service:
            raise ConfigError(
                [
                    Problem(
                        "relgate.yml",
                        None,
                        "deploy.post_deploy",
                        f"{', '.join(in_service)}: the swarm driver cannot exec into a service's task "
                        "(it may run on any node); run the command on the host, or as a one-off service",
                    )
                ]
            )
        rendered = self._render(target.version)
        services = list(self.stack.services) or sorted(rendered.services)
        unknown = [s for s in services if s not in rendered.services]
        if unknown:
            raise ConfigError(
                [Problem(str(self.files[0]), None, "", f"no such service: {s}") for s in unknown]
            )
        self._require_manager()
        for line in rendered.notes:
            self.ctx.run.reporter.debug(f"swarm defaults: {line}")
        for line in rendered.warnings:
            self.ctx.run.reporter.warning(f"swarm: {line}")
        return Prepared(services, text_hash(json.dumps(rendered.document, sort_keys=True)))

    def _render(self, version: str, pins: dict[str, str] | None = None) -> Rendered:
        env = self.ctx.with_version(version)
        out = self.ctx.executor(
            "stack-config", cmd.stack_config_cmd(self.files), env=env, timeout_s=60
        )
        # the CLI's warnings share the stream (time="…" level=warning msg="…"): not YAML
        text = "\n".join(ln for ln in out.output.splitlines() if not ln.startswith("time="))
        try:
            document = yaml.safe_load(text) if out.ok else None
        except yaml.YAMLError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
            files = ", ".join(str(f) for f in self.files)
            raise ConfigError(
                [Problem(files, None, "", f"docker stack config failed: {out.tail(4)}")]
            )
        rendered = render(
            document, image_healthcheck=self._image_healthcheck, pins=pins, version=version
        )
        if pins is None:
            self._rendered, self._rendered_for = rendered, version
        return rendered

    def _image_healthcheck(self, image: str) -> dict[str, Any] | None:
        import docker.errors

        if image not in self._healthchecks:
            try:
                info = self.api().inspect_image(image)
                self._healthchecks[image] = (info.get("Config") or {}).get("Healthcheck")
            except docker.errors.APIError:  # not on the manager (the nodes pull it): unknown
                self._healthchecks[image] = None
        return self._healthchecks[image]

    def has_healthcheck(self, template: dict[str, Any]) -> bool:
        spec = template.get("ContainerSpec") or {}
        test = (spec.get("Healthcheck") or {}).get("Test") or []
        if test[:1] == ["NONE"]:
            return False
        if test:
            return True
        image = str(spec.get("Image", ""))
        return bool((self._image_healthcheck(image) or {}).get("Test"))

    # -- what runs now -----------------------------------------------------------------------------
    def running(self) -> dict[str, ServiceImage]:
        return {
            self.short_name(s["Spec"]["Name"]): self._image_of(s) for s in self.stack_services()
        }

    def running_stack(self) -> RunningStack:
        """The stack's services as Swarm runs them: pinned by ``ref@sha256:…`` where Swarm resolved
        a registry digest (what a rollback pins), else by image ID; the version is the service
        label relgate stamps at render time."""
        from datetime import UTC, datetime

        services = {}
        for svc in self.stack_services():
            name = self.short_name(svc["Spec"]["Name"])
            image = self._image_of(svc)
            running = (svc.get("ServiceStatus") or {}).get("RunningTasks")
            services[name] = RunningService(
                name=name,
                container=svc["ID"][:12],
                state="running" if running else "no running task",
                image=image.image,
                image_id=image.image_id,
                repo_digests=list(image.repo_digests),
                version=(svc["Spec"].get("Labels") or {}).get(VERSION_LABEL),
            )
        return RunningStack(
            project=self.project,
            engine=self.host,
            captured_at=datetime.fromtimestamp(self.ctx.clock(), UTC),
            services=services,
        )

    def snapshot(self) -> dict[str, Any] | None:
        return None  # the rendered stack document is kept by recorded_spec_path()

    def _image_of(self, svc: dict[str, Any]) -> ServiceImage:
        """What a service's spec runs: ``ref@sha256:…`` once Swarm resolved the registry digest
        (``--resolve-image always``), else a tag or an image ID that every node must have."""
        image = str(svc["Spec"]["TaskTemplate"]["ContainerSpec"].get("Image", ""))
        ref, _, digest = image.partition("@")
        if digest.startswith("sha256:"):
            # the pin itself is the identity: the same on every node, whatever each pulled
            return ServiceImage(
                image=ref, image_id=image, repo_digests=[image], registry_digest=digest
            )
        if image.startswith("sha256:"):
            return ServiceImage(image=image, image_id=image)
        return ServiceImage(image=image, image_id=self._local_image_id(image) or "")

    def _local_image_id(self, image: str) -> str | None:
        import docker.errors

        try:
            return str(self.api().inspect_image(image)["Id"])
        except docker.errors.APIError:  # not on the manager: the nodes pulled it by digest
            return None

    def nodes(self) -> list[str]:
        """Per node: hostname, state, availability, role, and the stack's tasks running there."""
        svcs = self.stack_services()
        with _manager_errors(self.host):
            nodes = self.api().nodes()
            tasks = self._tasks(svcs, {"desired-state": "running"})
        names = {n["ID"]: (n.get("Description") or {}).get("Hostname", n["ID"][:12]) for n in nodes}
        by_id = {s["ID"]: self.short_name(s["Spec"]["Name"]) for s in svcs}
        lines = []
        for n in sorted(nodes, key=lambda n: names[n["ID"]]):
            role = "manager" if n.get("ManagerStatus") else "worker"
            here = sorted(
                f"{by_id.get(t['ServiceID'], '?')}.{t.get('Slot') or ''} {t['Status']['State']}"
                for t in tasks
                if t.get("NodeID") == n["ID"]
            )
            state = (n.get("Status") or {}).get("State", "?")
            avail = (n.get("Spec") or {}).get("Availability", "?")
            lines.append(
                f"{names[n['ID']]}: {state}, {avail}, {role}; "
                + (", ".join(here) or "no tasks of this stack")
            )
        return lines

    def _tasks(self, svcs: list[dict[str, Any]], extra: dict[str, str] | None = None) -> Any:
        if not svcs:
            return []
        return self.api().tasks(filters={"service": [s["ID"] for s in svcs], **(extra or {})})

    # -- changing the stack ----------------------------------------------------------------------
    def fetch(self, target: Target, services: Sequence[str]) -> str | None:
        """Render what will be deployed (nothing changes yet); the nodes pull the images
        themselves, each by the digest Swarm resolved."""
        self._spec_for(target)
        return None

    def start(self, target: Target, services: Sequence[str]) -> tuple[Watch, str | None]:
        spec = self._spec_for(target)
        path = self.ctx.run.write_text(
            f"artifacts/{self.ctx.area}/stack.yml",
            yaml.safe_dump(escape_dollars(spec), sort_keys=False),
        )
        watch = SwarmWatch(self, services)  # opened before the deploy: no event is missed
        watch.touched = True
        argv = cmd.stack_deploy_cmd(
            self.project or "",
            path,
            resolve_image=self.stack.resolve_image,
            with_registry_auth=self.stack.with_registry_auth,
            prune=self.stack.prune,
        )
        out = self.ctx.executor(
            "stack-deploy", argv, env=self.ctx.with_version(target.version), timeout_s=300
        )
        watch.settled_at = self.ctx.clock()
        watch.deployed()
        if not out.ok:
            return watch, f"docker stack deploy failed: {out.tail(5)}"
        return watch, None

    def _spec_for(self, target: Target) -> dict[str, Any]:
        """The document to deploy: the rendered files, or for a rollback the recorded one."""
        if not target.pinned:
            if self._rendered is None or self._rendered_for != target.version:
                self._render(target.version)
            assert self._rendered is not None
            return self._rendered.document
        recorded = recorded_spec_path(self.ctx, target.version)
        if recorded.is_file():
            self.ctx.run.reporter.line(f"rolling back to the recorded stack file {recorded}")
            document: dict[str, Any] = yaml.safe_load(recorded.read_text())
            return render(document, pins=target.pinned).document
        # No recorded file (a record from another relgate): that version's files, images pinned.
        return self._render(target.version, dict(target.pinned)).document

    def verify_images(self, target: Target, services: Sequence[str]) -> str | None:
        """Each service's spec must run what the target asked for: the pinned reference, or the
        rendered one (``ref`` or, once Swarm resolved it, ``ref@sha256:…``)."""
        expected = {name: str(spec.get("image", "")) for name, spec in self._spec_for(
            target).get("services", {}).items()}  # fmt: skip
        found = {self.short_name(s["Spec"]["Name"]): s for s in self.stack_services()}
        lines = []
        for name in services:
            want = expected.get(name, "")
            svc = found.get(name)
            have = str(svc["Spec"]["TaskTemplate"]["ContainerSpec"].get("Image", "")) if svc else ""
            if have != want and have.partition("@")[0] != want.partition("@")[0]:
                lines.append(
                    f"{name}: runs {have or 'nothing'}, but {target.version} asks for {want}"
                )
            elif "@" in want and "@" in have and have != want:
                lines.append(f"{name}: runs {have}, but the pinned digest is {want}")
        for line in lines:
            self.ctx.run.reporter.error(line, title="deploy")
        return "; ".join(lines) or None

    def exec(self, command: PostDeployCommand) -> CommandRecord:
        # prepare() refused commands that target a service: only host commands reach here
        return self.ctx.executor(
            f"post-{command.name}",
            list(command.command),
            timeout_s=command.timeout.total_seconds(),
        ).record

    def recent_logs(self, service: str, tail: int) -> list[LogLine]:
        """The service's tasks' last lines, engine-timestamped (``--raw``: no task prefix)."""
        argv = ["docker", "service", "logs", "--raw", "--timestamps", "--tail", str(tail),
                f"{self.project}_{service}"]  # fmt: skip
        out = self.ctx.executor(f"logs-assert-{service}", argv, timeout_s=30, quiet_log=True)
        return parse_timestamped(out.output) if out.ok else []

    def stop(self, services: Sequence[str]) -> None:
        """Nothing to roll back to: scale the replicated services to 0 (kept for inspection)."""
        replicated = {
            s["Spec"]["Name"]: 0
            for s in self.stack_services()
            if self.short_name(s["Spec"]["Name"]) in services and "Replicated" in s["Spec"]["Mode"]
        }
        if replicated:
            self.ctx.executor("service-scale", cmd.service_scale_cmd(replicated), timeout_s=120)

    # -- evidence ------------------------------------------------------------------------------
    def capture(self, area: str, services: Sequence[str]) -> dict[str, str]:
        """Services (with UpdateStatus), tasks with their node, nodes, and each service's logs."""
        import docker.errors

        last_error: dict[str, str] = {}
        try:
            svcs = self.stack_services()
            with _manager_errors(self.host):
                nodes = self.api().nodes()
                tasks = self._tasks(svcs)
        except (ServiceUnreachable, docker.errors.APIError) as exc:  # evidence is best effort
            self.ctx.run.write_text(f"artifacts/{area}/swarm/error.txt", f"{exc}\n")
            return last_error
        self.ctx.run.write_json(f"artifacts/{area}/swarm/services.json", svcs)
        self.ctx.run.write_json(f"artifacts/{area}/swarm/tasks.json", tasks)
        self.ctx.run.write_json(f"artifacts/{area}/swarm/nodes.json", nodes)
        by_id = {s["ID"]: self.short_name(s["Spec"]["Name"]) for s in svcs}
        for t in sorted(tasks, key=lambda t: t.get("CreatedAt", "")):
            err = (t.get("Status") or {}).get("Err")
            if err:
                last_error[by_id.get(t["ServiceID"], "?")] = str(err)[-500:]
        for service in services:
            self.ctx.executor(
                f"logs-{service}", cmd.service_logs_cmd(f"{self.project}_{service}"), timeout_s=60
            )
        return last_error

    def images(self, services: Sequence[str]) -> dict[str, ServiceImage]:
        """The exact images running now — and the stack file that passed, pinned to them, so a
        rollback can redeploy every service as it was."""
        found = {self.short_name(s["Spec"]["Name"]): s for s in self.stack_services()}
        out = {name: self._image_of(found[name]) for name in services if name in found}
        if self._rendered is not None and self._rendered_for:
            pins = {}
            for name, spec in found.items():
                image = str(spec["Spec"]["TaskTemplate"]["ContainerSpec"].get("Image", ""))
                pinned = self._image_of(spec)
                pins[name] = image if "@sha256:" in image else (pinned.image_id or image)
            document = render(self._rendered.document, pins=pins).document
            path = recorded_spec_path(self.ctx, self._rendered_for)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, yaml.safe_dump(document, sort_keys=False).encode("utf-8"))
        return out

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
