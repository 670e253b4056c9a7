"""The release-notes pull request: the notes file committed on a branch, proposed for review.

The PR documents what already passed staging; it does not drive the release. Opened with the
default ``GITHUB_TOKEN`` it triggers no workflows (GitHub's rule against recursive runs) — see
docs/notes.md for using a GitHub App token instead.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from relgate.github.pulls import PullState, default_branch, ensure_branch, ensure_file, ensure_pull

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.github.client import GitHubClient

__all__ = ["notes_path_in_repo", "publish_notes_pr"]


def notes_path_in_repo(config: RelgateConfig, version: str) -> str:
    """Where the notes file goes in the repository (relative to its root, POSIX style)."""
    target = config.resolve_path(config.notes.output.replace("{version}", version))
    root = config.resolve_path(config.project.repo_path).resolve()
    try:
        return PurePosixPath(target.resolve().relative_to(root)).as_posix()
    except ValueError:
        return Path(target).name


def publish_notes_pr(
    client: GitHubClient, config: RelgateConfig, *, version: str, tag: str, text: str
) -> PullState:
    branch = config.notes.pr_branch.replace("{version}", version)
    base = config.notes.pr_base or default_branch(client)
    path = notes_path_in_repo(config, version)
    ensure_branch(client, branch, base)
    commit = ensure_file(
        client, path, text, branch=branch, message=f"docs: release notes for {tag}"
    )
    body = (
        f"Release notes for **{tag}**, rendered by relgate from the commits since the previous "
        f"release and the evidence of the release gate.\n\nFile: `{path}`. Edit it on this branch "
        "if needed; merging records the reviewed notes."
    )
    pull = ensure_pull(
        client,
        branch=branch,
        base=base,
        title=f"Release notes for {tag}",
        body=body,
        changed=commit is not None,
    )
    return PullState(pull.number, pull.url, pull.action, commit)
