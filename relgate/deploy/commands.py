"""Builders of the external commands deploy runs. Pure functions: argv lists in, nothing executed.

Tests compare these lists directly; :mod:`relgate.deploy.executor` is the one place that runs them.
Values that may be secret (generated tokens, ``METRICS_TOKEN``) never appear here: they travel in the
child's environment, which ``ps`` does not show to other users.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relgate.config import ComposeStack, EnvironmentConfig, RelgateConfig

__all__ = [
    "ComposeProject",
    "build_cmd",
    "compose_base",
    "compose_variables",
    "config_cmd",
    "exec_cmd",
    "git_checkout_cmd",
    "logs_cmd",
    "project_name",
    "ps_cmd",
    "pull_cmd",
    "recent_logs_cmd",
    "stop_cmd",
    "up_cmd",
]


def project_name(text: str) -> str:
    """Compose's rule: lowercase letters, digits, dashes and underscores, starting alphanumeric."""
    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return name or "relgate"


@dataclass(frozen=True)
class ComposeProject:
    """Everything that selects one compose project on the host."""

    name: str
    files: tuple[Path, ...]
    profiles: tuple[str, ...] = ()
    env_file: Path | None = None
    project_dir: Path | None = None

    @classmethod
    def from_stack(cls, config: RelgateConfig, stack: ComposeStack) -> ComposeProject:
        """The one way an environment's compose stack becomes a project: deploy, preflight and the
        database (``database.service``) all address the same project, files, profiles, env file and
        directory, under the same normalised name."""
        resolve = config.resolve_path
        return cls(
            name=project_name(stack.project_name or config.project.name),
            files=tuple(resolve(f) for f in stack.files),
            profiles=tuple(stack.profiles),
            env_file=resolve(stack.env_file) if stack.env_file else None,
            project_dir=resolve(stack.working_dir) if stack.working_dir else None,
        )

    def with_override(self, override: Path) -> ComposeProject:
        return ComposeProject(
            self.name, (*self.files, override), self.profiles, self.env_file, self.project_dir
        )


def compose_variables(
    config: RelgateConfig, env_config: EnvironmentConfig, version: str | None
) -> Mapping[str, str]:
    """What compose interpolates besides the caller's environment: the environment's variables and,
    when known, the version variable (``${RELGATE_VERSION:?}`` in a file fails every command,
    ``exec`` included, when it is unset)."""
    variables = dict(env_config.variables)
    if version:
        variables[config.deploy.version_variable] = version
    return variables


def compose_base(p: ComposeProject) -> list[str]:
    argv = ["docker", "compose", "--project-name", p.name]
    if p.project_dir is not None:
        argv += ["--project-directory", str(p.project_dir)]
    for f in p.files:
        argv += ["--file", str(f)]
    for profile in p.profiles:
        argv += ["--profile", profile]
    if p.env_file is not None:
        argv += ["--env-file", str(p.env_file)]
    return argv


def config_cmd(p: ComposeProject, *, fmt: str = "yaml") -> list[str]:
    """Validate and render the project (the file hashed into the last-good record)."""
    return [*compose_base(p), "config", "--format", fmt]


def pull_cmd(p: ComposeProject, services: Sequence[str]) -> list[str]:
    # --ignore-buildable: images built here are not in any registry; `build` produces them.
    return [*compose_base(p), "pull", "--ignore-buildable", "--quiet", *services]


def build_cmd(p: ComposeProject, services: Sequence[str]) -> list[str]:
    return [*compose_base(p), "build", *services]


def up_cmd(p: ComposeProject, services: Sequence[str], *, pinned: bool = False) -> list[str]:
    """``up -d`` without ``--wait``: relgate's own gate watches health (events, not 500 ms polls).

    ``pinned`` is the rollback: images are given by ID in an override file, so nothing may be built
    or pulled — the exact bytes that passed before run again.
    """
    argv = [*compose_base(p), "up", "--detach", "--remove-orphans"]
    if pinned:
        argv += ["--no-build", "--pull", "never"]
    return [*argv, *services]


def stop_cmd(p: ComposeProject, services: Sequence[str], *, timeout_s: int = 10) -> list[str]:
    return [*compose_base(p), "stop", "--timeout", str(timeout_s), *services]


def ps_cmd(p: ComposeProject) -> list[str]:
    return [*compose_base(p), "ps", "--all", "--format", "json"]


def logs_cmd(p: ComposeProject, service: str, *, tail: int = 500) -> list[str]:
    return [*compose_base(p), "logs", "--no-color", "--timestamps", "--tail", str(tail), service]


def recent_logs_cmd(p: ComposeProject, service: str, *, tail: int) -> list[str]:
    """Engine-timestamped lines without compose's ``service-1 |`` prefix: for log assertions."""
    return [
        *compose_base(p), "logs", "--no-color", "--timestamps", "--no-log-prefix",
        "--tail", str(tail), service,
    ]  # fmt: skip


def exec_cmd(p: ComposeProject, service: str, command: Sequence[str]) -> list[str]:
    # -T: no TTY in CI, and output stays byte-exact for the log.
    return [*compose_base(p), "exec", "-T", service, *command]


def git_checkout_cmd(repo: Path, ref: str) -> list[str]:
    # --detach: a tag is not a branch; "--" ends options so a ref can't be read as a flag.
    return ["git", "-C", str(repo), "checkout", "--detach", "--quiet", ref, "--"]
