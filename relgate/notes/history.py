"""The git side of release notes: tags, the commit range, and the commits in it.

Commands are built by pure functions (argv lists) and run by one executor. The commit list comes
from ONE ``git log`` process whose output is read as a stream of records separated by ASCII
record/unit separators: a 20,000-commit range costs one process and one pass, and a subject or body
cannot break the framing the way newlines or tabs would.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from relgate import proc
from relgate.errors import BadInputError, CannotRun, ToolMissing, UsageError

__all__ = [
    "Commit",
    "Tag",
    "commit_range",
    "git_log_argv",
    "iter_commits",
    "list_tags",
    "parse_commit",
    "resolve_commit",
    "run_git",
    "trailers",
]

_RS, _US = "\x1e", "\x1f"
# One record per commit: RS, then fields separated by US. %b (body) comes last so that a stray US
# inside a body (never seen, but possible) only affects that field. No %h: finding unique
# abbreviations costs git a third of its time on a large range; the short SHA is sha[:7].
_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%s", "%b")
LOG_FORMAT = "%x1e" + "%x1f".join(_FIELDS)

_CONVENTIONAL = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?:[ \t]+(?P<desc>\S.*)$"
)
_SQUASH_PR = re.compile(r"\s*\(#(?P<pr>\d+)\)\s*$")
_MERGE_PR = re.compile(r"^Merge pull request #(?P<pr>\d+) from \S+")
_MERGE_OTHER = re.compile(r"^Merge (?:branch|remote-tracking branch|tag|commit) ")
_TRAILER = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9-]*|BREAKING CHANGE)[ \t]*:[ \t]*(?P<value>.*)$")
_BREAKING_KEYS = {"breaking change", "breaking-change"}


@dataclass(slots=True)
class Tag:
    name: str
    commit: str  # the commit it points at (peeled through annotated tag objects)


@dataclass(slots=True)
class Commit:
    """One commit, parsed. Text fields are raw here; the notes context escapes them for markdown."""

    sha: str
    short_sha: str
    parents: list[str]
    author_name: str
    author_email: str
    date: str  # ISO 8601 (author date)
    subject: str
    body: str
    type: str | None = None  # conventional-commit type (lower case), None if not conventional
    scope: str | None = None
    description: str = ""  # the subject without the "type(scope):" prefix and "(#123)"
    breaking: bool = False
    breaking_description: str | None = None
    pr: int | None = None
    merge: bool = False


# -- command builders (pure) -----------------------------------------------------------------------
def git_argv(repo: Path, *args: str) -> list[str]:
    # -c core.quotepath=off keeps non-ASCII paths readable; --no-pager/colour keep output parseable.
    return ["git", "-C", str(repo), "-c", "core.quotepath=off", "--no-pager", *args]


def list_tags_argv(repo: Path) -> list[str]:
    return git_argv(
        repo,
        "for-each-ref",
        "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)",
        "refs/tags",
    )


def git_log_argv(
    repo: Path, revision_range: str, *, first_parent: bool = False, max_count: int | None = None
) -> list[str]:
    args = ["log", "--no-color", "--encoding=UTF-8", f"--format={LOG_FORMAT}"]
    if first_parent:
        args.append("--first-parent")
    if max_count is not None:
        args.append(f"--max-count={max_count}")
    return git_argv(repo, *args, revision_range, "--")


# -- the executor --------------------------------------------------------------------------------
def run_git(argv: list[str], *, check: bool = True) -> proc.Finished:
    done = proc.run(argv, hint="needed for release notes")
    if check and not done.ok:
        raise CannotRun(f"{' '.join(argv[3:5])}…: git failed: {done.err.strip()[:500]}")
    return done


def is_repo(repo: Path, *, full: bool = False) -> bool:
    """A git work tree (with ``full``: and not a shallow clone)."""
    if not repo.is_dir():
        return False
    try:
        done = run_git(git_argv(repo, "rev-parse", "--is-shallow-repository"), check=False)
    except ToolMissing:
        return False
    return done.returncode == 0 and not (full and done.out.strip() == "true")


def ensure_repo(repo: Path) -> None:
    """A full clone: a shallow one (actions/checkout's default) would silently cut the notes."""
    done = run_git(git_argv(repo, "rev-parse", "--is-shallow-repository"), check=False)
    if not repo.is_dir() or done.returncode != 0:
        raise BadInputError(
            f"{repo}: not a git repository (project.repo_path in relgate.yml); release notes need "
            "the history — in Actions use actions/checkout with fetch-depth: 0"
        )
    if done.out.strip() == "true":
        raise BadInputError(
            f"{repo}: shallow clone — the commits since the previous release may be missing; "
            "fetch the whole history (actions/checkout with fetch-depth: 0, or "
            "git fetch --unshallow --tags)"
        )


def list_tags(repo: Path) -> list[Tag]:
    out = run_git(list_tags_argv(repo)).out
    tags = []
    for line in out.splitlines():
        name, obj, peeled = [*line.split("\0"), "", ""][:3]
        if name:
            tags.append(Tag(name=name, commit=peeled or obj))
    return tags


def resolve_commit(repo: Path, ref: str) -> str | None:
    done = run_git(
        git_argv(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"), check=False
    )
    return done.out.strip() or None if done.returncode == 0 else None


def nearest_tag(repo: Path, ref: str) -> str | None:
    """Fallback for non-semver versions: the closest tag reachable from ``ref``'s parent."""
    done = run_git(git_argv(repo, "describe", "--tags", "--abbrev=0", f"{ref}^"), check=False)
    return done.out.strip() or None if done.returncode == 0 else None


def commit_range(since: str | None, target: str) -> str:
    return f"{since}..{target}" if since else target


def iter_commits(
    repo: Path, revision_range: str, *, first_parent: bool = False, chunk: int = 1 << 18
) -> Iterator[Commit]:
    """Stream the commits of ``revision_range`` (newest first) from one ``git log`` process."""
    argv = git_log_argv(repo, revision_range, first_parent=first_parent)
    pending = b""
    with proc.stream(argv, hint="needed for release notes") as git:
        stdout = cast(io.BufferedReader, git.stdout)  # bufsize=-1: a BufferedReader, with read1
        # read1: parse what git has written so far while it writes the rest (two cores).
        while block := stdout.read1(chunk):
            records = (pending + block).split(b"\x1e")
            pending = records.pop()
            for record in records:
                if record:
                    yield parse_commit(record.decode("utf-8", "replace"))
        if pending:
            yield parse_commit(pending.decode("utf-8", "replace"))
    if git.returncode != 0:
        err = git.err.strip()
        raise UsageError(f"git log {revision_range}: {err[:500] or f'exit {git.returncode}'}")


def parse_commit(record: str) -> Commit:
    sha, parents, name, email, date, subject, body = [*record.split(_US, 6), *[""] * 7][:7]
    body = body.strip("\n")
    sha = sha.strip()
    commit = Commit(
        sha=sha,
        short_sha=sha[:7],
        parents=parents.split(),
        author_name=name,
        author_email=email,
        date=date,
        subject=subject,
        body=body,
        description=subject,
    )
    commit.merge = len(commit.parents) > 1
    _classify(commit)
    return commit


def _classify(commit: Commit) -> None:
    headline = commit.subject
    merge = _MERGE_PR.match(headline)
    if merge:
        # GitHub merge commits: the PR title is the first line of the body.
        commit.pr = int(merge["pr"])
        headline = commit.body.split("\n", 1)[0].strip() or headline
    squash = _SQUASH_PR.search(headline)
    if squash:
        commit.pr = commit.pr or int(squash["pr"])
        headline = headline[: squash.start()]
    commit.description = headline
    m = _CONVENTIONAL.match(headline)
    if m:
        commit.type = m["type"].lower()
        commit.scope = m["scope"] or None
        commit.description = m["desc"].strip()
        commit.breaking = bool(m["bang"])
    # Trailers are parsed only where one can matter here; templates get them from trailers().
    if "BREAKING" in commit.body:
        for key, value in trailers(commit.body):
            if key.lower() in _BREAKING_KEYS:
                commit.breaking = True
                commit.breaking_description = value
    if commit.breaking and commit.breaking_description is None:
        commit.breaking_description = commit.description


def is_noise_merge(commit: Commit) -> bool:
    """``Merge branch 'main' into feature``: says nothing a reader of release notes needs."""
    return commit.merge and commit.pr is None and bool(_MERGE_OTHER.match(commit.subject))


def trailers(body: str) -> list[tuple[str, str]]:
    """Trailers of the last paragraph (``Key: value`` lines, continuation lines indented)."""
    last = body.rstrip().rsplit("\n\n", 1)[-1]
    found: list[tuple[str, str]] = []
    for line in last.splitlines():
        if line[:1] in (" ", "\t") and found:
            key, value = found[-1]
            found[-1] = (key, f"{value} {line.strip()}")
            continue
        m = _TRAILER.match(line)
        if not m:
            return []
        found.append((m["key"], m["value"].strip()))
    return found
