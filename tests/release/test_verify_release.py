"""``relgate verify-release``: the tag's digest, the attached bundle and its verdicts agree."""

from __future__ import annotations

import io
import json

from relgate.cli import main
from relgate.release import release, tag_digest, verify_release
from relgate.results import Status
from tests.release.conftest import Setup


def published(s: Setup) -> str:
    bundle = s.bundle()
    record = release(s.config, s.new_run(), bundle=bundle, version="v1.0.0", github=s.client())
    assert record.exit_code == 0
    return bundle.name


def test_verify_a_good_release(setup: Setup) -> None:
    published(setup)
    result = verify_release(setup.config, "v1.0.0", env=setup.env, github=setup.client())
    assert result.status is Status.PASSED, result.problems
    assert result.commit == setup.repo.head()
    assert result.verdicts["deploy"] == "passed" and result.verdicts["smoke"] == "passed"
    assert result.tag_digest == result.bundle_digest


def test_a_swapped_bundle_is_caught(setup: Setup) -> None:
    name = published(setup)
    # Someone replaces the attached bundle with evidence of another run (a valid bundle).
    other = setup.bundle().read_bytes()
    asset = next(a for a in setup.fake.release("v1.0.0").assets if a.name == name)
    asset.data = other
    result = verify_release(setup.config, "v1.0.0", env=setup.env, github=setup.client())
    assert result.status is Status.FAILED and result.exit_code == 1
    assert any(p.startswith("digest: ") for p in result.problems)


def test_a_lightweight_tag_has_no_evidence(setup: Setup) -> None:
    setup.fake.seed_tag("v2.0.0", setup.repo.head())
    setup.fake.seed_release("v2.0.0")
    result = verify_release(setup.config, "v2.0.0", env=setup.env, github=setup.client())
    assert result.exit_code == 1
    assert any("lightweight" in p for p in result.problems)
    assert any("evidence bundle" in p for p in result.problems)


def test_cli_prints_the_evidence_summary(setup: Setup) -> None:
    published(setup)
    out, err = io.StringIO(), io.StringIO()
    # The CLI builds its own client from the environment: the fake answers it the same way.
    code = main(
        ["--json", "--config", str(setup.tmp / "relgate.yml"), "verify-release", "v1.0.0"],
        env=setup.env,
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert doc["status"] == "passed" and doc["verdicts"]["smoke"] == "passed"
    assert doc["signed_by"] == "gate-test" and doc["authenticity"] == "signed by gate-test"
    assert "stage deploy" in err.getvalue() and "passed" in err.getvalue()


def test_tag_digest_parsing() -> None:
    d = "sha256:" + "a" * 64
    assert tag_digest(f"x\n\nRelgate-Evidence-Digest: {d}\n") == d
    assert tag_digest(f"Evidence digest: {d}\n") == d
    assert tag_digest("no digest here") is None
    assert tag_digest(f"{d} and sha256:{'b' * 64}") is None  # ambiguous


def test_a_draft_is_not_a_published_release(setup: Setup) -> None:
    bundle = setup.bundle()
    release(
        setup.config,
        setup.new_run(),
        bundle=bundle,
        version="v1.0.0",
        draft=True,
        github=setup.client(),
    )
    result = verify_release(setup.config, "v1.0.0", env=setup.env, github=setup.client())
    assert result.exit_code == 1 and result.draft
    assert result.problems == ["the release of v1.0.0 is still a draft (not published)"]
