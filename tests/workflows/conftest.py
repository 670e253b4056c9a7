"""Fixtures for the workflow and action tests: a shared venv cache and a stand-in artifact store."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def action_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where run.sh keeps relgate's venv (RELGATE_ACTION_CACHE), shared by every act run of the
    session: the first run installs relgate, the others prove that reuse works."""
    return tmp_path_factory.mktemp("relgate-action-cache")
