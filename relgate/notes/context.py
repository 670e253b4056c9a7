"""The template context of release notes: everything a template may use, already assembled.

The context is built once, from four sources: git (commits since the previous tag), the CI
environment (``GITHUB_*``), the results of earlier stages (deploy, smoke, archive) and the config
(contacts). ``relgate notes --context-json`` prints it, so template authors see exactly what they
can use.

Untrusted text (anything a committer chose) is escaped for markdown in the plain attributes
(``commit.subject``, ``commit.description``, ``commit.author``); the unescaped text stays reachable
under ``commit.raw`` for plain-text templates such as the tag message.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from relgate.actions_context import ActionsContext
from relgate.notes.history import Commit, trailers
from relgate.notes.junit import TestCounts
from relgate.notes.markdown import escape_markdown, escape_markdown_block
from relgate.results.archive import ArchiveResult
from relgate.results.deploy import DeployResult
from relgate.results.smoke import SmokeReport

__all__ = [
    "GROUPS",
    "CIInfo",
    "CommitView",
    "Group",
    "NotesContext",
    "StageFacts",
    "ci_from_env",
    "group_commits",
    "stage_views",
]

# Section order of the notes; breaking changes come before all of them.
GROUPS: tuple[tuple[str, str], ...] = (
    ("feat", "Features"),
    ("fix", "Bug fixes"),
    ("perf", "Performance"),
    ("revert", "Reverts"),
    ("refactor", "Refactoring"),
    ("docs", "Documentation"),
    ("test", "Tests"),
    ("build", "Build"),
    ("ci", "Continuous integration"),
    ("style", "Style"),
    ("chore", "Chores"),
    ("other", "Other changes"),
)
_KNOWN = {key for key, _ in GROUPS}
_TYPE_ALIASES = {"feature": "feat", "bugfix": "fix", "tests": "test", "doc": "docs"}

# Names and scopes repeat across thousands of commits.
_escape_name = functools.lru_cache(maxsize=4096)(escape_markdown)


class CommitView:
    """A commit as templates see it. Escaping happens on first use: a 20,000-commit range renders
    only the fields its template shows, and author names repeat (cached)."""

    __slots__ = ("_c", "_repo_url")

    def __init__(self, commit: Commit, repo_url: str | None) -> None:
        self._c = commit
        self._repo_url = repo_url

    @property
    def sha(self) -> str:
        return self._c.sha

    @property
    def short_sha(self) -> str:
        return self._c.short_sha

    @property
    def date(self) -> str:
        return self._c.date

    @property
    def type(self) -> str | None:
        return self._c.type

    @property
    def breaking(self) -> bool:
        return self._c.breaking

    @property
    def pr(self) -> int | None:
        return self._c.pr

    @property
    def merge(self) -> bool:
        return self._c.merge

    @property
    def author_email(self) -> str:
        return self._c.author_email

    @property
    def subject(self) -> str:
        return escape_markdown(self._c.subject)

    @property
    def description(self) -> str:
        return escape_markdown(self._c.description)

    @property
    def author(self) -> str:
        return _escape_name(self._c.author_name)

    @property
    def scope(self) -> str | None:
        return _escape_name(self._c.scope) if self._c.scope else None

    @property
    def url(self) -> str | None:
        return f"{self._repo_url}/commit/{self._c.sha}" if self._repo_url else None

    @property
    def pr_url(self) -> str | None:
        pr = self._c.pr
        return f"{self._repo_url}/pull/{pr}" if self._repo_url and pr else None

    @property
    def trailers(self) -> list[list[str]]:
        return [list(t) for t in trailers(self._c.body)] if self._c.body else []

    @property
    def conventional(self) -> bool:
        return self._c.type is not None

    @property
    def body(self) -> str:
        return escape_markdown_block(self._c.body)

    @property
    def breaking_description(self) -> str | None:
        text = self._c.breaking_description
        return escape_markdown(text) if text else None

    @property
    def raw(self) -> dict[str, str]:
        c = self._c
        return {
            "subject": c.subject,
            "description": c.description,
            "body": c.body,
            "author": c.author_name,
            "scope": c.scope or "",
            "breaking_description": c.breaking_description or "",
        }

    def to_json(self) -> dict[str, Any]:
        keys = ("sha", "short_sha", "date", "type", "scope", "breaking", "pr", "merge")
        data: dict[str, Any] = {k: getattr(self, k) for k in keys}
        data.update(
            subject=self.subject,
            description=self.description,
            author=self.author,
            author_email=self.author_email,
            body=self.body,
            breaking_description=self.breaking_description,
            url=self.url,
            pr_url=self.pr_url,
            trailers=self.trailers,
            raw=self.raw,
        )
        return data


@dataclass
class Group:
    key: str
    title: str
    commits: list[CommitView]


@dataclass
class CIInfo:
    run_id: str | None = None
    attempt: str | None = None
    url: str | None = None
    workflow: str | None = None
    repository: str | None = None
    sha: str | None = None
    ref: str | None = None
    actor: str | None = None
    event: str | None = None
    server_url: str = "https://github.com"


@dataclass
class NotesContext:
    project: dict[str, Any]
    version: str
    tag: str
    previous_tag: str | None
    target_sha: str
    date: str
    generated_at: str
    commits: list[CommitView]
    groups: list[Group]
    breaking: list[CommitView]
    stats: dict[str, int]
    contributors: list[str]
    repo_url: str | None
    compare_url: str | None
    ci: CIInfo
    environment: str | None
    run_id: str
    deploy: dict[str, Any] | None = None
    smoke: dict[str, Any] | None = None
    tests: dict[str, Any] | None = None
    evidence: dict[str, Any] | None = None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target_short(self) -> str:
        return self.target_sha[:12]

    def template_vars(self) -> dict[str, Any]:
        """Top-level names of the templates (``{{ version }}``, ``{% for g in groups %}``…)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["target_short"] = self.target_short
        data["notes"] = self
        return data

    def to_json(self) -> str:
        data: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in ("commits", "breaking"):
                value = [c.to_json() for c in value]
            elif name == "groups":
                value = [
                    {"key": g.key, "title": g.title, "commits": [c.sha for c in g.commits]}
                    for g in value
                ]
            elif name == "ci":
                value = asdict(value)
            data[name] = value
        data["target_short"] = self.target_short
        return json.dumps(data, indent=2, default=str) + "\n"


def group_commits(commits: Sequence[CommitView]) -> tuple[list[Group], list[CommitView]]:
    """Groups in :data:`GROUPS` order (empty ones left out), and the breaking changes apart."""
    buckets: dict[str, list[CommitView]] = {key: [] for key, _ in GROUPS}
    breaking: list[CommitView] = []
    for commit in commits:
        if commit.breaking:
            breaking.append(commit)
            continue
        kind = _TYPE_ALIASES.get(commit.type or "", commit.type or "other")
        buckets[kind if kind in _KNOWN else "other"].append(commit)
    groups = [Group(key, title, buckets[key]) for key, title in GROUPS if buckets[key]]
    return groups, breaking


def ci_from_env(env: Mapping[str, str]) -> CIInfo:
    actions = ActionsContext.from_env(env)
    return CIInfo(
        run_id=actions.run_id,
        attempt=actions.attempt,
        url=actions.run_url(),
        workflow=actions.workflow,
        repository=actions.repository,
        sha=actions.sha,
        ref=actions.ref_name,
        actor=actions.actor,
        event=actions.event_name,
        server_url=actions.server_url,
    )


@dataclass(frozen=True)
class StageFacts:
    """The earlier stages' results the notes cite, as their own models; None when a stage left no
    readable result (the templates then show nothing for it — never a pass)."""

    deploy: DeployResult | None = None
    smoke: SmokeReport | None = None
    archive: ArchiveResult | None = None


def stage_views(facts: StageFacts, tests: TestCounts | None) -> dict[str, dict[str, Any] | None]:
    """Deploy, smoke, tests and evidence facts for the templates (their documented names)."""
    return {
        "deploy": _deploy_view(facts.deploy) if facts.deploy else None,
        "smoke": _smoke_view(facts.smoke) if facts.smoke else None,
        "evidence": _evidence_view(facts.archive) if facts.archive else None,
        "tests": _tests_view(tests) if tests is not None else None,
    }


def _deploy_view(deploy: DeployResult) -> dict[str, Any]:
    return {
        "status": deploy.status.value,
        "outcome": deploy.outcome,
        "summary": deploy.summary,
        "environment": deploy.environment,
        "version": deploy.version,
        "time": _human_time(_iso(deploy.finished_at)),
        "time_iso": _iso(deploy.finished_at),
        "started_at": _iso(deploy.started_at),
        "rolled_back_to": deploy.rolled_back_to,
        # what each service ran, as the engine reported it (reference, image ID, registry digest)
        "images": [
            {
                "service": s.name,
                "image": s.image,
                "image_id": s.image_id,
                "digest": s.registry_digest,
            }
            for s in deploy.services
            if s.image
        ],
    }


def _smoke_view(smoke: SmokeReport) -> dict[str, Any]:
    # passed_count counts steps ("passed" is every result's boolean verdict).
    ratio = f"{smoke.passed_count}/{smoke.total}"
    return {
        "status": smoke.status.value,
        "summary": smoke.summary,
        "total": smoke.total,
        "failed_step": smoke.failed_step.model_dump(mode="json") if smoke.failed_step else None,
        "passed": smoke.passed_count,
        "verdict": smoke.verdict or ratio,
        "ratio": ratio,
        "time": _human_time(_iso(smoke.finished_at)),
        "time_iso": _iso(smoke.finished_at),
    }


def _evidence_view(archive: ArchiveResult) -> dict[str, Any]:
    return {
        "bundle": _basename(archive.bundle_path),
        "bundle_path": archive.bundle_path,
        "digest": archive.bundle_digest,
        "format": archive.format,
        "size": archive.size,
        "status": archive.status.value,
    }


def _tests_view(tests: TestCounts) -> dict[str, Any]:
    return {
        "passed": tests.passed,
        "failed": tests.failed,
        "skipped": tests.skipped,
        "total": tests.total,
        "summary": tests.summary,
        "files": len(tests.files),
    }


def _iso(moment: datetime | None) -> str | None:
    """As the result file spells it (pydantic's JSON form: ``…Z`` for UTC)."""
    if moment is None:
        return None
    return moment.isoformat().replace("+00:00", "Z")


def _human_time(value: Any) -> Any:
    """``2026-01-29T10:42:07.123+00:00`` → ``2026-01-29 10:42:07 UTC`` (what people write)."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _basename(path: Any) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def iso_date(moment: datetime) -> str:
    return moment.date().isoformat()
