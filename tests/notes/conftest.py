"""Real git repositories for the notes tests, built with git itself (and fast-import for size)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._tools import require_tool


class GitRepo:
    """A throwaway repository; commit dates advance one minute per commit (stable order)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tick = 0
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.name", "Alice Dev")
        self.git("config", "user.email", "alice@example.com")
        self.git("config", "commit.gpgsign", "false")
        self.git("config", "tag.gpgsign", "false")

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            check=True,
            env=full_env,
        )
        return proc.stdout.strip()

    def _dates(self) -> dict[str, str]:
        self.tick += 1
        date = f"2026-01-{1 + self.tick // 1440:02d}T{(self.tick // 60) % 24:02d}:{self.tick % 60:02d}:00Z"
        return {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}

    def commit(self, message: str, *, author: tuple[str, str] | None = None) -> str:
        # One file per commit: branches never conflict when merged.
        name = f"change-{self.tick}.txt"
        (self.path / name).write_text(f"{message}\n", encoding="utf-8")
        self.git("add", name)
        env = self._dates()
        if author:
            env |= {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1]}
        self.git("commit", "-q", "-m", message, env=env)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, *, annotated: bool = True) -> None:
        if annotated:
            self.git("tag", "-a", name, "-m", f"release {name}", env=self._dates())
        else:
            self.git("tag", name)

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.git("checkout", "-q", "-b", name, start)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)

    def merge(self, branch: str, message: str) -> str:
        self.git("merge", "-q", "--no-ff", "-m", message, branch, env=self._dates())
        return self.head()

    def fast_import(self, count: int, *, branch: str = "main") -> None:
        """``count`` commits appended to ``branch`` in one git fast-import (seconds, not minutes)."""
        parent = self.git("rev-parse", "--verify", "-q", branch) if self.tick else ""
        lines: list[str] = []
        kinds = ["feat", "fix", "docs", "chore", "refactor", "perf", "test"]
        for i in range(count):
            kind = kinds[i % len(kinds)]
            msg = f"{kind}(mod{i % 13}): change number {i}"
            if i % 10 == 0:
                msg = f"Plain commit {i} without a type"
            if i % 97 == 0:
                msg += f" (#{1000 + i})"
            body = msg.encode() + (b"\n\nBREAKING CHANGE: api v%d\n" % i if i % 500 == 0 else b"\n")
            when = 1767225600 + i * 60
            lines.append(f"commit refs/heads/{branch}")
            lines.append(f"mark :{i + 1}")
            lines.append(f"author Dev {i % 37} <dev{i % 37}@example.com> {when} +0000")
            lines.append(f"committer Dev {i % 37} <dev{i % 37}@example.com> {when} +0000")
            lines.append(f"data {len(body)}")
            lines.append(body.decode())
            if i == 0 and parent:
                lines.append(f"from {parent}")
            lines.append(f"M 644 inline gen.txt\ndata {len(str(i))}\n{i}")
            lines.append("")
        subprocess.run(
            ["git", "-C", str(self.path), "fast-import", "--quiet"],
            input="\n".join(lines).encode(),
            check=True,
        )
        self.tick += count
        self.git("reset", "-q", "--hard", branch)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[GitRepo]:
    require_tool("git")
    yield GitRepo(tmp_path / "app")


CONFIG = """\
project:
  name: viatique
  repository: acme/viatique
  repo_path: app
  contacts:
    - {{name: Release Manager, email: rm@example.com}}
environments:
  staging: {{base_url: "http://127.0.0.1:8000"}}
notes:
{notes}
"""


def write_config(tmp_path: Path, notes: str = "  strict: true") -> Path:
    path = tmp_path / "relgate.yml"
    path.write_text(CONFIG.format(notes=notes), encoding="utf-8")
    return path


@pytest.fixture
def clean_env() -> dict[str, str]:
    """An environment without GITHUB_* variables: tests add what they need."""
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "RELGATE_"))
    }
    keep["NO_COLOR"] = "1"
    return keep
