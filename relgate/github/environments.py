"""Environments as code: make GitHub environments' protection rules match relgate.yml.

``environments.<name>.protection`` in relgate.yml is the desired state: required reviewers (users
and teams), prevent self-review, the wait timer, and which branches or tags may deploy. :func:`plan`
reads GitHub and lists every difference; :func:`apply` writes exactly those, so a second apply makes
no write at all.

Why raw requests instead of PyGithub's ``Repository.create_environment``: that method always sends
all four fields with its own defaults, so "updating" the wait timer through it would silently drop
the reviewers it was not given. Here every PUT carries the *whole* desired state, built in one
place (:func:`_put_body`), and branch/tag patterns are managed through their own endpoints, which
PyGithub does not wrap.

:func:`approvals` reads who approved a workflow run's deployments (``.../runs/{id}/approvals``),
for the evidence and the release notes.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relgate.errors import BadInputError
from relgate.results.environments import Approval, ApprovalsResult, Change, EnvironmentsResult

if TYPE_CHECKING:
    from relgate.config import ProtectionConfig, RelgateConfig, ReviewerRef
    from relgate.github.client import GitHubClient
    from relgate.run import Run

__all__ = [
    "Approval",
    "ApprovalsResult",
    "Change",
    "EnvironmentState",
    "EnvironmentsResult",
    "Reviewer",
    "apply",
    "approvals",
    "current_state",
    "desired_state",
    "diff",
    "plan",
    "record_approvals",
]

BranchPolicy = Literal["all", "protected", "custom"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reviewer(_Model):
    """A required reviewer, resolved to GitHub's id (``name`` is the login or org/slug)."""

    type: Literal["User", "Team"]
    id: int
    name: str


class Pattern(_Model):
    name: str
    type: Literal["branch", "tag"]
    id: int | None = Field(None, description="GitHub's id (current state only).")


class EnvironmentState(_Model):
    """An environment's protection, desired (from relgate.yml) or current (from GitHub)."""

    name: str
    exists: bool = True
    wait_timer: int = 0
    prevent_self_review: bool = False
    reviewers: tuple[Reviewer, ...] = ()
    branch_policy: BranchPolicy = "all"
    patterns: tuple[Pattern, ...] = ()

    def reviewer_keys(self) -> set[tuple[str, int]]:
        return {(r.type, r.id) for r in self.reviewers}

    def pattern_keys(self) -> set[tuple[str, str]]:
        return {(p.type, p.name) for p in self.patterns}


# -- desired state ----------------------------------------------------------------------------
def desired_state(config: RelgateConfig, client: GitHubClient, name: str) -> EnvironmentState:
    """What relgate.yml asks for ``name`` (reviewers resolved to ids through the API)."""
    protection = config.environments[name].protection
    if protection is None:
        raise BadInputError(f"environments.{name}.protection is not set in relgate.yml")
    reviewers = tuple(_resolve_reviewer(client, ref) for ref in protection.reviewers)
    policy, patterns = _branch_policy(protection)
    return EnvironmentState(
        name=name,
        wait_timer=protection.wait_timer,
        # GitHub only keeps prevent_self_review as part of a reviewers rule.
        prevent_self_review=protection.prevent_self_review and bool(reviewers),
        reviewers=reviewers,
        branch_policy=policy,
        patterns=patterns,
    )


def _branch_policy(protection: ProtectionConfig) -> tuple[BranchPolicy, tuple[Pattern, ...]]:
    if protection.protected_branches:
        return "protected", ()
    if protection.branches is None and protection.tags is None:
        return "all", ()
    patterns = [Pattern(name=b, type="branch") for b in protection.branches or ()]
    patterns += [Pattern(name=t, type="tag") for t in protection.tags or ()]
    return "custom", tuple(patterns)


def _resolve_reviewer(client: GitHubClient, ref: ReviewerRef) -> Reviewer:
    if ref.user is not None:
        login = ref.user
        data = _request(client, "GET", f"/users/{_q(login)}", what=f"reviewer user {login}")
        return Reviewer(type="User", id=int(data["id"]), name=str(data["login"]))
    team = str(ref.team)
    org, _, slug = team.rpartition("/")
    org = org or client.repository.split("/")[0]
    data = _request(client, "GET", f"/orgs/{_q(org)}/teams/{_q(slug)}", what=f"team {team}")
    return Reviewer(type="Team", id=int(data["id"]), name=f"{org}/{data['slug']}")


# -- current state ----------------------------------------------------------------------------
def current_state(client: GitHubClient, name: str) -> EnvironmentState:
    """GitHub's view of ``name`` (``exists=False`` when there is no such environment)."""
    data = _request(
        client, "GET", _env_path(client, name), what=f"environment {name}", missing=True
    )
    if data is None:
        return EnvironmentState(name=name, exists=False)
    wait_timer, prevent, reviewers = 0, False, []
    for rule in data.get("protection_rules") or []:
        if rule.get("type") == "wait_timer":
            wait_timer = int(rule.get("wait_timer") or 0)
        elif rule.get("type") == "required_reviewers":
            prevent = bool(rule.get("prevent_self_review"))
            reviewers = [_reviewer_from(r) for r in rule.get("reviewers") or []]
    setting = data.get("deployment_branch_policy")
    policy: BranchPolicy = "all"
    patterns: tuple[Pattern, ...] = ()
    if setting and setting.get("protected_branches"):
        policy = "protected"
    elif setting and setting.get("custom_branch_policies"):
        policy = "custom"
        patterns = _patterns(client, name)
    return EnvironmentState(
        name=name,
        wait_timer=wait_timer,
        prevent_self_review=prevent,
        reviewers=tuple(reviewers),
        branch_policy=policy,
        patterns=patterns,
    )


def _reviewer_from(item: dict[str, Any]) -> Reviewer:
    who = item.get("reviewer") or {}
    kind = "Team" if item.get("type") == "Team" else "User"
    name = who.get("slug") if kind == "Team" else who.get("login")
    return Reviewer(type=kind, id=int(who.get("id", 0)), name=str(name or who.get("id")))


def _patterns(client: GitHubClient, name: str) -> tuple[Pattern, ...]:
    found: list[Pattern] = []
    page = 1
    while True:
        path = f"{_env_path(client, name)}/deployment-branch-policies"
        data = _request(
            client,
            "GET",
            path,
            what=f"environment {name} branch policies",
            params={"per_page": 100, "page": page},
        )
        items = data.get("branch_policies") or []
        found += [Pattern(name=p["name"], type=p.get("type", "branch"), id=p["id"]) for p in items]
        if len(found) >= int(data.get("total_count", 0)) or not items:
            return tuple(found)
        page += 1


# -- diff, plan, apply --------------------------------------------------------------------------
def diff(desired: EnvironmentState, current: EnvironmentState) -> list[Change]:
    """Every difference between ``current`` and ``desired``, as the writes that remove them."""
    name = desired.name
    changes: list[Change] = []

    def put(field: str, before: object, after: object) -> None:
        changes.append(
            Change(environment=name, field=field, before=str(before), after=str(after), write="put")
        )

    if not current.exists:
        put("environment", "absent", "created")
    if desired.wait_timer != current.wait_timer:
        put("wait_timer", current.wait_timer, desired.wait_timer)
    if desired.reviewer_keys() != current.reviewer_keys():
        put("reviewers", _names(current.reviewers), _names(desired.reviewers))
    if desired.prevent_self_review != current.prevent_self_review:
        put("prevent_self_review", current.prevent_self_review, desired.prevent_self_review)
    if desired.branch_policy != current.branch_policy:
        put("deployment_branch_policy", current.branch_policy, desired.branch_policy)
    have = current.pattern_keys() if current.branch_policy == "custom" else set()
    want = desired.pattern_keys() if desired.branch_policy == "custom" else set()
    for kind, pattern in sorted(want - have):
        changes.append(
            Change(
                environment=name,
                field=f"{kind} pattern",
                before="-",
                after=pattern,
                write="add-pattern",
            )
        )
    for kind, pattern in sorted(have - want):
        if desired.branch_policy == "custom":  # leaving "custom" drops the patterns with it
            changes.append(
                Change(
                    environment=name,
                    field=f"{kind} pattern",
                    before=pattern,
                    after="-",
                    write="remove-pattern",
                )
            )
    return changes


def _names(reviewers: tuple[Reviewer, ...]) -> str:
    return ", ".join(sorted(f"{r.type.lower()}:{r.name}" for r in reviewers)) or "none"


def managed(config: RelgateConfig, only: list[str] | None = None) -> list[str]:
    """The environments relgate.yml gives a ``protection`` section (optionally a subset)."""
    names = [n for n, env in config.environments.items() if env.protection is not None]
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise BadInputError(
                f"no protection section for {', '.join(unknown)} in relgate.yml "
                f"(managed: {', '.join(names) or 'none'})"
            )
        names = [n for n in names if n in only]
    return names


def plan(
    config: RelgateConfig, client: GitHubClient, *, only: list[str] | None = None
) -> tuple[list[Change], dict[str, tuple[EnvironmentState, EnvironmentState]]]:
    """The changes apply would make, and each environment's (desired, current) state."""
    states: dict[str, tuple[EnvironmentState, EnvironmentState]] = {}
    changes: list[Change] = []
    for name in managed(config, only):
        desired, current = desired_state(config, client, name), current_state(client, name)
        states[name] = (desired, current)
        changes += diff(desired, current)
    return changes, states


def apply(
    client: GitHubClient,
    changes: list[Change],
    states: dict[str, tuple[EnvironmentState, EnvironmentState]],
) -> int:
    """Make the writes ``changes`` call for; returns how many write requests were sent."""
    writes = 0
    for name, (desired, current) in states.items():
        mine = [c for c in changes if c.environment == name]
        if any(c.write == "put" for c in mine):
            _request(
                client,
                "PUT",
                _env_path(client, name),
                body=_put_body(desired),
                what=f"environment {name}",
            )
            writes += 1
        for change in mine:
            if change.write == "add-pattern":
                kind = change.field.split()[0]
                body = {"name": change.after, "type": kind}
                path = f"{_env_path(client, name)}/deployment-branch-policies"
                _request(client, "POST", path, body=body, what=f"{name}: add {kind} {change.after}")
                writes += 1
            elif change.write == "remove-pattern":
                kind = change.field.split()[0]
                pattern = next(
                    p for p in current.patterns if (p.type, p.name) == (kind, change.before)
                )
                path = f"{_env_path(client, name)}/deployment-branch-policies/{pattern.id}"
                _request(client, "DELETE", path, what=f"{name}: remove {kind} {change.before}")
                writes += 1
    return writes


def _put_body(desired: EnvironmentState) -> dict[str, Any]:
    """The whole desired state: a field left out of a PUT is reset by some clients and kept by
    GitHub, and relgate must not depend on which."""
    policy: dict[str, bool] | None = None
    if desired.branch_policy == "protected":
        policy = {"protected_branches": True, "custom_branch_policies": False}
    elif desired.branch_policy == "custom":
        policy = {"protected_branches": False, "custom_branch_policies": True}
    return {
        "wait_timer": desired.wait_timer,
        "prevent_self_review": desired.prevent_self_review,
        "reviewers": [{"type": r.type, "id": r.id} for r in desired.reviewers],
        "deployment_branch_policy": policy,
    }


# -- approvals --------------------------------------------------------------------------------
def approvals(client: GitHubClient, run_id: int | str) -> list[Approval]:
    """Who approved (or rejected) the deployments of workflow run ``run_id``, oldest first.

    Returns ``[]`` when GitHub has no such run or no review history (e.g. outside Actions).
    """
    path = f"/repos/{client.repository}/actions/runs/{_q(str(run_id))}/approvals"
    data = _request(client, "GET", path, what=f"approvals of run {run_id}", missing=True)
    if not isinstance(data, list):
        return []
    return [
        Approval(
            user=str((item.get("user") or {}).get("login", "")),
            state=str(item.get("state", "")),
            comment=str(item.get("comment") or ""),
            environments=tuple(str(e.get("name", "")) for e in item.get("environments") or []),
        )
        for item in data
    ]


def record_approvals(client: GitHubClient, run: Run, workflow_run_id: str) -> ApprovalsResult:
    """Put the deployment review history of ``workflow_run_id`` into the run's evidence
    (``results/approvals.json``), so the bundle says who let this deploy through."""
    from relgate.gha import Summary
    from relgate.results import Status

    found = approvals(client, workflow_run_id)
    result = ApprovalsResult(
        status=Status.PASSED,
        workflow_run_id=str(workflow_run_id),
        approvals=found,
        approved_by=sorted({a.user for a in found if a.state == "approved"}),
    )
    result.outcome = "approved" if result.approved_by else "no_review"
    result.summary = (
        f"approved by {', '.join(result.approved_by)}"
        if result.approved_by
        else "no deployment review recorded for this workflow run"
    )
    if found:
        rows = [[a.user, a.state, ", ".join(a.environments), a.comment] for a in found]
        table = Summary().heading("Deployment approvals", 3)
        run.reporter.write_summary(
            table.table(["who", "decision", "environments", "comment"], rows)
        )
    run.reporter.line(result.summary)
    run.write_result(result)
    return result


# -- HTTP -----------------------------------------------------------------------------------------
def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _env_path(client: GitHubClient, name: str) -> str:
    return f"/repos/{client.repository}/environments/{_q(name)}"


def _request(
    client: GitHubClient,
    verb: str,
    path: str,
    *,
    what: str,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    missing: bool = False,
) -> Any:
    """One API call through the client's retry/error boundary; ``missing``: 404 -> None."""
    from relgate.github.client import is_status

    def step() -> Any:
        try:
            _headers, data = client.github.requester.requestJsonAndCheck(
                verb, path, parameters=params, input=body
            )
        except Exception as exc:
            if missing and is_status(exc, 404):
                return None
            raise
        return data

    return client.retrying(what, step)
