"""Builders of the docker CLI commands the swarm driver runs. Pure functions: argv lists, nothing run.

Kept apart from :mod:`relgate.deploy.commands` (compose) so the two drivers' builders can change
independently; :class:`relgate.deploy.executor.Executor` runs both. The manager is chosen through
``DOCKER_HOST`` in the child's environment, never on argv.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

__all__ = [
    "ResolveImage",
    "service_logs_cmd",
    "service_scale_cmd",
    "stack_config_cmd",
    "stack_deploy_cmd",
]

ResolveImage = Literal["always", "changed", "never"]


def stack_config_cmd(files: Sequence[Path]) -> list[str]:
    """The CLI's own merge + interpolation of the compose files: exactly what ``stack deploy`` reads."""
    argv = ["docker", "stack", "config"]
    for f in files:
        argv += ["--compose-file", str(f)]
    return argv


def stack_deploy_cmd(
    stack: str,
    spec: Path,
    *,
    resolve_image: ResolveImage = "always",
    with_registry_auth: bool = True,
    prune: bool = False,
) -> list[str]:
    """``--detach=true``: the CLI's own wait exits 0 even after a rollback; relgate watches instead.

    ``spec`` is the stack file relgate rendered (defaults applied, images pinned when rolling back).
    """
    argv = ["docker", "stack", "deploy", "--detach=true", "--compose-file", str(spec)]
    argv += ["--resolve-image", resolve_image]
    if with_registry_auth:
        argv.append("--with-registry-auth")
    if prune:
        argv.append("--prune")
    return [*argv, stack]


def service_scale_cmd(replicas: dict[str, int]) -> list[str]:
    """Scale services (full names) at once, without waiting (the gate does not wait on a stop)."""
    return [
        "docker",
        "service",
        "scale",
        "--detach",
        *(f"{s}={n}" for s, n in sorted(replicas.items())),
    ]


def service_logs_cmd(service: str, *, tail: int = 500) -> list[str]:
    # --no-trunc: full task ids, so a line can be matched to the task (and node) in tasks.json
    return ["docker", "service", "logs", "--no-trunc", "--timestamps", "--tail", str(tail), service]
