"""Run relgate's workflows and actions under act, on this host, with no access to github.com.

* :func:`make_repo` copies relgate's source (what git tracks or would track, minus tests and
  benchmarks) into a fresh git repository whose ``origin`` says ``acme/<name>``, plus any files the
  test adds (a harness workflow, an application's relgate.yml);
* :func:`standin_mapping` maps every remote action pinned by SHA in the workflows and actions to its
  stand-in under ``tests/action_standins`` (a pin without a stand-in fails the test);
* :func:`run_act` runs one event with ``-P ubuntu-latest=-self-hosted`` (steps run on this host) and
  returns the per-job results parsed from act's JSON log.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
STANDINS = PROJECT / "tests" / "action_standins"
_SKIP_TOP = {"tests", "bench", ".relgate", "runs"}
_PIN = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})\b")


def project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [p for p in out.split("\0") if p and p.split("/", 1)[0] not in _SKIP_TOP]


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "relgate tests",
        "GIT_AUTHOR_EMAIL": "tests@relgate.invalid",
        "GIT_COMMITTER_NAME": "relgate tests",
        "GIT_COMMITTER_EMAIL": "tests@relgate.invalid",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, check=True, text=True
    ).stdout.strip()


def make_repo(dest: Path, *, name: str = "relgate", extra: dict[str, str] | None = None) -> str:
    """A git repository with relgate's source plus ``extra`` files; returns the HEAD commit."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in project_files():
        src = PROJECT / rel
        if not src.is_file():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    for rel, text in (extra or {}).items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "remote", "add", "origin", f"https://github.com/acme/{name}.git")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "relgate under test")
    return _git(dest, "rev-parse", "HEAD")


def commit_all(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def tag(repo: Path, name: str) -> None:
    _git(repo, "tag", "-a", name, "-m", name)


def pinned_uses(root: Path = PROJECT) -> set[tuple[str, str]]:
    """Every ``owner/name@<sha>`` used by relgate's actions and workflows."""
    files = [root / "action.yml", *root.glob("actions/*/action.yml")]
    files += [*root.glob(".github/workflows/*.yml"), *root.glob("examples/workflows/*.yml")]
    found: set[tuple[str, str]] = set()
    for path in files:
        found.update(_PIN.findall(path.read_text(encoding="utf-8")))
    return found


def standin_mapping(root: Path = PROJECT) -> list[str]:
    """``--local-repository`` arguments for every pinned remote action."""
    args = []
    for repo, sha in sorted(pinned_uses(root)):
        owner, name = repo.split("/")
        standin = STANDINS / name
        if owner != "actions" or not (standin / "action.yml").is_file():
            raise AssertionError(f"{repo}@{sha} is pinned but has no stand-in under {STANDINS}")
        args += ["--local-repository", f"{repo}@{sha}={standin}"]
    return args


@dataclass
class ActRun:
    returncode: int
    log: list[dict[str, Any]]
    text: str
    jobs: dict[str, str] = field(default_factory=dict)

    def output_of(self, job: str) -> str:
        """Every step line act printed for ``job`` (jobID or name prefix)."""
        return "\n".join(
            str(e.get("msg", ""))
            for e in self.log
            if e.get("jobID") == job or str(e.get("job", "")).endswith("/" + job)
        )

    def describe(self) -> str:
        lines = [str(e.get("msg", "")).rstrip() for e in self.log]
        return "\n".join(lines[-150:]) + "\n--- non-JSON output ---\n" + self.text[-3000:]


def run_act(
    repo: Path,
    workflow: str,
    *,
    event: dict[str, Any],
    env: dict[str, str],
    event_name: str = "workflow_dispatch",
    timeout: float = 600,
    job: str | None = None,
    extra_args: list[str] | None = None,
) -> ActRun:
    event_file = repo.parent / f"{repo.name}-event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    argv = [
        "act",
        event_name,
        "-W",
        workflow,
        "-e",
        str(event_file),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--json",
        *standin_mapping(repo),
    ]
    if job:
        argv += ["-j", job]
    argv += extra_args or []
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "ACT_DISABLE_VERSION_CHECK": "1",
        **env,
    }
    proc = subprocess.run(
        argv, cwd=repo, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    log: list[dict[str, Any]] = []
    other: list[str] = []
    for line in (proc.stdout + "\n" + proc.stderr).splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            other.append(line)
            continue
        if isinstance(entry, dict):
            log.append(entry)
    jobs = {str(e["jobID"]): str(e["jobResult"]) for e in log if e.get("jobResult")}
    return ActRun(proc.returncode, log, "\n".join(other), jobs)


# -- helpers of the end-to-end tests ---------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_service(state: Path) -> None:
    """Stop the demo service a process-driver deploy left running (its pid files in ``state``)."""
    for pid_file in (state / "process").glob("*.pid.json"):
        try:
            pid = int(json.loads(pid_file.read_text()).get("pid", 0))
        except (OSError, ValueError):
            continue
        if pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def verify_bundle(bundle: Path) -> dict[str, Any]:
    """``relgate evidence verify`` (in-process); fails the test unless the bundle verifies."""
    from relgate.cli import main as _relgate_main

    out, err = io.StringIO(), io.StringIO()
    code = _relgate_main(
        ["--json", "evidence", "verify", str(bundle), "--require", "deploy"],
        env={},
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue() + out.getvalue()
    return json.loads(out.getvalue())


def bundle_files(bundle: Path) -> dict[str, bytes]:
    """Every file of the bundle, read through relgate's verifying reader."""
    from relgate.evidence.bundle import open_bundle

    opened = open_bundle(bundle)
    return {name: opened.read(name) for name in opened.names()}


def stage_result(members: dict[str, bytes], stage: str) -> dict[str, Any]:
    return json.loads(members[f"results/{stage}.json"])
