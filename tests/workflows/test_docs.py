"""docs/actions.md's reference part is generated from the action.yml files and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.workflows._act import PROJECT


def _generator():  # scripts/ is not a package
    spec = importlib.util.spec_from_file_location(
        "gen_action_docs", PROJECT / "scripts" / "gen_action_docs.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_actions_reference_is_current() -> None:
    gen = _generator()
    doc = (PROJECT / "docs" / "actions.md").read_text(encoding="utf-8")
    assert gen.updated(doc, gen.render()) == doc, "run: python scripts/gen_action_docs.py"


def test_every_input_and_output_is_documented() -> None:
    gen = _generator()
    text = gen.render()
    import yaml

    for _key, path in gen.action_files():
        action = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        assert f"### {action['name']}" in text
        for name in [*action.get("inputs", {}), *action.get("outputs", {})]:
            assert f"| `{name}` |" in text, (path, name)


def test_check_mode_detects_staleness(tmp_path: Path) -> None:
    gen = _generator()
    doc = (PROJECT / "docs" / "actions.md").read_text(encoding="utf-8")
    stale = doc.replace("| `version` |", "| `versoin` |", 1)
    assert gen.updated(stale, gen.render()) != stale


def test_readme_actions_summary_is_current() -> None:
    gen = _generator()
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert gen.updated(readme, gen.render_summary()) == readme, (
        "run: python scripts/gen_action_docs.py"
    )
