"""Session-wide test hygiene.

``clean_environ`` strips the variables that change relgate's behaviour (GitHub Actions detection,
run directories, colours) so a test run inside a CI job behaves like one on a laptop, "without having
to mock os.environ" everywhere. Tests that want Actions behaviour pass an explicit ``env`` mapping.

It also gives every test its own ``HOME`` and XDG directories *in the process environment*: relgate
expands ``~`` (the default lock dir ``~/.local/state/relgate/locks``, the state dir) from the real
``$HOME``, so a test that only put ``HOME`` in the env dict it passed to ``main()`` shared one lock
file with every other relgate process on the machine — and went red whenever another suite (or
another engineer's run) held it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._registry import REGISTRY_BIN, Registry, start_registry
from tests._tools import require_tool

_KEEP = {"RELGATE_STRICT_TESTS"}

# git needs an identity once HOME no longer points at the user's ~/.gitconfig.
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "relgate tests",
    "GIT_AUTHOR_EMAIL": "tests@relgate.invalid",
    "GIT_COMMITTER_NAME": "relgate tests",
    "GIT_COMMITTER_EMAIL": "tests@relgate.invalid",
}


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for name in list(os.environ):
        if name in _KEEP:
            continue
        if name.startswith(("GITHUB_", "RUNNER_", "RELGATE_", "INPUT_", "ACTIONS_")) or name in {
            "CI",
            "ACT",
            "NO_COLOR",
            "FORCE_COLOR",
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
        }:
            monkeypatch.delenv(name, raising=False)
    home: Path = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    for var, value in _GIT_IDENTITY.items():
        monkeypatch.setenv(var, value)
    # git must not read the machine's global config (HOME changed) nor a system one.
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A real distribution registry on 127.0.0.1:<free port>, one per session (tests/_registry.py).

    Fails instead of skipping under RELGATE_STRICT_TESTS=1 when the binary or Docker is missing.
    """
    require_tool("docker")
    require_tool(REGISTRY_BIN)
    started = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield started
    finally:
        started.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a test that needs Docker or PostgreSQL (by its fixtures) without saying so in its
    markers: ``-m "not docker"`` must not run it (see tests/_markers.py)."""
    from tests._markers import missing_markers

    problems = []
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        lacking = missing_markers(fixtures, (m.name for m in item.iter_markers()))
        if lacking:
            marks = ", ".join(f"@pytest.mark.{m}" for m in lacking)
            problems.append(f"{item.nodeid}: needs {marks} (it uses {', '.join(fixtures)})")
    if problems:
        raise pytest.UsageError(
            "tests without the marker their fixtures need:\n" + "\n".join(problems)
        )
