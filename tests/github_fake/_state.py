"""In-memory state of the fake: one repository and what relgate touches around it.

Plain dataclasses, no HTTP. The API handlers (``_api.py``) mutate them, the seeding
helpers on ``FakeGitHub`` create them, tests may read them directly to assert on
what "GitHub" now holds (``fake.state.releases``, ``fake.state.refs`` ...).

Git objects are modelled just far enough for release work: commits carry a full file
snapshot (so the contents API can read any ref), tag objects point at commits, refs
point at either. SHAs are real SHA-1s of a canonical text, so they look and behave
like GitHub's (40 hex digits, distinct per content).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Approval",
    "Asset",
    "BranchPolicy",
    "CheckRun",
    "Commit",
    "CommitStatus",
    "Environment",
    "GitActor",
    "Issue",
    "IssueComment",
    "PendingDeployment",
    "PullRequest",
    "Release",
    "Reviewer",
    "State",
    "TagObject",
    "Team",
    "User",
    "WorkflowRun",
    "git_sha",
]


def git_sha(kind: str, payload: bytes) -> str:
    """The SHA-1 git would give an object of this kind and content."""
    return hashlib.sha1(f"{kind} {len(payload)}\0".encode() + payload).hexdigest()


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User", "Organization" or "Bot"
    name: str | None = None
    email: str | None = None


@dataclass
class Team:
    org: str
    slug: str
    id: int
    name: str
    description: str | None = None


@dataclass
class GitActor:
    name: str
    email: str
    date: str  # ISO 8601, UTC, "Z"


@dataclass
class Commit:
    sha: str
    message: str
    parents: list[str]
    author: GitActor
    committer: GitActor
    files: dict[str, bytes] = field(default_factory=dict)  # full snapshot at this commit

    @property
    def tree_sha(self) -> str:
        listing = "".join(f"{p}\0{git_sha('blob', c)}\n" for p, c in sorted(self.files.items()))
        return git_sha("tree", listing.encode())


@dataclass
class TagObject:
    sha: str
    tag: str
    message: str
    object_sha: str
    object_type: str
    tagger: GitActor


@dataclass
class Asset:
    id: int
    release_id: int
    name: str
    label: str | None
    content_type: str
    data: bytes
    uploader: str
    created_at: str
    updated_at: str
    download_count: int = 0

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()


@dataclass
class Release:
    id: int
    tag_name: str
    target_commitish: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    author: str
    created_at: str
    updated_at: str
    published_at: str | None = None
    immutable: bool = False
    make_latest: str = "true"
    untagged_name: str = ""  # drafts are served under "untagged-<hex>" URLs
    assets: list[Asset] = field(default_factory=list)


@dataclass
class PullRequest:
    number: int
    id: int
    title: str
    body: str | None
    head: str  # branch name in this repository
    base: str
    user: str
    created_at: str
    updated_at: str
    state: str = "open"
    draft: bool = False
    maintainer_can_modify: bool = False
    closed_at: str | None = None


@dataclass
class IssueComment:
    id: int
    body: str
    user: str
    created_at: str


@dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    labels: list[str]
    created_at: str
    updated_at: str
    state: str = "open"
    state_reason: str | None = None
    closed_at: str | None = None
    comments: list[IssueComment] = field(default_factory=list)


@dataclass
class Reviewer:
    type: str  # "User" or "Team"
    id: int


@dataclass
class BranchPolicy:
    id: int
    name: str
    type: str  # "branch" or "tag"


@dataclass
class Environment:
    id: int
    name: str
    created_at: str
    updated_at: str
    wait_timer: int = 0
    prevent_self_review: bool = False
    reviewers: list[Reviewer] = field(default_factory=list)
    # None, or {"protected_branches": bool, "custom_branch_policies": bool}
    deployment_branch_policy: dict[str, bool] | None = None
    branch_policies: list[BranchPolicy] = field(default_factory=list)
    rule_ids: dict[str, int] = field(default_factory=dict)  # protection rule type -> id


@dataclass
class CommitStatus:
    id: int
    sha: str
    context: str
    state: str  # error, failure, pending, success
    description: str | None
    target_url: str | None
    created_at: str


@dataclass
class CheckRun:
    id: int
    head_sha: str
    name: str
    status: str
    conclusion: str | None
    started_at: str | None
    completed_at: str | None
    details_url: str | None = None
    title: str | None = None
    summary: str | None = None


@dataclass
class WorkflowRun:
    id: int
    name: str
    head_sha: str
    head_branch: str | None
    event: str
    status: str
    conclusion: str | None
    actor: str
    path: str
    workflow_id: int
    run_number: int
    run_attempt: int
    created_at: str
    updated_at: str


@dataclass
class Approval:
    run_id: int
    environments: list[str]
    state: str  # approved, rejected, pending
    user: str
    comment: str


@dataclass
class PendingDeployment:
    run_id: int
    environment: str
    wait_timer: int
    wait_timer_started_at: str | None
    current_user_can_approve: bool
    reviewers: list[Reviewer]


@dataclass
class DeploymentStatus:
    id: int
    state: str  # error, failure, inactive, in_progress, queued, pending, success
    description: str
    environment: str
    environment_url: str
    log_url: str
    creator: str
    created_at: str


@dataclass
class Deployment:
    id: int
    sha: str
    ref: str
    task: str
    environment: str
    payload: dict[str, Any] | str
    description: str | None
    creator: str
    created_at: str
    transient_environment: bool = False
    production_environment: bool = False
    statuses: list[DeploymentStatus] = field(default_factory=list)  # oldest first

    @property
    def state(self) -> str | None:
        return self.statuses[-1].state if self.statuses else None


@dataclass
class State:
    """Everything the fake GitHub knows. One repository per fake."""

    owner: User
    repo_name: str
    repo_id: int
    default_branch: str
    private: bool
    immutable_releases: bool  # the repository setting
    created_at: str
    token_user: str  # the login the fake token authenticates as
    users: dict[str, User] = field(default_factory=dict)  # by lower-case login
    teams: dict[tuple[str, str], Team] = field(default_factory=dict)  # (org, slug), lower case
    commits: dict[str, Commit] = field(default_factory=dict)
    tags: dict[str, TagObject] = field(default_factory=dict)  # by tag object sha
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> sha
    releases: dict[int, Release] = field(default_factory=dict)
    # Tag names once used by an immutable release: GitHub never allows them again.
    burned_tags: set[str] = field(default_factory=set)
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)  # numbered with the pulls, as on GitHub
    environments: dict[str, Environment] = field(default_factory=dict)  # by lower-case name
    statuses: list[CommitStatus] = field(default_factory=list)
    check_runs: list[CheckRun] = field(default_factory=list)
    workflow_runs: dict[int, WorkflowRun] = field(default_factory=dict)
    approvals: list[Approval] = field(default_factory=list)
    pending_deployments: list[PendingDeployment] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)  # oldest first
    next_id: int = 1000

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.repo_name}"

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def user(self, login: str) -> User:
        key = login.lower()
        if key not in self.users:
            self.users[key] = User(login=login, id=self.new_id())
        return self.users[key]

    # -- git ------------------------------------------------------------------------

    def peel(self, sha: str) -> str:
        """Follow tag objects down to the commit they tag."""
        while sha in self.tags:
            sha = self.tags[sha].object_sha
        return sha

    def object_type(self, sha: str) -> str | None:
        if sha in self.tags:
            return "tag"
        if sha in self.commits:
            return "commit"
        return None

    def branch_head(self, branch: str) -> str | None:
        return self.refs.get(f"refs/heads/{branch}")

    def resolve_commit(self, ref: str) -> Commit | None:
        """A commit from a SHA (or unique prefix >= 7), branch, tag, ``heads/x`` or ``tags/x``."""
        candidates = [
            f"refs/{ref}",
            f"refs/heads/{ref}",
            f"refs/tags/{ref}",
        ]
        for name in candidates:
            if name in self.refs:
                return self.commits.get(self.peel(self.refs[name]))
        if ref in self.commits:
            return self.commits[ref]
        if len(ref) >= 7:
            matches = [c for sha, c in self.commits.items() if sha.startswith(ref.lower())]
            if len(matches) == 1:
                return matches[0]
        return None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        todo, seen = [descendant], set()
        while todo:
            sha = todo.pop()
            if sha == ancestor:
                return True
            if sha in seen or sha not in self.commits:
                continue
            seen.add(sha)
            todo.extend(self.commits[sha].parents)
        return False

    def add_commit(
        self,
        *,
        message: str,
        parents: list[str],
        files: dict[str, bytes],
        author: GitActor,
        sha: str | None = None,
    ) -> Commit:
        if sha is None:
            text = f"{message}\n{parents}\n{author}\n{sorted(files.items())}\n{len(self.commits)}"
            sha = git_sha("commit", text.encode())
        commit = Commit(
            sha=sha.lower(),
            message=message,
            parents=parents,
            author=author,
            committer=author,
            files=files,
        )
        self.commits[commit.sha] = commit
        return commit

    def release_by_tag(self, tag: str, *, published_only: bool) -> Release | None:
        for release in self.releases.values():
            if release.tag_name == tag and not (published_only and release.draft):
                return release
        return None

    def immutable_tag(self, tag: str) -> bool:
        """True when a published immutable release pins this tag."""
        release = self.release_by_tag(tag, published_only=True)
        return tag in self.burned_tags or bool(release and release.immutable)
