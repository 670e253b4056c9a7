"""Release notes and release requests: relgate against git-cliff, a bare git log, and a budget.

Run on demand:  .venv/bin/python bench/notes_bench.py [--commits 20000] [--runs 3]

1. Notes for a 20,000-commit range (generated with git fast-import), both tools writing grouped
   markdown to a file:
   * ``relgate notes`` ÷ ``git-cliff`` (PyPI ``git-cliff``, its built-in default config, installed
     into a throwaway venv — never into the project): target <= 0.25 wall, <= 100 MiB peak RSS;
   * ``relgate notes`` ÷ a bare ``git log --format=…`` of the same range: target <= 8.
   Each command runs ``--runs`` times, interleaved; the best wall time and the peak RSS are kept
   (peak RSS = the largest process of the command's tree, from ``wait4``).
2. GitHub requests of a full release (annotated tag, draft, 3 assets, publish) against the
   contract-checked fake, for a 3-commit and a ``--commits`` history: target <= 10 and the same
   for both.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ["feat", "fix", "docs", "chore", "refactor", "perf", "test", "build", "ci"]


def make_repo(path: Path, commits: int) -> None:
    """``commits`` commits after a ``v1.0.0`` tag, in one fast-import stream."""
    path.mkdir(parents=True)
    git = ["git", "-C", str(path)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    lines: list[str] = []
    for i in range(commits + 1):
        kind = KINDS[i % len(KINDS)]
        subject = f"{kind}(area{i % 17}): change {i} of the grading service"
        if i % 10 == 0:
            subject = f"Update things for ticket {i}"
        if i % 50 == 0:
            subject += f" (#{i})"
        body = f"{subject}\n\nLonger explanation of change {i}.\n"
        if i % 400 == 0:
            body += f"\nBREAKING CHANGE: interface {i} changed\n"
        data = body.encode()
        when = 1767225600 + i * 60
        who = f"Dev {i % 41} <dev{i % 41}@example.com> {when} +0000"
        lines += ["commit refs/heads/main", f"mark :{i + 1}", f"author {who}", f"committer {who}"]
        lines += [f"data {len(data)}", body]
        content = f"{i}\n"
        lines += [f"M 644 inline src/file{i % 200}.txt", f"data {len(content)}", content, ""]
    subprocess.run([*git, "fast-import", "--quiet"], input="\n".join(lines).encode(), check=True)
    subprocess.run([*git, "reset", "-q", "--hard", "main"], check=True)
    first = subprocess.run(
        [*git, "rev-list", "--max-parents=0", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run([*git, "tag", "v1.0.0", first], check=True)


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB of the largest process in the tree)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed: {err[-2000:]}")
    return wall, usage.ru_maxrss


def install_git_cliff(where: Path) -> Path:
    venv.create(where, with_pip=True)
    pip = where / "bin" / "pip"
    subprocess.run([str(pip), "install", "-q", "git-cliff"], check=True)
    return where / "bin" / "git-cliff"


def notes_benchmark(commits: int, runs: int, tmp: Path) -> dict[str, tuple[float, int]]:
    repo = tmp / "repo"
    print(f"generating {commits} commits…", flush=True)
    make_repo(repo, commits)
    (tmp / "relgate.yml").write_text(
        "project: {name: grading, repository: acme/grading, repo_path: repo}\n"
        'environments: {staging: {base_url: "http://127.0.0.1:8000"}}\n'
        "notes: {strict: true}\n"
    )
    print("installing git-cliff into a throwaway venv…", flush=True)
    cliff = install_git_cliff(tmp / "cliff-venv")
    version = subprocess.run([str(cliff), "--version"], check=True, capture_output=True, text=True)
    print(f"  {version.stdout.strip()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RELGATE_"))}
    relgate = str(Path(sys.executable).parent / "relgate")
    commands = {
        "relgate notes": [
            relgate,
            "--config",
            str(tmp / "relgate.yml"),
            "--run-dir",
            str(tmp / "run"),
            "notes",
            "--version",
            "v2.0.0",
            "--output",
            str(tmp / "relgate.md"),
        ],
        "git-cliff": [  # run inside the repository: its --repository flag wants a workdir layout
            str(cliff),
            "v1.0.0..HEAD",
            "--output",
            str(tmp / "cliff.md"),
        ],
        "git log": ["git", "-C", str(repo), "log", "--format=%H %an %aI %s", "v1.0.0..HEAD"],
    }
    best: dict[str, tuple[float, int]] = {}
    for _ in range(runs):
        for name, argv in commands.items():
            wall, rss = measure(argv, repo if name == "git-cliff" else tmp, env)
            old = best.get(name, (float("inf"), 0))
            best[name] = (min(old[0], wall), max(old[1], rss))
    ours = (tmp / "relgate.md").read_text()
    theirs = (tmp / "cliff.md").read_text()
    print(
        f"  relgate.md: {ours.count(chr(10) + '- ')} entries; cliff.md: "
        f"{theirs.count(chr(10) + '- ')} entries"
    )
    return best


def requests_benchmark(tmp: Path, commits: int) -> int:
    """API requests of one full release, with a history of ``commits`` commits."""
    import contextlib

    from relgate.config import load_config
    from relgate.evidence.archive import archive
    from relgate.gha import Reporter
    from relgate.github.client import GitHubClient
    from relgate.release import release
    from relgate.results import RESULT_MODELS, StageName, Status
    from relgate.run import Run
    from relgate.secrets import SecretRegistry
    from tests.github_fake._fake import FakeGitHub

    base = tmp / f"release-{commits}"
    make_repo(base / "repo", commits)
    (base / "relgate.yml").write_text(
        "project: {name: grading, repository: acme/grading, repo_path: repo}\n"
        'environments: {staging: {base_url: "http://127.0.0.1:8000"}}\n'
        "archive: {format: tar.gz}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RELGATE_"))}
    env["GITHUB_TOKEN"] = "ghp_fake0000000000000000000000000000000000"
    config = load_config(base / "relgate.yml", env=env)
    head = subprocess.run(
        ["git", "-C", str(base / "repo"), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    def new_run(name: str) -> Run:
        reporter = Reporter(io.StringIO(), env, SecretRegistry())
        return Run.open(env=env, reporter=reporter, run_dir=base / name, environment="staging")

    run = new_run("gate")
    run.version = "v2.0.0"
    for stage in ("deploy", "smoke"):
        run.write_result(RESULT_MODELS[StageName(stage)](stage=stage, status=Status.PASSED))
    bundle = archive(config, run, output_dir=base / "bundles").bundle_path
    assert bundle
    with contextlib.ExitStack() as stack:
        fake = stack.enter_context(FakeGitHub(owner="acme", repo="grading"))
        fake.seed_commit("release commit", sha=head, branch="main")
        client = GitHubClient.from_env(config, env)
        record = release(
            config, new_run("release"), bundle=Path(bundle), version="v2.0.0", github=client
        )
        assert record.exit_code == 0, record.problems
        assert record.api_requests == len(fake.requests)
        return record.api_requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="relgate-notes-bench-"))
    try:
        best = notes_benchmark(args.commits, args.runs, tmp)
        small = requests_benchmark(tmp, 3)
        large = requests_benchmark(tmp, args.commits)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nnotes for a {args.commits}-commit range (best of {args.runs}):")
    for name, (wall, rss) in best.items():
        print(f"  {name:14s} {wall:7.3f} s  {rss / 1024:7.1f} MiB peak")
    ours, cliff, log = best["relgate notes"], best["git-cliff"], best["git log"]
    print(f"  relgate ÷ git-cliff wall: {ours[0] / cliff[0]:.3f}  (target <= 0.25)")
    print(f"  relgate peak memory:      {ours[1] / 1024:.1f} MiB  (target <= 100)")
    print(f"  relgate ÷ git log wall:   {ours[0] / log[0]:.2f}  (target <= 8)")
    print("GitHub requests of a full release (tag + draft + 3 assets + publish):")
    print(f"  3 commits: {small}   {args.commits} commits: {large}  (target <= 10, independent)")


if __name__ == "__main__":
    main()
