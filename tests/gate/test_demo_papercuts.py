"""``relgate demo`` as a new user meets it: flags it cannot honour, a reused home, the closing
hints, and the temp homes it leaves behind (issue 18)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relgate.demo.run import _HOME_MARK, _HOME_PREFIX, _prune_old_homes, relgate_command

RELGATE = str(Path(sys.executable).with_name("relgate"))


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
        "TMPDIR": str(tmp_path),
    }


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RELGATE, *args],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(["--config", "/nonexistent.yml"], id="config"),
        pytest.param(["--env", "prod"], id="env"),
        pytest.param(["--run-dir", "/tmp/x"], id="run-dir"),
    ],
)
def test_demo_refuses_flags_it_would_ignore(tmp_path: Path, flags: list[str]) -> None:
    done = _demo(tmp_path, *flags, "demo")
    assert done.returncode == 2, done.stdout + done.stderr
    assert flags[0] in done.stderr and "packaged relgate.yml" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_demo_twice_in_one_home_still_renders_notes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _demo(tmp_path, "demo", "--home", str(home))
    assert first.returncode == 0, first.stdout + first.stderr
    second = _demo(tmp_path, "demo", "--home", str(home))
    out = second.stdout + second.stderr
    assert second.returncode == 0, out
    assert "git is absent" not in out and "skipped" not in out.split("release notes:")[-1][:40]
    assert re.search(r"^release notes: \S+RELEASE_NOTES_v1\.0\.0\.md$", out, re.M), out
    # The closing hint is a command the same shell can run as printed.
    hint = re.search(r"^  (\S+) evidence show (\S+)$", out, re.M)
    assert hint, out
    shown = subprocess.run(
        [hint.group(1), "evidence", "show", hint.group(2)],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr


def test_relgate_command_is_runnable_from_here() -> None:
    command = relgate_command()
    argv = command.split(" ") if " -m " in command else [command]
    done = subprocess.run(
        [*argv, "--version"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith("relgate "), done


def test_old_demo_homes_are_pruned_and_foreign_dirs_kept(tmp_path: Path) -> None:
    now = time.time()
    made = []
    for age_h in (0, 1, 2, 3, 4, 5, 30):
        home = tmp_path / f"{_HOME_PREFIX}{age_h:02d}"
        home.mkdir()
        mark = home / _HOME_MARK
        mark.touch()
        os.utime(mark, (now - age_h * 3600, now - age_h * 3600))
        made.append(home)
    foreign = tmp_path / f"{_HOME_PREFIX}not-mine"  # no mark: someone else's directory
    foreign.mkdir()
    target = tmp_path / "precious"
    target.mkdir()
    (tmp_path / f"{_HOME_PREFIX}link").symlink_to(target)
    removed = set(_prune_old_homes(tmp_path, now=now))
    # The newest four stay (the demo about to start makes the fifth); the day-old one goes.
    assert removed == set(made[4:])
    assert all(h.exists() for h in made[:4])
    assert foreign.exists() and target.exists()
