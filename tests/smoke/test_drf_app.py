"""relgate's smoke scenarios against a real Django REST Framework app (gunicorn, SQLite).

The app (tests/apps/grading_drf) is written the way a DRF project writes it — session auth with
CSRF, JSON renderers, a PDF view with its own renderer, lock tokens, PROTECT relations — so these
tests meet the framework's behaviour, not relgate's idea of it (issue 14)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from relgate.smoke.report import SmokeReport
from relgate.smoke.stage import smoke
from tests.apps.grading_drf.server import GradingApp

from .conftest import DEMO_SCENARIO, KORRIGO_SCENARIO, PASSWORD, Harness


def _smoke(harness: Harness, app: GradingApp, scenario: Path = DEMO_SCENARIO) -> SmokeReport:
    harness.env.setdefault("BASE_URL", app.url)
    harness.env.setdefault("SMOKE_USER", "prof1")
    return smoke(None, harness.run(), environment="test", scenario=scenario, base_url=app.url)


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(DEMO_SCENARIO, id="demo"), pytest.param(KORRIGO_SCENARIO, id="korrigo")],
)
def test_scenario_passes_against_drf(harness: Harness, drf: GradingApp, scenario: Path) -> None:
    report = _smoke(harness, drf, scenario)
    assert report.verdict == "9/9 passed", [(s.name, s.message) for s in report.steps]


def _failed(report: SmokeReport) -> tuple[str, int | None, str]:
    assert report.exit_code == 1 and report.failed_step is not None, report.verdict
    f = report.failed_step
    return f.name, f.status_code, f.message


def _variant(tmp: Path, source: Path, edit: dict[str, str]) -> Path:
    text = source.read_text()
    for old, new in edit.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / f"variant-{source.name}"
    path.write_text(text)
    return path


def test_wrong_password_fails_at_login(harness: Harness, drf: GradingApp) -> None:
    harness.env["SMOKE_PASS"] = "not-the-password"
    name, code, message = _failed(_smoke(harness, drf, KORRIGO_SCENARIO))
    assert (name, code) == ("login", 401) and "Invalid credentials" in message


def test_no_ready_copy_with_pages(harness: Harness, drf: GradingApp) -> None:
    drf.seed(ready=0)  # the seed's page-less READY copy is still there: it must not be taken
    report = _smoke(harness, drf, KORRIGO_SCENARIO)
    name, code, message = _failed(report)
    assert (name, code) == ("ready copy", 200)
    assert "no READY copy with at least one page" in message
    statuses = {s.name: s.status for s in report.steps}
    assert statuses["lock"] == "skipped" and statuses["unlock"] == "skipped"


def _lock_every_ready_copy_as(app: GradingApp, user: str) -> None:
    with httpx.Client(base_url=app.url) as other:
        r = other.post("/api/login/", json={"username": user, "password": PASSWORD})
        assert r.status_code == 200
        headers = {"X-CSRFToken": other.cookies["csrftoken"]}
        exam = other.get("/api/exams/").json()["results"][0]["id"]
        copies = other.get(f"/api/exams/{exam}/copies/", params={"status": "READY"}).json()
        assert len(copies) == 4
        for copy in copies:
            assert (
                other.post(f"/api/grading/copies/{copy['id']}/lock/", headers=headers).status_code
                == 201
            )


def test_copy_locked_by_another_grader_is_409(harness: Harness, drf: GradingApp) -> None:
    _lock_every_ready_copy_as(drf, "prof2")
    report = _smoke(harness, drf, KORRIGO_SCENARIO)
    name, code, message = _failed(report)
    assert (name, code) == ("lock", 409) and "locked by another grader" in message
    # The lock was never ours: the cleanup step has no token and is skipped, not run.
    assert report.steps[-1].status == "skipped"


def test_user_without_grading_permission_is_403(harness: Harness, drf: GradingApp) -> None:
    harness.env["SMOKE_USER"] = "student1"
    name, code, message = _failed(_smoke(harness, drf, KORRIGO_SCENARIO))
    assert (name, code) == ("ready copy", 403) and "permission to grade" in message


def test_missing_csrf_header_is_403(harness: Harness, drf: GradingApp, tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        DEMO_SCENARIO,
        {
            '      headers: {X-CSRFToken: "{{ csrf }}"}\n    expect:\n      status: 201\n': "    expect:\n      status: 201\n"
        },
    )
    name, code, message = _failed(_smoke(harness, drf, path))
    assert (name, code) == ("lock", 403) and "CSRF Failed" in message


def test_pdf_asked_as_json_is_406_at_once(
    harness: Harness, drf: GradingApp, tmp_path: Path
) -> None:
    """The issue's field failure: the PDF step polled a 406 for 30 s. A 406 is an answer."""
    path = _variant(
        tmp_path,
        KORRIGO_SCENARIO,
        {
            "headers: {Accept: application/pdf, Range: bytes=0-1023}": "headers: {Range: bytes=0-1023}"
        },
    )
    report = _smoke(harness, drf, path)
    name, code, message = _failed(report)
    assert (name, code) == ("final pdf", 406)
    assert "Could not satisfy the request Accept header" in message
    pdf_step = next(s for s in report.steps if s.name == "final pdf")
    assert pdf_step.attempts == 1
