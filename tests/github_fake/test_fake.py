"""The GitHub fake, driven through a real PyGithub client.

These tests pin two things: that the fake behaves like GitHub for the flows relgate
needs (annotated tag -> draft -> assets -> publish, release-notes PR, environments,
gates), and that its contract checks really bite -- a wrong request body, a wrong
response and an unknown operation all fail the test.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest
import requests
import responses
from github import Github, GithubException, GithubRetry, InputGitAuthor
from github.EnvironmentDeploymentBranchPolicy import EnvironmentDeploymentBranchPolicyParams
from github.EnvironmentProtectionRuleReviewer import ReviewerParams

from tests.github_fake import Contract, FakeGitHub, SimulatedCrash

REFS = "/repos/{owner}/{repo}/git/refs"
RELEASES = "/repos/{owner}/{repo}/releases"
UPLOAD = "/repos/{owner}/{repo}/releases/{release_id}/assets"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(owner="acme", repo="app") as fake:
        yield fake


@pytest.fixture
def gh(fake: FakeGitHub) -> Github:
    return fake.client()


def annotated_tag(repo: Any, tag: str, sha: str) -> str:
    """Tag object, then the ref pointing at the *tag object* (what relgate must do)."""
    tagger = InputGitAuthor("relgate", "relgate@example.com", "2025-01-01T00:00:00Z")
    tag_object = repo.create_git_tag(tag, f"Release {tag}", sha, "commit", tagger=tagger)
    repo.create_git_ref(f"refs/tags/{tag}", tag_object.sha)
    return str(tag_object.sha)


def stream_bytes(asset: Any) -> bytes:
    _, _, chunks = asset.download_asset(chunk_size=None)
    return b"".join(chunks)


# -- releases ---------------------------------------------------------------------------


def test_annotated_tag_draft_release_assets_publish(
    fake: FakeGitHub, gh: Github, tmp_path: Path
) -> None:
    sha = fake.seed_commit("feat: ship it", branch="main")
    repo = gh.get_repo("acme/app")

    tag_sha = annotated_tag(repo, "v1.0.0", sha)
    assert fake.ref("refs/tags/v1.0.0") == tag_sha
    assert repo.get_git_tag(tag_sha).object.sha == sha
    assert repo.get_git_ref("tags/v1.0.0").object.type == "tag"

    release = repo.create_git_release("v1.0.0", name="v1.0.0", message="notes", draft=True)
    assert release.draft and not release.immutable
    bundle = tmp_path / "evidence bundle.tar.gz"
    bundle.write_bytes(b"\x1f\x8b evidence")
    first = release.upload_asset(str(bundle), content_type="application/gzip")
    second = release.upload_asset_from_memory(
        io.BytesIO(b"abc  SHA256SUMS\n"), 16, "SHA256SUMS", "text/plain"
    )
    assert first.name == "evidence.bundle.tar.gz"  # GitHub renames spaces
    assert first.digest == "sha256:" + hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert stream_bytes(first) == bundle.read_bytes()
    assert stream_bytes(second) == b"abc  SHA256SUMS\n"
    downloaded = tmp_path / "download"
    second.download_asset(str(downloaded))
    assert downloaded.read_bytes() == b"abc  SHA256SUMS\n"

    published = release.update_release("v1.0.0", "notes", draft=False, prerelease=False)
    assert not published.draft and published.published_at is not None
    # Publishing did not replace the annotated tag with a lightweight one.
    assert fake.ref("refs/tags/v1.0.0") == tag_sha

    by_tag = repo.get_release("v1.0.0")
    assert [a.name for a in by_tag.get_assets()] == ["evidence.bundle.tar.gz", "SHA256SUMS"]
    assert [r.tag_name for r in repo.get_releases()] == ["v1.0.0"]
    storage = [r for r in fake.requests if r.host == "storage"]
    assert len(storage) == 3 and all(r.status == 200 for r in storage)
    fake.verify()


def test_publishing_without_a_tag_creates_a_lightweight_one(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    repo.create_git_release("v0.1.0", name="v0.1.0", message="")
    assert fake.ref("refs/tags/v0.1.0") == fake.head()  # a commit, not a tag object


def test_drafts_are_listed_but_not_found_by_tag(fake: FakeGitHub, gh: Github) -> None:
    fake.seed_release("v0.9.0")
    fake.seed_release("v1.0.0", draft=True)
    repo = gh.get_repo("acme/app")
    with pytest.raises(github.UnknownObjectException):
        repo.get_release("v1.0.0")
    assert {r.tag_name for r in repo.get_releases()} == {"v0.9.0", "v1.0.0"}
    assert repo.get_release(fake.release("v1.0.0").id).draft


@pytest.mark.parametrize(
    ("setup", "call", "message"),
    [
        pytest.param(
            lambda f, r: r.create_git_ref("refs/tags/v1", f.head()),
            lambda f, r: r.create_git_ref("refs/tags/v1", f.head()),
            "Reference already exists",
            id="duplicate-ref",
        ),
        pytest.param(
            lambda f, r: None,
            lambda f, r: r.create_git_ref("refs/tags/v1", "0" * 40),
            "Object does not exist",
            id="ref-to-missing-object",
        ),
        pytest.param(
            lambda f, r: None,
            lambda f, r: r.get_git_ref("heads/main").edit(f.seed_commit("side", parents=[])),
            "Update is not a fast forward",
            id="non-fast-forward",
        ),
    ],
)
def test_git_ref_errors_are_422(
    fake: FakeGitHub, gh: Github, setup: Any, call: Any, message: str
) -> None:
    repo = gh.get_repo("acme/app")
    setup(fake, repo)
    with pytest.raises(GithubException) as caught:
        call(fake, repo)
    assert caught.value.status == 422
    assert caught.value.data["message"] == message


def test_duplicate_asset_name_is_already_exists(fake: FakeGitHub, gh: Github) -> None:
    release = gh.get_repo("acme/app").create_git_release("v1", name="v1", message="", draft=True)
    release.upload_asset_from_memory(io.BytesIO(b"x"), 1, "a.txt")
    with pytest.raises(GithubException) as caught:
        release.upload_asset_from_memory(io.BytesIO(b"y"), 1, "a.txt")
    assert caught.value.status == 422
    assert caught.value.data["errors"][0]["code"] == "already_exists"


def test_immutable_release_is_locked_after_publishing(
    gh_immutable: tuple[FakeGitHub, Github],
) -> None:
    _, gh = gh_immutable
    repo = gh.get_repo("acme/app")
    release = repo.create_git_release("v2.0.0", name="v2.0.0", message="", draft=True)
    asset = release.upload_asset_from_memory(io.BytesIO(b"early"), 5, "early.txt")
    release = release.update_release("v2.0.0", "", draft=False, prerelease=False)
    assert release.immutable

    def status_and_message(call: Any) -> tuple[int, str]:
        with pytest.raises(GithubException) as caught:
            call()
        return caught.value.status, caught.value.data["message"]

    assert status_and_message(
        lambda: release.upload_asset_from_memory(io.BytesIO(b"late"), 4, "late.txt")
    ) == (422, "Cannot upload assets to an immutable release.")
    assert status_and_message(asset.delete_asset)[0] == 422
    assert status_and_message(repo.get_git_ref("tags/v2.0.0").delete)[0] == 422
    # Notes stay editable; the release can be deleted, but its tag is burned for good.
    assert (
        release.update_release("v2.0.0", "fixed notes", draft=False, prerelease=False).body
        == "fixed notes"
    )
    release.delete_release()
    status, _ = status_and_message(
        lambda: repo.create_git_release("v2.0.0", name="again", message="")
    )
    assert status == 422


@pytest.fixture
def gh_immutable() -> Iterator[tuple[FakeGitHub, Github]]:
    with FakeGitHub(immutable_releases=True) as fake:
        yield fake, fake.client()


def test_pagination_follows_link_headers(fake: FakeGitHub) -> None:
    for n in range(5):
        fake.seed_release(f"v1.0.{n}")
    releases = fake.client(per_page=2).get_repo("acme/app").get_releases()
    assert [r.tag_name for r in releases] == [f"v1.0.{n}" for n in (4, 3, 2, 1, 0)]
    pages = [r for r in fake.requests if r.template == RELEASES]
    assert [r.query.get("page", "1") for r in pages] == ["1", "2", "3"]


# -- pull requests, contents -------------------------------------------------------------


def test_release_notes_pull_request(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    repo.create_git_ref("refs/heads/relgate/notes-v1", fake.head())
    repo.create_file("docs/releases/v1.md", "notes v1", "# v1\n", branch="relgate/notes-v1")
    pr = repo.create_pull("main", "relgate/notes-v1", title="Release notes v1", body="draft")
    assert (pr.number, pr.state, pr.head.ref) == (1, "open", "relgate/notes-v1")

    existing = repo.get_contents("docs/releases/v1.md", ref="relgate/notes-v1")
    assert not isinstance(existing, list)
    assert existing.decoded_content == b"# v1\n"
    repo.update_file(
        existing.path, "notes v1, again", "# v1\nfixed\n", existing.sha, branch="relgate/notes-v1"
    )
    pr.edit(body="final")

    found = list(repo.get_pulls(state="open", head="acme:relgate/notes-v1", base="main"))
    assert [(p.number, p.body) for p in found] == [(1, "final")]
    assert list(repo.get_pulls(state="closed")) == []
    with pytest.raises(GithubException) as caught:
        repo.create_pull("main", "relgate/notes-v1", title="again")
    assert "already exists" in caught.value.data["errors"][0]["message"]


def test_update_file_needs_the_current_sha(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    with pytest.raises(GithubException) as caught:
        repo.update_file("README.md", "edit", "new", "0" * 40)
    assert caught.value.status == 409


# -- environments, gates -----------------------------------------------------------------


def test_environment_put_round_trip(fake: FakeGitHub, gh: Github) -> None:
    alice = fake.seed_user("alice")
    team = fake.seed_team("acme-org", "release-managers")
    repo = gh.get_repo("acme/app")
    created = repo.create_environment(
        "production",
        wait_timer=5,
        reviewers=[ReviewerParams("User", alice), ReviewerParams("Team", team)],
        prevent_self_review=True,
        deployment_branch_policy=EnvironmentDeploymentBranchPolicyParams(
            custom_branch_policies=True
        ),
    )
    assert created.name == "production"

    env = repo.get_environment("production")
    rules = {rule.type: rule for rule in env.protection_rules}
    assert rules["wait_timer"].wait_timer == 5
    reviewers = rules["required_reviewers"].reviewers
    assert [(r.type, r.reviewer.id) for r in reviewers] == [("User", alice), ("Team", team)]
    assert env.deployment_branch_policy.custom_branch_policies
    assert [e.name for e in repo.get_environments()] == ["production"]

    # PyGithub has no branch-policy methods: relgate calls them through the requester.
    url = f"{env.url}/deployment-branch-policies"
    _, policy = gh.requester.requestJsonAndCheck("POST", url, input={"name": "v*", "type": "tag"})
    _, listed = gh.requester.requestJsonAndCheck("GET", url)
    assert listed["total_count"] == 1 and listed["branch_policies"][0]["name"] == "v*"
    gh.requester.requestJsonAndCheck("DELETE", f"{url}/{policy['id']}")
    assert gh.requester.requestJsonAndCheck("GET", url)[1]["total_count"] == 0


def test_checks_statuses_runs_and_approvals(fake: FakeGitHub, gh: Github) -> None:
    sha = fake.head()
    fake.seed_status(sha, "ci/lint", "pending")
    fake.seed_status(sha, "ci/lint", "success")
    fake.seed_check_run(sha, "tests", conclusion="failure")
    fake.seed_check_run(sha, "tests", conclusion="success")
    fake.seed_environment(
        "staging",
        deployment_branch_policy={"protected_branches": True, "custom_branch_policies": False},
    )
    bob = fake.seed_user("bob")
    run_id = fake.seed_workflow_run(head_sha=sha)
    fake.seed_approval(run_id, ["staging"], user="bob", comment="ship it")
    fake.seed_pending_deployment(run_id, "staging", reviewers=[("User", bob)])

    repo = gh.get_repo("acme/app")
    commit = repo.get_commit(sha)
    assert commit.get_combined_status().state == "success"
    assert [(c.name, c.conclusion) for c in commit.get_check_runs()] == [("tests", "success")]
    run = repo.get_workflow_run(run_id)
    assert (run.head_sha, run.conclusion) == (sha, "success")
    _, approvals = gh.requester.requestJsonAndCheck("GET", f"{run.url}/approvals")
    assert [(a["user"]["login"], a["state"], a["comment"]) for a in approvals] == [
        ("bob", "approved", "ship it")
    ]
    _, pending = gh.requester.requestJsonAndCheck("GET", f"{run.url}/pending_deployments")
    assert pending[0]["environment"]["name"] == "staging"


def test_reviewer_lookup(fake: FakeGitHub) -> None:
    fake.seed_user("alice", name="Alice")
    team_id = fake.seed_team("acme-org", "release-managers")
    gh = fake.client(lazy=True)  # lazy: no GET /orgs/{org}, which relgate does not use
    assert gh.get_user("alice").name == "Alice"
    assert gh.get_organization("acme-org").get_team_by_slug("release-managers").id == team_id
    with pytest.raises(github.UnknownObjectException):
        gh.get_user("nobody").name


# -- contract checks bite ---------------------------------------------------------------


def test_wrong_request_body_fails_the_test() -> None:
    fake = FakeGitHub()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        gh = fake.client()
        with pytest.raises(AssertionError, match=r"request body: /: 'sha' is a required property"):
            gh.requester.requestJsonAndCheck(
                "POST", "/repos/acme/app/git/refs", input={"ref": "refs/tags/x"}
            )
        with pytest.raises(AssertionError, match=r"/draft: 'yes' is not of type 'boolean'"):
            gh.requester.requestJsonAndCheck(
                "POST", "/repos/acme/app/releases", input={"tag_name": "v1", "draft": "yes"}
            )
    assert fake.ref("refs/tags/x") is None  # nothing was applied
    with pytest.raises(AssertionError, match="contract violations"):
        fake.verify()  # a client that swallowed the errors still fails the test


def test_unknown_operation_fails_the_test() -> None:
    fake = FakeGitHub()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        with pytest.raises(
            AssertionError,
            match=re.escape(
                "not in GitHub's API: GET https://api.github.com/repos/acme/app/branches"
            ),
        ):
            fake.client(lazy=True).get_repo("acme/app").get_branch("main")


def test_wrong_response_fails_the_test() -> None:
    fake = FakeGitHub()
    original = fake.render.git_ref
    fake.render.git_ref = lambda name, sha: {**original(name, sha), "object": {"sha": sha}}  # type: ignore[method-assign]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        with pytest.raises(AssertionError, match=r"/object: 'type' is a required property"):
            fake.client(lazy=True).get_repo("acme/app").get_git_ref("heads/main").object
    assert len(fake.violations) == 1


# -- faults -----------------------------------------------------------------------------


def test_injected_errors_surface_as_pygithub_exceptions(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    fake.fail_next("POST", REFS, status=502)
    with pytest.raises(GithubException) as caught:
        repo.create_git_ref("refs/tags/v1", fake.head())
    assert caught.value.status == 502 and fake.ref("refs/tags/v1") is None

    fake.secondary_rate_limit_next("POST", REFS)
    with pytest.raises(github.RateLimitExceededException) as limited:
        repo.create_git_ref("refs/tags/v1", fake.head())
    assert (limited.value.headers or {}).get("retry-after") == "60"

    fake.secondary_rate_limit_next("POST", REFS, status=429)
    with pytest.raises(GithubException) as too_many:
        repo.create_git_ref("refs/tags/v1", fake.head())
    # PyGithub maps only 403 to RateLimitExceededException; 429 stays generic.
    assert type(too_many.value) is GithubException and too_many.value.status == 429

    fake.primary_rate_limit_next("GET", "/repos/{owner}/{repo}/git/ref/{ref}")
    with pytest.raises(github.RateLimitExceededException) as primary:
        repo.get_git_ref("heads/main")
    assert (primary.value.headers or {}).get("x-ratelimit-remaining") == "0"

    assert [r.status for r in fake.requests[-4:]] == [502, 403, 429, 403]
    assert fake.count("POST", REFS) == 3


def test_crash_after_applies_then_kills_the_client(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    fake.crash_after("POST", RELEASES)
    with pytest.raises(SimulatedCrash):
        repo.create_git_release("v1.0.0", name="v1.0.0", message="", draft=True)
    # The "restarted" process must find and reuse the draft, not create a second one.
    assert fake.release("v1.0.0").draft
    assert [r.tag_name for r in repo.get_releases()] == ["v1.0.0"]


def test_retry_replays_through_responses_without_sleeping(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib3's Retry runs under ``responses`` too (it re-invokes the callback) but
    never sleeps: ``Retry.sleep`` lives in urllib3's connection pool, which responses
    bypasses. And a retried POST whose first attempt was applied meets its own result."""
    gh = fake.client(retry=GithubRetry(total=3, backoff_factor=10, secondary_rate_wait=30))
    repo = gh.get_repo("acme/app")

    fake.fail_next("GET", "/repos/{owner}/{repo}/git/ref/{ref}", status=502)
    fake.secondary_rate_limit_next("GET", "/repos/{owner}/{repo}/git/ref/{ref}")
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)  # recorded, not a wall-clock threshold
    assert repo.get_git_ref("heads/main").object.sha == fake.head()
    assert not [s for s in slept if s >= 1], slept  # backoff 10 s / rate wait 30 s never slept
    assert fake.count("GET", "/repos/{owner}/{repo}/git/ref/{ref}") == 3

    fake.fail_next("POST", REFS, status=502, applied=True)
    with pytest.raises(GithubException) as caught:
        repo.create_git_ref("refs/tags/v1", fake.head())
    assert caught.value.data["message"] == "Reference already exists"
    assert fake.ref("refs/tags/v1") == fake.head()


# -- GitHub Enterprise --------------------------------------------------------------------


def test_enterprise_urls() -> None:
    with FakeGitHub(enterprise_url="https://ghe.example.com") as fake:
        gh = fake.client()
        release = gh.get_repo("acme/app").create_git_release(
            "v1", name="v1", message="", draft=True
        )
        assert release.upload_url.startswith("https://ghe.example.com/api/uploads/repos/acme/app/")
        asset = release.upload_asset_from_memory(io.BytesIO(b"ghe"), 3, "x.bin")
        assert stream_bytes(asset) == b"ghe"
        assert {r.host for r in fake.requests} == {"api", "uploads", "storage"}


# -- the contract itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema_name", "instance", "valid"),
    [
        pytest.param("release", None, False, id="non-nullable-ref"),
        pytest.param("nullable-simple-user", None, True, id="nullable-component"),
        pytest.param("deployment-branch-policy-settings", None, True, id="nullable-object"),
        pytest.param(
            "validation-error",
            {"message": "x", "documentation_url": "y", "request_id": "z"},
            True,
            id="errors-stay-open",
        ),
        pytest.param(
            "git-ref",
            {
                "ref": "r",
                "node_id": "n",
                "url": "u",
                "object": {"type": "commit", "sha": "s", "url": "u"},
                "extra": 1,
            },
            False,
            id="strict-properties",
        ),
    ],
)
def test_contract_schema_translation(schema_name: str, instance: Any, valid: bool) -> None:
    contract = Contract.load()
    problems = contract._validate(f"/components/schemas/{schema_name}", instance, "instance")
    assert (problems == []) is valid, problems


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        pytest.param(
            "GET",
            "/repos/o/r/commits/abc/status",
            "/repos/{owner}/{repo}/commits/{ref}/status",
            id="literal-suffix-wins",
        ),
        pytest.param(
            "GET",
            "/repos/o/r/commits/heads/main",
            "/repos/{owner}/{repo}/commits/{ref}",
            id="multi-segment",
        ),
        pytest.param(
            "GET",
            "/repos/o/r/releases/assets/7",
            "/repos/{owner}/{repo}/releases/assets/{asset_id}",
            id="assets-not-release-id",
        ),
        pytest.param(
            "GET",
            "/repos/o/r/environments/a%2Fb",
            "/repos/{owner}/{repo}/environments/{environment_name}",
            id="encoded-slash",
        ),
    ],
)
def test_contract_routing(method: str, path: str, template: str) -> None:
    matched = Contract.load().match(method, path, uploads=False)
    assert matched is not None and matched[0].template == template


def test_subset_records_its_source() -> None:
    source = Contract.load().source
    assert source["package"] == "@octokit/openapi" and len(source["sha256"]) == 64


# -- downloads and authentication ------------------------------------------------------------


def test_browser_download_url_redirects_to_signed_storage(fake: FakeGitHub, gh: Github) -> None:
    fake.seed_release("v1.0.0", assets={"app.tar.gz": b"payload"})
    asset = gh.get_repo("acme/app").get_release("v1.0.0").get_assets()[0]
    response = requests.get(asset.browser_download_url, timeout=5)
    assert response.content == b"payload"
    assert [(r.host, r.status) for r in fake.requests[-2:]] == [("web", 302), ("storage", 200)]
    # Signed storage URLs refuse a second credential, as object stores do.
    signed = response.history[0].headers["Location"]
    assert requests.get(signed, headers={"Authorization": "token x"}, timeout=5).status_code == 400


def test_anonymous_writes_are_refused(fake: FakeGitHub) -> None:
    anonymous = fake.client(auth=None).get_repo("acme/app")
    with pytest.raises(GithubException) as caught:
        anonymous.create_git_ref("refs/tags/v1", fake.head())
    assert caught.value.status == 401


# -- what PyGithub does with errors and retries (facts relgate's retry layer builds on) -----

GIT_REF = "/repos/{owner}/{repo}/git/ref/{ref}"


@pytest.mark.parametrize(
    ("inject", "retry", "raised", "statuses"),
    [
        pytest.param(
            lambda f: f.fail_next("GET", GIT_REF, 502, times=9),
            GithubRetry(total=2),
            "requests.exceptions.RetryError",
            [502, 502, 502],
            id="5xx-retries-exhausted-raise-RetryError-not-GithubException",
        ),
        pytest.param(
            lambda f: f.fail_next("GET", GIT_REF, 502, times=9),
            None,
            "github.GithubException.GithubException",
            [502],
            id="5xx-without-retry",
        ),
        pytest.param(
            lambda f: f.secondary_rate_limit_next("GET", GIT_REF, times=9),
            GithubRetry(total=2),
            "requests.exceptions.RetryError",
            [403, 403, 403],
            id="secondary-403-with-retry-after-retried-without-sleeping",
        ),
        pytest.param(
            lambda f: f.secondary_rate_limit_next("GET", GIT_REF, status=429, times=9),
            GithubRetry(total=2),
            "github.GithubException.GithubException",
            [429, 429, 429],
            id="secondary-429-retried-then-plain-GithubException",
        ),
        pytest.param(
            lambda f: f.primary_rate_limit_next("GET", GIT_REF, reset_in=3000, times=9),
            GithubRetry(total=2, max_rate_limit_wait=10),
            "github.GithubException.RateLimitExceededExceedsMaxWait",
            [403],
            id="primary-403-beyond-max-wait",
        ),
        pytest.param(
            lambda f: f.fail_next(
                "GET", GIT_REF, 403, message="Resource not accessible by integration"
            ),
            GithubRetry(total=2),
            "github.GithubException.GithubException",
            [403],
            id="plain-403-not-retried",
        ),
    ],
)
def test_pygithub_error_and_retry_behaviour(
    fake: FakeGitHub, inject: Any, retry: GithubRetry | None, raised: str, statuses: list[int]
) -> None:
    repo = fake.client(retry=retry).get_repo("acme/app")
    before = len(fake.requests)
    inject(fake)
    with pytest.raises(BaseException) as caught:
        repo.get_git_ref("heads/main")  # PyGithub fetches the ref on construction
    assert f"{type(caught.value).__module__}.{type(caught.value).__name__}" == raised
    assert [r.status for r in fake.requests[before:] if r.fault] == statuses


def test_patch_is_never_retried(fake: FakeGitHub) -> None:
    """GithubRetry retries urllib3's idempotent methods plus POST, but not PATCH."""
    ref = fake.client(retry=GithubRetry(total=2)).get_repo("acme/app").get_git_ref("heads/main")
    fake.fail_next("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", 502, times=9)
    with pytest.raises(GithubException):
        ref.edit(fake.head())
    assert fake.count("PATCH") == 1


def test_post_is_retried_and_can_double_apply(fake: FakeGitHub) -> None:
    """POST is retried on 5xx: a create that GitHub applied before failing is sent again."""
    repo = fake.client(retry=GithubRetry(total=2)).get_repo("acme/app")
    fake.fail_next("POST", RELEASES, 502, applied=True)
    repo.create_git_release("v1", name="v1", message="", draft=True)
    assert [r.draft for r in fake.state.releases.values()] == [True, True]  # two drafts


def test_lazy_git_ref_edit_targets_an_operation_github_does_not_have() -> None:
    """A PyGithub pitfall the contract catches: a *lazy* ``get_git_ref`` keeps the
    singular ``/git/ref/...`` URL it was built from, and ``edit()`` PATCHes it. GitHub
    only has ``PATCH /git/refs/{ref}``; fetch the ref (non-lazy) before editing it."""
    fake = FakeGitHub()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        ref = fake.client(lazy=True).get_repo("acme/app").get_git_ref("heads/main")
        with pytest.raises(
            AssertionError,
            match=re.escape("PATCH https://api.github.com/repos/acme/app/git/ref/heads/main"),
        ):
            ref.edit(fake.head())


# -- the extraction script (the npm fetch itself is `--check`, not a unit test) ------------


def _extract_module() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "extract_github_openapi.py"
    spec = importlib.util.spec_from_file_location("extract_github_openapi", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_subset_holds_exactly_the_listed_operations() -> None:
    extract = _extract_module()
    contract = Contract.load()
    listed = {(m.upper(), p) for m, p in extract.OPERATIONS}
    assert {(op.method, op.template) for op in contract.operations} == listed
    assert contract.source["version"] == extract.VERSION


def test_subset_keeps_the_transitive_closure_and_is_deterministic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extract = _extract_module()
    monkeypatch.setattr(extract, "OPERATIONS", (("get", "/a"),))
    monkeypatch.setattr(extract, "EXTRA_SCHEMAS", ())
    ok = {
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/a"},
                "examples": {"x": {}},
            }
        }
    }
    description = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://api.github.com"}],
        "paths": {
            "/a": {"get": {"operationId": "a", "responses": {"200": ok}}, "put": {}},
            "/b": {},
        },
        "components": {
            "schemas": {
                "a": {"properties": {"b": {"$ref": "#/components/schemas/b"}}},
                "b": {"type": "string"},
                "unused": {"type": "integer"},
            }
        },
    }
    subset = extract.build_subset(description, "0" * 64)
    assert list(subset["paths"]) == ["/a"] and list(subset["paths"]["/a"]) == ["get"]
    assert sorted(subset["components"]["schemas"]) == ["a", "b"]
    assert (
        "examples"
        not in subset["paths"]["/a"]["get"]["responses"]["200"]["content"]["application/json"]
    )
    assert extract.render(subset) == extract.render(extract.build_subset(description, "0" * 64))
