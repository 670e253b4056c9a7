"""Which fixtures need which marker, so ``-m "not docker"`` / ``-m "not postgres"`` really leave
out every test that needs Docker or PostgreSQL (a test that forgot its marker used to run anyway).

``tests/conftest.py`` refuses the session at collection when a test uses one of these fixtures
without the marker; :func:`missing_markers` is the rule, tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FIXTURE_MARKERS", "missing_markers"]

FIXTURE_MARKERS: dict[str, str] = {
    # the real Docker Engine
    "app_images": "docker",
    "compose_stack": "docker",
    "registry": "docker",
    "swarm1": "docker",
    "swarm3": "docker",
    # PostgreSQL server binaries
    "pg_cluster": "postgres",
    "database": "postgres",
    "db_workspace": "postgres",
}


def missing_markers(fixtures: Iterable[str], marks: Iterable[str]) -> list[str]:
    """The markers a test needs for the fixtures it uses and does not carry, sorted."""
    have = set(marks)
    return sorted({FIXTURE_MARKERS[f] for f in fixtures if f in FIXTURE_MARKERS} - have)
