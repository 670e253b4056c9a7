"""``relgate release`` against the contract-checked GitHub fake."""

from __future__ import annotations

import hashlib

import pytest

from relgate.errors import ServiceUnreachable, VerificationError
from relgate.release import DIGEST_TRAILER, release
from relgate.results import Status
from tests.github_fake._fake import SimulatedCrash
from tests.release.conftest import Setup

TAG_REF = "refs/tags/v1.0.0"


def do_release(s: Setup, bundle, **kw):  # type: ignore[no-untyped-def]
    return release(
        s.config,
        s.new_run(),
        bundle=bundle,
        version=kw.pop("version", "v1.0.0"),
        github=s.client(),
        **kw,
    )


def assets_of(s: Setup, tag: str = "v1.0.0") -> dict[str, bytes]:
    rel = s.fake.release(tag)
    return {a.name: a.data for a in rel.assets}


def test_full_release(setup: Setup) -> None:
    bundle = setup.bundle()
    record = do_release(setup, bundle)
    assert record.status is Status.PASSED and record.exit_code == 0
    head = setup.repo.head()
    # Annotated: the ref points at a tag object, which points at the commit.
    tag_obj_sha = setup.fake.state.refs[TAG_REF]
    assert tag_obj_sha != head
    tag_obj = setup.fake.state.tags[tag_obj_sha]
    assert tag_obj.object_sha == head and tag_obj.object_type == "commit"
    assert f"{DIGEST_TRAILER}: {record.bundle_digest}" in tag_obj.message
    # Published, with the three assets intact.
    rel = setup.fake.release("v1.0.0")
    assert not rel.draft and not rel.prerelease
    files = assets_of(setup)
    assert files[bundle.name] == bundle.read_bytes()
    manifest = next(n for n in files if n.endswith(".manifest.json"))
    assert "sha256:" + hashlib.sha256(files[manifest]).hexdigest() == record.bundle_digest
    assert "RELEASE_NOTES_v1.0.0.md" in files and b"grading" in files["RELEASE_NOTES_v1.0.0.md"]
    assert {a.action for a in record.assets} == {"uploaded"}
    # Few requests, all counted.
    assert record.api_requests == len(setup.fake.requests) <= 10


@pytest.mark.parametrize(
    ("smoke", "deploy", "reason"),
    [
        pytest.param(Status.FAILED, Status.PASSED, "smoke", id="smoke-failed"),
        pytest.param(Status.PASSED, Status.ERROR, "deploy", id="deploy-error"),
    ],
)
def test_refused_without_passing_evidence(setup: Setup, smoke, deploy, reason) -> None:  # type: ignore[no-untyped-def]
    record = do_release(setup, setup.bundle(smoke=smoke, deploy=deploy))
    assert record.status is Status.FAILED and record.exit_code == 1 and record.outcome == "refused"
    assert any(reason in p for p in record.problems)
    assert setup.fake.requests == []  # GitHub was never touched


def test_refused_for_evidence_of_another_commit(setup: Setup) -> None:
    bundle = setup.bundle()
    other = setup.repo.git("rev-parse", "HEAD~1")
    record = do_release(setup, bundle, target=other)
    assert record.exit_code == 1
    assert any("evidence is for commit" in p for p in record.problems)
    assert setup.fake.requests == []


def test_existing_tag_on_the_same_commit_is_reused(setup: Setup) -> None:
    setup.fake.seed_tag("v1.0.0", setup.repo.head())
    record = do_release(setup, setup.bundle())
    assert record.exit_code == 0 and record.tag_action == "reused"
    assert setup.fake.state.refs[TAG_REF] == setup.repo.head()


def test_existing_tag_on_another_commit_is_an_error(setup: Setup) -> None:
    setup.fake.seed_tag("v1.0.0", setup.repo.git("rev-parse", "HEAD~1"))
    with pytest.raises(VerificationError, match="already exists on commit"):
        do_release(setup, setup.bundle())
    assert setup.fake.state.releases == {}


@pytest.mark.parametrize(
    ("method", "template", "after"),
    [
        pytest.param("POST", "/repos/{owner}/{repo}/releases", 0, id="after-draft-created"),
        pytest.param(
            "POST", "/repos/{owner}/{repo}/releases/{release_id}/assets", 1, id="after-second-asset"
        ),
        pytest.param(
            "PATCH", "/repos/{owner}/{repo}/releases/{release_id}", 0, id="during-publish"
        ),
    ],
)
def test_rerun_after_a_crash_finishes_without_duplicates(
    setup: Setup, method: str, template: str, after: int
) -> None:
    bundle = setup.bundle()
    setup.fake.crash_after(method, template, after=after)
    with pytest.raises(SimulatedCrash):
        do_release(setup, bundle)
    record = do_release(setup, bundle)
    assert record.exit_code == 0 and not record.draft
    assert len(setup.fake.state.releases) == 1
    assert sorted(assets_of(setup)) == sorted(a.name for a in record.assets)
    assert len(record.assets) == 3
    assert record.tag_action == "reused"


def test_draft_then_publish_keeps_uploaded_assets(setup: Setup) -> None:
    bundle = setup.bundle()
    first = do_release(setup, bundle, draft=True)
    assert first.draft and setup.fake.release("v1.0.0").draft
    uploads = setup.fake.count("POST", "/repos/{owner}/{repo}/releases/{release_id}/assets")
    second = do_release(setup, bundle)
    assert not second.draft
    assert {a.action for a in second.assets} == {"kept"}
    assert setup.fake.count("POST", "/repos/{owner}/{repo}/releases/{release_id}/assets") == uploads


def test_mismatching_asset_is_replaced_while_draft(setup: Setup) -> None:
    bundle = setup.bundle()
    setup.fake.seed_release("v1.0.0", draft=True, assets={bundle.name: b"not the bundle"})
    record = do_release(setup, bundle)
    assert record.exit_code == 0
    actions = {a.name: a.action for a in record.assets}
    assert actions[bundle.name] == "replaced"
    assert assets_of(setup)[bundle.name] == bundle.read_bytes()


def test_502_on_a_write_that_was_applied_is_not_repeated(setup: Setup) -> None:
    setup.fake.fail_next("POST", "/repos/{owner}/{repo}/git/refs", 502, applied=True)
    setup.fake.fail_next("POST", "/repos/{owner}/{repo}/releases", 502)
    record = do_release(setup, setup.bundle())
    assert record.exit_code == 0
    assert setup.sleeps == [1.0, 1.0]
    assert setup.fake.count("POST", "/repos/{owner}/{repo}/git/refs") == 1
    assert len(setup.fake.state.releases) == 1


def test_secondary_rate_limit_waits_retry_after(setup: Setup) -> None:
    setup.fake.secondary_rate_limit_next(
        "POST", "/repos/{owner}/{repo}/releases/{release_id}/assets", retry_after=7
    )
    record = do_release(setup, setup.bundle())
    assert record.exit_code == 0
    assert setup.sleeps == [7.0]
    assert len(assets_of(setup)) == 3


def test_primary_rate_limit_waits_until_the_reset(setup: Setup) -> None:
    setup.fake.primary_rate_limit_next("POST", "/repos/{owner}/{repo}/git/tags", reset_in=30)
    record = do_release(setup, setup.bundle())
    assert record.exit_code == 0
    (wait,) = setup.sleeps
    assert 29 <= wait <= 32
    assert len(setup.fake.state.tags) == 1


def test_primary_rate_limit_beyond_the_cap_fails_clearly(setup: Setup) -> None:
    setup.fake.primary_rate_limit_next("GET", "/repos/{owner}/{repo}/git/ref/{ref}", reset_in=3600)
    with pytest.raises(ServiceUnreachable, match="rate limit"):
        do_release(setup, setup.bundle())
    assert setup.sleeps == []


def test_immutable_release_refuses_late_uploads(setup: Setup) -> None:
    setup.fake.state.immutable_releases = True
    setup.fake.seed_tag("v1.0.0", setup.repo.head())
    setup.fake.seed_release("v1.0.0")  # published, immutable, without the evidence
    with pytest.raises(VerificationError, match="immutable"):
        do_release(setup, setup.bundle())


def test_rc_versions_are_prereleases(setup: Setup) -> None:
    record = do_release(setup, setup.bundle(version="v1.0.0-rc1"), version="v1.0.0-rc1")
    assert record.prerelease and setup.fake.release("v1.0.0-rc1").prerelease


@pytest.mark.parametrize("setup", ["https://ghe.example.com"], indirect=True)
def test_github_enterprise_server(setup: Setup) -> None:
    record = do_release(setup, setup.bundle())
    assert record.exit_code == 0
    assert record.release_url and record.release_url.startswith("https://ghe.example.com/")
    assert all(a.url.startswith("https://ghe.example.com/") for a in record.assets)


def test_asset_urls_are_the_published_ones(setup: Setup) -> None:
    record = do_release(setup, setup.bundle())
    assert all("/releases/download/v1.0.0/" in a.url for a in record.assets), record.assets


def test_reused_tag_naming_other_evidence_is_refused(setup: Setup) -> None:
    first = setup.bundle()
    setup.fake.crash_after("POST", "/repos/{owner}/{repo}/releases")
    with pytest.raises(SimulatedCrash):
        do_release(setup, first)
    # A new gate run for the same commit makes another bundle; the tag names the first one.
    with pytest.raises(VerificationError, match="already names the evidence"):
        do_release(setup, setup.bundle())
    assert do_release(setup, first).exit_code == 0


def test_crash_between_tag_object_and_ref(setup: Setup) -> None:
    bundle = setup.bundle()
    setup.fake.crash_after("POST", "/repos/{owner}/{repo}/git/tags")
    with pytest.raises(SimulatedCrash):
        do_release(setup, bundle)
    assert TAG_REF not in setup.fake.state.refs
    record = do_release(setup, bundle)
    assert record.exit_code == 0 and record.tag_action == "created"
    assert setup.fake.state.tags[setup.fake.state.refs[TAG_REF]].object_sha == setup.repo.head()
