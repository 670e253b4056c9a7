"""A 12,000-commit range, generated with git fast-import, rendered in one git log pass."""

from __future__ import annotations

import io
import json
from pathlib import Path

from relgate.cli import main
from tests.notes.conftest import GitRepo, write_config


def test_twelve_thousand_commits(tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]) -> None:
    repo.commit("chore: init")
    repo.tag("v1.0.0")
    repo.fast_import(12_000)
    repo.tag("v2.0.0-rc1")
    write_config(tmp_path)
    out = io.StringIO()
    code = main(
        [
            "--json",
            "--config",
            str(tmp_path / "relgate.yml"),
            "--run-dir",
            str(tmp_path / "run"),
            "notes",
            "--version",
            "v2.0.0",
            "--output",
            str(tmp_path / "notes.md"),
        ],
        env=clean_env,
        stdout=out,
        stderr=io.StringIO(),
    )
    assert code == 0
    result = json.loads(out.getvalue())
    assert result["commits"] == 12_000 and result["previous_tag"] == "v1.0.0"
    assert result["breaking"] == 24  # every 500th commit carries BREAKING CHANGE
    # Every 10th commit is not conventional; the 24 breaking ones among them are listed apart.
    assert result["groups"]["other"] == 1_200 - 24
    text = (tmp_path / "notes.md").read_text()
    assert text.count("\n- ") == 12_000 + 1  # every commit once, plus the contact line
    assert "#1097" in text  # "(#1097)" squash suffix became a PR reference
    # Speed is bench/notes_bench.py's question; this test proves 12k commits render correctly.
