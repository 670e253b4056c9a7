"""Session-wide test hygiene.

``clean_environ`` strips the variables that change relgate's behaviour (GitHub Actions detection,
run directories, colours) so a test run inside a CI job behaves like one on a laptop, "without having
to mock os.environ" everywhere. Tests that want Actions behaviour pass an explicit ``env`` mapping.
"""

from __future__ import annotations

import os

import pytest

_KEEP = {"RELGATE_STRICT_TESTS"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name in _KEEP:
            continue
        if name.startswith(("GITHUB_", "RUNNER_", "RELGATE_", "INPUT_", "ACTIONS_")) or name in {
            "CI",
            "ACT",
            "NO_COLOR",
            "FORCE_COLOR",
        }:
            monkeypatch.delenv(name, raising=False)
