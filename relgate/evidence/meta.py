"""``meta.json``: who released what, where and when — from ``GITHUB_*`` in Actions, git otherwise."""

from __future__ import annotations

import getpass
import re
import socket
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relgate.__about__ import __version__

if TYPE_CHECKING:
    from relgate.config import RelgateConfig

__all__ = ["collect_meta", "git_commit", "git_repository", "tag_of"]

_REMOTE = re.compile(r"[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


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
    url = _git(repo, "remote", "get-url", "origin")
    match = _REMOTE.search(url or "")
    return match.group(1) if match else None


def tag_of(version: str | None, prefix: str) -> str | None:
    if not version:
        return None
    return version if version.startswith(prefix) else f"{prefix}{version}"


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
    actions = env.get("GITHUB_ACTIONS") == "true"
    repo_dir = config.resolve_path(config.project.repo_path) if config else Path.cwd()
    repository = (
        (config.project.repository if config else None)
        or env.get("GITHUB_REPOSITORY")
        or git_repository(repo_dir)
    )
    meta: dict[str, Any] = {
        "run_id": run_id,
        "finished_at": finished_at.isoformat(),
        "project": config.project.name if config else None,
        "environment": environment,
        "version": version,
        "tag": tag_of(version, config.project.tag_prefix if config else "v"),
        "commit": (env.get("GITHUB_SHA") if actions else None) or git_commit(repo_dir),
        "repository": repository,
        "relgate_version": __version__,
        "config_digest": f"sha256:{config.digest}" if config and config.digest else None,
        "retention_days": config.archive.retention_days if config else None,
        "host": socket.gethostname(),
        "actor": env.get("GITHUB_ACTOR") if actions else _user(),
    }
    if config is not None and environment in config.environments:
        meta["base_url"] = config.environments[environment].base_url
    if actions:
        meta["github"] = _github(env, repository)
    return meta


def _github(env: Mapping[str, str], repository: str | None) -> dict[str, Any]:
    run_id, attempt = env.get("GITHUB_RUN_ID"), env.get("GITHUB_RUN_ATTEMPT", "1")
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    url = (
        f"{server}/{repository}/actions/runs/{run_id}/attempts/{attempt}"
        if repository and run_id
        else None
    )
    return {
        "workflow": env.get("GITHUB_WORKFLOW"),
        "workflow_ref": env.get("GITHUB_WORKFLOW_REF"),
        "run_id": run_id,
        "run_attempt": attempt,
        "run_url": url,
        "ref": env.get("GITHUB_REF"),
        "event": env.get("GITHUB_EVENT_NAME"),
        "job": env.get("GITHUB_JOB"),
    }


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
