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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from relgate.notes.history import Commit, trailers
from relgate.notes.junit import TestCounts
from relgate.notes.markdown import escape_markdown, escape_markdown_block

__all__ = [
    "GROUPS",
    "CIInfo",
    "CommitView",
    "Group",
    "NotesContext",
    "ResultSource",
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

# stage -> parsed results/<stage>.json (a dict), or None when the stage left no result.
ResultSource = Callable[[str], Mapping[str, Any] | None]


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
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo, run_id = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    attempt = env.get("GITHUB_RUN_ATTEMPT") or ("1" if run_id else None)
    url = None
    if repo and run_id:
        url = f"{server}/{repo}/actions/runs/{run_id}"
        if attempt and attempt != "1":
            url += f"/attempts/{attempt}"
    return CIInfo(
        run_id=run_id,
        attempt=attempt,
        url=url,
        workflow=env.get("GITHUB_WORKFLOW"),
        repository=repo,
        sha=env.get("GITHUB_SHA"),
        ref=env.get("GITHUB_REF_NAME"),
        actor=env.get("GITHUB_ACTOR"),
        event=env.get("GITHUB_EVENT_NAME"),
        server_url=server,
    )


def _pick(data: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: data.get(k) for k in keys}


def stage_views(
    results: ResultSource, tests: TestCounts | None
) -> dict[str, dict[str, Any] | None]:
    """Deploy, smoke, tests and evidence facts for the templates, from the stages' results.

    Results are read as plain JSON and only documented fields are picked, so the notes keep working
    when a stage adds fields to its model.
    """
    views: dict[str, dict[str, Any] | None] = {}
    deploy = results("deploy")
    views["deploy"] = (
        {
            **_pick(deploy, "status", "outcome", "summary", "environment", "version"),
            "time": _human_time(deploy.get("finished_at")),
            "time_iso": deploy.get("finished_at"),
            "started_at": deploy.get("started_at"),
            "rolled_back_to": deploy.get("rolled_back_to"),
        }
        if deploy
        else None
    )
    smoke = results("smoke")
    if smoke:
        # SmokeReport counts steps in passed_count ("passed" is every result's boolean verdict).
        passed, total = smoke.get("passed_count", smoke.get("passed")), smoke.get("total")
        passed = None if isinstance(passed, bool) else passed
        ratio = f"{passed}/{total}" if isinstance(passed, int) and isinstance(total, int) else None
        views["smoke"] = {
            **_pick(smoke, "status", "summary", "total", "failed_step"),
            "passed": passed,
            "verdict": smoke.get("verdict") or ratio or smoke.get("status"),
            "ratio": ratio,
            "time": _human_time(smoke.get("finished_at")),
            "time_iso": smoke.get("finished_at"),
        }
    else:
        views["smoke"] = None
    archive = results("archive")
    views["evidence"] = (
        {
            "bundle": _basename(archive.get("bundle_path")),
            "bundle_path": archive.get("bundle_path"),
            "digest": archive.get("bundle_digest"),
            "format": archive.get("format"),
            "size": archive.get("size"),
            "status": archive.get("status"),
        }
        if archive
        else None
    )
    views["tests"] = (
        {
            "passed": tests.passed,
            "failed": tests.failed,
            "skipped": tests.skipped,
            "total": tests.total,
            "summary": tests.summary,
            "files": len(tests.files),
        }
        if tests is not None
        else None
    )
    return views


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
