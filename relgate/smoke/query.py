"""JSON queries for captures and assertions: RFC 9535 JSONPath.

Why JSONPath (RFC 9535) and not JMESPath: it is an IETF standard with a compliance suite, it is
the dialect Hurl (since 8.0) and Step CI users already write, and its filters read like the
question a release engineer asks (``$.results[?@.status == 'READY'].id``). Comparisons and counts
stay in relgate's assertion operators (``length: {gt: 0}``), so the query language stays small.
The implementation is ``jsonpath-rfc9535`` (strict RFC 9535, no extensions, pure Python).

A path may also be a list of alternatives: the first that selects anything is used. That is how
one scenario reads both paginated (``{"results": [...]}``) and bare-array list endpoints.

Value semantics: a *singular* query (only names and indexes, e.g. ``$.results[0].id``) yields the
one value or nothing; any other query yields the list of every value it selects (possibly empty).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonpath_rfc9535 import JSONPathQuery

__all__ = ["Selection", "check_path", "select"]


@functools.lru_cache(maxsize=512)
def _compile(path: str) -> JSONPathQuery:
    import jsonpath_rfc9535

    try:
        return jsonpath_rfc9535.compile(path)
    except jsonpath_rfc9535.JSONPathError as exc:
        raise ValueError(f"invalid JSONPath {path!r}: {exc}") from None


def check_path(path: str) -> None:
    """Raise ``ValueError`` (with the parser's message) if ``path`` is not RFC 9535 JSONPath."""
    _compile(path)


class Selection:
    """What a query found: ``values`` (all nodes), ``singular`` and the path that matched."""

    __slots__ = ("path", "singular", "values")

    def __init__(self, path: str, singular: bool, values: list[Any]) -> None:
        self.path = path
        self.singular = singular
        self.values = values

    @property
    def present(self) -> bool:
        return bool(self.values) or not self.singular

    @property
    def value(self) -> Any:
        """The one value of a singular query, else the list of values."""
        if self.singular:
            return self.values[0] if self.values else None
        return self.values


def select(paths: str | Sequence[str], data: Any) -> Selection:
    """Run ``paths`` (one, or alternatives tried in order) against ``data``."""
    candidates = [paths] if isinstance(paths, str) else list(paths)
    last: Selection | None = None
    for path in candidates:
        query = _compile(path)
        values = query.find(data).values()
        last = Selection(path, query.singular_query(), list(values))
        if last.values:
            return last
    assert last is not None, "at least one path"
    return last
