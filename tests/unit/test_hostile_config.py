"""``relgate config check`` on hostile files: exit 2, ``file:line`` and a clear message, never an
internal error (issue 15 item 5).

Each fixture under ``fixtures/hostile/`` is a valid relgate.yml with one hostile part; its first
line says where the problem is and a fragment of the message: ``# expect: <line> <fragment>``.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from relgate.cli import main

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "hostile").glob("*.yml"))


def _expectation(path: Path) -> tuple[int, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    _, line, fragment = first.split(" ", 2)[0], *first.removeprefix("# expect: ").split(" ", 1)
    return int(line), fragment


def test_there_are_enough_hostile_fixtures() -> None:
    assert len(FIXTURES) >= 30


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_hostile_config_is_bad_input_with_file_and_line(path: Path) -> None:
    line, fragment = _expectation(path)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(path), "config", "check"], env={}, stdout=out, stderr=err)
    text = out.getvalue() + err.getvalue()
    assert code == 2, text
    assert "internal error" not in text and "Traceback" not in text
    assert f"{path}:{line}" in text, text
    assert fragment in text, text
