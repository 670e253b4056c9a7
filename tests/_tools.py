"""Whether an external tool is available, and what a test does when it is not.

On a laptop a test that needs Docker, act or PostgreSQL skips when the tool is missing. In CI
(``RELGATE_STRICT_TESTS=1``, set by ``.ci/run``) the same test fails instead: a silent skip would
let the run go green without proving anything.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

__all__ = ["STRICT", "have_tool", "require_tool"]

STRICT = os.environ.get("RELGATE_STRICT_TESTS") == "1"


def _ok(argv: list[str], timeout: float = 20) -> bool:
    try:
        return (
            subprocess.run(argv, capture_output=True, timeout=timeout, check=False).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def have_tool(name: str) -> tuple[bool, str]:
    """(available, reason) for a named tool; cached for the session."""
    if name == "docker":
        if not shutil.which("docker"):
            return False, "docker CLI not installed"
        if not _ok(["docker", "info"]):
            return False, "Docker daemon not reachable (start dockerd)"
        if not _ok(["docker", "compose", "version"]):
            return False, "docker compose v2 plugin missing"
        return True, ""
    if name == "postgres":
        for candidate in ("initdb", "pg_ctl", "postgres", "psql", "pg_dump", "pg_restore"):
            if not (shutil.which(candidate) or _pg_bin(candidate)):
                return False, f"PostgreSQL program {candidate} not found"
        return True, ""
    if not shutil.which(name):
        return False, f"{name} not installed"
    return True, ""


def _pg_bin(program: str) -> str | None:
    import glob

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"))
    return found[-1] if found else None


def require_tool(name: str) -> None:
    """Skip (or, in strict mode, fail) the calling test when ``name`` is unavailable."""
    ok, reason = have_tool(name)
    if ok:
        return
    if STRICT:
        pytest.fail(f"RELGATE_STRICT_TESTS=1 and {reason}", pytrace=False)
    pytest.skip(reason)
