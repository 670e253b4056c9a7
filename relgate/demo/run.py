"""``relgate demo``: the whole gate on the embedded demo service, with nothing but Python.

The demo is a real run, not a slideshow: it loads the packaged ``relgate.yml`` (process driver on
a free loopback port, state/locks/evidence in a temporary home), deploys v0.9.0 first so there is
a last-known-good to roll back to, then runs ``relgate gate`` for v1.0.0 — deploy, health gate,
the seed's 9-step smoke, archive, release notes — and verifies the bundle it produced. The service
is stopped at the end, whatever happened.

``--break deploy`` makes v1.0.0 crash on start (the deploy rolls back to v0.9.0); ``--break smoke``
makes v1.0.0 answer 503 to reads (smoke fails, the gate rolls back). Both still produce a
verifiable bundle and exit 1.

Run as ``python -m relgate.demo.run --port N --version V``, this module is the *launcher* the demo
config starts: it adds the break fault only when ``V`` is the broken version, then becomes the demo
service (``exec``), so the pid the deploy driver watches is the service's own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from relgate import proc
from relgate.actions_context import without_actions
from relgate.errors import CannotRun

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.gate import GateResult
    from relgate.gha import Reporter

__all__ = ["BREAKS", "DemoOutcome", "run_demo"]

Break = Literal["deploy", "smoke"]
BREAKS: tuple[Break, ...] = ("deploy", "smoke")
# The fault each break mode gives the new version (see relgate.demo.service's docstring).
_FAULTS: dict[str, str] = {"deploy": "crash-on-start", "smoke": "503-burst=1000"}
PREVIOUS, RELEASED = "v0.9.0", "v1.0.0"
ENVIRONMENT = "demo"
DEMO_KEY_ID = "relgate-demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105 (the demo service's documented default)
CONFIG = Path(__file__).with_name("relgate.yml")


@dataclass
class DemoOutcome:
    home: Path
    gate: GateResult
    bundle: str | None
    notes: str | None
    verified: bool


def run_demo(
    *,
    reporter: Reporter,
    env: Mapping[str, str],
    break_mode: Break | None = None,
    home: Path | None = None,
) -> DemoOutcome:
    """Run the demo; the gate's result says how it went (exit code 0, or 1 in a break mode)."""
    if home is None:
        _prune_old_homes(Path(tempfile.gettempdir()))
        home = Path(tempfile.mkdtemp(prefix=_HOME_PREFIX))
        (home / _HOME_MARK).touch()
    home.mkdir(parents=True, exist_ok=True)
    demo_env = _demo_env(env, home, break_mode)
    config = _load(demo_env, reporter)
    no_notes = _make_app_repo(home / "app")
    try:
        _establish_last_good(config, demo_env, home, reporter)
        result = _gate(config, demo_env, home, reporter, notes=no_notes is None)
    finally:
        _stop_service(config, demo_env, home)
    verified = _verify(result, reporter, config)
    _epilogue(reporter, home, result, no_notes, config)
    return DemoOutcome(home, result, result.bundle_path, result.notes_path, verified)


# -- steps --------------------------------------------------------------------------------------
def _demo_env(env: Mapping[str, str], home: Path, break_mode: Break | None) -> dict[str, str]:
    from relgate.evidence.keys import generate

    # GitHub's variables would make the demo's run id and lock mode those of a workflow run.
    demo = without_actions(env)
    password = env.get("RELGATE_DEMO_PASSWORD") or DEMO_PASSWORD
    demo.update(
        RELGATE_DEMO_HOME=str(home),
        RELGATE_DEMO_PORT=str(_free_port()),
        RELGATE_DEMO_PYTHON=sys.executable,
        RELGATE_DEMO_PASSWORD=password,
        SMOKE_PASS=password,
        RELGATE_DEMO_BREAK_VERSION=RELEASED if break_mode else "",
        RELGATE_DEMO_BREAK_FAULT=_FAULTS[break_mode] if break_mode else "",
    )
    demo.pop("RELGATE_RUN_DIR", None)
    # A key pair of its own: the demo's bundle is signed, and shown "signed by relgate-demo".
    pair = generate(DEMO_KEY_ID)
    demo.update(RELGATE_SIGNING_KEY=pair.private_key, RELGATE_DEMO_PUBKEY=pair.public_key)
    return demo


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load(env: Mapping[str, str], reporter: Reporter) -> RelgateConfig:
    from relgate.config import load_config

    return load_config(CONFIG, env=env, secrets=reporter.secrets)


def _make_app_repo(repo: Path) -> str | None:
    """A two-release git history for the notes. Returns why the notes must be skipped, or None.

    A home used before (``--home``) already has that history: it is reused as it is (tagging
    v0.9.0 again would fail, and the notes with it).
    """
    if shutil.which("git") is None:
        return "git is not installed"
    repo.mkdir(parents=True, exist_ok=True)
    ident = {
        "GIT_AUTHOR_NAME": "Demo Dev",
        "GIT_AUTHOR_EMAIL": "dev@demo.invalid",
        "GIT_COMMITTER_NAME": "Demo Dev",
        "GIT_COMMITTER_EMAIL": "dev@demo.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH": os.environ.get("PATH", ""),
    }

    def git(*args: str) -> proc.Finished:
        return proc.run(["git", "-C", str(repo), *args], env=ident, hint="the demo's notes")

    if (repo / ".git").exists() and git(
        "rev-parse", "-q", "--verify", f"{PREVIOUS}^{{commit}}"
    ).returncode == 0:
        return None
    steps = [
        ["init", "-q", "-b", "main"],
        ["commit", "-q", "--allow-empty", "-m", "feat: grading service with exams and copies"],
        ["tag", PREVIOUS],
        ["commit", "-q", "--allow-empty", "-m", "feat(grading): lock a copy while annotating"],
        ["commit", "-q", "--allow-empty", "-m", "fix(pdf): answer Range requests on final PDFs"],
    ]
    for args in steps:
        done = git(*args)
        if done.returncode != 0:
            last = (done.err or done.out).strip().splitlines()[-1:] or ["no output"]
            return f"`git {' '.join(args)}` failed in {repo}: {last[0]}"
    return None


# Demo homes made in the temp dir (not --home ones) are pruned at the next demo once they are a
# day old, keeping the newest few, so `relgate demo` run over and over does not fill /tmp.
_HOME_PREFIX = "relgate-demo-"
_HOME_MARK = ".relgate-demo-home"
_KEEP_HOMES = 5
_HOME_MAX_AGE_S = 24 * 3600


def _prune_old_homes(tmp: Path, *, now: float | None = None) -> list[Path]:
    now = time.time() if now is None else now
    homes = []
    for path in tmp.glob(_HOME_PREFIX + "*"):
        mark = path / _HOME_MARK
        # Only directories the demo made itself (the mark), never a symlink planted in /tmp.
        if path.is_dir() and not path.is_symlink() and mark.is_file():
            homes.append((mark.stat().st_mtime, path))
    homes.sort(reverse=True)
    removed = []
    for index, (made, path) in enumerate(homes):
        if index >= _KEEP_HOMES - 1 or now - made > _HOME_MAX_AGE_S:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _establish_last_good(
    config: RelgateConfig, env: dict[str, str], home: Path, reporter: Reporter
) -> None:
    from relgate.deploy.stage import deploy
    from relgate.gha import Reporter as _Reporter
    from relgate.results import Status
    from relgate.run import Run

    reporter.line(f"demo: deploying {PREVIOUS} first, so {RELEASED} has a last-known-good")
    with open(home / "setup.log", "w", encoding="utf-8") as log:
        quiet = _Reporter(log, env, reporter.secrets)
        run = Run.open(env=env, reporter=quiet, run_dir=home / "setup", environment=ENVIRONMENT)
        result = deploy(config, run, environment=ENVIRONMENT, version=PREVIOUS)
    if result.status is not Status.PASSED:
        raise CannotRun(
            f"demo setup: deploying {PREVIOUS} failed ({result.summary}); see {home}/setup.log"
        )


def _gate(
    config: RelgateConfig, env: dict[str, str], home: Path, reporter: Reporter, *, notes: bool
) -> GateResult:
    from relgate.gate import gate
    from relgate.run import Run

    reporter.line(f"demo: relgate gate --version {RELEASED} (environment {ENVIRONMENT})")
    run = Run.open(env=env, reporter=reporter, base_dir=home, environment=ENVIRONMENT)
    return gate(
        config,
        run,
        environment=ENVIRONMENT,
        version=RELEASED,
        wait_lock=timedelta(0),
        notes=notes,
    )


def _stop_service(config: RelgateConfig, env: dict[str, str], home: Path) -> None:
    """Stop whatever version the demo left running (the driver's pid file says which)."""
    import json

    _, env_config = config.environment(ENVIRONMENT)
    state = Path(getattr(env_config.stack, "state_dir", home / "process"))
    for pid_file in state.glob("*.pid.json"):
        try:
            pid = int(json.loads(pid_file.read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        _terminate_group(pid)


def _terminate_group(pid: int, timeout: float = 5.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)  # started in its own session: pgid == pid
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _verify(result: GateResult, reporter: Reporter, config: RelgateConfig) -> bool:
    from relgate.evidence.proof import Expected, prove, trusted_keys

    if not result.bundle_path:
        reporter.error("the gate produced no bundle", title="demo")
        return False
    proof = prove(Path(result.bundle_path), Expected(keys=tuple(trusted_keys(config))))
    if proof.report is None or not proof.ok or not proof.authenticated:
        reporter.error(proof.reason or proof.authenticity, title="demo: the bundle does not verify")
        return False
    report = proof.report
    stages = ", ".join(f"{s} {v}" for s, v in report.verdicts.items() if v != "missing")
    reporter.ok(
        f"evidence verified: {report.files} files, digest {report.digest}, {proof.authenticity}"
    )
    reporter.line(f"  {stages}")
    return True


def relgate_command() -> str:
    """How the user can run relgate from their shell: ``relgate`` when that is this very install,
    else the script beside this interpreter (``.venv/bin/relgate`` after ``scripts/demo``)."""
    beside = Path(sys.executable).parent / "relgate"
    on_path = shutil.which("relgate")
    if on_path and beside.exists() and Path(on_path).resolve() == beside.resolve():
        return "relgate"
    if beside.exists():
        relative = os.path.relpath(beside)
        return str(beside) if relative.startswith("..") else relative
    return f"{sys.executable} -m relgate"


def _epilogue(
    reporter: Reporter,
    home: Path,
    result: GateResult,
    no_notes: str | None,
    config: RelgateConfig,
) -> None:
    reporter.line("")
    relgate = relgate_command()
    if result.bundle_path:
        key = config.evidence.keys[0]
        reporter.line(f"bundle: {result.bundle_path}")
        reporter.line(f"  {relgate} evidence show {result.bundle_path}")
        reporter.line(
            f"  {relgate} evidence verify {result.bundle_path} "
            f"--public-key {key.id}={key.public_key}"
        )
    if result.notes_path:
        reporter.line(f"release notes: {result.notes_path}")
    elif no_notes:
        reporter.line(f"release notes: skipped (they are built from git history: {no_notes})")
    reporter.line(f"demo home (state, locks, runs): {home}")


# -- the launcher -------------------------------------------------------------------------------
def launch(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """The demo service's argv, with the break fault added for the broken version only."""
    args = list(argv)
    version = args[args.index("--version") + 1] if "--version" in args else ""
    fault = env.get("RELGATE_DEMO_BREAK_FAULT", "")
    if fault and version == env.get("RELGATE_DEMO_BREAK_VERSION"):
        args += ["--fault", fault]
    return [sys.executable, "-m", "relgate.demo.service", "--host", "127.0.0.1", *args]


if __name__ == "__main__":  # pragma: no cover - exercised by the demo's end-to-end tests
    argv = launch(sys.argv[1:], os.environ)
    env = {k: v for k, v in os.environ.items() if k != "RELGATE_DEMO_FAULTS"}
    os.execve(argv[0], argv, env)  # noqa: S606 (argv list, no shell)
