"""Where relgate keeps host state, and the names that state is keyed by.

State that must outlive a CI job (the last-known-good record, its history, the locks) lives in the
XDG state directory of the host that runs relgate — ``$XDG_STATE_HOME/relgate``, else
``~/.local/state/relgate`` — never in the workspace, which a hosted runner wipes after every job
(a state dir there is refused on such a runner unless ``allow_workspace_state`` says it is meant).

A record or a lock is about one *stack* (the compose project, swarm stack or process), in one
environment, on one engine (``DOCKER_HOST``, else the local socket): :func:`stack_project` and
:func:`engine_of` give those names, for :mod:`relgate.lock` and :mod:`relgate.deploy.state` alike.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from relgate.actions_context import ActionsContext
from relgate.errors import BadInputError

if TYPE_CHECKING:
    from relgate.config import RelgateConfig

__all__ = [
    "LOCAL_ENGINE",
    "engine_of",
    "ephemeral_runner",
    "refuse_workspace_state",
    "stack_engine",
    "stack_project",
    "state_home",
]

LOCAL_ENGINE = "unix:///var/run/docker.sock"


def state_home() -> Path:
    """``$XDG_STATE_HOME/relgate``, else ``~/.local/state/relgate`` (the process environment, as
    ``~`` in relgate.yml paths is expanded from it too)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "relgate"


def stack_project(config: RelgateConfig, environment: str) -> str:
    """The name the engine knows the stack by: compose project, swarm stack, or project name."""
    stack = config.environments[environment].stack
    if stack.driver == "compose":
        from relgate.deploy.commands import project_name

        return project_name(stack.project_name or config.project.name)
    if stack.driver == "swarm":
        return _slug(stack.stack_name)
    return _slug(config.project.name)


def stack_engine(config: RelgateConfig, environment: str, env: Mapping[str, str]) -> str:
    """The engine the environment's stack runs on (``DOCKER_HOST`` as its deploy will see it)."""
    env_config = config.environments[environment]
    if env_config.stack.driver == "process":
        import socket

        return f"process@{socket.gethostname()}"
    return env_config.variables.get("DOCKER_HOST") or env.get("DOCKER_HOST") or LOCAL_ENGINE


def engine_of(engine: str) -> str:
    """The file-name form of an engine: ``local`` for the default socket, else a readable slug
    plus a hash of the exact value, so two engines that slug alike never share a file."""
    if engine in (LOCAL_ENGINE, "unix://var/run/docker.sock"):
        return "local"
    digest = hashlib.sha256(engine.encode("utf-8")).hexdigest()[:8]
    return f"{_slug(engine.split('://', 1)[-1])[:40] or 'engine'}-{digest}"


def ephemeral_runner(env: Mapping[str, str]) -> bool:
    """A GitHub Actions runner whose workspace does not survive the job (hosted, or act)."""
    actions = ActionsContext.from_env(env)
    return actions.in_actions and actions.runner_environment != "self-hosted"


def refuse_workspace_state(path: Path, env: Mapping[str, str], *, field: str) -> None:
    """BadInputError when ``path`` is inside ``GITHUB_WORKSPACE`` on an ephemeral runner."""
    workspace = ActionsContext.from_env(env).workspace
    if not workspace or not ephemeral_runner(env):
        return
    if not _inside(path, Path(workspace)):
        return
    raise BadInputError(
        f"{field}: {path} is inside the workspace ({workspace}), which this runner wipes after "
        "the job: the next job would find no last-known-good and could not roll back. Remove "
        "state_dir (the default is the host's XDG state dir, "
        f"{state_home()}), point it at a persistent path, or set allow_workspace_state: true "
        "if the workspace really persists"
    )


def _inside(path: Path, folder: Path) -> bool:
    resolved, root = path.resolve(), folder.resolve()
    return resolved == root or root in resolved.parents


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "x"
