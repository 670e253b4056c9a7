"""Each encoder of a smoke run gets text that is already redacted (issue 15): the cases that
leaked before, one test each."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relgate.secrets import SecretRegistry
from relgate.smoke.assertions import Matcher, evaluate
from relgate.smoke.judge import server_says
from relgate.smoke.redact import Redactor
from relgate.smoke.report import SmokeReport, StepReport, exchange_artifact, junit_xml
from relgate.smoke.runner import Exchange, StepOutcome
from relgate.smoke.scenario import ArtifactPolicy, Step
from relgate.smoke.stage import smoke

from .conftest import Demo, Harness

SECRET = 'Pa55/w0rd+&"x 9='


def _registry() -> SecretRegistry:
    reg = SecretRegistry()
    reg.register(SECRET, "SMOKE_PASS")
    return reg


def _forms() -> list[str]:
    return [
        SECRET,
        html.escape(SECRET),
        html.escape(SECRET, quote=False),
        SECRET.replace("&", "&amp;").replace('"', "&quot;"),
        json.dumps(SECRET)[1:-1],
        json.dumps(json.dumps(SECRET)[1:-1])[1:-1],
        SECRET.encode().hex(),
        SECRET[:6],
    ]


def _clean(text: str) -> None:
    for form in _forms():
        assert form not in text, f"{form!r} in {text!r}"


def test_junit_is_built_from_redacted_text() -> None:
    """Before: ElementTree escaped & and " first, and the writer looked for the raw form."""
    msg = f"auth failed for password {SECRET}"
    step = StepReport(index=1, name="login", status="failed", method="POST", message=msg)
    report = SmokeReport(status="failed", scenario_name="s", verdict=msg, steps=[step])
    _clean(junit_xml(report, datetime(2026, 1, 1, tzinfo=UTC), _registry()))


@pytest.mark.parametrize("pad", [60, 70, 72, 75, 78], ids=lambda p: f"pad{p}")
def test_check_messages_redact_before_they_truncate(pad: int) -> None:
    """Before: the 80-character cut left ``xxx…Pa55/w…`` in the message."""
    (check,) = evaluate(Matcher(contains="nope"), "body", "x" * pad + SECRET, secrets=_registry())
    assert "***" in check.message or "…" in check.message
    _clean(check.message)


def test_what_the_server_says_is_redacted_before_it_is_cut() -> None:
    body = json.dumps({"detail": "w" * 190 + SECRET}).encode()
    ex = Exchange(1, "GET", "http://127.0.0.1/x", 0.0, status=500, body=body)
    _clean(server_says(ex, _registry()))


def _artifact(body: bytes, ctype: str, **policy: object) -> str:
    ex = Exchange(
        1,
        "GET",
        "http://127.0.0.1/x",
        0.0,
        status=200,
        body=body,
        response_headers=[("Content-Type", ctype)],
    )
    step = Step.model_validate({"name": "s", "request": {"url": "/x"}})
    outcome = StepOutcome(0, step, "failed", message=f"got {SECRET}", exchanges=[ex])
    checks = evaluate(Matcher(eq="nope"), "json $.echo", SECRET, secrets=_registry())
    outcome.checks = checks
    art = exchange_artifact(
        outcome, Redactor(secrets=_registry()), ArtifactPolicy.model_validate(policy)
    )
    return json.dumps(art, ensure_ascii=False)


@pytest.mark.parametrize(
    ("body", "ctype", "policy"),
    [
        pytest.param(
            b"\x00\xff" + SECRET.encode() + b"\x00" * 40,
            "application/octet-stream",
            {},
            id="binary-head-hex",
        ),
        pytest.param(b"\x00" * 28 + SECRET.encode(), "image/png", {}, id="hex-at-the-cut"),
        pytest.param(
            ("x" * 90 + SECRET + "y" * 50).encode(),
            "text/plain",
            {"max_bytes": 100},
            id="text-cut-through-the-secret",
        ),
        pytest.param(json.dumps({"echo": SECRET}).encode(), "application/json", {}, id="json"),
    ],
)
def test_artifacts_redact_before_hex_truncation_and_json(
    body: bytes, ctype: str, policy: dict[str, object]
) -> None:
    """Before: ``head_hex`` spelled the secret, and the text cut left its prefix."""
    _clean(_artifact(body, ctype, **policy))


def test_a_token_used_only_as_env_reference_is_redacted_from_the_first_byte(
    harness: Harness, demo: Demo, tmp_path: Path
) -> None:
    """Before: ``{{ env.DEPLOY_TOKEN }}`` was registered only at archive time."""
    token = "tok-<&>-0123456789"
    harness.env["DEPLOY_TOKEN"] = token
    scenario = tmp_path / "s.yml"
    scenario.write_text(
        "version: 1\nname: t\nsteps:\n  - name: echo\n    request:\n"
        "      url: /api/exams/\n      headers: {X-Deploy: '{{ env.DEPLOY_TOKEN }}'}\n"
        "    expect:\n      body: {eq: '{{ env.DEPLOY_TOKEN }}'}\n"
    )
    run = harness.run()
    smoke(None, run, environment="t", scenario=scenario, base_url=demo.url)
    written = [p.read_text() for p in run.dir.rglob("*") if p.is_file()]
    for text in [harness.out.getvalue(), *written]:
        for form in (token, html.escape(token), json.dumps(token)[1:-1]):
            assert form not in text
