"""The composite actions install only what the locks pin, by hash (issue 18: supply chain).

``actions/_lib/requirements.lock`` must pin every runtime dependency pyproject.toml declares, at a
version its specifier accepts, with hashes; ``run.sh`` must install it and the installer (uv) with
``--require-hashes`` and wheels only. Regenerate with ``scripts/lock-action-deps.sh``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "actions" / "_lib"


def _pins(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from a pip requirements file in hash-checking form."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        assert m, f"{path.name}: not an exact pin: {line[:80]}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        pins[canonicalize_name(m.group(1).split("[")[0])] = (m.group(2), hashes)
    return pins


def test_every_pinned_package_carries_hashes() -> None:
    for lock in (LIB / "requirements.lock", LIB / "uv.lock.txt"):
        pins = _pins(lock)
        assert pins, f"{lock.name} is empty"
        for name, (_version, hashes) in pins.items():
            assert hashes, f"{lock.name}: {name} has no --hash"


def test_lock_pins_every_runtime_dependency_at_an_accepted_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = _pins(LIB / "requirements.lock")
    problems = []
    for spec in pyproject["project"]["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{req.name}=={pins[name][0]} does not satisfy '{req.specifier}'")
    assert not problems, (
        "actions/_lib/requirements.lock is stale, run scripts/lock-action-deps.sh: "
        + "; ".join(problems)
    )


@pytest.mark.parametrize("lock", ["requirements.lock", "uv.lock.txt"])
def test_run_sh_installs_the_lock_with_require_hashes_and_wheels_only(lock: str) -> None:
    script = (LIB / "run.sh").read_text(encoding="utf-8").replace("\\\n", " ")
    var = {"requirements.lock": "$lock", "uv.lock.txt": "$uv_lock"}[lock]
    commands = [c for c in script.splitlines() if "install" in c and f'-r "{var}"' in c]
    assert commands, f"run.sh never installs {lock}"
    for command in commands:
        assert "--require-hashes" in command and "--only-binary :all:" in command, command


def test_no_unpinned_pip_install_anywhere_in_the_actions() -> None:
    offenders = []
    for path in [ROOT / "action.yml", *sorted((ROOT / "actions").rglob("*"))]:
        if path.is_file() and path.suffix in {".yml", ".sh", ".py"}:
            text = path.read_text(encoding="utf-8").replace("\\\n", " ")
            for line in text.splitlines():
                if re.search(r"\bpip install\b", line) and "--require-hashes" not in line:
                    offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not offenders, offenders


def test_every_third_party_import_of_relgate_is_a_declared_dependency() -> None:
    """A module relgate imports but pyproject does not declare works in a dev venv (where a test
    tool pulled it in) and fails in the action's locked venv — at the first smoke with a regex."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {
        canonicalize_name(Requirement(s).name) for s in pyproject["project"]["dependencies"]
    }
    providers = packages_distributions()
    missing = set()
    for path in sorted((ROOT / "relgate").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "relgate" or top in sys.stdlib_module_names:
                    continue
                dists = {canonicalize_name(d) for d in providers.get(top, [top])}
                if not dists & declared:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported by relgate but not in pyproject dependencies: {sorted(missing)}"


@pytest.mark.slow
def test_a_shared_cache_never_points_one_checkout_at_another(tmp_path: Path) -> None:
    """Two jobs, two checkouts of the same relgate in different places, one action cache (a
    self-hosted runner's): the second job must import *its* relgate, even once the first
    checkout is gone (it failed with "No module named relgate" when the venv linked to it)."""
    import shutil
    import subprocess

    def checkout(where: Path) -> Path:
        for part in ("relgate", "actions", "templates", "schema"):
            shutil.copytree(
                ROOT / part, where / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
        return where

    cache = tmp_path / "cache"
    cache.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "RELGATE_ACTION_CACHE": str(cache)}

    def job(where: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(where / "actions" / "_lib" / "run.sh"), "no-such"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    first = job(checkout(tmp_path / "job1"))
    # invoke.py imported relgate (its reporter said the command is unknown): exit 2, not 1/3.
    assert first.returncode == 2 and "unknown relgate action command" in first.stdout, first
    second_checkout = checkout(tmp_path / "job2")
    shutil.rmtree(tmp_path / "job1")
    second = job(second_checkout)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "reusing" in second.stdout and "No module named" not in second.stdout + second.stderr
