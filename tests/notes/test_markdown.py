"""Commit text cannot inject markup, mentions or links into the notes."""

from __future__ import annotations

import pytest

from relgate.notes.markdown import ZWSP, escape_markdown, escape_markdown_block


@pytest.mark.parametrize(
    ("text", "forbidden"),
    [
        pytest.param("see [docs](https://evil.example/x)", "[docs](", id="link"),
        pytest.param("![img](https://evil.example/p.png)", "![", id="image"),
        pytest.param("<img src=x onerror=alert(1)>", "<img", id="html"),
        pytest.param("<!-- hide the rest", "<!--", id="html-comment"),
        pytest.param("ping @everyone now", "@everyone", id="mention"),
        pytest.param("cc @acme/security-team", "@acme", id="team-mention"),
        pytest.param("visit https://evil.example", "https://", id="bare-url"),
        pytest.param("visit www.evil.example", "www.", id="www"),
        pytest.param("**bold** and _it_", "**", id="emphasis"),
        pytest.param("a | b | c", " | ", id="table-pipe"),
        pytest.param("`code` span", "`code`", id="code"),
        pytest.param("[x]: https://evil.example", "[x]:", id="link-reference"),
    ],
)
def test_injection_is_neutralised(text: str, forbidden: str) -> None:
    assert forbidden not in escape_markdown(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("# Heading", "\\# Heading", id="heading"),
        pytest.param("> quote", "&gt; quote", id="quote"),
        pytest.param("- item", "\\- item", id="list"),
        pytest.param("1. item", "1\\. item", id="ordered-list"),
        pytest.param("fix #123 in a_b", "fix #123 in a\\_b", id="issue-refs-kept"),
        pytest.param("mail a@b.io", "mail a@b.io", id="email-untouched"),
    ],
)
def test_escaping_is_exact(text: str, expected: str) -> None:
    assert escape_markdown(text) == expected


def test_mentions_stay_readable() -> None:
    assert escape_markdown("@alice") == f"@{ZWSP}alice"


def test_block_keeps_lines() -> None:
    assert escape_markdown_block("# a\n\n- b") == "\\# a\n\n\\- b"
