"""What a smoke run leaves behind: the typed result, per-step artifacts, JUnit XML, the job summary
and the console lines (``✅ 4/9 lock — HTTP 201 (38 ms)``).

Everything here builds values; the stage writes them through the run's redacting writer.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from pydantic import BaseModel, Field

from relgate.gha import Summary
from relgate.results import StageResult
from relgate.smoke.assertions import Check
from relgate.smoke.redact import Redactor
from relgate.smoke.runner import Exchange, StepOutcome, StepStatus
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


class StepReport(BaseModel):
    index: int = Field(description="1-based position in the scenario.")
    name: str
    status: StepStatus
    gating: bool = True
    always: bool = False
    method: str
    url: str | None = None
    http_status: int | None = None
    attempts: int = 0
    duration_ms: float = 0.0
    round_trip_ms: float | None = Field(None, description="The answering try alone.")
    message: str = ""
    hint: str | None = None
    artifact: str | None = None
    checks: list[Check] = Field(default_factory=list)
    captures: list[str] = Field(default_factory=list, description="Names only.")


class FailedStep(BaseModel):
    index: int
    name: str
    status_code: int | None = None
    message: str
    hint: str | None = None


class SmokeReport(StageResult):
    """``results/smoke.json``. ``passed_count``/``total`` count steps (``passed`` is the stage's
    boolean verdict, as for every stage)."""

    stage: Literal["smoke"] = "smoke"
    scenario: str = ""
    scenario_name: str = ""
    scenario_digest: str = ""
    base_url: str = ""
    steps: list[StepReport] = Field(default_factory=list)
    passed_count: int = 0
    total: int = 0
    warnings: int = 0
    skipped: int = 0
    failed_step: FailedStep | None = None
    verdict: str = ""
    junit: str | None = None


def artifact_name(outcome: StepOutcome) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", outcome.step.name.lower()).strip("-") or "step"
    return f"artifacts/smoke/{outcome.index + 1:02d}-{slug}.json"


def step_report(outcome: StepOutcome, redactor: Redactor, artifact: str | None) -> StepReport:
    last = outcome.last
    return StepReport(
        index=outcome.index + 1,
        name=outcome.step.name,
        status=outcome.status,
        gating=outcome.step.gating,
        always=outcome.step.run == "always",
        method=outcome.step.request.method,
        url=redactor.url(last.url) if last else None,
        http_status=outcome.http_status,
        attempts=len(outcome.exchanges),
        duration_ms=outcome.duration_ms,
        round_trip_ms=last.duration_ms if last else None,
        message=outcome.message,
        hint=outcome.step.hint if outcome.status in ("failed", "warning") else None,
        artifact=artifact,
        checks=[_short_check(c) for c in outcome.checks],
        captures=sorted(outcome.captured),
    )


def _short_check(check: Check) -> Check:
    def clip(value: Any) -> Any:
        text = value if isinstance(value, str) else None
        if text is None and isinstance(value, list | dict):
            text = json.dumps(value, default=str)
            if len(text) <= 200:
                return value
        if text is not None and len(text) > 200:
            return text[:199] + "…"
        return value

    return check.model_copy(update={"actual": clip(check.actual), "expected": clip(check.expected)})


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
    return {
        "step": outcome.step.name,
        "index": outcome.index + 1,
        "status": outcome.status,
        "gating": outcome.step.gating,
        "message": outcome.message,
        "hint": outcome.step.hint,
        "duration_ms": outcome.duration_ms,
        "attempts": [_attempt(ex, redactor, policy) for ex in outcome.exchanges],
        "checks": [_short_check(c).model_dump(mode="json") for c in outcome.checks],
        "captures": sorted(outcome.captured),
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
        "error": ex.error,
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
        return {**digest, "head_hex": data[:32].hex()}
    if "json" in ctype and len(data) <= policy.max_bytes:
        try:
            return redactor.data(json.loads(text))
        except ValueError:
            pass
    if ctype == "application/x-www-form-urlencoded":
        return redactor.data(dict(parse_qsl(text, keep_blank_values=True)))
    if len(data) > policy.max_bytes:
        cut = data[: policy.max_bytes].decode("utf-8", "ignore")
        return {
            **digest,
            "text": redactor.text(cut) + f"…[truncated: {len(data) - policy.max_bytes} more bytes]",
        }
    return redactor.text(text)


# -- JUnit XML ------------------------------------------------------------------------------------
def junit_xml(report: SmokeReport, timestamp: datetime) -> str:
    """One ``<testcase>`` per step (the unit a reviewer cares about), skipped steps marked,
    best-effort failures passed with a ``warning`` property, artifacts attached."""
    steps = report.steps
    suite_name = report.scenario_name or "smoke"
    total_s = sum(s.duration_ms for s in steps) / 1000
    suites = ET.Element(
        "testsuites",
        name="relgate smoke",
        tests=str(len(steps)),
        failures=str(sum(1 for s in steps if s.status == "failed")),
        errors="0",
        skipped=str(sum(1 for s in steps if s.status == "skipped")),
        time=f"{total_s:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=suite_name,
        tests=str(len(steps)),
        failures=suites.get("failures", "0"),
        errors="0",
        skipped=suites.get("skipped", "0"),
        time=f"{total_s:.3f}",
        timestamp=timestamp.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("base_url", report.base_url), ("verdict", report.verdict)):
        ET.SubElement(props, "property", name=name, value=value)
    for step in steps:
        _testcase(suite, step, suite_name)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def _testcase(suite: ET.Element, step: StepReport, suite_name: str) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"smoke.{suite_name}",
        name=f"{step.index:02d} {step.name}",
        time=f"{step.duration_ms / 1000:.3f}",
    )
    props = ET.SubElement(case, "properties")
    values = {
        "status": step.status,
        "attempts": step.attempts,
        "duration_ms": step.duration_ms,
        "http_status": step.http_status if step.http_status is not None else "",
        "best_effort": str(not step.gating).lower(),
    }
    if step.status == "warning":
        values["warning"] = step.message
    for name, value in values.items():
        ET.SubElement(props, "property", name=name, value=str(value))
    if step.status == "skipped":
        ET.SubElement(case, "skipped", message=step.message)
    elif step.status == "failed":
        failure = ET.SubElement(case, "failure", message=step.message, type="AssertionError")
        details = [c.message for c in step.checks if not c.passed] or [step.message]
        if step.hint:
            details.append(f"hint: {step.hint}")
        failure.text = "\n".join(details)
    if step.artifact:
        out = ET.SubElement(case, "system-out")
        out.text = f"[[ATTACHMENT|{step.artifact}]]"


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
