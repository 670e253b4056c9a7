"""A commit's CI checks (check runs and commit statuses), summarised without PyGithub objects.

Preflight asks "is the commit we are about to deploy green?"; the answer needs two GitHub APIs
(check runs for Actions and apps, the combined commit status for older CI such as Jenkins). This
module reads both in one retried step and hands back plain data, so callers never touch PyGithub.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relgate.github.client import GitHubClient

__all__ = ["GREEN_CONCLUSIONS", "CommitChecks", "commit_checks"]

# A completed check run with one of these conclusions does not hold a release back.
GREEN_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})


@dataclass(frozen=True)
class CommitChecks:
    """The checks reported for ``sha``.

    ``total`` counts check runs plus commit statuses; ``passed`` the green check runs (the combined
    status counts as one more when its ``state`` is ``success``); ``failed`` lists
    ``"name (conclusion)"`` for completed red check runs; ``pending`` the check runs not completed.
    ``state`` is the combined commit status (``success``, ``pending``, ``failure``, ``error``); with
    no commit statuses at all GitHub reports ``pending``, so read it together with ``statuses``.
    """

    sha: str
    total: int
    passed: int
    failed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    state: str = "pending"
    statuses: int = 0


def commit_checks(
    client: GitHubClient, sha: str, *, ignore_run_id: str | None = None
) -> CommitChecks:
    """Read the check runs and combined status of ``sha`` (one retried step).

    ``ignore_run_id``: a workflow run whose own jobs are left out — the release gate's run is in
    progress by definition while it checks its commit.
    """
    own = f"/actions/runs/{ignore_run_id}/" if ignore_run_id else None

    def fetch() -> tuple[list[tuple[str, str, str | None]], str, int]:
        commit = client.repo.get_commit(sha)
        runs = [
            (str(r.name), str(r.status), r.conclusion)
            for r in commit.get_check_runs()
            if not (own and own in f"{r.html_url or ''} {r.details_url or ''}")
        ]
        combined = commit.get_combined_status()
        return runs, str(combined.state), int(combined.total_count)

    runs, state, statuses = client.retrying(f"CI checks of {sha[:12]}", fetch)
    done = [(name, conclusion) for name, status, conclusion in runs if status == "completed"]
    return CommitChecks(
        sha=sha,
        total=len(runs) + statuses,
        passed=sum(1 for _, c in done if c in GREEN_CONCLUSIONS),
        failed=[f"{name} ({c})" for name, c in done if c not in GREEN_CONCLUSIONS],
        pending=[name for name, status, _ in runs if status != "completed"],
        state=state,
        statuses=statuses,
    )
