"""The media-ingest runbook (seed 003) end to end on the real engine and a real registry.

Pull by tag → ``up -d core ingest-cron ui caddy db`` → health URL through the front → migrations,
readiness and probe with ``compose exec core php bin/console …`` → ingest-cron's logs show a fresh
poll. Each broken release stops the deploy with its cause and brings the previous digests back; every
failure says whether the database needs a restore, and why.
"""

from __future__ import annotations

import pytest

from tests.runbook2.conftest import Retaia

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def console(name: str, *args: str) -> dict[str, object]:
    return {"name": name, "service": "core", "command": ["php", "bin/console", *args],
            "timeout": "30s"}  # fmt: skip


RUNBOOK = {
    "post_deploy": [
        console("migrations", "doctrine:migrations:migrate", "--no-interaction"),
        console("readiness", "app:ops:readiness-check"),
        console("sentry-probe", "app:sentry:probe"),
    ],
    "log_assertions": [
        {"service": "ingest-cron", "pattern": r"ingest poll: scanned", "max_age": "5s"}
    ],
    "schema_version": {
        "service": "core",
        "command": ["php", "bin/console", "doctrine:migrations:list"],
    },
}


@pytest.fixture
def runbook(retaia: Retaia) -> Retaia:
    retaia.deploy_cfg = dict(RUNBOOK)
    # the UI is versioned on its own (RETAIA_UI_IMAGE in the runbook): pinned per service
    retaia.stack_cfg = {"images": {"ui": retaia.images.ref("ui", "v1.0.0")}}
    return retaia


def test_a_good_release_then_a_second_one(runbook: Retaia) -> None:
    first = runbook.deploy("v1.0.0")
    assert first.passed, first.summary
    assert [c.name for c in first.post_deploy] == [
        "post-migrations", "post-readiness", "post-sentry-probe"]  # fmt: skip
    assert all(c.ok for c in first.post_deploy)
    (check,) = first.log_assertions
    assert check.ok and "ingest poll: scanned" in (check.matched_line or "")
    assert check.matched_age_s is not None and check.matched_age_s <= 5
    assert first.schema_after == "0001 0002"
    assert first.http is not None and first.http.ok  # /api/v1/health through caddy to core
    second = runbook.deploy("v1.0.1")
    assert second.passed, second.summary
    assert (second.schema_before, second.schema_after) == ("0001 0002", "0001 0002")
    assert second.migrations_involved is False
    assert runbook.running()["core"] == runbook.images.ref("core", "v1.0.1")


def _previous_digests_run_again(runbook: Retaia) -> None:
    running = runbook.running()
    core = f"{runbook.images.registry.host}/{runbook.images.namespace}/core"
    digest = runbook.images.digest("core", "v1.0.0")
    assert running["core"] == f"{core}@{digest}"
    assert running["ingest-cron"] == f"{core}@{digest}"


@pytest.mark.parametrize(
    ("version", "cause", "db_note"),
    [
        pytest.param(
            "v1.1.0-noready",
            "post-deploy command 'readiness' exited 1",
            "migrations were involved (schema 0001 0002 -> 0001 0002 0003)",
            id="readiness-fails",
        ),
        pytest.param(
            "v1.1.0-nopoll",
            "ingest-cron: no log line matching /ingest poll: scanned/ in the last 5s",
            "no migration was involved (schema unchanged: 0001 0002)",
            id="ingest-stops-polling",
        ),
        pytest.param(
            "v1.1.0-badmig",
            "post-deploy command 'migrations' exited 1",
            "no migration was involved",
            id="migration-fails",
        ),
    ],
)
def test_a_broken_release_goes_back_to_the_previous_digests(
    runbook: Retaia, version: str, cause: str, db_note: str
) -> None:
    assert runbook.deploy("v1.0.0").passed
    result = runbook.deploy(version)
    assert result.outcome == "rolled_back", result.summary
    assert result.exit_code == 1
    assert cause in result.summary
    assert db_note in result.summary
    assert result.rollback is not None and result.rollback.healthy
    _previous_digests_run_again(runbook)
