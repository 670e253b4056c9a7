"""What the Docker Engine and the compose plugin say, for callers outside the deploy stage.

Preflight asks here instead of running ``docker`` itself (only :mod:`relgate.deploy` talks to Docker):
:func:`probe_engine` answers "is there a compose v2 plugin, does the daemon answer, which versions",
and :func:`check_compose_config` validates an environment's compose project exactly as deploy will
address it (:meth:`~relgate.deploy.commands.ComposeProject.from_stack`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from relgate import proc
from relgate.deploy.commands import ComposeProject, config_cmd
from relgate.errors import ToolMissing

__all__ = ["EngineInfo", "check_compose_config", "probe_engine"]

_PROBE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class EngineInfo:
    """The answers of ``docker compose version`` and ``docker info``; ``*_error`` says why not."""

    compose_version: str | None = None
    compose_error: str | None = None
    server_version: str | None = None
    server_error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.server_version is not None


def _docker(argv: list[str], env: Mapping[str, str], cwd: Path | None) -> tuple[int, str]:
    try:
        done = proc.run(argv, env=env, cwd=cwd, merge_stderr=True, timeout=_PROBE_TIMEOUT_S)
    except ToolMissing as exc:
        return 127, exc.message
    if done.timed_out:
        return 124, f"{' '.join(argv[:3])}: no answer within {_PROBE_TIMEOUT_S:g}s"
    return int(done.returncode or 0), done.out.strip()


def probe_engine(env: Mapping[str, str], cwd: Path | None = None) -> EngineInfo:
    """Ask the compose plugin for its version (v2 required) and the daemon for its own."""
    code, out = _docker(["docker", "compose", "version", "--short"], env, cwd)
    version = out.strip().lstrip("v")
    if code == 0 and re.match(r"^[2-9]\d*\.", version):
        compose: dict[str, str | None] = {"compose_version": version}
    else:
        detail = out.splitlines()[-1] if out else f"exit {code}"
        compose = {"compose_error": f"the compose v2 plugin is missing ({detail})"}
    code, out = _docker(["docker", "info", "--format", "{{.ServerVersion}}"], env, cwd)
    if code == 0 and out.strip():
        return EngineInfo(**compose, server_version=out.strip())
    return EngineInfo(**compose, server_error=f"not reachable: {_last_line(out)}")


def check_compose_config(
    project: ComposeProject, env: Mapping[str, str], cwd: Path | None = None
) -> str | None:
    """``docker compose config`` on ``project``: None when compose accepts it, else why not."""
    code, out = _docker(config_cmd(project), env, cwd)
    return None if code == 0 else _last_line(out)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
