"""One incident issue per environment: opened (or updated) while ops checks fail, closed on recovery.

The issue is found by its label and exact title (``relgate ops: <environment> is failing``), so a
re-run updates the same issue with a comment instead of opening another; each step looks before it
writes, so a write that succeeded behind a 5xx is found, not repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from relgate.github.client import GitHubClient

__all__ = ["IncidentChange", "incident_title", "sync_incident"]


@dataclass(frozen=True)
class IncidentChange:
    action: Literal["opened", "updated", "closed", "none"]
    number: int | None = None
    url: str | None = None


def incident_title(environment: str) -> str:
    return f"relgate ops: {environment} is failing"


def _open_incident(client: GitHubClient, title: str, label: str) -> Any:
    for issue in client.repo.get_issues(state="open", labels=[label]):
        if issue.title == title and getattr(issue, "pull_request", None) is None:
            return issue
    return None


def sync_incident(
    client: GitHubClient,
    environment: str,
    *,
    failing: bool,
    body: str,
    label: str = "relgate-incident",
) -> IncidentChange:
    """Failing: open the environment's incident issue, or comment on the open one. Passing: close
    it with a comment saying so. Nothing open and nothing failing: no request beyond the lookup."""
    title = incident_title(environment)

    def step() -> IncidentChange:
        issue = _open_incident(client, title, label)
        if failing and issue is None:
            issue = client.repo.create_issue(title=title, body=body, labels=[label])
            return IncidentChange("opened", issue.number, issue.html_url)
        if failing:
            issue.create_comment(body)
            return IncidentChange("updated", issue.number, issue.html_url)
        if issue is None:
            return IncidentChange("none")
        issue.create_comment(body)
        issue.edit(state="closed", state_reason="completed")
        return IncidentChange("closed", issue.number, issue.html_url)

    return client.retrying(f"incident issue for {environment}", step)
