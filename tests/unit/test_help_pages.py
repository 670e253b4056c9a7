"""Every ``--help`` page, nested ones included, shows examples and the exit codes (issue 18)."""

from __future__ import annotations

import argparse

import pytest

from relgate.cli import build_parser


def _pages() -> list[tuple[str, argparse.ArgumentParser]]:
    pages = []

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    pages.append((child.prog, child))
                    walk(child)

    walk(build_parser())
    return pages


PAGES = _pages()


@pytest.mark.parametrize("parser", [p for _, p in PAGES], ids=[name for name, _ in PAGES])
def test_help_page_has_examples_and_exit_codes(parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    examples = text.split("examples:\n", 1)
    assert len(examples) == 2, text[-600:]
    first = examples[1].splitlines()[0]
    assert first.startswith("  ") and "relgate " in first, first
    assert "exit codes:" in text


def test_nested_pages_were_found() -> None:
    names = {name for name, _ in PAGES}
    assert {"relgate evidence verify", "relgate lock recover", "relgate config check"} <= names


def test_examples_name_the_default_bundle_format() -> None:
    # The default bundle is .tar.zst; an example with .tar.gz would teach the wrong name.
    for _name, parser in PAGES:
        for line in (parser.epilog or "").splitlines():
            if "bundle" in line and "--format" not in line:
                assert ".tar.gz" not in line, line


def test_every_command_is_in_the_readme_reference() -> None:
    from pathlib import Path

    from relgate.cli import COMMANDS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Reference") :]
    missing = [c for c in COMMANDS if f"`relgate {c.replace('_', '-')}" not in table]
    assert not missing, f"commands missing from the README's reference table: {missing}"
