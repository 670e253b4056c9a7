"""Neutralising untrusted text (commit subjects, bodies, author names) for GitHub markdown.

Anyone who can push a commit chooses its subject. Rendered unescaped into release notes, a subject
could add links (``[click](https://evil)``), images, raw HTML, headings or tables, or ping people and
teams (``@org/everyone``) from a release everyone subscribes to. :func:`escape_markdown` makes such
text render as the literal characters that were typed:

* markdown punctuation is backslash-escaped and ``<``, ``>``, ``&`` become HTML entities;
* ``@name`` mentions get a zero-width space after the ``@`` (still readable, pings nobody);
* bare URLs (which GitHub autolinks) get a zero-width space after ``://`` / ``www``.

Issue references like ``#123`` are kept: they link within the same repository, which is what a
reader of the notes wants.
"""

from __future__ import annotations

import re

from relgate.markdown_chars import escape_markdown_chars

__all__ = ["ZWSP", "escape_markdown", "escape_markdown_block"]

ZWSP = "\u200b"

_MENTION = re.compile(r"(?<![A-Za-z0-9_.+-])@(?=[A-Za-z0-9])")
_URL = re.compile(r"(?i)\b((?:https?|ftp|mailto|file|javascript|data):)(//)?|\b(www)(\.)")
# A line starting with one of these would become a heading, quote, list, rule or setext underline.
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])", re.MULTILINE)


def _defuse_url(m: re.Match[str]) -> str:
    if m.group(3):
        return f"{m.group(3)}{ZWSP}{m.group(4)}"
    return f"{m.group(1)}{ZWSP}{m.group(2) or ''}"


def _escape_line_start(m: re.Match[str]) -> str:
    mark = m.group(2)
    if mark[0].isdigit():  # "1." / "1)": escaping the punctuation is what CommonMark honours
        return f"{m.group(1)}{mark[:-1]}\\{mark[-1]}"
    return f"{m.group(1)}\\{mark}"


def escape_markdown(text: str) -> str:
    """One line of untrusted text, safe to place inline in markdown (list item, table cell)."""
    text = " ".join(text.splitlines())
    text = escape_markdown_chars(text)
    if "@" in text:
        text = _MENTION.sub("@" + ZWSP, text)
    if ":" in text or "www" in text.lower():
        text = _URL.sub(_defuse_url, text)
    if text[:1] in "#>+=-" or text[:1].isdigit():
        text = _LINE_START.sub(_escape_line_start, text, count=1)
    return text


def escape_markdown_block(text: str) -> str:
    """Several lines of untrusted text (a commit body): each line escaped, line breaks kept."""
    lines = [escape_markdown(line) if line.strip() else "" for line in text.splitlines()]
    return "\n".join(lines)
