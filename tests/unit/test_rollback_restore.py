"""A full rollback restores the database only when migrations were involved, and says why."""

from __future__ import annotations

import pytest

from relgate.deploy.schema import decide_restore, schema_after_note


@pytest.mark.parametrize(
    ("now", "target", "configured", "policy", "restore", "involved", "says"),
    [
        pytest.param("0001 0002", "0001 0002", True, "auto", False, False,
                     "no migration since v1 (schema unchanged: 0001 0002): the database needs "
                     "no restore", id="unchanged-no-restore"),
        pytest.param("0001 0002", "0001 0002", True, "always", True, False,
                     "restoring anyway, as --restore always asks", id="unchanged-always"),
        pytest.param("0001 0002 0003", "0001 0002", True, "auto", True, True,
                     "migrations were involved since v1 (schema 0001 0002 -> 0001 0002 0003)",
                     id="migrated"),
        pytest.param("0001", "0001 0002", True, "auto", True, True,
                     "schema 0001 0002 -> 0001", id="schema-went-backwards"),
        pytest.param("0001", "0001", False, "auto", True, None,
                     "unknown (no deploy.schema_version configured): restoring the backup as "
                     "--mode full asks", id="not-configured"),
        pytest.param(None, "0001", True, "auto", True, None,
                     "unknown (the schema version could not be read from the running stack)",
                     id="command-failed"),
        pytest.param("0001", None, True, "auto", True, None,
                     "unknown (the record of v1 holds no schema version)", id="no-schema-recorded"),
        pytest.param(None, None, True, "always", True, None, "is unknown", id="unknown-always"),
        pytest.param("", "", True, "auto", False, False, "schema unchanged", id="both-empty"),
    ],
)  # fmt: skip
def test_decide_restore(
    now: str | None,
    target: str | None,
    configured: bool,
    policy: str,
    restore: bool,
    involved: bool | None,
    says: str,
) -> None:
    decision = decide_restore(
        target_version="v1",
        schema_now=now,
        schema_target=target,
        configured=configured,
        policy=policy,  # type: ignore[arg-type]
    )
    assert (decision.restore, decision.migrations_involved) == (restore, involved)
    assert says in decision.reason


def test_a_long_schema_is_shortened_in_the_reason() -> None:
    long = " ".join(f"{n:04d}" for n in range(100))
    decision = decide_restore(
        target_version="v1", schema_now=long, schema_target=long, configured=True
    )
    assert not decision.restore and len(decision.reason) < 200 and "..." in decision.reason


@pytest.mark.parametrize(
    ("after", "restored", "ok", "says"),
    [
        pytest.param("0001", True, True, "schema 0001, as recorded with v1", id="matches"),
        pytest.param("0001 0002", True, False, "0001 0002 after the restore, but v1 was "
                     "recorded with 0001", id="differs-after-restore"),
        pytest.param("0001 0002", False, False, "without a restore", id="differs-no-restore"),
        pytest.param(None, True, False, "could not be read after the rollback", id="unreadable"),
    ],
)  # fmt: skip
def test_schema_after_the_rollback(after: str | None, restored: bool, ok: bool, says: str) -> None:
    matches, note = schema_after_note(
        target_version="v1", schema_after=after, schema_target="0001", restored=restored
    )
    assert matches is ok
    assert says in note
