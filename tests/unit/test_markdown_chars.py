"""The one markdown character table: each active character written to stand for itself, and both
users of it (release-notes escaping, secret redaction) agreeing on the result."""

from __future__ import annotations

import pytest

from relgate.markdown_chars import escape_markdown_chars
from relgate.notes.markdown import escape_markdown
from relgate.secrets import encoded_forms


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        pytest.param("\\", "\\\\", id="backslash"),
        pytest.param("`", "\\`", id="backtick"),
        pytest.param("*", "\\*", id="star"),
        pytest.param("_", "\\_", id="underscore"),
        pytest.param("[", "\\[", id="open-bracket"),
        pytest.param("]", "\\]", id="close-bracket"),
        pytest.param("|", "\\|", id="pipe"),
        pytest.param("~", "\\~", id="tilde"),
        pytest.param("!", "\\!", id="bang"),
        pytest.param("<", "&lt;", id="lt"),
        pytest.param(">", "&gt;", id="gt"),
        pytest.param("&", "&amp;", id="amp"),
        pytest.param("\r", "", id="carriage-return"),
        pytest.param("a", "a", id="plain-letter"),
        pytest.param("#", "#", id="hash-mid-line-kept"),
    ],
)
def test_each_character(char: str, escaped: str) -> None:
    assert escape_markdown_chars(f"x{char}y") == f"x{escaped}y"


def test_notes_escape_applies_the_table() -> None:
    text = "a*b_[c](d)|e~f!<g>&h`i\\j"
    assert escape_markdown(text) == escape_markdown_chars(text)


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("pa*ss_wo[rd]!<&>", id="markdown-active"),
        pytest.param("back\\tick`pipe|tilde~", id="escapes"),
    ],
)
def test_redaction_knows_the_escaped_form(secret: str) -> None:
    """The registry looks for the very form the table gives (end to end: test_secrets)."""
    assert escape_markdown_chars(secret) in encoded_forms(secret)
