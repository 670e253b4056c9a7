"""The GitHub Actions environment, read once: the only module that reads ``GITHUB_*``/``RUNNER_*``.

Like the toolkit's ``github.context``, :class:`ActionsContext` is built from the environment mapping
(:meth:`ActionsContext.from_env`) and then passed around as plain data, so everything that needs a
run id, a commit or the run's URL asks it instead of the environment — and agrees.

Rules kept here, once:

* **the run URL** names the *attempt* that produced the evidence:
  ``<server>/<owner>/<name>/actions/runs/<id>/attempts/<n>`` for every attempt, the first included.
  ``…/runs/<id>`` alone shows whichever attempt ran *last*: after a re-run, an audit link without the
  attempt would show other logs than the ones that gated the release. ``n`` is
  ``GITHUB_RUN_ATTEMPT``, 1 when unset (GitHub numbers the first attempt 1).
* **``owner/name``** is parsed by :func:`parse_repository`, for ``GITHUB_REPOSITORY`` and for a git
  remote URL alike (https, ssh, scp-like ``git@host:owner/name.git``).
* **a version's tag** is :func:`tag_for`: the version as is when it already starts with the prefix,
  else prefix + version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_SERVER", "ActionsContext", "parse_repository", "tag_for", "without_actions"]

DEFAULT_SERVER = "https://github.com"

_OWNER_NAME = re.compile(r"^([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_REMOTE = re.compile(r"[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def parse_repository(text: str | None) -> str | None:
    """``owner/name`` from ``owner/name`` or a git remote URL; None if it names no repository."""
    if not text:
        return None
    text = text.strip()
    match = _OWNER_NAME.match(text)
    if match is None and ("://" in text or re.match(r"^[\w.-]+@[\w.-]+:", text)):
        found = _REMOTE.search(text)
        match = _OWNER_NAME.match(found.group(1)) if found else None
    if match is None or match.group(1) in (".", "..") or match.group(2) in (".", ".."):
        return None
    return f"{match.group(1)}/{match.group(2)}"


def without_actions(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without GitHub's variables (a child that must not think it runs in a workflow)."""
    return {k: v for k, v in env.items() if not k.startswith("GITHUB_")}


def tag_for(version: str, prefix: str) -> str:
    """The tag of ``version``: ``v1.2.0`` for ``1.2.0`` or ``v1.2.0`` with the prefix ``v``."""
    return version if version.startswith(prefix) else f"{prefix}{version}"


@dataclass(frozen=True)
class ActionsContext:
    """What GitHub Actions says about the running job (all None outside Actions but ``server_url``).

    ``in_actions`` is ``GITHUB_ACTIONS == "true"``; the other fields are read whether or not it is
    set, as each caller decided before (a test may set ``GITHUB_RUN_ID`` alone)."""

    in_actions: bool = False
    server_url: str = DEFAULT_SERVER
    api_url: str | None = None
    repository: str | None = None
    run_id: str | None = None
    run_attempt: str | None = None
    sha: str | None = None
    ref: str | None = None
    ref_name: str | None = None
    workflow: str | None = None
    workflow_ref: str | None = None
    job: str | None = None
    actor: str | None = None
    event_name: str | None = None
    workspace: str | None = None
    step_summary: str | None = None
    output_file: str | None = None
    env_file: str | None = None
    runner_debug: bool = False
    runner_environment: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionsContext:
        def get(name: str) -> str | None:
            return env.get(name) or None

        return cls(
            in_actions=env.get("GITHUB_ACTIONS") == "true",
            server_url=(get("GITHUB_SERVER_URL") or DEFAULT_SERVER).rstrip("/"),
            api_url=(get("GITHUB_API_URL") or "").rstrip("/") or None,
            repository=parse_repository(get("GITHUB_REPOSITORY")),
            run_id=get("GITHUB_RUN_ID"),
            run_attempt=get("GITHUB_RUN_ATTEMPT"),
            sha=get("GITHUB_SHA"),
            ref=get("GITHUB_REF"),
            ref_name=get("GITHUB_REF_NAME"),
            workflow=get("GITHUB_WORKFLOW"),
            workflow_ref=get("GITHUB_WORKFLOW_REF"),
            job=get("GITHUB_JOB"),
            actor=get("GITHUB_ACTOR"),
            event_name=get("GITHUB_EVENT_NAME"),
            workspace=get("GITHUB_WORKSPACE"),
            step_summary=get("GITHUB_STEP_SUMMARY"),
            output_file=get("GITHUB_OUTPUT"),
            env_file=get("GITHUB_ENV"),
            runner_debug=env.get("RUNNER_DEBUG") == "1",
            runner_environment=get("RUNNER_ENVIRONMENT"),
        )

    @property
    def attempt(self) -> str | None:
        """The run attempt: ``GITHUB_RUN_ATTEMPT``, 1 when a run id is known without it."""
        return self.run_attempt or ("1" if self.run_id else None)

    def run_url(self, repository: str | None = None) -> str | None:
        """The URL of this run's attempt (see the module docstring for why the attempt is in it)."""
        repo = repository or self.repository
        if not repo or not self.run_id:
            return None
        return f"{self.server_url}/{repo}/actions/runs/{self.run_id}/attempts/{self.attempt}"

    def repo_url(self, repository: str | None = None) -> str | None:
        repo = repository or self.repository
        return f"{self.server_url}/{repo}" if repo else None

    @property
    def run_key(self) -> str | None:
        """``gh-<run id>-<attempt>`` in Actions (every job of a workflow run agrees), else None."""
        if self.in_actions and self.run_id:
            return f"gh-{self.run_id}-{self.attempt}"
        return None

    @property
    def tag_ref(self) -> str | None:
        """The tag this run was triggered by (``refs/tags/<tag>``), if any."""
        prefix = "refs/tags/"
        return self.ref[len(prefix) :] if self.ref and self.ref.startswith(prefix) else None
