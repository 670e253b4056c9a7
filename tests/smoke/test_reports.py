"""JUnit XML (validated against an XSD with xmlschema), the summary, and structural redaction."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import pytest
import xmlschema

from relgate.secrets import REDACTED
from relgate.smoke.redact import Redactor
from relgate.smoke.stage import smoke

from .conftest import DEMO_SCENARIO, PASSWORD, Demo, Harness

XSD = xmlschema.XMLSchema(Path(__file__).with_name("junit.xsd"))


def _junit(harness: Harness, demo: Demo) -> tuple[ET.Element, Path]:
    run = harness.run()
    smoke(None, run, environment="t", scenario=DEMO_SCENARIO, base_url=demo.url)
    path = run.dir / "artifacts" / "smoke" / "junit.xml"
    XSD.validate(str(path))
    return ET.parse(path).getroot(), run.dir


def test_junit_of_a_passing_run_is_valid_with_one_case_per_step(
    harness: Harness, demo: Demo
) -> None:
    root, run_dir = _junit(harness, demo)
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases][:2] == ["01 login", "02 exam id"] and len(cases) == 9
    attachments = [c.findtext("system-out") for c in cases]
    for text in attachments:
        assert text is not None and text.startswith("[[ATTACHMENT|")
        assert (run_dir / text[len("[[ATTACHMENT|") : -2]).is_file()
    props = {p.get("name"): p.get("value") for p in cases[3].iter("property")}
    assert props["attempts"] == "1" and props["http_status"] == "201"


def test_junit_of_a_failing_run_marks_failure_and_skips(harness: Harness, demo: Demo) -> None:
    with httpx.Client(base_url=demo.url) as other:
        other.post("/api/login/", json={"username": "prof1", "password": PASSWORD})
        copy = other.get("/api/exams/1/copies/", params={"status": "READY"}).json()[0]["id"]
        other.post(
            f"/api/grading/copies/{copy}/lock/", headers={"X-CSRFToken": other.cookies["csrftoken"]}
        )
    root, _ = _junit(harness, demo)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("9", "1", "5")
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None and "409" in (failure.get("message") or "")
    assert "hint: The copy is already locked" in (failure.text or "")


def test_summary_table_is_written(harness: Harness, demo: Demo) -> None:
    run = harness.run()
    smoke(None, run, environment="t", scenario=DEMO_SCENARIO, base_url=demo.url)
    text = (run.dir / "summary.md").read_text()
    assert "| # | step | result | HTTP | time | tries | note |" in text
    assert "9/9 passed" in text
    assert harness_outputs(run) == {
        "status": "passed",
        "passed": "9",
        "total": "9",
        "verdict": "9/9 passed",
    }


def harness_outputs(run: object) -> dict[str, str]:
    return dict(run.reporter.outputs)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        pytest.param("Authorization", "Bearer abc", REDACTED, id="authorization"),
        pytest.param("X-CSRFToken", "abc", REDACTED, id="csrf"),
        pytest.param("X-Vendor-Api-Key", "abc", REDACTED, id="suffix-key"),
        pytest.param(
            "Cookie",
            "sessionid=a; csrftoken=b",
            f"sessionid={REDACTED}; csrftoken={REDACTED}",
            id="cookie",
        ),
        pytest.param(
            "Set-Cookie",
            "sessionid=abc; HttpOnly; Path=/",
            f"sessionid={REDACTED}; HttpOnly; Path=/",
            id="set-cookie-keeps-attributes",
        ),
        pytest.param(
            "Location",
            "https://s3/x?X-Amz-Signature=abc&a=1",
            f"https://s3/x?X-Amz-Signature={REDACTED}&a=1",
            id="presigned-location",
        ),
        pytest.param("Content-Type", "application/json", "application/json", id="harmless"),
        pytest.param(
            "X-Debug",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{REDACTED}",
            id="jwt-signature",
        ),
    ],
)
def test_header_redaction(name: str, value: str, expected: str) -> None:
    assert Redactor().header(name, value) == expected


def test_json_and_configured_keys_are_blanked_at_any_depth() -> None:
    redactor = Redactor(json_keys=["pin"])
    data = {"user": "u", "password": "p", "nested": [{"token": "t", "PIN": 1, "ok": True}]}
    assert redactor.data(data) == {
        "user": "u",
        "password": REDACTED,
        "nested": [{"token": REDACTED, "PIN": REDACTED, "ok": True}],
    }


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        pytest.param("$.token", True, id="dot-name"),
        pytest.param("$['password']", True, id="bracket-name"),
        pytest.param("$.data.Access_Token", True, id="case-insensitive"),
        pytest.param("$.token_count", False, id="prefix-only"),
        pytest.param("$.items[0]", False, id="index"),
    ],
)
def test_json_paths_ending_on_credentials_are_concealed(path: str, secret: bool) -> None:
    assert Redactor().path_is_secret(path) is secret


def test_failed_cookie_check_does_not_print_the_cookie(
    tmp_path: Path, harness: Harness, demo: Demo
) -> None:
    scenario = tmp_path / "s.yml"
    scenario.write_text(
        "version: 1\nname: c\nsecrets: [SMOKE_PASS]\nsteps:\n  - name: login\n    request:\n"
        "      method: POST\n      url: /api/login/\n"
        "      json: {username: prof1, password: '{{ secrets.SMOKE_PASS }}'}\n"
        "    expect:\n      cookies:\n        csrftoken: {eq: nope}\n"
    )
    run = harness.run()
    report = smoke(None, run, environment="t", scenario=scenario, base_url=demo.url)
    (check,) = [c for c in report.steps[0].checks if not c.passed]
    assert check.actual == REDACTED and '"***"' in check.message


def _artifact_body(body: bytes, content_type: str, **policy: object) -> object:
    from relgate.smoke.report import exchange_artifact
    from relgate.smoke.runner import Exchange, StepOutcome
    from relgate.smoke.scenario import ArtifactPolicy, Step

    ex = Exchange(
        1,
        "GET",
        "http://127.0.0.1/x",
        0.0,
        status=200,
        body=body,
        response_headers=[("Content-Type", content_type)],
    )
    step = Step.model_validate({"name": "s", "request": {"url": "/x"}})
    outcome = StepOutcome(0, step, "passed", exchanges=[ex])
    art = exchange_artifact(outcome, Redactor(), ArtifactPolicy.model_validate(policy))
    return art["attempts"][0]["response"]["body"]


def test_large_text_bodies_are_truncated_with_a_marker() -> None:
    body = _artifact_body(b"a" * 100, "text/plain", max_bytes=10)
    assert isinstance(body, dict) and body["text"] == "a" * 10 + "…[truncated: 90 more bytes]"
    assert body["size"] == 100 and len(body["sha256"]) == 64


def test_binary_bodies_are_summarised() -> None:
    body = _artifact_body(b"\x89PNG\r\n\x1a\n" + bytes(50), "image/png")
    assert body == {
        "content_type": "image/png",
        "size": 58,
        "sha256": __import__("hashlib").sha256(b"\x89PNG\r\n\x1a\n" + bytes(50)).hexdigest(),
        "head_hex": (b"\x89PNG\r\n\x1a\n" + bytes(50))[:32].hex(),
    }


def test_json_bodies_are_kept_as_json_with_credentials_blanked() -> None:
    assert _artifact_body(b'{"token": "t", "id": 3}', "application/json") == {
        "token": REDACTED,
        "id": 3,
    }
