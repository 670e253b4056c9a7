"""The smoke runner: one httpx client per scenario, steps in order, retries, polls and deadlines.

It renders each step's request, sends it (retrying *transient* failures only), evaluates every
expectation, captures values, and hands each :class:`StepOutcome` to a callback as soon as it is
known (the stage writes its artifact and console line there). It writes nothing itself.

Rules worth knowing:

* after a gating failure, normal steps are skipped; ``run: always`` steps still run, each on its
  own, and are skipped with a reason when a capture they need was never produced;
* ``on_failure: warn`` turns a failure into a warning: never a gate failure;
* a step's wall-clock deadline covers every try and wait; httpx's per-operation timeouts are cut
  to what is left, and the body is read against the same deadline, so a slow-dripping answer
  cannot outlive it; the scenario deadline bounds the whole run (always-steps get a grace);
* retries: connection errors, timeouts and 502/503/504 (configurable); 429 only with
  ``Retry-After``; exponential backoff with jitter; POST/PATCH only with ``unsafe: true``, and
  then with one ``Idempotency-Key`` for every try of the step.

The clock, the sleep function, the random source and the httpx client (hence its transport) are
passed in: tests drive the real runner against the real demo server without patching anything.
"""

from __future__ import annotations

import json
import random as _random
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, Literal

from relgate.fields import format_duration, require_https
from relgate.secrets import SecretRegistry
from relgate.smoke.assertions import Check, Matcher, conceal, evaluate
from relgate.smoke.query import select
from relgate.smoke.redact import Redactor
from relgate.smoke.scenario import (
    IDEMPOTENT_METHODS,
    Capture,
    Expect,
    LoadedScenario,
    RetryPolicy,
    Scenario,
    Step,
)
from relgate.smoke.template import MissingReference, TemplateError, render, stringify

if TYPE_CHECKING:
    import httpx

__all__ = ["Context", "Exchange", "Runner", "StepOutcome", "open_client"]

MAX_BODY = 10 * 1024 * 1024  # bytes kept of one response; the rest is drained, not stored
StepStatus = Literal["passed", "failed", "warning", "skipped"]
_SENSITIVE_COOKIE = ("sess", "csrf", "xsrf", "token", "auth", "sid", "jwt")


@dataclass
class Exchange:
    """One try: what was sent, what came back (raw; redacted when written), and how long."""

    n: int
    method: str
    url: str
    started_ms: float
    wait_ms: float = 0.0
    duration_ms: float = 0.0
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes = b""
    status: int | None = None
    http_version: str | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False
    redirects: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None

    def header_values(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.response_headers if k.lower() == low]

    def set_cookies(self) -> dict[str, str]:
        cookies: dict[str, str] = {}
        for raw in self.header_values("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(raw)
            except CookieError:
                continue
            cookies.update({k: m.value for k, m in jar.items()})
        return cookies


@dataclass
class StepOutcome:
    index: int
    step: Step
    status: StepStatus
    message: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    captured: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0

    @property
    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    @property
    def http_status(self) -> int | None:
        return self.last.status if self.last else None


class Context:
    """What ``{{ references }}`` resolve to: vars, captures, env, secrets, run facts."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        secrets: Mapping[str, str],
        run: Mapping[str, str | None],
        base_url: str,
    ) -> None:
        self.env = env
        self.secrets = secrets
        self.run = run
        self.base_url = base_url
        self.values: dict[str, Any] = {}

    def lookup(self, ref: str) -> Any:
        head, _, rest = ref.partition(".")
        if head == "env":
            if rest not in self.env:
                raise MissingReference(ref, f"environment variable {rest} is not set")
            return self.env[rest]
        if head == "secrets":
            if rest not in self.secrets:
                raise MissingReference(ref, f"secret {rest} is not set")
            return self.secrets[rest]
        if head == "run":
            return self.run.get(rest) or ""
        if head == "base_url":
            return self.base_url
        if head not in self.values:
            raise MissingReference(head, f"'{head}' was never captured")
        value = self.values[head]
        for part in rest.split(".") if rest else []:
            value = _dig(value, part, ref)
        return value


def _dig(value: Any, part: str, ref: str) -> Any:
    if isinstance(value, dict) and part in value:
        return value[part]
    if isinstance(value, list) and part.isdigit() and int(part) < len(value):
        return value[int(part)]
    raise MissingReference(ref, f"'{ref}': no '{part}' in the captured value")


def open_client(
    scenario: Scenario,
    *,
    transport: httpx.BaseTransport | None = None,
    ca_bundle: str | None = None,
    user_agent: str = "relgate-smoke",
) -> httpx.Client:
    """The scenario's one client: cookie jar, keep-alive, TLS verification on by default.

    ``ca_bundle`` (a PEM path, already resolved by the caller) adds trusted CAs."""
    import httpx

    if transport is None:
        transport = _lazy_tls_transport(ca_bundle, scenario.tls.verify)
    return httpx.Client(transport=transport, headers={"User-Agent": user_agent})


def _lazy_tls_transport(ca_bundle: str | None, verify: bool) -> httpx.BaseTransport:
    import httpx

    class LazyTLSTransport(httpx.BaseTransport):
        """Builds the certificate-verifying transport on the first https request only.

        Loading the CA bundle costs tens of milliseconds, a good share of a whole smoke run
        against a loopback http target; plain http gets a transport that never does TLS.
        """

        def __init__(self, ca_bundle: str | None, verify: bool) -> None:
            self.ca_bundle = ca_bundle
            self.verify = verify
            self.plain: httpx.HTTPTransport | None = None
            self.tls: httpx.HTTPTransport | None = None

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.scheme == "https":
                if self.tls is None:
                    self.tls = httpx.HTTPTransport(verify=self._verify())
                return self.tls.handle_request(request)
            if self.plain is None:
                # No CA loaded: it verifies (and so refuses) any TLS it would ever see.
                self.plain = httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
            return self.plain.handle_request(request)

        def _verify(self) -> ssl.SSLContext | bool:
            if not self.verify:
                return False
            if self.ca_bundle:
                return ssl.create_default_context(cafile=self.ca_bundle)
            return True

        def close(self) -> None:
            for transport in (self.plain, self.tls):
                if transport is not None:
                    transport.close()

    return LazyTLSTransport(ca_bundle, verify)


class Runner:
    def __init__(
        self,
        loaded: LoadedScenario,
        context: Context,
        client: httpx.Client,
        *,
        registry: SecretRegistry,
        allow_insecure_http: bool = False,
        on_step: Callable[[StepOutcome], None] = lambda _o: None,
        monotonic: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        rng: _random.Random | None = None,
    ) -> None:
        self.loaded = loaded
        self.scenario = loaded.scenario
        self.context = context
        self.client = client
        self.registry = registry
        self.allow_http = allow_insecure_http or self.scenario.allow_insecure_http
        self.on_step = on_step
        self.monotonic = monotonic
        self.sleep = sleep
        self.rng = rng or _random.Random()  # jitter only: not security relevant
        r = self.scenario.redact
        self.redactor = Redactor(
            headers=r.headers, json_keys=r.json_keys, query_params=r.query_params
        )
        self.t0 = 0.0

    # -- the outline ------------------------------------------------------------------------
    def run(self) -> list[StepOutcome]:
        self.t0 = self.monotonic()
        deadline = self.t0 + self.scenario.deadline.total_seconds()
        self._render_vars()
        outcomes: list[StepOutcome] = []
        failed: StepOutcome | None = None
        for index, step in enumerate(self.scenario.steps):
            outcome = self._step(index, step, failed, deadline)
            outcomes.append(outcome)
            if outcome.status == "failed" and failed is None:
                failed = outcome
            self.on_step(outcome)
        return outcomes

    def _render_vars(self) -> None:
        for name, value in self.scenario.vars.items():
            self.context.values[name] = render(value, self.context.lookup)

    def _step(
        self, index: int, step: Step, failed: StepOutcome | None, deadline: float
    ) -> StepOutcome:
        always = step.run == "always"
        if failed is not None and not always:
            return StepOutcome(index, step, "skipped", f"skipped: step '{failed.step.name}' failed")
        missing = self._missing_capture(index)
        if missing:
            if always:
                return StepOutcome(index, step, "skipped", f"skipped: {missing}")
            return StepOutcome(index, step, self._failure(step), missing)
        now = self.monotonic()
        left = deadline - now + (self.scenario.cleanup_grace.total_seconds() if always else 0)
        if left <= 0:
            limit = format_duration(self.scenario.deadline)
            return StepOutcome(
                index, step, self._failure(step), f"scenario deadline ({limit}) spent"
            )
        step_deadline = now + min(self.scenario.step_deadline(step).total_seconds(), left)
        outcome = StepOutcome(index, step, "passed")
        try:
            request = self._render_request(step)
        except (MissingReference, TemplateError, ValueError) as exc:
            outcome.status, outcome.message = self._failure(step), _reason(exc)
            return outcome
        self._exchange(step, request, step_deadline, outcome)
        outcome.duration_ms = round((self.monotonic() - now) * 1000, 1)
        return outcome

    def _failure(self, step: Step) -> StepStatus:
        return "failed" if step.gating else "warning"

    def _missing_capture(self, index: int) -> str:
        for name in sorted(self.loaded.needs.get(index, ())):
            if name not in self.context.values:
                producer = self.loaded.captured_by.get(name)
                by = self.scenario.steps[producer].name if producer is not None else "?"
                return f"needs '{name}', which step '{by}' never captured"
        return ""

    # -- rendering --------------------------------------------------------------------------
    def _render_request(self, step: Step) -> dict[str, Any]:
        req = step.request
        lookup = self.context.lookup
        url = str(render(req.url, lookup))
        if "://" not in url:
            url = self.context.base_url.rstrip("/") + "/" + url.lstrip("/")
        require_https(url, allow_http=self.allow_http)
        headers = {**self.scenario.defaults.headers, **req.headers}
        out: dict[str, Any] = {
            "method": req.method,
            "url": url,
            "params": {k: _param(v) for k, v in render(req.params, lookup).items()},
            "headers": {k: stringify(v) for k, v in render(headers, lookup).items()},
            "cookies": {k: stringify(v) for k, v in render(req.cookies, lookup).items()},
            "follow_redirects": req.follow_redirects,
            "timeout": req.timeout or self.scenario.defaults.timeout,
        }
        if req.has_json:
            out["json"] = render(req.json_body, lookup)
        elif req.form is not None:
            out["data"] = {k: stringify(v) for k, v in render(req.form, lookup).items()}
        elif req.body is not None:
            out["content"] = stringify(render(req.body, lookup)).encode("utf-8")
        policy = self.scenario.retry_for(step)
        if policy.unsafe and policy.attempts > 1 and req.method not in IDEMPOTENT_METHODS:
            out["headers"].setdefault("Idempotency-Key", str(uuid.uuid4()))
        return out

    # -- sending: poll around retry around one try -------------------------------------------
    def _exchange(
        self, step: Step, request: dict[str, Any], deadline: float, outcome: StepOutcome
    ) -> None:
        poll = step.poll
        poll_end = min(deadline, self.monotonic() + poll.timeout.total_seconds()) if poll else 0
        wait = 0.0
        while True:
            last = self._with_retries(step, request, deadline, outcome, wait)
            outcome.checks = self._checks(step.expect, last)
            ok = all(c.passed for c in outcome.checks)
            if ok or poll is None:
                break
            wait = poll.every.total_seconds()
            if self.monotonic() + wait >= poll_end:
                break
            self.sleep(wait)
        if ok:
            ok = self._capture(step, last, outcome)
        if not ok:
            outcome.status = self._failure(step)
            outcome.message = outcome.message or _first_failure(outcome.checks, last)

    def _with_retries(
        self,
        step: Step,
        request: dict[str, Any],
        deadline: float,
        outcome: StepOutcome,
        wait: float,
    ) -> Exchange:
        policy = self.scenario.retry_for(step)
        method_ok = request["method"] in IDEMPOTENT_METHODS or policy.unsafe
        tries = policy.attempts if method_ok else 1
        for attempt in range(1, tries + 1):
            ex = self._send(request, deadline, len(outcome.exchanges) + 1, wait)
            outcome.exchanges.append(ex)
            delay = self._retry_delay(policy, ex, attempt)
            if delay is None or attempt == tries:
                return ex
            if self.monotonic() + delay >= deadline:
                ex.error = (ex.error or f"HTTP {ex.status}") + "; no time left to retry"
                return ex
            self.sleep(delay)
            wait = delay
        return outcome.exchanges[-1]

    def _retry_delay(self, policy: RetryPolicy, ex: Exchange, n: int) -> float | None:
        """Seconds to wait before the next try, or None when this failure is not transient."""
        if ex.error_kind is not None:
            if ex.error_kind not in policy.on_errors:
                return None
        elif ex.status not in policy.on_status:
            return None
        retry_after = _retry_after(ex.header_values("retry-after"))
        if ex.status == 429 and retry_after is None:
            return None  # a 429 without Retry-After is a verdict, not a hint
        if retry_after is not None and policy.respect_retry_after:
            return min(retry_after, policy.max_retry_after.total_seconds())
        b = policy.backoff
        delay = min(b.initial.total_seconds() * b.factor ** (n - 1), b.max.total_seconds())
        return delay / 2 + self.rng.uniform(0, delay / 2) if b.jitter else delay

    def _send(self, request: dict[str, Any], deadline: float, n: int, wait: float) -> Exchange:
        import httpx

        start = self.monotonic()
        ex = Exchange(
            n,
            request["method"],
            request["url"],
            started_ms=round((start - self.t0) * 1000, 1),
            wait_ms=round(wait * 1000, 1),
        )
        left = deadline - start
        if left <= 0:
            ex.error, ex.error_kind = "step deadline spent before this try", "deadline"
            return ex
        t = request["timeout"]
        timeout = httpx.Timeout(
            connect=min(t.connect.total_seconds(), left),
            read=min(t.read.total_seconds(), left),
            write=min(t.write.total_seconds(), left),
            pool=min(t.pool.total_seconds(), left),
        )
        try:
            req = self.client.build_request(
                request["method"],
                request["url"],
                params=request["params"] or None,
                headers=request["headers"],
                json=request.get("json"),
                data=request.get("data"),
                content=request.get("content"),
                timeout=timeout,
            )
            _add_cookies(req, request["cookies"])
            ex.url = str(req.url)
            ex.request_headers = list(req.headers.multi_items())
            ex.request_body = _sent_body(req)
            self._receive(req, request["follow_redirects"], deadline, ex)
        except httpx.TimeoutException as exc:
            spent = self.monotonic() >= deadline - 0.001
            ex.error_kind = "deadline" if spent else "timeout"
            ex.error = "step deadline exceeded" if spent else f"timed out ({type(exc).__name__})"
        except httpx.ConnectError as exc:
            ex.error, ex.error_kind = f"cannot connect: {exc}", "connect"
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            ex.error, ex.error_kind = f"invalid URL: {exc}", "invalid"
        except httpx.TransportError as exc:
            ex.error, ex.error_kind = f"{type(exc).__name__}: {exc}", "protocol"
        ex.duration_ms = round((self.monotonic() - start) * 1000, 1)
        return ex

    def _receive(self, req: httpx.Request, follow: bool, deadline: float, ex: Exchange) -> None:
        import httpx

        response = self.client.send(req, stream=True, follow_redirects=follow)
        try:
            ex.redirects = [(r.status_code, str(r.request.url)) for r in response.history]
            ex.status = response.status_code
            ex.http_version = response.http_version
            ex.response_headers = list(response.headers.multi_items())
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                if self.monotonic() > deadline:
                    raise httpx.ReadTimeout("deadline while reading the body", request=req)
                if size < MAX_BODY:
                    chunks.append(chunk[: MAX_BODY - size])
                size += len(chunk)
            ex.body = b"".join(chunks)
            ex.truncated = size > MAX_BODY
        finally:
            response.close()
        self._register_cookies(ex)

    def _register_cookies(self, ex: Exchange) -> None:
        """Session-like cookie values are credentials: keep them out of every output."""
        for name, value in ex.set_cookies().items():
            if len(value) >= 8 and any(s in name.lower() for s in _SENSITIVE_COOKIE):
                self.registry.register(value, f"cookie {name}")

    # -- judging ----------------------------------------------------------------------------
    def _checks(self, expect: Expect, ex: Exchange) -> list[Check]:
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
            found = evaluate(self._live(matcher), f"header {name}", ", ".join(values), bool(values))
            checks += conceal(found) if self.redactor.header_is_secret(name) else found
        cookies = ex.set_cookies()
        for name, matcher in expect.cookies.items():
            found = evaluate(
                self._live(matcher), f"cookie {name}", cookies.get(name), name in cookies
            )
            checks += conceal(found)
        if expect.json_checks:
            checks += self._json_checks(expect, ex)
        if expect.body is not None:
            text = ex.body.decode("utf-8", "replace")
            checks += evaluate(self._live(expect.body), "body", text)
        limit = expect.max_duration or self.scenario.defaults.max_duration
        if limit is not None:
            ms = limit.total_seconds() * 1000
            checks.append(
                Check(
                    what="duration",
                    op="max_duration",
                    expected=f"{ms:g} ms",
                    actual=f"{ex.duration_ms:g} ms",
                    passed=ex.duration_ms <= ms,
                    message=""
                    if ex.duration_ms <= ms
                    else f"took {ex.duration_ms:g} ms, more than the {ms:g} ms allowed",
                )
            )
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
            results = evaluate(live, f"json {found.path}", found.value, found.present)
            if self.redactor.path_is_secret(found.path):
                conceal(results)
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
        return type(matcher).model_validate(render(dumped, self.context.lookup))

    # -- capturing --------------------------------------------------------------------------
    def _capture(self, step: Step, ex: Exchange, outcome: StepOutcome) -> bool:
        for name, spec in step.capture.items():
            try:
                value = self._capture_one(spec, ex)
            except LookupError as exc:
                if not spec.has_default:
                    outcome.message = f"capture '{name}': {exc.args[0]}"
                    return False
                value = spec.default
            if spec.secret:
                self.registry.register(stringify(value), f"capture {name}")
            self.context.values[name] = value
            outcome.captured[name] = value
        return True

    def _capture_one(self, spec: Capture, ex: Exchange) -> Any:
        if spec.status:
            return _pick([ex.status], spec, "the status")
        if spec.header is not None:
            return _pick(ex.header_values(spec.header), spec, f"header {spec.header}")
        if spec.cookie is not None:
            cookies = ex.set_cookies()
            if spec.cookie in cookies:
                return cookies[spec.cookie]
            jar_value = self.client.cookies.get(spec.cookie)
            if jar_value is None:
                raise LookupError(f"no cookie {spec.cookie} was set")
            return jar_value
        text = ex.body.decode("utf-8", "replace")
        if spec.regex is not None:
            import re

            pattern = re.compile(spec.regex)
            found = [m.group(1) if pattern.groups else m.group(0) for m in pattern.finditer(text)]
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


def _add_cookies(req: httpx.Request, cookies: Mapping[str, str]) -> None:
    """Per-request cookies go on top of the jar's (httpx deprecates ``cookies=`` per request)."""
    if not cookies:
        return
    extra = "; ".join(f"{k}={v}" for k, v in cookies.items())
    existing = req.headers.get("Cookie")
    req.headers["Cookie"] = f"{existing}; {extra}" if existing else extra


def _param(value: Any) -> str | list[str]:
    """A query parameter: a list repeats the name (``?status=A&status=B``)."""
    return [stringify(v) for v in value] if isinstance(value, list) else stringify(value)


def _sent_body(req: httpx.Request) -> bytes:
    import httpx

    try:
        return req.content
    except httpx.RequestNotRead:
        return b""


def _retry_after(values: list[str]) -> float | None:
    if not values:
        return None
    text = values[0].strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _first_failure(checks: list[Check], ex: Exchange) -> str:
    """The failure to read first. A wrong status explains the rest, so it stands alone, with
    what the server said about it (``detail``/``error``/``message``, or a short text body)."""
    failing = [c for c in checks if not c.passed]
    if not failing:
        return "failed"
    if failing[0].op == "status":
        said = _server_says(ex)
        return failing[0].message + (f": {said}" if said else "")
    more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
    return failing[0].message + more


def _server_says(ex: Exchange) -> str:
    text = ex.body[:2048].decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text if 0 < len(text) <= 120 and "<" not in text else ""
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])[:200]
    return ""


def _reason(exc: Exception) -> str:
    if isinstance(exc, MissingReference):
        return exc.reason
    return str(exc)
