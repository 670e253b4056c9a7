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

import random as _random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from relgate.fields import format_duration, require_https
from relgate.results.smoke import Check, StepStatus
from relgate.secrets import SecretRegistry
from relgate.smoke.judge import Judge, capture_value, first_failure, hint_for
from relgate.smoke.redact import Redactor
from relgate.smoke.scenario import (
    IDEMPOTENT_METHODS,
    TRANSIENT_STATUSES,
    LoadedScenario,
    RetryPolicy,
    Step,
    header_problem,
)
from relgate.smoke.template import MissingReference, TemplateError, render, stringify
from relgate.smoke.transport import Exchange, Sender, open_client, retry_after

if TYPE_CHECKING:
    import httpx

__all__ = ["Context", "Exchange", "Runner", "StepOutcome", "open_client"]

TRANSIENT_ERRORS = ("connect", "timeout", "protocol")
RUN_FACTS = {
    "version": "no version is known (pass --version, or set RELGATE_VERSION)",
    "environment": "no environment is known (pass --env)",
    "id": "the run has no id",
}


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
    hint: str | None = None  # the step's hints that match this failure

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
            value = self.run.get(rest)
            if not value:
                why = RUN_FACTS.get(rest, "it is not known to this run")
                raise MissingReference(ref, f"'{{{{ {ref} }}}}' has no value: {why}")
            return value
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
        redactor = Redactor(
            headers=r.headers, json_keys=r.json_keys, query_params=r.query_params, secrets=registry
        )
        self.judge = Judge(
            redactor, context.lookup, max_duration=self.scenario.defaults.max_duration
        )
        self.sender = Sender(
            client,
            registry=registry,
            allow_http=self.allow_http,
            secret_header=redactor.header_is_secret,
            monotonic=monotonic,
        )
        self.t0 = 0.0

    # -- the outline ------------------------------------------------------------------------
    def run(self) -> list[StepOutcome]:
        self.t0 = self.sender.t0 = self.monotonic()
        deadline = self.t0 + self.scenario.deadline.total_seconds()
        self._render_vars()
        outcomes: list[StepOutcome] = []
        failed: StepOutcome | None = None
        offset = len(self.scenario.run_steps()) - len(self.scenario.steps)  # the version check
        for index, step in enumerate(self.scenario.run_steps()):
            outcome = self._step(index, step, failed, deadline, index - offset)
            if outcome.status in ("failed", "warning"):
                outcome.hint = hint_for(step, outcome.checks, outcome.last, outcome.message)
            outcomes.append(outcome)
            if outcome.status == "failed" and failed is None:
                failed = outcome
            self.on_step(outcome)
        return outcomes

    def _render_vars(self) -> None:
        for name, value in self.scenario.vars.items():
            self.context.values[name] = render(value, self.context.lookup)

    def _step(
        self, index: int, step: Step, failed: StepOutcome | None, deadline: float, at: int
    ) -> StepOutcome:
        """Run ``step`` (``at``: its index in the scenario's own list, -1 for built-ins)."""
        always = step.run == "always"
        if failed is not None and not always:
            return StepOutcome(index, step, "skipped", f"skipped: step '{failed.step.name}' failed")
        missing = self._missing_capture(at)
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
            outcome.checks = [
                Check(what="template", op="render", passed=False, message=outcome.message)
            ]
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
        headers = merge_headers(self.scenario.defaults.headers, req.headers)
        out: dict[str, Any] = {
            "method": req.method,
            "url": url,
            "params": {k: _param(v) for k, v in render(req.params, lookup).items()},
            "headers": _sendable({k: stringify(v) for k, v in render(headers, lookup).items()}),
            "cookies": {k: stringify(v) for k, v in render(req.cookies, lookup).items()},
            "follow_redirects": req.follow_redirects,
            "max_redirects": req.max_redirects,
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
        started = self.monotonic()
        poll_end = min(deadline, started + poll.timeout.total_seconds()) if poll else 0
        wait = 0.0
        note = ""
        while True:
            last = self._with_retries(step, request, deadline, outcome, wait)
            outcome.checks = self.judge.checks(step.expect, last)
            ok = all(c.passed for c in outcome.checks)
            if ok or poll is None:
                break
            next_wait = _poll_wait(step, last)
            if next_wait is None:
                break  # a final answer: polling again would only hide it
            wait = max(poll.every.total_seconds(), next_wait)
            if self.monotonic() + wait >= poll_end:
                spent = format_duration_s(self.monotonic() - started)
                note = f" (still so after {len(outcome.exchanges)} tries over {spent})"
                break
            self.sleep(wait)
        if ok:
            ok = self._capture(step, last, outcome)
        if not ok:
            outcome.status = self._failure(step)
            outcome.message = outcome.message or (
                first_failure(outcome.checks, last, self.registry) + note
            )

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
            ex = self.sender.send(request, deadline, len(outcome.exchanges) + 1, wait)
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
        wait_for = retry_after(ex.header_values("retry-after"))
        if ex.status == 429 and wait_for is None:
            return None  # a 429 without Retry-After is a verdict, not a hint
        if wait_for is not None and policy.respect_retry_after:
            return min(wait_for, policy.max_retry_after.total_seconds())
        b = policy.backoff
        delay = min(b.initial.total_seconds() * b.factor ** (n - 1), b.max.total_seconds())
        return delay / 2 + self.rng.uniform(0, delay / 2) if b.jitter else delay

    # -- capturing --------------------------------------------------------------------------
    def _capture(self, step: Step, ex: Exchange, outcome: StepOutcome) -> bool:
        for name, spec in step.capture.items():
            try:
                value = capture_value(spec, ex, self.client.cookies.get)
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


def _sendable(headers: dict[str, str]) -> dict[str, str]:
    """Rendered headers, refused (a step failure, not a crash) when a value cannot be sent."""
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem:
            raise ValueError(f"{problem} (after rendering its templates)")
    return headers


def _poll_wait(step: Step, ex: Exchange) -> float | None:
    """Seconds a poll should at least wait before asking again, or None when ``ex`` is final.

    "Not yet" is: the expected status with an expectation still failing, a status the step lists
    in ``poll.while_status``, or a transient failure (connection error, timeout, 502/503/504, 429
    with Retry-After). Anything else is the server's answer, and the step stops on it."""
    assert step.poll is not None
    if ex.status is None:
        return 0.0 if ex.error_kind in TRANSIENT_ERRORS else None
    if step.expect.status_ok(ex.status) or ex.status in step.poll.while_status:
        return 0.0
    if ex.status in TRANSIENT_STATUSES:
        return 0.0
    if ex.status == 429:
        return retry_after(ex.header_values("retry-after"))
    return None


def format_duration_s(seconds: float) -> str:
    return f"{seconds:.1f} s"


def merge_headers(defaults: Mapping[str, Any], step: Mapping[str, Any]) -> dict[str, Any]:
    """The step's headers over the scenario's defaults, names compared case-insensitively (an
    ``accept`` in a step replaces the default ``Accept``); a step's ``null`` drops the default."""
    merged: dict[str, tuple[str, Any]] = {k.lower(): (k, v) for k, v in defaults.items()}
    for name, value in step.items():
        merged[name.lower()] = (name, value)
    return {name: value for name, value in merged.values() if value is not None}


def _param(value: Any) -> str | list[str]:
    """A query parameter: a list repeats the name (``?status=A&status=B``)."""
    return [stringify(v) for v in value] if isinstance(value, list) else stringify(value)


def _reason(exc: Exception) -> str:
    if isinstance(exc, MissingReference):
        return exc.reason
    return str(exc)
