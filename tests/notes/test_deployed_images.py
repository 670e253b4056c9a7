"""Release notes show per service the image reference, and its registry digest, that ran."""

from __future__ import annotations

import json
from pathlib import Path

from tests.notes.conftest import GitRepo
from tests.notes.test_notes_cli import history_with_rc, run_notes, write_config

DIGEST = "sha256:" + "cd" * 32


def test_notes_list_the_images_the_engine_reported(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    history_with_rc(repo)
    write_config(tmp_path, "  strict: true")
    results = tmp_path / "run" / "results"
    results.mkdir(parents=True)
    services = [
        {"name": "core", "image": "ghcr.io/retaia/core:v1.0.0", "image_id": "sha256:" + "1" * 64,
         "registry_digest": DIGEST},
        {"name": "db", "image": "retaia-db:local", "image_id": "sha256:" + "2" * 64,
         "registry_digest": None},
        {"name": "worker"},  # no image recorded: not listed
    ]  # fmt: skip
    (results / "deploy.json").write_text(json.dumps(
        {"stage": "deploy", "status": "passed", "outcome": "deployed", "services": services}))  # fmt: skip
    output = tmp_path / "notes.md"
    code, _, err = run_notes(tmp_path, clean_env, "--version", "v1.0.0", "--output", str(output))
    assert code == 0, err
    text = output.read_text()
    assert f"| core | `ghcr.io/retaia/core:v1.0.0` | `{DIGEST}` |" in text
    assert "| db | `retaia-db:local` | local image `sha256:222222222222` |" in text
    assert "worker" not in text
