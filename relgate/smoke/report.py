"""What a smoke run leaves behind: the typed result, per-step artifacts, JUnit XML, the job summary
and the console lines (``✅ 4/9 lock — HTTP 201 (38 ms)``).

Everything here builds values; the stage writes them through the run's redacting writer. Values are
redacted *before* they are encoded here: the step's texts through the :class:`Redactor` (which
carries the run's secret registry), check values through :meth:`SecretRegistry.clip` (redact, then
cut), binary heads through :meth:`SecretRegistry.hex`, and JUnit XML only from
:class:`~relgate.secrets.Redacted` text.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from relgate.gha import Summary
from relgate.results.smoke import Check, FailedStep, SmokeReport, StepReport
from relgate.secrets import Redacted, SecretRegistry
from relgate.smoke.redact import Redactor
from relgate.smoke.runner import Exchange, StepOutcome
from relgate.smoke.scenario import ArtifactPolicy

__all__ = [
    "FailedStep",
    "SmokeReport",
    "StepReport",
    "artifact_name",
    "console_line",
    "exchange_artifact",
    "junit_xml",
    "step_report",
    "summary",
    "verdict",
]

ICONS = {"passed": "✅", "failed": "❌", "warning": "⚠️", "skipped": "⏭️"}


def artifact_name(outcome: StepOutcome, folder: str = "artifacts/smoke") -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", outcome.step.name.lower()).strip("-") or "step"
    return f"{folder}/{outcome.index + 1:02d}-{slug}.json"


def step_report(outcome: StepOutcome, redactor: Redactor, artifact: str | None) -> StepReport:
    last = outcome.last
    redact = redactor.secrets.redact
    return StepReport(
        index=outcome.index + 1,
        name=redact(outcome.step.name),
        status=outcome.status,
        gating=outcome.step.gating,
        always=outcome.step.run == "always",
        method=outcome.step.request.method,
        url=redactor.url(last.url) if last else None,
        http_status=outcome.http_status,
        attempts=len(outcome.exchanges),
        duration_ms=outcome.duration_ms,
        round_trip_ms=last.duration_ms if last else None,
        message=redact(outcome.message),
        hint=redact(outcome.hint or "") or None
        if outcome.status in ("failed", "warning")
        else None,
        artifact=artifact,
        checks=[_short_check(c, redactor.secrets) for c in outcome.checks],
        captures=sorted(outcome.captured),
    )


def _short_check(check: Check, secrets: SecretRegistry) -> Check:
    """The check as evidence: values redacted, then cut to 200 characters."""

    def clip(value: Any) -> Any:
        if isinstance(value, str):
            return secrets.clip(value, 200)
        if isinstance(value, list | dict):
            text = json.dumps(value, default=str)
            return secrets.redact_obj(value) if len(text) <= 200 else secrets.clip(text, 200)
        return value

    return check.model_copy(
        update={
            "actual": clip(check.actual),
            "expected": clip(check.expected),
            "what": secrets.redact(check.what),
            "message": secrets.redact(check.message),
        }
    )


def verdict(steps: list[StepReport]) -> str:
    passed = sum(1 for s in steps if s.status == "passed")
    text = f"{passed}/{len(steps)} passed"
    warnings = sum(1 for s in steps if s.status == "warning")
    if warnings:
        text += f", {warnings} warning{'s' if warnings > 1 else ''}"
    failed = next((s for s in steps if s.status == "failed"), None)
    if failed is not None:
        text += f", failed at {failed.index}/{len(steps)} {failed.name}"
    return text


def console_line(step: StepReport, total: int) -> str:
    head = f"{ICONS[step.status]} {step.index}/{total} {step.name}"
    if step.status == "skipped":
        return f"{head} — {step.message}"
    http = f"HTTP {step.http_status}" if step.http_status is not None else "no answer"
    timing = f"{step.round_trip_ms:.0f} ms" if step.round_trip_ms is not None else "-"
    tries = f", {step.attempts} tries" if step.attempts > 1 else ""
    line = f"{head} — {http} ({timing}{tries})"
    if step.status != "passed" and step.message:
        line += f": {step.message}"
    if step.status == "warning":
        line += " (best effort)"
    return line


# -- per-step artifact ----------------------------------------------------------------------------
def exchange_artifact(
    outcome: StepOutcome, redactor: Redactor, policy: ArtifactPolicy
) -> dict[str, Any]:
    redact = redactor.secrets.redact
    return {
        "step": redact(outcome.step.name),
        "index": outcome.index + 1,
        "status": outcome.status,
        "gating": outcome.step.gating,
        "message": redact(outcome.message),
        "hint": redact(outcome.hint) if outcome.hint else None,
        "duration_ms": outcome.duration_ms,
        "attempts": [_attempt(ex, redactor, policy) for ex in outcome.exchanges],
        "checks": [
            _short_check(c, redactor.secrets).model_dump(mode="json") for c in outcome.checks
        ],
        "captures": sorted(redact(name) for name in outcome.captured),
    }


def _attempt(ex: Exchange, redactor: Redactor, policy: ArtifactPolicy) -> dict[str, Any]:
    req_type = _header(ex.request_headers, "content-type")
    out: dict[str, Any] = {
        "n": ex.n,
        "started_ms": ex.started_ms,
        "waited_ms": ex.wait_ms,
        "duration_ms": ex.duration_ms,
        "request": {
            "method": ex.method,
            "url": redactor.url(ex.url),
            "headers": redactor.header_list(ex.request_headers),
            "body": _body(ex.request_body, req_type, redactor, policy, False),
        },
        "response": None,
        "error": redactor.secrets.redact(ex.error) if ex.error is not None else None,
    }
    if ex.status is not None:
        out["response"] = {
            "status": ex.status,
            "http_version": ex.http_version,
            "headers": redactor.header_list(ex.response_headers),
            "body": _body(
                ex.body,
                _header(ex.response_headers, "content-type"),
                redactor,
                policy,
                ex.truncated,
            ),
            "redirects": [[code, redactor.url(url)] for code, url in ex.redirects],
        }
    return out


def _header(headers: list[tuple[str, str]], name: str) -> str:
    return next((v for k, v in headers if k.lower() == name), "")


_TEXTUAL = ("text/", "application/json", "application/problem+json", "application/xml")


def _body(
    data: bytes, content_type: str, redactor: Redactor, policy: ArtifactPolicy, truncated: bool
) -> Any:
    if not data:
        return None
    ctype = content_type.split(";", maxsplit=1)[0].strip().lower()
    digest = {
        "content_type": ctype or None,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **({"truncated_at_read": True} if truncated else {}),
    }
    textual = not ctype or ctype.startswith(_TEXTUAL) or ctype.endswith(("+json", "+xml"))
    textual = textual or ctype == "application/x-www-form-urlencoded"
    try:
        text = data.decode("utf-8") if textual else None
    except UnicodeDecodeError:
        text = None
    if policy.body == "none":
        return digest
    if text is None or policy.body == "head":
        return {**digest, "head_hex": redactor.secrets.hex(data, 32)}
    if "json" in ctype and len(data) <= policy.max_bytes:
        try:
            return redactor.data(json.loads(text))
        except ValueError:
            pass
    if ctype == "application/x-www-form-urlencoded":
        return redactor.data(dict(parse_qsl(text, keep_blank_values=True)))
    clean = redactor.text(text)
    if len(data) > policy.max_bytes:
        # Cut the *redacted* text: cutting first would leave a secret's prefix at the cut.
        cut = clean.encode("utf-8")[: policy.max_bytes].decode("utf-8", "ignore")
        return {
            **digest,
            "text": cut + f"…[truncated: {len(data) - policy.max_bytes} more bytes]",
        }
    return clean


# -- JUnit XML ------------------------------------------------------------------------------------
class _Xml:
    """ElementTree behind a door that takes only redacted text (XML escaping comes after)."""

    def __init__(self, secrets: SecretRegistry) -> None:
        self.secrets = secrets

    def text(self, value: object) -> Redacted:
        return self.secrets.redact(str(value))

    def element(self, tag: str, **attrs: Redacted) -> ET.Element:
        return ET.Element(tag, dict(attrs))

    def sub(
        self, parent: ET.Element, tag: str, text: Redacted | None = None, **attrs: Redacted
    ) -> ET.Element:
        child = ET.SubElement(parent, tag, dict(attrs))
        if text is not None:
            child.text = text
        return child


def junit_xml(report: SmokeReport, timestamp: datetime, secrets: SecretRegistry) -> str:
    """One ``<testcase>`` per step (the unit a reviewer cares about), skipped steps marked,
    best-effort failures passed with a ``warning`` property, artifacts attached. Every value is
    redacted with ``secrets`` before ElementTree escapes it."""
    xml = _Xml(secrets)
    t = xml.text
    steps = report.steps
    suite_name = report.scenario_name or "smoke"
    total_s = sum(s.duration_ms for s in steps) / 1000
    failures = t(sum(1 for s in steps if s.status == "failed"))
    skipped = t(sum(1 for s in steps if s.status == "skipped"))
    suites = xml.element(
        "testsuites",
        name=t("relgate smoke"),
        tests=t(len(steps)),
        failures=failures,
        errors=t(0),
        skipped=skipped,
        time=t(f"{total_s:.3f}"),
    )
    suite = xml.sub(
        suites,
        "testsuite",
        name=t(suite_name),
        tests=t(len(steps)),
        failures=failures,
        errors=t(0),
        skipped=skipped,
        time=t(f"{total_s:.3f}"),
        timestamp=t(timestamp.strftime("%Y-%m-%dT%H:%M:%S")),
    )
    props = xml.sub(suite, "properties")
    for name, value in (("base_url", report.base_url), ("verdict", report.verdict)):
        xml.sub(props, "property", name=t(name), value=t(value))
    for step in steps:
        _testcase(xml, suite, step, suite_name)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def _testcase(xml: _Xml, suite: ET.Element, step: StepReport, suite_name: str) -> None:
    t = xml.text
    case = xml.sub(
        suite,
        "testcase",
        classname=t(f"smoke.{suite_name}"),
        name=t(f"{step.index:02d} {step.name}"),
        time=t(f"{step.duration_ms / 1000:.3f}"),
    )
    props = xml.sub(case, "properties")
    values: dict[str, object] = {
        "status": step.status,
        "attempts": step.attempts,
        "duration_ms": step.duration_ms,
        "http_status": step.http_status if step.http_status is not None else "",
        "best_effort": str(not step.gating).lower(),
    }
    if step.status == "warning":
        values["warning"] = step.message
    for name, value in values.items():
        xml.sub(props, "property", name=t(name), value=t(value))
    if step.status == "skipped":
        xml.sub(case, "skipped", message=t(step.message))
    elif step.status == "failed":
        details = [c.message for c in step.checks if not c.passed] or [step.message]
        if step.hint:
            details.append(f"hint: {step.hint}")
        xml.sub(
            case,
            "failure",
            t("\n".join(details)),
            message=t(step.message),
            type=t("AssertionError"),
        )
    if step.artifact:
        xml.sub(case, "system-out", t(f"[[ATTACHMENT|{step.artifact}]]"))


# -- job summary ----------------------------------------------------------------------------------
def summary(report: SmokeReport) -> Summary:
    icon = "✅" if report.passed else "❌"
    s = Summary().heading(f"{icon} Smoke: {report.scenario_name} — {report.verdict}", 3)
    rows = [
        [
            str(step.index),
            step.name,
            f"{ICONS[step.status]} {step.status}",
            step.http_status if step.http_status is not None else "",
            f"{step.round_trip_ms:.0f} ms" if step.round_trip_ms is not None else "",
            step.attempts,
            step.message if step.status != "passed" else "",
        ]
        for step in report.steps
    ]
    s.table(["#", "step", "result", "HTTP", "time", "tries", "note"], rows)
    failed = report.failed_step
    if failed is not None:
        s.paragraph(f"Failed at step {failed.index} '{failed.name}': {failed.message}")
        if failed.hint:
            s.paragraph(f"What to check: {failed.hint}")
    s.paragraph(
        f"Target: {report.base_url} — scenario {report.scenario} ({report.scenario_digest})"
    )
    return s
