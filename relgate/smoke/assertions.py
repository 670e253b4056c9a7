"""The assertion engine: a :class:`Matcher` holds one or more operators; all must hold.

Operators: ``eq ne gt gte lt lte in contains matches startswith endswith exists type length``.
Equality is JSON equality: ``true`` is not ``1`` and ``"1"`` is not ``1`` (Python would say
``True == 1``); integers and floats compare by value. Order operators need two numbers or two
strings. ``contains`` means substring for text, element for lists and key for objects. ``length``
takes a number or a nested matcher (``length: {gt: 0}``).

Each check returns :class:`Check` records (what, expected, actual, passed) so every failed
assertion of a step is reported, not only the first.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from relgate.results.smoke import Check
from relgate.secrets import Redacted, SecretRegistry

__all__ = ["OPERATORS", "Check", "Matcher", "TypeName", "conceal", "evaluate", "json_type"]

OPERATORS = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "contains",
    "matches",
    "startswith",
    "endswith",
    "exists",
    "type",
    "length",
)
TypeName = Literal["string", "number", "integer", "boolean", "null", "array", "object"]


class Matcher(BaseModel):
    """One or more operators applied to one value."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    eq: Any = None
    ne: Any = None
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    contains: Any = None
    matches: str | None = None
    startswith: str | None = None
    endswith: str | None = None
    exists: bool | None = None
    type: TypeName | None = None
    length: int | Matcher | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # A bare scalar (header: "application/json") means equality.
        if not isinstance(data, dict):
            return {"eq": data}
        return data

    @model_validator(mode="after")
    def _one_at_least(self) -> Matcher:
        if not self.operators():
            raise ValueError(f"needs at least one operator ({', '.join(OPERATORS)})")
        return self

    @field_validator("matches")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None and "{{" not in v:
            check_regex(v)
        return v

    def operators(self) -> list[str]:
        """The operators written, in the canonical order."""
        present = {("in" if name == "in_" else name) for name in self.model_fields_set}
        return [op for op in OPERATORS if op in present]

    def operand(self, op: str) -> Any:
        return getattr(self, "in_" if op == "in" else op)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality on JSON values: numbers by value, no bool/number or str/number mixing."""
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b) and not (_is_number(a) and _is_number(b)):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _order(op: str, actual: Any, expected: Any) -> tuple[bool, str]:
    comparable = (_is_number(actual) and _is_number(expected)) or (
        isinstance(actual, str) and isinstance(expected, str)
    )
    if not comparable:
        return False, f"cannot compare {json_type(actual)} with {json_type(expected)}"
    ok = {
        "gt": actual > expected,
        "gte": actual >= expected,
        "lt": actual < expected,
        "lte": actual <= expected,
    }[op]
    return ok, ""


def _contains(actual: Any, expected: Any) -> tuple[bool, str]:
    if isinstance(actual, str):
        if not isinstance(expected, str):
            return False, "text can only contain text"
        return expected in actual, ""
    if isinstance(actual, list):
        return any(json_equal(item, expected) for item in actual), ""
    if isinstance(actual, dict):
        return isinstance(expected, str) and expected in actual, ""
    return False, f"a {json_type(actual)} contains nothing"


REGEX_TIMEOUT_S = 1.0  # one search; a backtracking pattern fails the check instead of hanging


def check_regex(pattern: str) -> None:
    """Raise ValueError when ``pattern`` does not compile (with the engine the runner uses)."""
    import regex

    try:
        _regex(pattern)
    except regex.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    import regex  # the stdlib's re cannot be interrupted; regex's searches take a timeout

    return regex.compile(pattern)


def regex_search(pattern: str, text: str) -> Any:
    """``regex`` search bounded by :data:`REGEX_TIMEOUT_S`; raises TimeoutError with the reason."""
    try:
        return _regex(pattern).search(text, timeout=REGEX_TIMEOUT_S)
    except TimeoutError:
        raise TimeoutError(
            f"regular expression {pattern!r} gave up after {REGEX_TIMEOUT_S:g} s on "
            f"{len(text)} characters (catastrophic backtracking? simplify the pattern)"
        ) from None


def regex_findall(pattern: str, text: str) -> list[str]:
    """Group 1 (or the whole match) of every match, bounded like :func:`regex_search`."""
    compiled = _regex(pattern)
    try:
        found = compiled.finditer(text, timeout=REGEX_TIMEOUT_S)
        return [m.group(1) if compiled.groups else m.group(0) for m in found]
    except TimeoutError:
        raise TimeoutError(
            f"regular expression {pattern!r} gave up after {REGEX_TIMEOUT_S:g} s on "
            f"{len(text)} characters (catastrophic backtracking? simplify the pattern)"
        ) from None


def _text_op(op: str, actual: Any, expected: str) -> tuple[bool, str]:
    if not isinstance(actual, str):
        return False, f"expected text, got {json_type(actual)}"
    if op == "matches":
        import regex

        try:
            return regex_search(expected, actual) is not None, ""
        except TimeoutError as exc:
            return False, str(exc)
        except regex.error as exc:
            return False, f"invalid regular expression: {exc}"
    if op == "startswith":
        return actual.startswith(expected), ""
    return actual.endswith(expected), ""


def _type_ok(actual: Any, expected: str) -> bool:
    kind = json_type(actual)
    if expected == "number":
        return kind in ("integer", "number")
    return kind == expected


_NO_SECRETS = SecretRegistry()


def evaluate(
    matcher: Matcher,
    what: str,
    actual: Any,
    present: bool = True,
    *,
    secrets: SecretRegistry = _NO_SECRETS,
) -> list[Check]:
    """Apply every operator of ``matcher`` to ``actual`` (``present`` False: nothing there).

    Failure messages quote the values redacted with ``secrets`` *before* they are cut short, so a
    secret never leaves its prefix at the cut."""
    checks: list[Check] = []
    for op in matcher.operators():
        expected = matcher.operand(op)
        checks.extend(_apply(op, expected, what, actual, present, secrets=secrets))
    return checks


def conceal(checks: list[Check], secrets: SecretRegistry = _NO_SECRETS) -> list[Check]:
    """Hide the actual values of checks on credentials (cookies, token headers and keys), so a
    failure message cannot print a session id that was never registered as a secret."""
    for check in checks:
        if check.op == "exists" or check.what.startswith("length of "):
            continue
        if check.actual is not None:
            check.message = check.message.replace(_short(check.actual, secrets), '"***"')
            check.actual = "***"
    return checks


def _apply(
    op: str, expected: Any, what: str, actual: Any, present: bool, *, secrets: SecretRegistry
) -> list[Check]:
    if op == "exists":
        ok = present is bool(expected)
        msg = "" if ok else (f"{what} is missing" if expected else f"{what} should be absent")
        return [Check(what=what, op=op, expected=expected, actual=present, passed=ok, message=msg)]
    if not present:
        return [
            Check(what=what, op=op, expected=expected, passed=False, message=f"{what} is missing")
        ]
    if op == "length":
        if not isinstance(actual, str | list | dict):
            msg = f"{what} is a {json_type(actual)}, which has no length"
            return [
                Check(what=what, op=op, expected=expected, actual=actual, passed=False, message=msg)
            ]
        size = len(actual)
        inner = expected if isinstance(expected, Matcher) else Matcher(eq=expected)
        return evaluate(inner, f"length of {what}", size, secrets=secrets)
    ok, why = _decide(op, expected, actual)
    message = "" if ok else _describe(what, op, expected, actual, why, secrets=secrets)
    return [Check(what=what, op=op, expected=expected, actual=actual, passed=ok, message=message)]


def _decide(op: str, expected: Any, actual: Any) -> tuple[bool, str]:
    if op == "eq":
        return json_equal(actual, expected), ""
    if op == "ne":
        return not json_equal(actual, expected), ""
    if op in ("gt", "gte", "lt", "lte"):
        return _order(op, actual, expected)
    if op == "in":
        return any(json_equal(actual, item) for item in expected), ""
    if op == "contains":
        return _contains(actual, expected)
    if op in ("matches", "startswith", "endswith"):
        return _text_op(op, actual, str(expected))
    if op == "type":
        return _type_ok(actual, str(expected)), ""
    raise ValueError(f"unknown operator {op}")


_WORDS = {
    "eq": "to equal",
    "ne": "not to equal",
    "gt": "to be >",
    "gte": "to be >=",
    "lt": "to be <",
    "lte": "to be <=",
    "in": "to be one of",
    "contains": "to contain",
    "matches": "to match",
    "startswith": "to start with",
    "endswith": "to end with",
    "type": "to be of type",
}


def _short(value: Any, secrets: SecretRegistry, limit: int = 80) -> Redacted:
    """``value`` as JSON, redacted, then clipped to ``limit`` characters."""
    import json

    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return secrets.clip(text, limit)


def _describe(
    what: str, op: str, expected: Any, actual: Any, why: str, *, secrets: SecretRegistry
) -> str:
    shown = _short(expected, secrets), _short(actual, secrets)
    base = f"expected {what} {_WORDS.get(op, op)} {shown[0]}, got {shown[1]}"
    return f"{base} ({why})" if why else base
