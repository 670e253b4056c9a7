"""Compose files as a Swarm stack: what Swarm refuses or silently changes, and relgate's safe defaults.

Two steps, both pure (no Docker):

* :func:`check_compose` reads the user's compose files with line numbers and reports, as located
  problems, the features ``docker stack deploy`` refuses or — worse — silently changes:
  ``container_name``, ``pull_policy``, ``build`` without an ``image``, ``depends_on`` conditions (Swarm
  starts services in any order), and ports bound to a host IP (``127.0.0.1:8080:80`` is published on
  *every* address by Swarm, with only a warning). ``build`` next to an ``image`` and ``restart`` are
  translated (ignored: Swarm uses the image and ``deploy.restart_policy``) with a warning.
* :func:`render` takes the CLI's own merged, interpolated document (``docker stack config``) and fills
  in update/rollback settings that make Swarm's monitoring mean something: ``failure_action: pause``
  (relgate decides the rollback, for the whole stack), ``order: start-first`` where a service allows
  it, a ``monitor`` window longer than the healthcheck needs to call a task unhealthy, and a
  ``rollback_config`` aligned with it. Values the user wrote are kept; a ``monitor`` too short to see a
  failure is a warning (:func:`monitor_warnings`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relgate.deploy.models import VERSION_LABEL
from relgate.errors import Problem
from relgate.yamlfile import LoadedYaml, load_yaml

__all__ = [
    "Checked",
    "Rendered",
    "check_compose",
    "format_duration",
    "monitor_warnings",
    "parse_duration",
    "render",
    "stack_problems",
]

DEFAULT_MONITOR_S = 5.0  # Swarm's own default
# Docker's healthcheck defaults (moby daemon/health.go) when neither the file nor the image says.
_HC_DEFAULTS = {"interval": 30.0, "timeout": 30.0, "start_period": 0.0, "retries": 3}
_HOST_IP = re.compile(r"^\[?[0-9a-fA-F.:]*[.:][0-9a-fA-F.:]*\]?:")  # "127.0.0.1:…", "[::1]:…"


@dataclass
class Checked:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def check_compose(files: Sequence[Path], *, display: Callable[[Path], str] = str) -> Checked:
    """Located problems (refused) and warnings (translated) for the compose files as a Swarm stack."""
    out = Checked()
    for path in files:
        loaded = load_yaml(path, display=display(path))
        services = loaded.data.get("services") if isinstance(loaded.data, dict) else None
        if not isinstance(services, dict):
            continue
        for name, spec in services.items():
            if isinstance(spec, dict):
                _check_service(loaded, str(name), spec, out)
    return out


def _check_service(doc: LoadedYaml, name: str, spec: Mapping[str, Any], out: Checked) -> None:
    def err(key: tuple[str | int, ...], message: str) -> None:
        path = ("services", name, *key)
        out.errors.append(Problem(doc.file, doc.line_of(path), _dotted(path), message))

    def warn(key: tuple[str | int, ...], message: str) -> None:
        path = ("services", name, *key)
        out.warnings.append(Problem(doc.file, doc.line_of(path), _dotted(path), message))

    if "container_name" in spec:
        err(("container_name",), "Swarm names task containers itself; remove container_name")
    if "pull_policy" in spec:
        err(
            ("pull_policy",),
            "not supported by docker stack deploy; the swarm driver's stack.resolve_image "
            "(always|changed|never) decides how images are resolved",
        )
    if "build" in spec:
        if "image" in spec:
            warn(("build",), "ignored by Swarm: the image must already be in a registry")
        else:
            err(("build",), "Swarm cannot build: build and push the image first, then set image:")
    depends = spec.get("depends_on")
    if isinstance(depends, dict):
        err(
            ("depends_on",),
            "conditions are not supported by Swarm (it starts services in any order and "
            "refuses the map form); use a list, and let healthchecks and retries handle order",
        )
    if "restart" in spec:
        warn(("restart",), "ignored by Swarm: use deploy.restart_policy")
    for i, port in enumerate(spec.get("ports") or []):
        if isinstance(port, str) and _HOST_IP.match(port):
            err(
                ("ports", i),
                f"{port!r}: Swarm cannot bind a host IP and would publish the port on every "
                "address; publish without an IP (and firewall it), or use mode: host",
            )
        elif isinstance(port, dict) and port.get("host_ip"):
            err(("ports", i, "host_ip"), "Swarm cannot bind a host IP; remove host_ip")


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


# -- durations (Go's syntax, as compose and Swarm write them) ------------------------------------
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(value: object) -> float | None:
    """``"1m30s"`` → 90.0; a bare number is nanoseconds (what the API returns); None if unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1e9
    if not isinstance(value, str) or not value:
        return None
    text, total = value.strip(), 0.0
    pos = 0
    for m in _PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos else None


def format_duration(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


# -- rendering -----------------------------------------------------------------------------------
@dataclass
class Rendered:
    """The stack file relgate deploys, and what it decided on the way."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # defaults applied, per service
    warnings: list[str] = field(default_factory=list)

    @property
    def services(self) -> dict[str, Any]:
        services: dict[str, Any] = self.document.get("services") or {}
        return services


HealthcheckLookup = Callable[[str], Mapping[str, Any] | None]


def render(
    document: Mapping[str, Any],
    *,
    image_healthcheck: HealthcheckLookup = lambda image: None,
    pins: Mapping[str, str] | None = None,
    version: str | None = None,
) -> Rendered:
    """Apply relgate's defaults (and image pins, for a rollback) to ``docker stack config``'s output.

    ``image_healthcheck(image)`` returns the image's own ``Healthcheck`` (Docker API shape, durations
    in ns) so the monitor window can cover it when the compose file has no ``healthcheck:``.
    """
    out = Rendered(copy.deepcopy(dict(document)))
    for name, spec in out.services.items():
        if not isinstance(spec, dict):
            continue
        if pins and name in pins:
            spec["image"] = pins[name]
        if version is not None:
            _stamp(spec, version)
        _defaults(name, spec, image_healthcheck, out)
    return out


def _stamp(spec: dict[str, Any], version: str) -> None:
    """The service label ``io.relgate.version``: what runs can be told apart from what was
    recorded (a service label; changing it restarts no task)."""
    deploy = spec.setdefault("deploy", {})
    labels = deploy.get("labels") or {}
    if isinstance(labels, list):  # ["key=value", …]
        labels = dict(item.partition("=")[::2] for item in labels)
    deploy["labels"] = {**labels, VERSION_LABEL: version}


def _defaults(name: str, spec: dict[str, Any], lookup: HealthcheckLookup, out: Rendered) -> None:
    deploy = spec.setdefault("deploy", {})
    update = deploy.setdefault("update_config", {})
    rollback = deploy.setdefault("rollback_config", {})
    applied = []
    if "failure_action" not in update:
        update["failure_action"] = (
            "pause"  # relgate rolls back the whole stack, not Swarm per service
        )
        applied.append("failure_action pause")
    if "order" not in update:
        blocker = start_first_blocker(spec)
        update["order"] = "stop-first" if blocker else "start-first"
        applied.append(f"order {update['order']}" + (f" ({blocker})" if blocker else ""))
    needed = healthcheck_window(spec, lookup)
    monitor = parse_duration(update.get("monitor"))
    if monitor is None:
        monitor = max(DEFAULT_MONITOR_S, needed + 1.0) if needed is not None else DEFAULT_MONITOR_S
        update["monitor"] = format_duration(monitor)
        applied.append(f"monitor {update['monitor']}")
    elif needed is not None and monitor <= needed:
        out.warnings.append(
            f"{name}: update_config.monitor {format_duration(monitor)} is not longer than the "
            f"healthcheck's start_period + interval x retries ({format_duration(needed)}): Swarm "
            "can call the update completed before a bad task is found unhealthy"
        )
    # The rollback is monitored like the update, in the same order; it never rolls back itself.
    for key in ("order", "monitor", "parallelism", "delay"):
        if key in update and key not in rollback:
            rollback[key] = update[key]
    rollback.setdefault("failure_action", "pause")
    if applied:
        out.notes.append(f"{name}: " + ", ".join(applied))


def start_first_blocker(spec: Mapping[str, Any]) -> str | None:
    """Why a service cannot run its old and new task side by side (None: it can)."""
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and port.get("mode") == "host":
            return "a host-mode port can be bound by one task per node"
    deploy = spec.get("deploy") or {}
    placement = deploy.get("placement") or {}
    if placement.get("max_replicas_per_node"):
        return "placement.max_replicas_per_node leaves no room for a second task"
    if deploy.get("mode") == "global":
        return "a global service runs one task per node"
    return None


def healthcheck_window(spec: Mapping[str, Any], lookup: HealthcheckLookup) -> float | None:
    """start_period + interval x retries: how long Swarm may take to call a bad task unhealthy.

    The compose file's fields override the image's one by one, as Docker merges them. None when the
    service has no healthcheck at all (nothing to wait for).
    """
    compose = spec.get("healthcheck") or {}
    test = compose.get("test")
    if (
        compose.get("disable")
        or test == "NONE"
        or (isinstance(test, list) and test[:1] == ["NONE"])
    ):
        return None
    image = lookup(str(spec.get("image", ""))) or {}
    if not compose.get("test") and not image.get("Test"):
        return None

    def value(key: str, api_key: str) -> float:
        if key in compose:
            return float(compose[key]) if key == "retries" else parse_duration(compose[key]) or 0.0
        if image.get(api_key):
            return float(image[api_key]) if key == "retries" else float(image[api_key]) / 1e9
        return float(_HC_DEFAULTS[key])

    return value("start_period", "StartPeriod") + value("interval", "Interval") * value(
        "retries", "Retries"
    )


def monitor_warnings(files: Sequence[Path], *, display: Callable[[Path], str] = str) -> list[str]:
    """The config-check view: a literal ``monitor`` shorter than the file's own healthcheck needs."""
    warnings = []
    for path in files:
        doc = load_yaml(path, display=display(path))
        services = doc.data.get("services") if isinstance(doc.data, dict) else None
        for name, spec in (services or {}).items():
            if not isinstance(spec, dict):
                continue
            monitor = parse_duration(
                ((spec.get("deploy") or {}).get("update_config") or {}).get("monitor")
            )
            needed = healthcheck_window(spec, lambda image: None)
            if monitor is not None and needed is not None and monitor <= needed:
                line = doc.line_of(("services", name, "deploy", "update_config", "monitor"))
                warnings.append(
                    f"{doc.file}:{line} services.{name}.deploy.update_config.monitor: "
                    f"{format_duration(monitor)} is not longer than start_period + interval x "
                    f"retries ({format_duration(needed)}); Swarm may call a bad update completed"
                )
    return warnings


def stack_problems(files: Sequence[Path]) -> tuple[list[Problem], list[str]]:
    """For ``config check`` and preflight: (refused, warnings) of a swarm stack's compose files.

    Files that are missing are left to the caller's own "file exists" check."""
    present = [f for f in files if f.is_file()]
    checked = check_compose(present)
    warnings = [str(w) for w in checked.warnings] + monitor_warnings(present)
    return checked.errors, warnings
