"""``meta.json``: who released what, where and when — from the Actions context, git otherwise."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relgate.__about__ import __version__
from relgate.actions_context import ActionsContext, parse_repository, tag_for

if TYPE_CHECKING:
    from relgate.config import RelgateConfig

__all__ = ["collect_meta", "git_commit", "git_repository"]


def _git(repo: Path, *args: str) -> str | None:
    from relgate import proc
    from relgate.errors import ToolMissing

    try:
        done = proc.run(["git", "-C", str(repo), *args], timeout=10)
    except (ToolMissing, OSError):
        return None
    return done.out.strip() or None if done.ok else None


def git_commit(repo: Path) -> str | None:
    return _git(repo, "rev-parse", "HEAD")


def git_repository(repo: Path) -> str | None:
    """``owner/name`` from the ``origin`` remote, if it looks like one."""
    return parse_repository(_git(repo, "remote", "get-url", "origin"))


def collect_meta(
    config: RelgateConfig | None,
    *,
    env: Mapping[str, str],
    run_id: str,
    environment: str | None,
    version: str | None,
    finished_at: datetime,
) -> dict[str, Any]:
    """The facts an auditor needs to tie the bundle to a commit, a workflow run and a person."""
    ctx = ActionsContext.from_env(env)
    actions = ctx.in_actions
    repo_dir = config.resolve_path(config.project.repo_path) if config else Path.cwd()
    repository = (
        (config.project.repository if config else None)
        or ctx.repository
        or git_repository(repo_dir)
    )
    meta: dict[str, Any] = {
        "run_id": run_id,
        "finished_at": finished_at.isoformat(),
        "project": config.project.name if config else None,
        "environment": environment,
        "version": version,
        "tag": tag_for(version, config.project.tag_prefix if config else "v") if version else None,
        "commit": (ctx.sha if actions else None) or git_commit(repo_dir),
        "repository": repository,
        "relgate_version": __version__,
        "config_digest": f"sha256:{config.digest}" if config and config.digest else None,
        "retention_days": config.archive.retention_days if config else None,
        "host": socket.gethostname(),
        "actor": ctx.actor if actions else _user(),
    }
    if config is not None and environment in config.environments:
        meta["base_url"] = config.environments[environment].base_url
    if actions:
        meta["github"] = _github(ctx, repository)
    return meta


def _github(ctx: ActionsContext, repository: str | None) -> dict[str, Any]:
    return {
        "workflow": ctx.workflow,
        "workflow_ref": ctx.workflow_ref,
        "run_id": ctx.run_id,
        "run_attempt": ctx.attempt,
        "run_url": ctx.run_url(repository),
        "ref": ctx.ref,
        "event": ctx.event_name,
        "job": ctx.job,
    }


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
