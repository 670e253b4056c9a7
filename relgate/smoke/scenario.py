"""Smoke scenarios: the YAML models, the loader and the static checks run before any request.

A scenario file is loaded with :mod:`relgate.yamlfile` (line numbers, size and alias limits),
validated by the pydantic models below (unknown keys are errors), then checked statically by
:func:`check_scenario`: every ``{{ reference }}`` is defined by vars, env, declared secrets or an
*earlier* step's capture; every JSONPath and regular expression compiles; non-idempotent requests
are retried or polled only when opted in. Every problem is reported at once as
``file:line field: message`` (exit code 2), before a single request is sent.

The JSON Schema of this format is :func:`scenario_json_schema` (shipped as
``schema/scenario.schema.json``, for editors).

Why this module is longer than ~500 lines: the models, the loader and the static checks of one
file format change together (each static check walks the fields of the model above it), and the
JSON Schema is generated from exactly these models; splitting them would let the checks drift from
the format they check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from relgate.errors import ConfigError, Problem
from relgate.fields import Duration
from relgate.smoke.assertions import Matcher, check_regex
from relgate.smoke.query import check_path
from relgate.smoke.template import NAMESPACES, TemplateError, references

__all__ = [
    "Backoff",
    "Capture",
    "Expect",
    "ExpectVersion",
    "Hint",
    "HintWhen",
    "JsonAssertion",
    "LoadedScenario",
    "Poll",
    "Request",
    "RetryPolicy",
    "Scenario",
    "Step",
    "Timeouts",
    "check_scenario",
    "header_problem",
    "load_scenario",
    "scenario_json_schema",
]

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
IDEMPOTENT_METHODS = (*SAFE_METHODS, "PUT", "DELETE")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATUS_CLASS = re.compile(r"^[1-5]xx$")
ErrorKind = Literal["connect", "timeout", "protocol"]
Scalar = str | int | float | bool  # header and cookie values; sent as text
HeaderValue = Scalar | None  # a step's null removes a default header
_DEFAULT_ERRORS: tuple[ErrorKind, ...] = ("connect", "timeout")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Timeouts(_Model):
    """httpx timeouts, per socket operation. A bare duration sets all four."""

    connect: Duration = timedelta(seconds=5)
    read: Duration = timedelta(seconds=20)
    write: Duration = timedelta(seconds=20)
    pool: Duration = timedelta(seconds=5)

    @model_validator(mode="before")
    @classmethod
    def _scalar(cls, data: Any) -> Any:
        if isinstance(data, int | float | str) and not isinstance(data, bool):
            return {"connect": data, "read": data, "write": data, "pool": data}
        return data


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_TEMPLATE_PART = re.compile(r"\{\{.*?\}\}")


def header_problem(name: str, value: object) -> str | None:
    """Why ``name: value`` cannot be sent as an HTTP/1.1 header (None when it can). Header
    values are ASCII: httpx refuses anything else, and CR/LF would split the request."""
    if not _TOKEN.match(name):
        return f"header name {name!r} is not an HTTP token"
    if not isinstance(value, str):
        return None
    text = _TEMPLATE_PART.sub("", value)  # rendered values are checked again when sent
    bad = next((c for c in text if not (" " <= c <= "~" or c == "\t")), None)
    if bad is not None:
        what = "a control character" if bad < " " or bad == "\x7f" else "not ASCII"
        return f"header {name}: {bad!r} is {what}; header values are printable ASCII"
    return None


def _headers_ok(v: dict[str, Any]) -> dict[str, Any]:
    for name, value in v.items():
        problem = header_problem(name, value)
        if problem:
            raise ValueError(problem)
    return v


class Backoff(_Model):
    initial: Duration = timedelta(milliseconds=500)
    factor: float = Field(2.0, ge=1.0, le=10.0)
    max: Duration = timedelta(seconds=5)
    jitter: bool = Field(True, description="Wait between half and all of each delay.")


class RetryPolicy(_Model):
    """Retries for *transient* failures only; never for an assertion that did not hold."""

    attempts: int = Field(3, ge=1, le=10, description="Total tries, the first included.")
    on_status: list[int] = Field(
        default_factory=lambda: [429, 502, 503, 504],
        description="Statuses worth another try (429 only when it carries Retry-After).",
    )
    on_errors: list[ErrorKind] = Field(default_factory=lambda: list(_DEFAULT_ERRORS))
    backoff: Backoff = Field(default_factory=Backoff)
    respect_retry_after: bool = True
    max_retry_after: Duration = Field(
        timedelta(seconds=30), description="Longest Retry-After honoured."
    )
    unsafe: bool = Field(
        False,
        description="Also retry POST/PATCH (an Idempotency-Key header is sent, same on each try).",
    )


TRANSIENT_STATUSES = (502, 503, 504)  # and 429 with Retry-After


class Poll(_Model):
    """Repeat the step until its expectations hold (warm-up, asynchronous work).

    The poll goes on only while the answer means "not yet": the expected status with an
    expectation still failing, a status listed in ``while_status``, or a transient failure
    (connection error, timeout, 502/503/504, 429 with Retry-After). Any other answer (a 406, a
    403, a 409…) is final: the step stops at once with what the server said."""

    every: Duration = timedelta(seconds=1)
    timeout: Duration = timedelta(seconds=30)
    while_status: list[int] = Field(
        default_factory=list,
        description="Unexpected statuses that mean 'not ready yet' (e.g. 404 or 202).",
    )
    unsafe: bool = Field(False, description="Allow polling a POST/PATCH.")


class Request(_Model):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: str = Field(description="Relative to base_url, or absolute.")
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, HeaderValue] = Field(
        default_factory=dict,
        description="Merged over defaults.headers, names case-insensitive: the step's value wins; "
        "null removes the default.",
    )
    cookies: dict[str, Scalar] = Field(default_factory=dict, description="Added to the jar's.")
    json_body: Any = Field(None, alias="json")
    form: dict[str, Any] | None = None
    body: str | None = None
    follow_redirects: bool = Field(
        False,
        description="Each hop is checked like the first URL (https, or http to loopback); a hop "
        "to another origin drops Authorization, cookies and secret headers, and 301/302/303 "
        "become a GET without body (a 307/308 that would re-send a body elsewhere is refused).",
    )
    max_redirects: int = Field(10, ge=0, le=50, description="Hops followed at most.")
    timeout: Timeouts | None = None

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _headers_ok(v)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_body(self) -> Request:
        kinds = [k for k in ("json_body", "form", "body") if k in self.model_fields_set]
        if len(kinds) > 1:
            names = " and ".join("json" if k == "json_body" else k for k in kinds)
            raise ValueError(f"a request has one body: {names} cannot be used together")
        return self

    @property
    def has_json(self) -> bool:
        return "json_body" in self.model_fields_set


class JsonAssertion(Matcher):
    """An assertion on the response's JSON: ``{path: <JSONPath>, <operator>: value}``."""

    path: str | list[str] = Field(description="RFC 9535 JSONPath, or alternatives tried in order.")
    message: str | None = Field(None, description="Shown instead of the generic message.")

    def operators(self) -> list[str]:
        return [op for op in super().operators() if op not in ("path", "message")]


StatusSpec = int | list[int] | str


class Expect(_Model):
    status: StatusSpec = Field("2xx", description="A code, a list of codes, or a class like 2xx.")
    headers: dict[str, Matcher] = Field(default_factory=dict)
    cookies: dict[str, Matcher] = Field(
        default_factory=dict, description="Cookies set by this response."
    )
    json_checks: list[JsonAssertion] = Field(default_factory=list, alias="json")
    body: Matcher | None = Field(None, description="On the body as text.")
    max_duration: Duration | None = Field(None, description="Upper bound for the answering try.")

    @field_validator("status")
    @classmethod
    def _status(cls, v: StatusSpec) -> StatusSpec:
        codes = [v] if isinstance(v, int) else v if isinstance(v, list) else []
        if isinstance(v, str) and not _STATUS_CLASS.match(v):
            raise ValueError("a status is a code (201), a list ([200, 204]) or a class (2xx)")
        for code in codes:
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status")
        return v

    def status_ok(self, code: int) -> bool:
        if isinstance(self.status, int):
            return code == self.status
        if isinstance(self.status, list):
            return code in self.status
        return str(code)[0] == self.status[0]

    def status_text(self) -> str:
        if isinstance(self.status, list):
            return " or ".join(str(c) for c in self.status)
        return str(self.status)


FailureKind = Literal["connect", "timeout", "deadline", "protocol", "invalid", "redirect"]


class HintWhen(_Model):
    """When a hint applies; every condition given must hold (at least one is required)."""

    status: StatusSpec | None = Field(
        None, description="The failing answer's status: 404, [401, 403], 5xx."
    )
    error: list[FailureKind] | None = Field(
        None,
        description="No answer at all: connect, timeout, deadline, protocol, invalid, redirect.",
    )
    check: str | None = Field(
        None,
        description="A failing check whose subject starts with this text: 'json $.token', "
        "'body', 'header Content-Type', 'duration', 'capture'.",
    )

    @field_validator("status")
    @classmethod
    def _status(cls, v: StatusSpec | None) -> StatusSpec | None:
        return None if v is None else Expect._status(v)

    @model_validator(mode="after")
    def _some(self) -> HintWhen:
        if self.status is None and not self.error and self.check is None:
            raise ValueError("a hint's 'when' needs status, error or check")
        return self


class Hint(_Model):
    when: HintWhen
    text: str = Field(min_length=1)


class ExpectVersion(_Model):
    """A built-in first step: the deployed version (``run.version``) is the one served."""

    url: str = Field(description="Relative to base_url, e.g. /api/health/.")
    json_path: str = Field(alias="json", description="Where the served version is, e.g. $.version.")
    timeout: Duration = Field(
        timedelta(seconds=10), description="How long a rolling deploy may still serve the old one."
    )


class Capture(_Model):
    """Where a value comes from; exactly one source."""

    json_path: str | list[str] | None = Field(None, alias="json")
    header: str | None = None
    cookie: str | None = None
    regex: str | None = Field(None, description="On the body; group 1 if the pattern has one.")
    status: bool | None = Field(None, description="true: capture the status code.")
    select: Literal["one", "first", "all"] = Field(
        "one", description="one: exactly one value must match; first; all: a list."
    )
    secret: bool = Field(False, description="Redact it everywhere and mask it in Actions.")
    default: Any = Field(None, description="Used when nothing matches (instead of failing).")

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        sources = [
            k for k in ("json_path", "header", "cookie", "regex", "status") if getattr(self, k)
        ]
        if len(sources) != 1:
            raise ValueError("a capture has exactly one of json, header, cookie, regex, status")
        return self

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            check_regex(v)
        return v

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


class ArtifactPolicy(_Model):
    body: Literal["full", "head", "none"] = Field(
        "full", description="head: size, sha256 and first bytes only."
    )
    max_bytes: int = Field(65536, ge=0, description="Longer text bodies are truncated.")


class Step(_Model):
    name: str = Field(min_length=1, max_length=100, description="Unique; names the artifact.")
    request: Request
    expect: Expect = Field(default_factory=Expect)
    capture: dict[str, Capture] = Field(default_factory=dict)
    retry: RetryPolicy | None = Field(None, description="Replaces defaults.retry.")
    poll: Poll | None = None
    run: Literal["normal", "always"] = Field(
        "normal", description="always: also runs after a failure (cleanup)."
    )
    on_failure: Literal["fail", "warn"] = Field(
        "fail", description="warn: best effort, a failure is a warning and never fails the gate."
    )
    hint: str | None = Field(
        None, description="Shown on any failure of the step; prefer 'hints' with conditions."
    )
    hints: list[Hint] = Field(
        default_factory=list,
        description="What to check, by cause: [{when: {status: 409}, text: ...}]; a failure no "
        "hint matches shows none.",
    )
    deadline: Duration | None = Field(None, description="Wall-clock budget of the step.")
    artifact: ArtifactPolicy | None = None

    @field_validator("capture")
    @classmethod
    def _names(cls, v: dict[str, Capture]) -> dict[str, Capture]:
        for name in v:
            if not _IDENT.match(name) or name in NAMESPACES:
                raise ValueError(
                    f"capture name {name!r}: use letters, digits, _ (not {NAMESPACES})"
                )
        return v

    @property
    def gating(self) -> bool:
        return self.on_failure == "fail"


class Defaults(_Model):
    headers: dict[str, Scalar] = Field(default_factory=dict)
    timeout: Timeouts = Field(default_factory=Timeouts)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    max_duration: Duration | None = None
    step_deadline: Duration = Field(
        timedelta(seconds=60), description="Per step, retries included."
    )
    artifact: ArtifactPolicy = Field(default_factory=ArtifactPolicy)

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _headers_ok(v)


class Redact(_Model):
    """Added to the built-in lists (Authorization, Cookie, password, token…)."""

    headers: list[str] = Field(default_factory=list)
    json_keys: list[str] = Field(default_factory=list)
    query_params: list[str] = Field(default_factory=list)


class TLS(_Model):
    verify: bool = Field(True, description="false only for throwaway test hosts.")
    ca_bundle: str | None = Field(None, description="PEM file of extra trusted CAs.")


class Scenario(_Model):
    """A smoke scenario file."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    version: Literal[1] = 1
    name: str = Field(min_length=1)
    base_url: str | None = Field(None, description="Overridden by --base-url.")
    secrets: list[str] = Field(default_factory=list, description="Env vars holding secrets.")
    vars: dict[str, Any] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    deadline: Duration = Field(timedelta(minutes=5), description="Whole scenario.")
    cleanup_grace: Duration = Field(
        timedelta(seconds=30), description="Extra time for always-steps after the deadline."
    )
    allow_insecure_http: bool = Field(False, description="Permit http:// to non-loopback hosts.")
    tls: TLS = Field(default_factory=TLS)
    expect_version: ExpectVersion | None = Field(
        None, description="Off by default: check first that the served version is run.version."
    )
    redact: Redact = Field(default_factory=Redact)
    steps: list[Step] = Field(min_length=1)

    @field_validator("secrets", mode="after")
    @classmethod
    def _secret_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _IDENT.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return v

    @field_validator("vars", mode="after")
    @classmethod
    def _var_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if not _IDENT.match(name) or name in NAMESPACES:
                raise ValueError(f"var name {name!r}: use letters, digits, _ (not {NAMESPACES})")
        return v

    def run_steps(self) -> list[Step]:
        """The steps as run: the built-in version check first when ``expect_version`` is set."""
        if self.expect_version is None:
            return self.steps
        return [version_step(self.expect_version), *self.steps]

    def retry_for(self, step: Step) -> RetryPolicy:
        return step.retry or self.defaults.retry

    def step_deadline(self, step: Step) -> timedelta:
        return step.deadline or self.defaults.step_deadline


def version_step(spec: ExpectVersion) -> Step:
    return Step.model_validate(
        {
            "name": "served version",
            "request": {"url": spec.url},
            "expect": {
                "status": 200,
                "json": [
                    {
                        "path": spec.json_path,
                        "eq": "{{ run.version }}",
                        "message": "the deployed version is not the one served",
                    }
                ],
            },
            "poll": {"every": "1s", "timeout": spec.timeout.total_seconds()},
        }
    )


def scenario_json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://relgate.dev/schema/scenario.schema.json"
    schema["title"] = "relgate smoke scenario"
    return schema


# -- loading and static checks --------------------------------------------------------------------
@dataclass
class LoadedScenario:
    """A validated scenario, where it came from, and what each step needs."""

    scenario: Scenario
    file: str
    digest: str
    needs: dict[int, set[str]] = field(default_factory=dict)  # step index → capture/var names
    captured_by: dict[str, int] = field(default_factory=dict)  # capture name → first step
    run_refs: list[tuple[str, str]] = field(default_factory=list)  # (where, "run.version")


def load_scenario(path: str | Path, *, env: Mapping[str, str] | None = None) -> LoadedScenario:
    """Load, validate and statically check a scenario; raise :class:`ConfigError` listing every
    problem. With ``env``, env and secret references must also be set in it."""
    import hashlib

    from relgate.yamlfile import load_yaml, validate_model

    loaded = load_yaml(path, display=str(path))
    scenario = validate_model(Scenario, loaded)
    result = LoadedScenario(
        scenario, loaded.file, "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    )
    problems = check_scenario(
        scenario, loaded.data, loaded.file, loaded.line_of, env=env, out=result
    )
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.field))
        raise ConfigError(problems)
    return result


_Where = tuple[str | int, ...]


def check_scenario(
    scenario: Scenario,
    raw: Any,
    file: str,
    line_of: Any,
    *,
    env: Mapping[str, str] | None = None,
    out: LoadedScenario | None = None,
) -> list[Problem]:
    """Every static problem of ``scenario`` (``raw`` is the YAML data, for locations)."""
    problems: list[Problem] = []

    def problem(where: _Where, message: str) -> None:
        problems.append(Problem(file, line_of(where), _dotted(where), message))

    declared = set(scenario.secrets)
    defined: dict[str, str] = {}  # name → "var" | step name

    def check_refs(value: Any, where: _Where, *, step_index: int | None) -> set[str]:
        needs: set[str] = set()
        label = (
            f"step '{scenario.steps[step_index].name}'"
            if step_index is not None
            else _dotted(where)
        )
        for text, at in _strings(value, where):
            try:
                refs = references(text)
            except TemplateError as exc:
                problem(at, str(exc))
                continue
            for ref in refs:
                bad = _check_ref(ref, defined, declared, env)
                if bad:
                    problem(at, bad)
                elif ref.split(".")[0] not in NAMESPACES:
                    needs.add(ref.split(".")[0])
                elif ref.startswith("run.") and out is not None:
                    out.run_refs.append((f"{label} ({_dotted(at)})", ref))
        return needs

    if env is not None:
        for n, name in enumerate(scenario.secrets):
            if not env.get(name):
                problem(("secrets", n), f"secret {name} is not set in the environment")
    check_refs(scenario.base_url, ("base_url",), step_index=None)
    for name, value in scenario.vars.items():
        check_refs(value, ("vars", name), step_index=None)
        defined[name] = "var"
    check_refs(scenario.defaults.headers, ("defaults", "headers"), step_index=None)
    if scenario.expect_version is not None:
        _path_ok(scenario.expect_version.json_path, ("expect_version", "json"), problem)
        if out is not None:
            out.run_refs.append(("expect_version", "run.version"))
    raw_steps = raw.get("steps", []) if isinstance(raw, dict) else []
    names: set[str] = set()
    for index, step in enumerate(scenario.steps):
        where: _Where = ("steps", index)
        if step.name in names:  # names are artifact and test-case names: they must differ
            problem((*where, "name"), f"two steps are named {step.name!r}; names must be unique")
        names.add(step.name)
        raw_step = raw_steps[index] if index < len(raw_steps) else {}
        needs = check_refs(raw_step.get("request"), (*where, "request"), step_index=index)
        needs |= check_refs(raw_step.get("expect"), (*where, "expect"), step_index=index)
        _check_step(step, scenario, where, problem)
        if out is not None:
            out.needs[index] = {n for n in needs if defined.get(n) != "var"}
        for name in step.capture:
            defined.setdefault(name, step.name)
            if out is not None:
                out.captured_by.setdefault(name, index)
    return problems


def _check_ref(
    ref: str, defined: Mapping[str, str], declared: set[str], env: Mapping[str, str] | None
) -> str | None:
    head, _, rest = ref.partition(".")
    if head == "env":
        if not rest or "." in rest:
            return f"'{{{{ {ref} }}}}': write {{{{ env.NAME }}}}"
        if env is not None and rest not in env:
            return f"environment variable {rest} is not set"
        return None
    if head == "secrets":
        if rest not in declared:
            return f"secret {rest!r} is not declared under 'secrets:'"
        return None
    if head == "run":
        if rest not in ("id", "environment", "version"):
            return f"'{{{{ {ref} }}}}': run has id, environment and version"
        return None
    if head == "base_url":
        return None if not rest else "base_url has no fields"
    if head not in defined:
        return f"'{head}' is not a var nor captured by an earlier step"
    return None


def _check_step(step: Step, scenario: Scenario, where: _Where, problem: Any) -> None:
    method = step.request.method
    for n, check in enumerate(step.expect.json_checks):
        for path in [check.path] if isinstance(check.path, str) else check.path:
            _path_ok(path, (*where, "expect", "json", n, "path"), problem)
    for name, capture in step.capture.items():
        if capture.json_path is not None:
            paths = [capture.json_path] if isinstance(capture.json_path, str) else capture.json_path
            for path in paths:
                _path_ok(path, (*where, "capture", name, "json"), problem)
    retry = step.retry
    retries = retry is not None and retry.attempts > 1 and not retry.unsafe
    if retries and method not in IDEMPOTENT_METHODS:
        problem(
            (*where, "retry"),
            f"{method} is not idempotent: a retry may repeat its effect; "
            "set retry.unsafe: true to allow it (an Idempotency-Key header is sent)",
        )
    if step.poll is not None and method not in IDEMPOTENT_METHODS and not step.poll.unsafe:
        problem((*where, "poll"), f"polling repeats a {method}; set poll.unsafe: true to allow it")
    if step.request.has_json and step.request.form is not None:
        problem((*where, "request"), "json and form cannot be used together")


def _path_ok(path: str, where: _Where, problem: Any) -> None:
    if "{{" in path:
        problem(where, "a JSONPath cannot contain templates")
        return
    try:
        check_path(path)
    except ValueError as exc:
        problem(where, str(exc))


def _strings(value: Any, where: _Where) -> list[tuple[str, _Where]]:
    out: list[tuple[str, _Where]] = []
    if isinstance(value, str):
        out.append((value, where))
    elif isinstance(value, dict):
        for k, v in value.items():
            out.extend(_strings(v, (*where, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_strings(v, (*where, i)))
    return out


def _dotted(path: _Where) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _write_schema() -> None:
    """``python -m relgate.smoke.scenario`` rewrites schema/scenario.schema.json."""
    import json

    target = Path(__file__).parents[2] / "schema" / "scenario.schema.json"
    target.write_text(json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    _write_schema()
