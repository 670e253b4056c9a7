"""The markdown character table: which characters GitHub markdown gives a meaning to, and how each
is written to stand for itself (backslash escapes, HTML entities; ``\\r`` dropped).

A primitive with two users that must agree: :func:`relgate.notes.markdown.escape_markdown` applies it
to untrusted text in release notes, and :mod:`relgate.secrets` redacts a secret in the form that
escape gives it. One table, so the two cannot drift apart.
"""

from __future__ import annotations

__all__ = ["escape_markdown_chars"]

_INLINE = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "~": "\\~",
        "!": "\\!",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "\r": "",
    }
)


def escape_markdown_chars(text: str) -> str:
    """``text`` with every markdown-active character escaped (no mention, URL or line-start
    handling: that is :func:`relgate.notes.markdown.escape_markdown`'s)."""
    return text.translate(_INLINE)
