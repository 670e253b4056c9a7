"""Test counts from JUnit XML reports (pytest, Surefire, Jest, go-junit-report…).

Counting ``<testcase>`` elements rather than trusting the ``tests=``/``failures=`` attributes of
``<testsuite>``: nested suites repeat their children's totals, and several producers omit or
miscount ``skipped``. A case is failed if it holds ``<failure>`` or ``<error>``, skipped if it holds
``<skipped>``, passed otherwise.
"""

from __future__ import annotations

import glob
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from relgate.errors import ConfigError, Problem

__all__ = ["TestCounts", "count_tests", "find_reports"]


@dataclass
class TestCounts:
    __test__ = False  # not a pytest class, despite the name

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    @property
    def summary(self) -> str:
        """``205 passed, 0 failed, 0 skipped`` — the line release managers copy by hand today."""
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def find_reports(patterns: Iterable[str], base: Path) -> list[Path]:
    found: dict[str, Path] = {}
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        for name in sorted(glob.glob(full, recursive=True)):
            if Path(name).is_file():
                found.setdefault(name, Path(name))
    return list(found.values())


def count_tests(paths: Iterable[Path]) -> TestCounts:
    counts = TestCounts()
    problems = []
    for path in paths:
        try:
            _count_file(path, counts)
        except (ET.ParseError, OSError) as exc:
            problems.append(Problem(str(path), getattr(exc, "position", (None,))[0], "", str(exc)))
            continue
        counts.files.append(str(path))
    if problems:
        raise ConfigError([*problems[:10]])
    return counts


def _count_file(path: Path, counts: TestCounts) -> None:
    # iterparse keeps memory flat on large reports; clearing finished cases frees them.
    outcome: str | None = None
    depth = 0
    # S314: reports come from the project's own CI; expat (>= 2.4) caps entity expansion and
    # ElementTree never fetches external entities, which is what defusedxml would add.
    for event, elem in ET.iterparse(path, events=("start", "end")):  # noqa: S314
        tag = elem.tag.rsplit("}", 1)[-1]
        if tag == "testcase":
            if event == "start":
                outcome, depth = "passed", depth + 1
                continue
            depth -= 1
            if outcome == "failed":
                counts.failed += 1
            elif outcome == "skipped":
                counts.skipped += 1
            else:
                counts.passed += 1
            elem.clear()
        elif depth and event == "start":
            if tag in ("failure", "error"):
                outcome = "failed"
            elif tag == "skipped" and outcome != "failed":
                outcome = "skipped"
