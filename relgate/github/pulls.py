"""A branch, a file on it and a pull request: the release-notes PR, idempotent.

A second run finds the same branch, commits only if the file changed, and updates the same pull
request instead of opening another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from relgate.github.client import GitHubClient, is_status

__all__ = ["PullState", "ensure_branch", "ensure_file", "ensure_pull"]


@dataclass(frozen=True)
class PullState:
    number: int
    url: str
    action: Literal["created", "updated", "unchanged"]
    commit: str | None = None


def default_branch(client: GitHubClient) -> str:
    return client.retrying("read repository", lambda: str(client.repo.default_branch))


def ensure_branch(client: GitHubClient, branch: str, base: str) -> bool:
    """``branch`` exists (created from ``base``'s head if missing). True if it was created."""

    def step() -> bool:
        try:
            _ = client.repo.get_git_ref(f"heads/{branch}").object.sha  # loads lazily: keep in try
            return False
        except Exception as exc:
            if not is_status(exc, 404):
                raise
        head = client.repo.get_git_ref(f"heads/{base}").object.sha
        try:
            client.repo.create_git_ref(f"refs/heads/{branch}", head)
        except Exception as exc:
            if is_status(exc, 422):  # created by an earlier, retried attempt
                return False
            raise
        return True

    return client.retrying(f"create branch {branch}", step)


def ensure_file(
    client: GitHubClient, path: str, content: str, *, branch: str, message: str
) -> str | None:
    """``path`` on ``branch`` holds ``content``; returns the new commit SHA, or None if unchanged."""

    def step() -> str | None:
        try:
            current = client.repo.get_contents(path, ref=branch)
        except Exception as exc:
            if not is_status(exc, 404):
                raise
            created = client.repo.create_file(path, message, content, branch=branch)
            return str(created["commit"].sha)
        if isinstance(current, list):
            raise NotADirectoryError(f"{path} is a directory on {branch}")
        if current.decoded_content == content.encode("utf-8"):
            return None
        updated = client.repo.update_file(path, message, content, current.sha, branch=branch)
        return str(updated["commit"].sha)

    return client.retrying(f"write {path} on {branch}", step)


def ensure_pull(
    client: GitHubClient, *, branch: str, base: str, title: str, body: str, changed: bool
) -> PullState:
    """The open pull request of ``branch`` into ``base``: found and refreshed, or created."""
    owner = client.repository.split("/", 1)[0]

    def step() -> PullState:
        for pull in client.repo.get_pulls(state="open", head=f"{owner}:{branch}", base=base):
            if pull.title != title or (pull.body or "") != body:
                pull.edit(title=title, body=body)
                return PullState(pull.number, pull.html_url, "updated")
            return PullState(pull.number, pull.html_url, "updated" if changed else "unchanged")
        pull = client.repo.create_pull(base=base, head=branch, title=title, body=body)
        return PullState(pull.number, pull.html_url, "created")

    return client.retrying(f"open pull request {branch}", step)
