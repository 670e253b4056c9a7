"""Builders of the external commands deploy runs. Pure functions: argv lists in, nothing executed.

Tests compare these lists directly; :mod:`relgate.deploy.executor` is the one place that runs them.
Values that may be secret (generated tokens, ``METRICS_TOKEN``) never appear here: they travel in the
child's environment, which ``ps`` does not show to other users.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ComposeProject",
    "build_cmd",
    "compose_base",
    "config_cmd",
    "exec_cmd",
    "git_checkout_cmd",
    "logs_cmd",
    "ps_cmd",
    "pull_cmd",
    "stop_cmd",
    "up_cmd",
]


@dataclass(frozen=True)
class ComposeProject:
    """Everything that selects one compose project on the host."""

    name: str
    files: tuple[Path, ...]
    profiles: tuple[str, ...] = ()
    env_file: Path | None = None
    project_dir: Path | None = None

    def with_override(self, override: Path) -> ComposeProject:
        return ComposeProject(
            self.name, (*self.files, override), self.profiles, self.env_file, self.project_dir
        )


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


def exec_cmd(p: ComposeProject, service: str, command: Sequence[str]) -> list[str]:
    # -T: no TTY in CI, and output stays byte-exact for the log.
    return [*compose_base(p), "exec", "-T", service, *command]


def git_checkout_cmd(repo: Path, ref: str) -> list[str]:
    # --detach: a tag is not a branch; "--" ends options so a ref can't be read as a flag.
    return ["git", "-C", str(repo), "checkout", "--detach", "--quiet", ref, "--"]
