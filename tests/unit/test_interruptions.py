"""``Interrupted`` is never caught as a failure (issue 13, item 5): one rule over relgate's AST.

A signal raises :class:`relgate.errors.Interrupted` in the main thread, wherever it happens to be.
``Interrupted`` is a ``CannotRun``, a ``RelgateError`` and an ``Exception``, so every handler of one
of those would turn a SIGTERM into "a check failed" (exit 1) or silence it. Every such handler
must therefore, in the same ``try``:

* come after a handler that already catches ``Interrupted`` (Python picks the first match), or
* re-raise what it caught: a top-level ``raise`` / ``raise exc`` in its body, an ``if`` that
  mentions ``Interrupted`` and raises, or ``if not <recognised>(exc): raise`` (a predicate that
  recognises a foreign error, such as ``is_status(exc, 404)``, never recognises a signal);

or say on its ``except`` line why no signal can reach it: ``# interrupt-safe: <why>`` (code that
runs in a worker thread, where Python never delivers a signal). ``contextlib.suppress`` of those
classes follows the same rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "relgate"
BROAD = {"Exception", "BaseException", "RelgateError", "CannotRun", "Interrupted"}
PRAGMA = "# interrupt-safe:"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"relgate/{self.path}:{self.line}: {self.text}"


def _names(node: ast.expr | None) -> set[str]:
    if node is None:  # a bare `except:`
        return {"BaseException"}
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(e) for e in node.elts))
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.Name):
        return {node.id}
    return set()


def _reraises(handler: ast.ExceptHandler) -> bool:
    for stmt in handler.body:
        if isinstance(stmt, ast.Raise) and (
            stmt.exc is None or (isinstance(stmt.exc, ast.Name) and stmt.exc.id == handler.name)
        ):
            return True
        if (
            isinstance(stmt, ast.If)
            and "Interrupted" in ast.unparse(stmt.test)
            and any(isinstance(s, ast.Raise) for s in ast.walk(stmt))
        ):
            return True
        if (
            isinstance(stmt, ast.If)
            and isinstance(stmt.test, ast.UnaryOp)
            and isinstance(stmt.test.op, ast.Not)
            and isinstance(stmt.test.operand, ast.Call)
            and handler.name in {a.id for a in stmt.test.operand.args if isinstance(a, ast.Name)}
            and any(isinstance(s, ast.Raise) and s.exc is None for s in stmt.body)
        ):
            return True
    return False


def _pragma(lines: list[str], lineno: int) -> bool:
    return PRAGMA in lines[lineno - 1]


def findings_in(source: str, path: str) -> list[Finding]:
    tree = ast.parse(source)
    lines = source.splitlines()
    out: list[Finding] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.TryStar):
            seen_interrupted = False
            for handler in node.handlers:
                caught = _names(handler.type)
                if not caught & BROAD or seen_interrupted:
                    continue
                seen_interrupted = True  # later handlers of this try never see Interrupted
                if "Interrupted" in caught and caught <= {"Interrupted", "KeyboardInterrupt"}:
                    continue  # named on purpose: that handler deals with the signal
                if _reraises(handler) or _pragma(lines, handler.lineno):
                    continue
                what = ast.unparse(handler.type) if handler.type else "(bare)"
                out.append(Finding(path, handler.lineno, f"except {what} swallows Interrupted"))
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("suppress"):
            caught = set().union(*(_names(a) for a in node.args)) if node.args else set()
            if caught & BROAD and not _pragma(lines, node.lineno):
                out.append(Finding(path, node.lineno, f"{ast.unparse(node)} swallows Interrupted"))
    return out


def test_no_handler_in_relgate_swallows_interrupted() -> None:
    found = [
        f
        for file in sorted(ROOT.rglob("*.py"))
        for f in findings_in(file.read_text(encoding="utf-8"), str(file.relative_to(ROOT)))
    ]
    assert not found, "Interrupted must never be caught as a failure:\n" + "\n".join(
        map(str, found)
    )


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        pytest.param("try: f()\nexcept RelgateError as e: log(e)\n", True, id="relgate-error"),
        pytest.param("try: f()\nexcept Exception: pass\n", True, id="exception"),
        pytest.param("try: f()\nexcept: pass\n", True, id="bare"),
        pytest.param("try: f()\nexcept (OSError, CannotRun): pass\n", True, id="tuple"),
        pytest.param("with contextlib.suppress(Exception): f()\n", True, id="suppress"),
        pytest.param(
            "try: f()\nexcept Interrupted: raise\nexcept RelgateError as e: log(e)\n",
            False,
            id="interrupted-first",
        ),
        pytest.param(
            "try: f()\nexcept RelgateError as e:\n    log(e)\n    raise\n", False, id="reraises"
        ),
        pytest.param(
            "try: f()\nexcept RelgateError as e:\n    if isinstance(e, Interrupted):\n"
            "        raise\n    log(e)\n",
            False,
            id="isinstance-check",
        ),
        pytest.param(
            "try: f()\nexcept Exception:  # interrupt-safe: a worker thread\n    pass\n",
            False,
            id="pragma",
        ),
        pytest.param("try: f()\nexcept OSError: pass\n", False, id="narrow"),
        pytest.param(
            "try: f()\nexcept Exception as e:\n    if not is_status(e, 404):\n        raise\n",
            False,
            id="raise-unless-recognised",
        ),
        pytest.param(
            "try: f()\nexcept Exception as e:\n    if e.args:\n        raise\n",
            True,
            id="other-conditional-raise",
        ),
        pytest.param(
            "try: f()\nexcept RelgateError:\n    raise\nexcept Exception: pass\n",
            False,
            id="after-a-reraising-broad-handler",
        ),
        pytest.param(
            "try: f()\nexcept RelgateError as e:\n    raise GateFailed(str(e)) from e\n",
            True,
            id="converted-is-still-swallowed",
        ),
    ],
)
def test_the_rule(source: str, flagged: bool) -> None:
    assert bool(findings_in(source, "x.py")) is flagged


def test_preflight_does_not_turn_a_signal_into_a_failed_check() -> None:
    """The finding of issue 13: ``FAIL tls interrupted by SIGTERM`` (exit 1) instead of exit 3."""
    from collections.abc import Iterable
    from typing import Any

    from relgate.errors import Interrupted
    from relgate.preflight import _safely

    def _check_tls(ctx: Any) -> Iterable[Any]:
        raise Interrupted("interrupted by SIGTERM")

    with pytest.raises(Interrupted):
        _safely(_check_tls, None)  # type: ignore[arg-type]
