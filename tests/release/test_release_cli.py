"""``relgate release`` through the CLI: exit codes, outputs and the job summary."""

from __future__ import annotations

import io
import json
from pathlib import Path

from relgate.cli import main
from relgate.results import Status
from tests.release.conftest import Setup


def cli(s: Setup, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "--json",
            "--config",
            str(s.tmp / "relgate.yml"),
            "--run-dir",
            str(s.tmp / "cli-run"),
            *args,
        ],
        env=env or s.env,
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


def test_release_exit_0_with_outputs(setup: Setup, tmp_path: Path) -> None:
    bundle = setup.bundle()
    outputs = tmp_path / "gh-output"
    summary = tmp_path / "gh-summary"
    env = {
        **setup.env,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_SHA": setup.repo.head(),
        "GITHUB_RUN_ID": "777",
        "GITHUB_REPOSITORY": "acme/app",
    }
    code, out, err = cli(setup, "release", "--bundle", str(bundle), "--version", "v1.0.0", env=env)
    assert code == 0, err
    record = json.loads(out)
    assert record["status"] == "passed" and record["api_requests"] == 9
    text = outputs.read_text()
    assert "release-url<<" in text and "https://github.com/acme/app/releases/tag/v1.0.0" in text
    assert "asset-urls<<" in text and bundle.name in text
    assert "v1.0.0" in summary.read_text() and record["bundle_digest"] in summary.read_text()
    assert record["signed_by"] == "gate-test"
    assert "Evidence signed by gate-test" in summary.read_text()


def test_unauthenticated_evidence_is_said_in_the_summary_and_json(
    setup: Setup, tmp_path: Path
) -> None:
    setup.without_keys()
    summary = tmp_path / "gh-summary"
    env = {
        **setup.env,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_SHA": setup.repo.head(),
    }
    code, out, err = cli(
        setup, "release", "--bundle", str(setup.bundle()), "--version", "v1.0.0", env=env
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["signed_by"] is None and record["authenticity"].startswith("unauthenticated")
    assert any("unauthenticated" in w for w in record["warnings"])
    assert "::warning" in err + out and "unauthenticated" in err + out
    assert "Evidence unauthenticated" in summary.read_text()


def test_a_commit_prefix_is_bad_input(setup: Setup) -> None:
    bundle = setup.bundle()
    code, _, err = cli(
        setup,
        "release",
        "--bundle",
        str(bundle),
        "--version",
        "v1.0.0",
        "--commit",
        setup.repo.head()[:7],
    )
    assert code == 2 and "full 40-hex commit sha" in err
    assert setup.fake.requests == []


def test_refusal_is_exit_1_with_the_reason(setup: Setup) -> None:
    bundle = setup.bundle(smoke=Status.FAILED)
    code, out, err = cli(setup, "release", "--bundle", str(bundle), "--version", "v1.0.0")
    assert code == 1
    assert "smoke: required to pass but failed" in err
    assert json.loads(out)["outcome"] == "refused"


def test_missing_token_is_bad_input(setup: Setup) -> None:
    env = {k: v for k, v in setup.env.items() if k != "GITHUB_TOKEN"}
    code, _, err = cli(
        setup, "release", "--bundle", str(setup.bundle()), "--version", "v1.0.0", env=env
    )
    assert code == 2 and "GITHUB_TOKEN is not set" in err


def test_tampered_bundle_is_exit_1(setup: Setup) -> None:
    bundle = setup.bundle()
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundle.write_bytes(bytes(data))
    code, _, _ = cli(setup, "release", "--bundle", str(bundle), "--version", "v1.0.0")
    assert code == 1
    assert setup.fake.requests == []
