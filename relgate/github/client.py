"""The GitHub client: the only place relgate imports PyGithub.

What this boundary adds to PyGithub:

* **the token comes from the environment only** (``github.token_env``, default ``GITHUB_TOKEN``),
  and is registered for redaction before any request;
* **retries that the tests can drive**: 5xx answers and connection errors are retried with
  exponential backoff; a primary rate limit waits until ``x-ratelimit-reset`` (if that is within
  ``github.max_wait``); a secondary rate limit waits ``retry-after``. The sleep function and clock
  are injected. PyGithub's own urllib3 retries are switched off: they retry POSTs blindly, which can
  create a second release, tag object or asset when the first attempt did succeed;
* **retrying whole steps, not requests**: :meth:`GitHubClient.retrying` re-runs a callable that
  looks before it writes, so a write that succeeded behind a 502 is found, not repeated;
* **a request count** per command (every HTTP request, retries included), reported in results;
* **one error mapping**: PyGithub and requests exceptions become relgate errors here, and nowhere
  else.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from relgate.actions_context import ActionsContext, parse_repository
from relgate.errors import BadInputError, CannotRun, ServiceUnreachable, ToolMissing
from relgate.fields import require_https

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.secrets import SecretRegistry

__all__ = ["GitHubClient", "GitHubStatus", "RetryPolicy", "is_status", "repository_from_remote"]

T = TypeVar("T")

_GITHUB_DOTCOM = "https://api.github.com"
# A remote on a GitHub host (the owner/name itself is parsed by relgate.actions_context).
_GITHUB_HOST = re.compile(r"github[^/:]*[:/]")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    max_wait: float = 300.0  # longest single wait (rate limit reset) before giving up, seconds
    backoff: float = 1.0  # first 5xx wait; doubles each attempt
    backoff_cap: float = 30.0


class GitHubStatus(Exception):
    """An HTTP status the caller may expect (404 on a lookup, 422 on a duplicate)."""

    def __init__(self, status: int, message: str, data: Any = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.data = data


def is_status(exc: BaseException, *statuses: int) -> bool:
    """True if ``exc`` is a PyGithub error with one of ``statuses`` (for expected 404/422)."""
    from github import GithubException

    return isinstance(exc, GithubException) and exc.status in statuses


class GitHubClient:
    """A repository on GitHub (or GitHub Enterprise Server), as relgate uses it."""

    def __init__(
        self,
        github: Any,
        repository: str,
        *,
        counter: list[int],
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.github = github
        self.repository = repository
        self._counter = counter
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.log = log or (lambda _msg: None)
        self._repo: Any = None

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_env(
        cls,
        config: RelgateConfig,
        env: Mapping[str, str],
        *,
        secrets: SecretRegistry | None = None,
        repository: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> GitHubClient:
        """A client for the project's repository, authenticated by the token in the environment."""
        from github import Github

        token_env = config.github.token_env
        token = env.get(token_env, "").strip()
        if not token:
            raise BadInputError(
                f"{token_env} is not set: GitHub operations need a token in the environment "
                f"(in Actions: env: {token_env}: ${{{{ secrets.GITHUB_TOKEN }}}} or a GitHub App "
                "token)"
            )
        if secrets is not None:
            secrets.register(token, token_env)
        actions = ActionsContext.from_env(env)
        repo = repository or config.project.repository or actions.repository
        repo = repo or repository_from_remote(config.resolve_path(config.project.repo_path))
        if not repo:
            raise BadInputError(
                "which GitHub repository? set project.repository (owner/name) in relgate.yml"
            )
        counter = [0]
        api_url = config.github.api_url.rstrip("/")
        if api_url == _GITHUB_DOTCOM and actions.api_url:
            api_url = actions.api_url  # GitHub Enterprise runner
            try:
                require_https(api_url)  # the token travels with every request
            except ValueError as exc:
                raise BadInputError(f"GITHUB_API_URL: {exc}") from None
        github = Github(
            auth=_CountingToken(token, counter),
            base_url=api_url,
            retry=None,  # retries happen here, whole steps at a time (see module docstring)
            seconds_between_requests=None,
            seconds_between_writes=None,
            per_page=100,
            timeout=30,
            lazy=True,  # no GET of the repository (or of anything) before it is needed
        )
        policy = RetryPolicy(
            max_retries=config.github.max_retries,
            max_wait=config.github.max_wait.total_seconds(),
        )
        return cls(github, repo, counter=counter, policy=policy, sleep=sleep, clock=clock, log=log)

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (retries included)."""
        return self._counter[0]

    @property
    def repo(self) -> Any:
        """The PyGithub ``Repository`` (lazy: no request until it is used)."""
        if self._repo is None:
            self._repo = self.github.get_repo(self.repository)
        return self._repo

    # -- the retry and error boundary ---------------------------------------------------------
    def retrying(self, what: str, step: Callable[[], T]) -> T:
        """Run ``step``, re-running it after transient failures; map errors to relgate's.

        ``step`` must be safe to run again: look before it writes.
        """
        from github import GithubException
        from requests import RequestException

        attempt = 0
        while True:
            try:
                return step()
            except GithubException as exc:
                wait = self._wait_for(exc, attempt)
                if wait is None:
                    raise _map_error(what, exc) from exc
                reason = f"HTTP {exc.status}"
            except RequestException as exc:
                wait = self._backoff(attempt)
                if attempt >= self.policy.max_retries:
                    raise ServiceUnreachable(f"{what}: GitHub did not answer: {exc}") from exc
                reason = type(exc).__name__
            except GitHubStatus as exc:
                raise BadInputError(f"{what}: GitHub answered {exc.status} {exc.message}") from exc
            attempt += 1
            self.log(f"{what}: {reason}; retrying in {wait:.0f}s (attempt {attempt + 1})")
            self.sleep(wait)

    def _wait_for(self, exc: Any, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None if the error is not transient."""
        status: int = exc.status
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        message = _message(exc).lower()
        wait: float | None = None
        if status in (403, 429):
            if headers.get("retry-after", "").strip().isdigit():
                wait = float(headers["retry-after"])  # secondary rate limit
            elif headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
                wait = max(float(headers["x-ratelimit-reset"]) - self.clock(), 0.0) + 1.0
            elif "rate limit" in message:
                wait = min(60.0 * (2**attempt), self.policy.max_wait)
            else:
                return None  # a real permission problem
            if wait > self.policy.max_wait:
                raise ServiceUnreachable(
                    f"GitHub rate limit: the next request is allowed in {wait:.0f}s, more than "
                    f"github.max_wait ({self.policy.max_wait:.0f}s)"
                )
        elif status >= 500 or status == 0:
            wait = self._backoff(attempt)
        else:
            return None
        if attempt >= self.policy.max_retries:
            if status >= 500:
                raise ServiceUnreachable(
                    f"GitHub kept failing (HTTP {status} after {attempt + 1} attempts): "
                    f"{_message(exc)}"
                )
            raise ServiceUnreachable(f"GitHub rate limit still hit after {attempt + 1} attempts")
        return wait

    def _backoff(self, attempt: int) -> float:
        return float(min(self.policy.backoff * (2**attempt), self.policy.backoff_cap))


def _message(exc: Any) -> str:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        message = str(data.get("message", ""))
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = "; ".join(
                str(e.get("message") or f"{e.get('field')} {e.get('code')}")
                if isinstance(e, dict)
                else str(e)
                for e in errors
            )
            message = f"{message} ({details})"
        return message
    return str(data or exc)


def _map_error(what: str, exc: Any) -> Exception:
    status, message = exc.status, _message(exc)
    if status == 401:
        return BadInputError(f"{what}: GitHub rejected the token (401 {message})")
    if status == 403:
        return BadInputError(
            f"{what}: the token may not do this (403 {message}); it needs contents: write (tags, "
            "releases) and pull-requests: write (notes PR)"
        )
    if status == 404:
        return BadInputError(f"{what}: not found on GitHub (404): check project.repository")
    if 400 <= status < 500:
        return BadInputError(f"{what}: GitHub refused it ({status} {message})")
    return CannotRun(f"{what}: GitHub error {status} {message}")


def repository_from_remote(repo_path: Any) -> str | None:
    """owner/name from the ``origin`` remote, if it is a GitHub URL."""
    from relgate import proc

    try:
        done = proc.run(["git", "-C", str(repo_path), "remote", "get-url", "origin"])
    except (ToolMissing, OSError):
        return None
    url = done.out.strip()
    return parse_repository(url) if _GITHUB_HOST.search(url) else None


def _counting_token_class() -> Any:
    from github import Auth

    class CountingToken(Auth.Token):
        """PyGithub calls ``authentication`` once per HTTP request: a free request counter."""

        def __init__(self, token: str, counter: list[int]) -> None:
            super().__init__(token)
            self._counter = counter

        def authentication(self, headers: dict[str, str]) -> None:
            self._counter[0] += 1
            super().authentication(headers)

    return CountingToken


def _CountingToken(token: str, counter: list[int]) -> Any:
    return _counting_token_class()(token, counter)
