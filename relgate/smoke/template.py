"""``{{ name }}`` templates in smoke scenarios: typed, tiny and checkable before any request.

A string that is *exactly* one reference keeps the referenced value's JSON type
(``json: {copy: "{{ copy_id }}"}`` sends the integer 42, not ``"42"``); a reference embedded in
longer text is rendered as text (``true``/``false``, ``null`` as empty, objects as compact JSON).
This is Hurl's rule, and it avoids the type coercion that Python ``str.format`` templates force
on Tavern users.

There are no expressions, filters or escapes: a ``{{`` that does not start a valid reference is an
error, found by :func:`references` when the scenario is validated, not when the request is sent.

Names: ``env.X`` (environment), ``secrets.X`` (declared secrets), ``run.id`` /
``run.environment`` / ``run.version``, ``base_url``; anything else is a var or a capture, and may
be followed by ``.key`` or ``.0`` to reach inside a captured object or list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "NAMESPACES",
    "MissingReference",
    "TemplateError",
    "references",
    "render",
    "stringify",
]

NAMESPACES = ("env", "secrets", "run", "base_url")
_REF = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")


class TemplateError(ValueError):
    """A malformed template (an unclosed or invalid ``{{ … }}``)."""


class MissingReference(LookupError):
    """A reference that nothing defines (yet)."""

    def __init__(self, ref: str, reason: str = "") -> None:
        super().__init__(ref)
        self.ref = ref
        self.reason = reason or f"'{ref}' is not defined"


Lookup = Callable[[str], Any]


def references(text: str) -> list[str]:
    """Every reference in ``text``, in order; raises :class:`TemplateError` on a stray ``{{``."""
    refs: list[str] = []
    pos = 0
    while (start := text.find("{{", pos)) != -1:
        match = _REF.match(text, start)
        if match is None:
            snippet = text[start : start + 30]
            raise TemplateError(
                f"invalid template at column {start + 1}: {snippet!r} "
                "(write {{ name }}, {{ env.NAME }} or {{ secrets.NAME }})"
            )
        refs.append(match.group(1))
        pos = match.end()
    return refs


def stringify(value: Any) -> str:
    """How a value reads when embedded in text (JSON spelling for scalars, compact JSON else)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render(value: Any, lookup: Lookup) -> Any:
    """Render every string inside ``value`` (dict keys stay as written)."""
    if isinstance(value, str):
        return _render_text(value, lookup)
    if isinstance(value, dict):
        return {k: render(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, lookup) for v in value]
    return value


def _render_text(text: str, lookup: Lookup) -> Any:
    if "{{" not in text:
        return text
    whole = _REF.fullmatch(text)
    if whole is not None:
        return lookup(whole.group(1))
    references(text)  # raise on malformed parts before substituting
    return _REF.sub(lambda m: stringify(lookup(m.group(1))), text)
