"""GitHub Deployments: the record of what ran in each environment, for runners that keep nothing.

A hosted runner starts every job with an empty disk, so a record kept on it is gone by the next job.
GitHub keeps one per environment: each ``relgate deploy`` creates a deployment (ref = the commit,
``environment_url`` = the base URL, payload = version, image IDs and digests, compose config hash,
run id), moves its status ``in_progress`` → ``success`` / ``failure``, and marks the deployments it
supersedes ``inactive`` (GitHub's own ``auto_inactive`` skips production environments, so relgate
does it itself); a rollback records a deployment of the version it restored. The environment page
on GitHub then shows the real history, and :func:`last_known_good` reads it back on a fresh runner.

Plain data in and out: PyGithub objects never leave this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from relgate.github.client import GitHubClient

__all__ = [
    "PAYLOAD_KIND",
    "DeploymentRef",
    "finish_deployment",
    "last_known_good",
    "start_deployment",
]

# Marks the deployments relgate created: others (from other tools) are never read as a record.
PAYLOAD_KIND = "relgate.deploy/v1"
# How far back a fresh runner looks for the last successful deployment of an environment.
LOOKBACK = 30


@dataclass(frozen=True)
class DeploymentRef:
    """One deployment as relgate reads it back."""

    id: int
    environment: str
    sha: str
    state: str | None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        value = self.payload.get("version")
        return str(value) if value else None


def start_deployment(
    client: GitHubClient,
    *,
    environment: str,
    ref: str,
    payload: dict[str, Any],
    description: str,
    environment_url: str,
    log_url: str,
    state: str = "in_progress",
) -> int:
    """Create the deployment and its first status; return its id.

    Retried as one step that looks before it writes: a deployment of this run (same ``run_id``,
    ``role`` and ``version`` in the payload) found for the same commit is reused, not created
    twice.
    """
    body = {**payload, "kind": PAYLOAD_KIND}

    def step() -> int:
        repo = client.repo
        existing = None
        for d in islice(repo.get_deployments(sha=ref, environment=environment), LOOKBACK):
            found = d.payload if isinstance(d.payload, dict) else {}
            key = ("run_id", "role", "version")
            if found.get("kind") == PAYLOAD_KIND and all(found.get(k) == body.get(k) for k in key):
                existing = d
                break
        deployment = (
            existing
            or repo.create_deployment(
                ref,
                task="deploy",
                auto_merge=False,
                required_contexts=[],  # the gate judged the commit already (preflight's CI check)
                payload=body,
                environment=environment,
                description=description[:140],
                transient_environment=False,
                production_environment=environment == "production",
            )
        )
        deployment.create_status(
            state,
            target_url=log_url,
            description=description[:140],
            environment_url=environment_url,
            auto_inactive=False,  # superseded ones are marked by finish_deployment, explicitly
        )
        return int(deployment.id)

    return client.retrying(f"create the {environment} deployment", step)


def finish_deployment(
    client: GitHubClient,
    deployment_id: int,
    *,
    environment: str,
    state: str,
    description: str,
    environment_url: str,
    log_url: str,
) -> list[int]:
    """Set the final status (``success``, ``failure``, or ``error`` when the deploy could not run
    or was interrupted); on success mark every older successful deployment of the environment
    ``inactive`` (GitHub shows one active deployment per environment). Return the ids marked."""
    succeeded = state == "success"

    def step() -> list[int]:
        repo = client.repo
        deployment = repo.get_deployment(deployment_id)
        deployment.create_status(
            state,
            target_url=log_url,
            description=description[:140],
            environment_url=environment_url,
            auto_inactive=False,
        )
        if not succeeded:
            return []
        marked = []
        for d in islice(repo.get_deployments(environment=environment), LOOKBACK):
            if int(d.id) == deployment_id:
                continue
            latest = next(iter(d.get_statuses()), None)
            if latest is not None and latest.state == "success":
                d.create_status(
                    "inactive",
                    target_url=log_url,
                    description=f"superseded by deployment {deployment_id}",
                    environment_url=environment_url,
                )
                marked.append(int(d.id))
        return marked

    return client.retrying(f"finish the {environment} deployment", step)


def last_known_good(client: GitHubClient, environment: str) -> DeploymentRef | None:
    """The newest relgate deployment of ``environment`` whose latest status is ``success`` (an
    ``inactive`` one was superseded; ``failure`` never ran healthy)."""

    def step() -> DeploymentRef | None:
        for d in islice(client.repo.get_deployments(environment=environment), LOOKBACK):
            payload = d.payload if isinstance(d.payload, dict) else {}
            if payload.get("kind") != PAYLOAD_KIND:
                continue
            latest = next(iter(d.get_statuses()), None)
            state = latest.state if latest is not None else None
            if state == "success":
                return DeploymentRef(int(d.id), environment, str(d.sha), state, dict(payload))
        return None

    return client.retrying(f"read the {environment} deployments", step)
