"""Previous-tag choice, commit parsing, and the git log reader on real repositories."""

from __future__ import annotations

import pytest

from relgate.notes import history
from relgate.notes.history import parse_commit
from relgate.notes.versions import SemVer, previous_tag

TAGS = [
    "v0.9.0",
    "v0.9.1",
    "v1.0.0-rc1",
    "v1.0.0-rc2",
    "v1.0.0",
    "v1.1.0-beta.2",
    "v1.1.0-beta.10",
    "release-2",
    "v2.0",
    "x1.0.0",
]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param("v1.0.0", "v0.9.1", id="final-skips-rcs"),
        pytest.param("1.0.0", "v0.9.1", id="version-without-prefix"),
        pytest.param("v1.0.0-rc2", "v1.0.0-rc1", id="rc-after-rc"),
        pytest.param("v1.0.0-rc1", "v0.9.1", id="first-rc-after-final"),
        pytest.param("v1.1.0", "v1.0.0", id="minor"),
        pytest.param("v1.1.0-rc1", "v1.1.0-beta.10", id="numeric-prerelease-order"),
        pytest.param("v0.9.0", None, id="first-release"),
        pytest.param("v3.0.0", "v1.0.0", id="ignores-non-semver-tags"),
        pytest.param("nightly", None, id="not-semver"),
    ],
)
def test_previous_tag(version: str, expected: str | None) -> None:
    assert previous_tag(TAGS, version, "v") == expected


def test_semver_order_follows_the_spec() -> None:
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
    ]
    parsed = [SemVer.parse(v) for v in chain]
    assert all(p is not None for p in parsed)
    assert sorted(parsed) == parsed  # type: ignore[type-var]


def _record(subject: str, body: str = "", parents: str = "p1") -> str:
    fields = [
        "a" * 40,
        parents,
        "Alice",
        "a@x.io",
        "2026-01-01T00:00:00Z",
        subject,
        body,
    ]
    return "\x1f".join(fields)


@pytest.mark.parametrize(
    ("subject", "body", "parents", "type_", "scope", "desc", "breaking", "pr"),
    [
        pytest.param(
            "feat(api): add exams (#12)",
            "",
            "p",
            "feat",
            "api",
            "add exams",
            False,
            12,
            id="squash-pr",
        ),
        pytest.param("fix!: drop v1", "", "p", "fix", None, "drop v1", True, None, id="bang"),
        pytest.param(
            "refactor: x",
            "Some text.\n\nBREAKING CHANGE: config moved",
            "p",
            "refactor",
            None,
            "x",
            True,
            None,
            id="breaking-trailer",
        ),
        pytest.param(
            "Merge pull request #77 from acme/feat-x",
            "feat: the PR title",
            "p1 p2",
            "feat",
            None,
            "the PR title",
            False,
            77,
            id="merge-pr",
        ),
        pytest.param(
            "Update README",
            "",
            "p",
            None,
            None,
            "Update README",
            False,
            None,
            id="not-conventional",
        ),
        pytest.param(
            "feat:missing space",
            "",
            "p",
            None,
            None,
            "feat:missing space",
            False,
            None,
            id="almost-conventional",
        ),
        pytest.param(
            "Feat(UI): Capital",
            "",
            "p",
            "feat",
            "UI",
            "Capital",
            False,
            None,
            id="type-case-insensitive",
        ),
    ],
)
def test_parse_commit(
    subject: str,
    body: str,
    parents: str,
    type_: str | None,
    scope: str | None,
    desc: str,
    breaking: bool,
    pr: int | None,
) -> None:
    c = parse_commit(_record(subject, body, parents))
    assert (c.type, c.scope, c.description, c.breaking, c.pr) == (type_, scope, desc, breaking, pr)


def test_trailers_are_the_last_paragraph_only() -> None:
    body = "Fixes: not a trailer paragraph\nbecause this line is prose\n\nSigned-off-by: A <a@x>\nRefs: #4\n  continued"
    assert history.trailers(body) == [("Signed-off-by", "A <a@x>"), ("Refs", "#4 continued")]


def test_log_reads_range_merges_and_tags(repo) -> None:  # type: ignore[no-untyped-def]
    repo.commit("init")
    repo.tag("v0.9.0")
    repo.commit("feat: one")
    repo.branch("feature")
    repo.commit("fix: on the branch")
    repo.checkout("main")
    repo.commit("docs: two")
    repo.merge("feature", "Merge branch 'feature'")
    repo.tag("v1.0.0-rc1", annotated=False)
    repo.commit("perf: three (#5)")
    tags = {t.name: t.commit for t in history.list_tags(repo.path)}
    assert set(tags) == {"v0.9.0", "v1.0.0-rc1"}
    assert tags["v1.0.0-rc1"] == repo.git("rev-parse", "v1.0.0-rc1^{commit}")
    assert tags["v0.9.0"] == repo.git("rev-parse", "v0.9.0^{commit}")  # peeled, not the tag object
    commits = list(history.iter_commits(repo.path, "v0.9.0..HEAD"))
    subjects = [c.subject for c in commits]
    assert subjects[0] == "perf: three (#5)" and commits[0].pr == 5
    assert set(subjects) == {
        "perf: three (#5)",
        "Merge branch 'feature'",
        "docs: two",
        "fix: on the branch",
        "feat: one",
    }
    merge = next(c for c in commits if c.merge)
    assert history.is_noise_merge(merge)
    mainline = list(history.iter_commits(repo.path, "v0.9.0..HEAD", first_parent=True))
    assert "fix: on the branch" not in [c.subject for c in mainline]


def test_log_reports_a_bad_range(repo) -> None:  # type: ignore[no-untyped-def]
    repo.commit("init")
    from relgate.errors import UsageError

    with pytest.raises(UsageError, match="nope"):
        list(history.iter_commits(repo.path, "nope..HEAD"))


def test_odd_text_survives_the_framing(repo) -> None:  # type: ignore[no-untyped-def]
    repo.commit("feat: tabs\tand | pipes and ünïcödé 🚀", author=("Zoë O'Brien", "z@x.io"))
    (c,) = list(history.iter_commits(repo.path, "HEAD"))
    assert c.description == "tabs\tand | pipes and ünïcödé 🚀"
    assert c.author_name == "Zoë O'Brien"
