"""``FakeGitHub``: a stateful GitHub REST API behind ``responses``, checked by contract.

Every request the fake receives passes three gates before any state changes:

1. the method and path must be an operation in GitHub's description (on the right
   host: uploads go to the uploads host), else the test fails with
   "fake called with an operation not in GitHub's API";
2. path and query parameters and the JSON body must satisfy the operation's schemas;
3. after the handler ran, the response body must satisfy the schema documented for
   its status code.

A violation raises ``AssertionError`` in the client *and* is remembered in
``fake.violations``: code under test that swallows exceptions cannot hide a broken
contract, because ``FakeGitHub.__exit__`` (or ``fake.verify()``) raises again.

Faults are injected per operation (``fail_next``, rate limits, ``crash_after``) and
every request is logged in ``fake.requests`` for counting API calls.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import responses
from requests.structures import CaseInsensitiveDict

from ._api import Api, HTTPError, Reply, Request
from ._contract import Contract, Operation
from ._render import Hosts, Renderer
from ._state import (
    Approval,
    Asset,
    BranchPolicy,
    CheckRun,
    CommitStatus,
    Environment,
    GitActor,
    PendingDeployment,
    Release,
    Reviewer,
    State,
    Team,
    User,
    WorkflowRun,
)

if TYPE_CHECKING:
    from github import Github
    from requests import PreparedRequest

__all__ = ["FakeGitHub", "RecordedRequest", "SimulatedCrash"]

HostKind = Literal["api", "uploads", "web", "storage"]
_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD")
_SECONDARY_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/"
    "rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
_PRIMARY_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-rate-limit"
)


class SimulatedCrash(BaseException):
    """Raised in the client *after* the fake applied a request: the process "died".

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` in
    the code under test cannot swallow it, just as it cannot swallow SIGKILL.
    """


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it."""

    method: str
    path: str  # as requested, relative to the host's base URL, without the query
    status: int
    host: HostKind
    template: str | None = None  # the operation's path in the description
    operation_id: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    fault: str | None = None  # the injected fault that shaped this response, if any


@dataclass
class _Fault:
    method: str  # "*" for any
    template: str  # "*" for any
    kind: Literal["respond", "crash"]
    skip: int  # matching requests to let through first
    times: int
    applied: bool  # run the handler (change state) before answering with the fault
    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""

    def matches(self, op: Operation) -> bool:
        return self.method in ("*", op.method) and self.template in ("*", op.template)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub:
    """A fake GitHub (or GitHub Enterprise) holding one repository.

    >>> with FakeGitHub(owner="acme", repo="app") as fake:
    ...     gh = fake.client()
    ...     gh.get_repo("acme/app").default_branch
    'main'

    Either use it as a context manager (it starts its own ``responses.RequestsMock``)
    or call :meth:`install` with a mock you manage; then call :meth:`verify` at the end.
    """

    def __init__(
        self,
        *,
        owner: str = "acme",
        repo: str = "app",
        default_branch: str = "main",
        private: bool = False,
        immutable_releases: bool = False,
        token_user: str = "relgate-bot",
        enterprise_url: str | None = None,
        strict_properties: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """
        :param immutable_releases: the repository setting; releases published while it
            is on become immutable (``"immutable": true``) and stay so.
        :param token_user: the account the fake token authenticates as; it authors
            releases, tags and pull requests created through the API.
        :param enterprise_url: e.g. ``https://ghe.example.com``: serve GitHub Enterprise
            Server URLs (``/api/v3``, ``/api/uploads``) instead of github.com's.
        :param strict_properties: reject properties the description does not document,
            in requests and in the fake's own responses (see ``_contract``).
        :param clock: "now" for timestamps; default: a fixed 2025-01-01T00:00:00Z that
            advances one second per request, so runs are reproducible.
        """
        if enterprise_url:
            base = enterprise_url.rstrip("/")
            self.hosts = Hosts(
                api=f"{base}/api/v3",
                uploads=f"{base}/api/uploads",
                web=base,
                # Our guess (subdomain-isolation style). Not the same host as the API:
                # PyGithub refuses to follow a same-host redirect outside /api/.
                storage=f"https://media.{urllib.parse.urlsplit(base).netloc}/storage/releases",
            )
        else:
            self.hosts = Hosts(
                api="https://api.github.com",
                uploads="https://uploads.github.com",
                web="https://github.com",
                storage="https://release-assets.githubusercontent.com/github-production-release-asset",
            )
        self._ticks = 0
        self._start = datetime(2025, 1, 1, tzinfo=UTC)
        self._clock = clock
        self.contract = Contract.load(strict_properties=strict_properties)
        owner_user = User(login=owner, id=1, type="User")
        self.state = State(
            owner=owner_user,
            repo_name=repo,
            repo_id=4242,
            default_branch=default_branch,
            private=private,
            immutable_releases=immutable_releases,
            created_at=_iso(self._start - timedelta(days=365)),
            token_user=token_user,
            users={owner.lower(): owner_user},
        )
        self.state.user(token_user).type = "Bot" if token_user.endswith("[bot]") else "User"
        self.render = Renderer(self.state, self.hosts)
        self.api = Api(self.state, self.render, self._now)
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._mock: responses.RequestsMock | None = None
        self._owns_mock = False
        self.seed_commit("Initial commit", files={"README.md": b"# app\n"}, branch=default_branch)

    # -- installation ---------------------------------------------------------------

    def install(self, mock: responses.RequestsMock) -> None:
        """Register the fake's callbacks on ``mock`` for every host it serves.

        Create the mock with ``assert_all_requests_are_fired=False``: the fake registers
        one callback per method and host, and most of them will never fire.
        """
        origins = {
            _origin(url)
            for url in (self.hosts.api, self.hosts.uploads, self.hosts.web, self.hosts.storage)
        }
        for origin in sorted(origins):
            # PyGithub spells the default port out ("https://api.github.com:443/...").
            pattern = re.compile(re.escape(origin) + r"(:443)?(/.*)?$")
            for method in _METHODS:
                mock.add_callback(method, pattern, callback=self._callback)
        self._mock = mock

    def __enter__(self) -> FakeGitHub:
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self._mock.start()
        self._owns_mock = True
        self.install(self._mock)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_mock and self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._owns_mock = False
        if exc_type is None:
            self.verify()

    def verify(self) -> None:
        """Fail if any request or response broke the contract, even if it was swallowed."""
        if self.violations:
            raise AssertionError("GitHub fake contract violations:\n" + "\n".join(self.violations))

    def client(self, **options: Any) -> Github:
        """A real PyGithub client pointed at the fake, without sleeps or retries.

        ``options`` override the defaults (e.g. ``retry=GithubRetry(...)``, ``per_page=2``).
        """
        from github import Auth, Github

        settings: dict[str, Any] = {
            "auth": Auth.Token("ghp_fake0000000000000000000000000000000000"),
            "base_url": self.hosts.api,
            "retry": None,
            "seconds_between_requests": None,
            "seconds_between_writes": None,
        }
        settings.update(options)
        return Github(**settings)

    # -- request log ------------------------------------------------------------------

    def count(self, method: str | None = None, template: str | None = None) -> int:
        """How many logged requests match (``None`` matches anything)."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (template is None or r.template == template)
        )

    # -- fault injection --------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        template: str,
        status: int = 502,
        *,
        times: int = 1,
        after: int = 0,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        applied: bool = False,
    ) -> None:
        """Answer the next matching request(s) with an error instead of the real reply.

        :param template: the operation's path as written in the description, e.g.
            ``"/repos/{owner}/{repo}/git/refs"``; ``"*"`` matches any operation.
        :param after: let this many matching requests through first.
        :param applied: run the operation first (state changes), then answer with the
            error -- the "GitHub did it but the gateway timed out" case.
        :param body: a raw (non-JSON, e.g. HTML) body; sent as ``text/html`` and not
            validated. By default the body is GitHub's JSON error shape.
        """
        self._check_template(method, template)
        payload: Any = body
        if body is None:
            phrase = (
                HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
            )
            payload = {"message": message or phrase, "status": str(status)}
        self._faults.append(
            _Fault(
                method=method.upper(),
                template=template,
                kind="respond",
                skip=after,
                times=times,
                applied=applied,
                status=status,
                body=payload,
                headers=dict(headers or {}),
                name=f"fail {status}",
            )
        )

    def secondary_rate_limit_next(
        self,
        method: str,
        template: str,
        *,
        status: Literal[403, 429] = 403,
        retry_after: int | None = 60,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """GitHub's secondary ("abuse") rate limit: 403 or 429, ``retry-after`` seconds."""
        self._check_template(method, template)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again. If you reach out to GitHub Support for help, please include the "
            "request ID 0000:FAKE:0000000:0000000:00000000."
        )
        self._faults.append(
            _Fault(
                method=method.upper(),
                template=template,
                kind="respond",
                skip=after,
                times=times,
                applied=False,
                status=status,
                body={
                    "message": message,
                    "documentation_url": _SECONDARY_DOCS,
                    "status": str(status),
                },
                headers=headers,
                name=f"secondary rate limit {status}",
            )
        )

    def primary_rate_limit_next(
        self,
        method: str,
        template: str,
        *,
        status: Literal[403, 429] = 403,
        reset_in: int = 60,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """The hourly quota is spent: ``x-ratelimit-remaining: 0`` and the reset time."""
        self._check_template(method, template)
        reset = self._reset_epoch(reset_in)
        message = (
            f"API rate limit exceeded for user ID {self.state.user(self.state.token_user).id}. "
            "If you reach out to GitHub Support for help, please include the request ID "
            "0000:FAKE:0000000:0000000:00000000."
        )
        self._faults.append(
            _Fault(
                method=method.upper(),
                template=template,
                kind="respond",
                skip=after,
                times=times,
                applied=False,
                status=status,
                body={
                    "message": message,
                    "documentation_url": _PRIMARY_DOCS,
                    "status": str(status),
                },
                headers={
                    "X-RateLimit-Limit": "5000",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Used": "5000",
                    "X-RateLimit-Reset": str(reset),
                    "X-RateLimit-Resource": "core",
                },
                name=f"primary rate limit {status}",
            )
        )

    def crash_after(self, method: str, template: str, *, after: int = 0) -> None:
        """Apply the matching request, then raise :class:`SimulatedCrash` in the client.

        The change is made on "GitHub" but the caller never sees the answer: what a
        release process dying mid-request looks like from the outside.
        ``after`` lets that many matching requests complete normally first;
        ``crash_after("*", "*", after=4)`` dies on the fifth request of any kind.
        """
        self._check_template(method, template)
        self._faults.append(
            _Fault(
                method=method.upper(),
                template=template,
                kind="crash",
                skip=after,
                times=1,
                applied=True,
                name="crash",
            )
        )

    def _check_template(self, method: str, template: str) -> None:
        if "*" not in (method, template):
            self.contract.operation(method, template)  # raises on a typo

    def _take_fault(self, op: Operation) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.matches(op):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.times -= 1
                return fault
        return None

    # -- seeding ------------------------------------------------------------------------

    def seed_user(
        self, login: str, *, name: str | None = None, email: str | None = None, type: str = "User"
    ) -> int:
        """An account (reviewer, commit author, org). Returns its id."""
        user = self.state.user(login)
        user.name, user.email, user.type = name, email, type
        return user.id

    def seed_team(self, org: str, slug: str, *, name: str | None = None) -> int:
        """A team of organization ``org``. Returns its id."""
        self.seed_user(org, type="Organization")
        team = Team(org=org, slug=slug, id=self.state.new_id(), name=name or slug)
        self.state.teams[(org.lower(), slug.lower())] = team
        return team.id

    def seed_commit(
        self,
        message: str = "Change",
        *,
        sha: str | None = None,
        branch: str | None = None,
        parents: Iterable[str] | None = None,
        files: Mapping[str, bytes | str] | None = None,
        author: tuple[str, str] = ("Dev Eloper", "dev@example.com"),
    ) -> str:
        """A commit; on ``branch`` (moved to it) unless ``parents`` are given. Returns its SHA.

        Files are a snapshot: the first parent's files plus ``files``.
        """
        if parents is None:
            head = self.state.branch_head(branch) if branch else None
            parents = [head] if head else []
        parent_list = [p.lower() for p in parents]
        snapshot = dict(self.state.commits[parent_list[0]].files) if parent_list else {}
        for path, content in (files or {}).items():
            snapshot[path] = content.encode() if isinstance(content, str) else content
        commit = self.state.add_commit(
            message=message,
            parents=parent_list,
            files=snapshot,
            author=GitActor(name=author[0], email=author[1], date=self._now()),
            sha=sha,
        )
        if branch:
            self.state.refs[f"refs/heads/{branch}"] = commit.sha
        return commit.sha

    def seed_file(
        self,
        path: str,
        content: bytes | str,
        *,
        branch: str | None = None,
        message: str | None = None,
    ) -> str:
        """Commit one file on ``branch`` (default branch by default). Returns the commit SHA."""
        return self.seed_commit(
            message or f"Add {path}",
            branch=branch or self.state.default_branch,
            files={path: content},
        )

    def seed_branch(self, name: str, sha: str | None = None) -> str:
        """A branch at ``sha`` (default: the default branch's head). Returns the SHA."""
        target = sha or self.head()
        self.state.refs[f"refs/heads/{name}"] = target
        return target

    def seed_tag(self, name: str, sha: str | None = None) -> str:
        """A lightweight tag (a ref straight to a commit). Returns the commit SHA."""
        target = sha or self.head()
        self.state.refs[f"refs/tags/{name}"] = target
        return target

    def seed_release(
        self,
        tag: str,
        *,
        name: str | None = None,
        body: str | None = None,
        draft: bool = False,
        prerelease: bool = False,
        target: str | None = None,
        assets: Mapping[str, bytes] | None = None,
    ) -> int:
        """A release (published releases get their tag if missing). Returns its id."""
        now = self._now()
        release_id = self.state.new_id()
        release = Release(
            id=release_id,
            tag_name=tag,
            target_commitish=target or self.state.default_branch,
            name=name if name is not None else tag,
            body=body,
            draft=True,
            prerelease=prerelease,
            author=self.state.token_user,
            created_at=now,
            updated_at=now,
            untagged_name=f"untagged-{release_id:020d}",
        )
        for asset_name, data in (assets or {}).items():
            release.assets.append(
                Asset(
                    id=self.state.new_id(),
                    release_id=release.id,
                    name=asset_name,
                    label=None,
                    content_type="application/octet-stream",
                    data=data,
                    uploader=self.state.token_user,
                    created_at=now,
                    updated_at=now,
                )
            )
        if not draft:
            self.api._publish(release)
        self.state.releases[release.id] = release
        return release.id

    def seed_environment(
        self,
        name: str,
        *,
        wait_timer: int = 0,
        reviewers: Iterable[tuple[Literal["User", "Team"], int]] = (),
        prevent_self_review: bool = False,
        deployment_branch_policy: Mapping[str, bool] | None = None,
        branch_policies: Iterable[tuple[str, Literal["branch", "tag"]]] = (),
    ) -> Environment:
        """An environment with protection rules, as an admin would have configured it."""
        now = self._now()
        env = Environment(
            id=self.state.new_id(),
            name=name,
            created_at=now,
            updated_at=now,
            wait_timer=wait_timer,
            prevent_self_review=prevent_self_review,
            reviewers=[Reviewer(type=t, id=i) for t, i in reviewers],
            deployment_branch_policy=dict(deployment_branch_policy)
            if deployment_branch_policy
            else None,
            branch_policies=[
                BranchPolicy(id=self.state.new_id(), name=n, type=t) for n, t in branch_policies
            ],
        )
        self.state.environments[name.lower()] = env
        return env

    def seed_status(
        self,
        ref: str,
        context: str,
        state: Literal["error", "failure", "pending", "success"] = "success",
        *,
        description: str | None = None,
        target_url: str | None = None,
    ) -> None:
        """A commit status on the commit ``ref`` resolves to (later ones win per context)."""
        self.state.statuses.append(
            CommitStatus(
                id=self.state.new_id(),
                sha=self._resolve(ref),
                context=context,
                state=state,
                description=description,
                target_url=target_url,
                created_at=self._now(),
            )
        )

    def seed_check_run(
        self,
        ref: str,
        name: str,
        *,
        status: str = "completed",
        conclusion: str | None = "success",
        details_url: str | None = None,
    ) -> int:
        """A check run on the commit ``ref`` resolves to. Returns its id."""
        now = self._now()
        run = CheckRun(
            id=self.state.new_id(),
            head_sha=self._resolve(ref),
            name=name,
            status=status,
            conclusion=conclusion if status == "completed" else None,
            started_at=now,
            completed_at=now if status == "completed" else None,
            details_url=details_url,
        )
        self.state.check_runs.append(run)
        return run.id

    def seed_workflow_run(
        self,
        run_id: int | None = None,
        *,
        head_sha: str | None = None,
        name: str = "release",
        status: str = "completed",
        conclusion: str | None = "success",
        event: str = "workflow_dispatch",
        actor: str | None = None,
        path: str = ".github/workflows/release.yml",
        head_branch: str | None = None,
        run_attempt: int = 1,
    ) -> int:
        """A workflow run (the one relgate runs in). Returns its id."""
        now = self._now()
        run = WorkflowRun(
            id=run_id or self.state.new_id(),
            name=name,
            head_sha=self._resolve(head_sha or self.state.default_branch),
            head_branch=head_branch or self.state.default_branch,
            event=event,
            status=status,
            conclusion=conclusion,
            actor=actor or self.state.owner.login,
            path=path,
            workflow_id=77,
            run_number=len(self.state.workflow_runs) + 1,
            run_attempt=run_attempt,
            created_at=now,
            updated_at=now,
        )
        self.state.workflow_runs[run.id] = run
        return run.id

    def seed_approval(
        self,
        run_id: int,
        environments: Iterable[str],
        *,
        user: str,
        state: Literal["approved", "rejected", "pending"] = "approved",
        comment: str = "",
    ) -> None:
        """An entry in the run's environment review history (``.../approvals``)."""
        self.state.user(user)  # creates the account if it is new
        envs = list(environments)
        for env in envs:
            if env.lower() not in self.state.environments:
                raise ValueError(f"seed environment {env!r} first")
        self.state.approvals.append(
            Approval(run_id=run_id, environments=envs, state=state, user=user, comment=comment)
        )

    def seed_pending_deployment(
        self,
        run_id: int,
        environment: str,
        *,
        wait_timer: int = 0,
        reviewers: Iterable[tuple[Literal["User", "Team"], int]] = (),
        current_user_can_approve: bool = True,
    ) -> None:
        """A deployment of the run waiting on an environment's protection rules."""
        if environment.lower() not in self.state.environments:
            raise ValueError(f"seed environment {environment!r} first")
        self.state.pending_deployments.append(
            PendingDeployment(
                run_id=run_id,
                environment=environment,
                wait_timer=wait_timer,
                wait_timer_started_at=self._now() if wait_timer else None,
                current_user_can_approve=current_user_can_approve,
                reviewers=[Reviewer(type=t, id=i) for t, i in reviewers],
            )
        )

    # -- reading state ------------------------------------------------------------------

    def head(self, branch: str | None = None) -> str:
        """The SHA a branch points at (default branch by default)."""
        sha = self.state.branch_head(branch or self.state.default_branch)
        if sha is None:
            raise KeyError(f"no branch {branch!r}")
        return sha

    def ref(self, name: str) -> str | None:
        """What ``refs/...`` points at, or None."""
        return self.state.refs.get(name)

    def release(self, tag: str) -> Release:
        """The release (draft or not) for ``tag``."""
        found = self.state.release_by_tag(tag, published_only=False)
        if found is None:
            raise KeyError(f"no release for tag {tag!r}")
        return found

    def _resolve(self, ref: str) -> str:
        commit = self.state.resolve_commit(ref)
        if commit is None:
            raise KeyError(f"no commit for {ref!r}")
        return commit.sha

    # -- the HTTP side ------------------------------------------------------------------

    def _now_datetime(self) -> datetime:
        if self._clock is not None:
            return self._clock()
        return self._start + timedelta(seconds=self._ticks)

    def _reset_epoch(self, seconds_ahead: int) -> int:
        """``X-RateLimit-Reset``: epoch seconds on the *wall clock* unless a clock was given.

        PyGithub's GithubRetry compares the reset with ``datetime.now()``; a reset on the
        fake's frozen 2025 clock would always be in the past and hide backoff logic.
        """
        base = self._clock() if self._clock is not None else datetime.now(UTC)
        return int((base + timedelta(seconds=seconds_ahead)).timestamp())

    def _now(self) -> str:
        return _iso(self._now_datetime())

    def _classify(self, url: str) -> tuple[HostKind, str] | None:
        """(host kind, path below that host's base) for a request URL."""
        without_query = url.split("?", 1)[0]
        bases: list[tuple[HostKind, str]] = [
            ("uploads", self.hosts.uploads),
            ("api", self.hosts.api),
            ("storage", self.hosts.storage),
            ("web", self.hosts.web),
        ]
        # Longest base first: on GHES all four share one origin.
        for kind, base in sorted(bases, key=lambda kb: -len(kb[1])):
            if without_query == base or without_query.startswith(base + "/"):
                return kind, without_query[len(base) :] or "/"
        return None

    def _callback(self, prepared: PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._ticks += 1
            url = _normalize(prepared.url or "")
            method = (prepared.method or "GET").upper()
            classified = self._classify(url)
            if classified is None:
                return self._violation(f"the fake does not serve {method} {url}")
            kind, path = classified
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
            if kind in ("storage", "web"):
                return self._serve_download(kind, method, path, url, prepared)
            matched = self.contract.match(method, path, uploads=kind == "uploads")
            if matched is None:
                return self._violation(
                    f"fake called with an operation not in GitHub's API: {method} {url}"
                )
            op, params = matched
            body = prepared.body or b""
            if isinstance(body, str):
                body = body.encode()
            headers = CaseInsensitiveDict({k: str(v) for k, v in prepared.headers.items()})
            content_type = prepared.headers.get("Content-Type")
            problems = self.contract.check_request(op, params, query, content_type, body)
            if problems:
                return self._violation(
                    f"request {method} {url} breaks {op}:\n  " + "\n  ".join(problems)
                )
            request = Request(
                method=method,
                op=op,
                url=url.split("?", 1)[0],
                params=params,
                query={k: v[-1] for k, v in query.items()},
                json=json.loads(body) if body and _is_json(content_type) else None,
                body=body,
                headers=headers,
            )
            return self._respond(request, kind, path)

    def _respond(
        self, request: Request, kind: HostKind, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        op = request.op
        fault = self._take_fault(op)
        if fault is not None and not fault.applied:
            return self._fault_reply(request, kind, path, fault)
        try:
            reply = self.api.dispatch(request)
        except HTTPError as error:
            reply = Reply(error.status, error.body(op.docs_url), error.headers)
        if fault is not None and fault.kind == "respond":
            return self._fault_reply(request, kind, path, fault)
        status, headers, payload = self._encode(reply)
        problems = self.contract.check_response(op, status, headers.get("Content-Type"), payload)
        if problems:
            return self._violation(
                f"the fake's response to {request.method} {request.url} breaks {op}:\n  "
                + "\n  ".join(problems)
            )
        self._log(request, kind, path, status, fault.name if fault else None)
        if fault is not None and fault.kind == "crash":
            raise SimulatedCrash(f"simulated crash after {request.method} {request.url} ({status})")
        return status, headers, payload

    def _fault_reply(
        self, request: Request, kind: HostKind, path: str, fault: _Fault
    ) -> tuple[int, dict[str, str], bytes]:
        if isinstance(fault.body, bytes):
            status, headers, payload = fault.status, self._headers(), fault.body
            headers["Content-Type"] = "text/html; charset=utf-8"
        else:
            body = {"documentation_url": "https://docs.github.com/rest", **fault.body}
            status, headers, payload = self._encode(Reply(fault.status, body))
            problems = self.contract.check_response(
                request.op, status, headers["Content-Type"], payload
            )
            if problems:
                return self._violation(
                    f"injected fault breaks {request.op}:\n  " + "\n  ".join(problems)
                )
        headers.update(fault.headers)
        self._log(request, kind, path, status, fault.name)
        return status, headers, payload

    def _headers(self) -> dict[str, str]:
        used = min(len(self.requests) + 1, 5000)
        reset = self._reset_epoch(3600)
        return {
            "X-GitHub-Request-Id": f"FAKE:{self._ticks:08X}",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(5000 - used),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Resource": "core",
        }

    def _encode(self, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        headers = self._headers()
        headers.update(reply.headers)
        if reply.raw is not None:
            return reply.status, headers, reply.raw
        if reply.body is None:
            return reply.status, headers, b""
        headers["Content-Type"] = "application/json; charset=utf-8"
        return reply.status, headers, json.dumps(reply.body).encode()

    def _log(
        self, request: Request, kind: HostKind, path: str, status: int, fault: str | None
    ) -> None:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=path,
                status=status,
                host=kind,
                template=request.op.template,
                operation_id=request.op.operation_id,
                query=dict(request.query),
                fault=fault,
            )
        )

    def _violation(self, message: str) -> tuple[int, dict[str, str], bytes]:
        self.violations.append(message)
        raise AssertionError(message)

    def _serve_download(
        self, kind: HostKind, method: str, path: str, url: str, prepared: PreparedRequest
    ) -> tuple[int, dict[str, str], bytes]:
        """Asset bytes: the signed storage URL, and github.com's browser_download_url.

        Like the real signed object-storage URL, the storage host refuses a request
        that also carries an ``Authorization`` header (two auth mechanisms); clients
        must drop the token when following the redirect.
        """
        if method != "GET":
            return self._violation(f"the fake does not serve {method} {url}")
        status, headers, payload = 404, {"Content-Type": "text/plain"}, b"Not Found"
        if kind == "storage" and "Authorization" in prepared.headers:
            status, payload = 400, b"Only one auth mechanism allowed"
        elif kind == "storage":
            found = re.fullmatch(r"/(\d+)/(\d+)", path)
            asset = self._asset_by_id(int(found.group(2))) if found else None
            if asset is not None:
                asset.download_count += 1
                status, payload = 200, asset.data
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Disposition": f"attachment; filename={asset.name}",
                    "Content-Length": str(len(asset.data)),
                }
        else:
            prefix = f"/{self.state.full_name}/releases/download/"
            if not path.lower().startswith(prefix.lower()):
                return self._violation(f"the fake does not serve {method} {url}")
            tag, _, name = path[len(prefix) :].rpartition("/")
            release = self.state.release_by_tag(urllib.parse.unquote(tag), published_only=True)
            for asset in release.assets if release else []:
                if asset.name == urllib.parse.unquote(name):
                    sig = f"{self.hosts.storage}/{self.state.repo_id}/{asset.id}?sig=browser"
                    status, headers, payload = 302, {"Location": sig}, b""
        self.requests.append(RecordedRequest(method=method, path=path, status=status, host=kind))
        return status, headers, payload

    def _asset_by_id(self, asset_id: int) -> Any:
        for release in self.state.releases.values():
            for asset in release.assets:
                if asset.id == asset_id:
                    return asset
        return None


def _normalize(url: str) -> str:
    """Drop a default port, so paths and Link headers read as GitHub writes them."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if (parts.scheme, parts.port) in (("https", 443), ("http", 80)):
        netloc = parts.hostname or netloc
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip() == "application/json"
