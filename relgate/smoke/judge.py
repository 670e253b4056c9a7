"""Judging one answer: the step's expectations as :class:`Check` results, its captures, and the
one-line failure to read first (with what the server said about it).

Pure functions of an :class:`Exchange` and the step's models; the runner decides what a verdict
means for retries, polls and the steps after it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from relgate.secrets import Redacted, SecretRegistry
from relgate.smoke.assertions import Check, Matcher, conceal, evaluate, regex_findall
from relgate.smoke.query import select
from relgate.smoke.redact import Redactor
from relgate.smoke.scenario import Capture, Expect, HintWhen, Step
from relgate.smoke.template import render
from relgate.smoke.transport import Exchange

__all__ = ["Judge", "capture_value", "first_failure", "hint_for", "server_says"]


class Judge:
    """Evaluates a step's ``expect`` against one exchange."""

    def __init__(
        self,
        redactor: Redactor,
        lookup: Callable[[str], Any],
        *,
        max_duration: timedelta | None = None,
    ) -> None:
        self.redactor = redactor
        self.secrets = redactor.secrets
        self.lookup = lookup
        self.max_duration = max_duration

    def checks(self, expect: Expect, ex: Exchange) -> list[Check]:
        if ex.status is None:
            return [Check(what="request", op="send", passed=False, message=ex.error or "no answer")]
        status_ok = expect.status_ok(ex.status)
        checks = [
            Check(
                what="status",
                op="status",
                expected=expect.status,
                actual=ex.status,
                passed=status_ok,
                message=""
                if status_ok
                else f"expected HTTP {expect.status_text()}, got {ex.status}",
            )
        ]
        for name, matcher in expect.headers.items():
            values = ex.header_values(name)
            found = evaluate(
                self._live(matcher),
                f"header {name}",
                ", ".join(values),
                bool(values),
                secrets=self.secrets,
            )
            checks += (
                conceal(found, self.secrets) if self.redactor.header_is_secret(name) else found
            )
        cookies = ex.set_cookies()
        for name, matcher in expect.cookies.items():
            found = evaluate(
                self._live(matcher),
                f"cookie {name}",
                cookies.get(name),
                name in cookies,
                secrets=self.secrets,
            )
            checks += conceal(found, self.secrets)
        if expect.json_checks:
            checks += self._json_checks(expect, ex)
        if expect.body is not None:
            text = ex.body.decode("utf-8", "replace")
            checks += evaluate(self._live(expect.body), "body", text, secrets=self.secrets)
        limit = expect.max_duration or self.max_duration
        if limit is not None:
            checks.append(_duration_check(limit, ex))
        for check in checks:
            if not check.passed:
                check.message = check.message or f"{check.what} {check.op} failed"
        return checks

    def _json_checks(self, expect: Expect, ex: Exchange) -> list[Check]:
        try:
            data = json.loads(ex.body)
        except ValueError as exc:
            ctype = ", ".join(ex.header_values("content-type")) or "no Content-Type"
            why = f"response body is not valid JSON ({exc}; {ctype}, {len(ex.body)} bytes)"
            return [Check(what="json", op="parse", passed=False, message=why)]
        checks: list[Check] = []
        for item in expect.json_checks:
            live = self._live(item)
            assert isinstance(live, type(item))
            found = select(item.path, data)
            results = evaluate(
                live, f"json {found.path}", found.value, found.present, secrets=self.secrets
            )
            if self.redactor.path_is_secret(found.path):
                conceal(results, self.secrets)
            if item.message:
                for check in results:
                    if not check.passed:
                        check.message = f"{item.message} ({check.message})"
            checks += results
        return checks

    def _live(self, matcher: Matcher) -> Matcher:
        """The matcher with its operand templates rendered (``contains: "{{ id }}"``)."""
        dumped = matcher.model_dump(by_alias=True, exclude_unset=True)
        if "{{" not in json.dumps(dumped, default=str):
            return matcher
        return type(matcher).model_validate(render(dumped, self.lookup))


def _duration_check(limit: timedelta, ex: Exchange) -> Check:
    ms = limit.total_seconds() * 1000
    return Check(
        what="duration",
        op="max_duration",
        expected=f"{ms:g} ms",
        actual=f"{ex.duration_ms:g} ms",
        passed=ex.duration_ms <= ms,
        message=""
        if ex.duration_ms <= ms
        else f"took {ex.duration_ms:g} ms, more than the {ms:g} ms allowed",
    )


def capture_value(spec: Capture, ex: Exchange, jar: Callable[[str], str | None]) -> Any:
    """The value ``spec`` names in ``ex``; raises LookupError with the reason when there is none.
    ``jar`` reads the client's cookie jar (a cookie set by an earlier answer)."""
    if spec.status:
        return _pick([ex.status], spec, "the status")
    if spec.header is not None:
        return _pick(ex.header_values(spec.header), spec, f"header {spec.header}")
    if spec.cookie is not None:
        cookies = ex.set_cookies()
        if spec.cookie in cookies:
            return cookies[spec.cookie]
        jar_value = jar(spec.cookie)
        if jar_value is None:
            raise LookupError(f"no cookie {spec.cookie} was set")
        return jar_value
    text = ex.body.decode("utf-8", "replace")
    if spec.regex is not None:
        try:
            found = regex_findall(spec.regex, text)
        except TimeoutError as exc:
            raise LookupError(str(exc)) from None
        return _pick(found, spec, f"regex {spec.regex!r}")
    assert spec.json_path is not None
    try:
        data = json.loads(ex.body)
    except ValueError:
        raise LookupError("the response body is not JSON") from None
    found_sel = select(spec.json_path, data)
    return _pick(found_sel.values, spec, f"JSONPath {found_sel.path}")


def _pick(values: list[Any], spec: Capture, what: str) -> Any:
    if spec.select == "all":
        return values
    if not values:
        raise LookupError(f"{what} matched nothing")
    if spec.select == "one" and len(values) > 1:
        raise LookupError(f"{what} matched {len(values)} values; use select: first or all")
    return values[0]


def first_failure(checks: list[Check], ex: Exchange, secrets: SecretRegistry) -> str:
    """The failure to read first. A wrong status explains the rest, so it stands alone, with
    what the server said about it (``detail``/``error``/``message``, or a short text body)."""
    failing = [c for c in checks if not c.passed]
    if not failing:
        return "failed"
    if failing[0].op == "status":
        said = server_says(ex, secrets)
        return failing[0].message + (f": {said}" if said else "")
    more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
    return failing[0].message + more


def server_says(ex: Exchange, secrets: SecretRegistry) -> Redacted:
    """What the server said about a failure, redacted (then clipped to 200 characters)."""
    text = ex.body[:2048].decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return secrets.redact(text if 0 < len(text) <= 120 and "<" not in text else "")
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            if isinstance(data.get(key), str):
                return secrets.clip(str(data[key]), 200)
    return secrets.redact("")


def hint_for(step: Step, checks: list[Check], ex: Exchange | None, message: str) -> str | None:
    """The step's hints whose condition this failure meets (its plain ``hint`` always does);
    None when none matches: a hint written for a 409 must not explain a 503."""
    texts = [step.hint] if step.hint else []
    texts += [h.text for h in step.hints if _hint_matches(h.when, checks, ex, message)]
    return " ".join(texts) or None


def _hint_matches(when: HintWhen, checks: list[Check], ex: Exchange | None, message: str) -> bool:
    status = ex.status if ex is not None else None
    if when.status is not None and (
        status is None or not Expect(status=when.status).status_ok(status)
    ):
        return False
    if when.error and (ex is None or ex.status is not None or ex.error_kind not in when.error):
        return False
    if when.check is not None:
        want = when.check.lower()
        if any(c.op == "status" and not c.passed for c in checks):
            return False  # a wrong status explains every other failing check
        failing = [c.what.lower() for c in checks if not c.passed]
        if message.startswith("capture "):
            failing.append("capture")
        if not any(what.startswith(want) for what in failing):
            return False
    return True
