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

from .conftest import DEMO_SCENARIO, KORRIGO_SCENARIO, PASSWORD, Harness, no_sleep


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


def test_relock_by_the_same_user_is_200_and_passes(harness: Harness, drf: GradingApp) -> None:
    """An earlier run of the smoke user left its lock: DRF hands the same token back (200)."""
    with httpx.Client(base_url=drf.url) as earlier:
        earlier.post("/api/login/", json={"username": "prof1", "password": PASSWORD})
        exam = earlier.get("/api/exams/").json()["results"][0]["id"]
        copies = earlier.get(f"/api/exams/{exam}/copies/").json()
        first = next(c for c in copies if c["status"] == "READY" and c["pages_count"])
        headers = {"X-CSRFToken": earlier.cookies["csrftoken"]}
        assert (
            earlier.post(f"/api/grading/copies/{first['id']}/lock/", headers=headers).status_code
            == 201
        )
    report = _smoke(harness, drf, KORRIGO_SCENARIO)
    lock = next(s for s in report.steps if s.name == "lock")
    assert report.passed and lock.http_status == 200


@pytest.mark.parametrize(
    ("version", "passed"),
    [pytest.param("v1.0.0-drf", True, id="served"), pytest.param("v1.0.1", False, id="not-served")],
)
def test_expect_version_against_drf(
    harness: Harness, drf: GradingApp, tmp_path: Path, version: str, passed: bool
) -> None:
    path = _variant(
        tmp_path,
        KORRIGO_SCENARIO,
        {
            "deadline: 5m\n": "deadline: 5m\nexpect_version: {url: /api/health/, json: $.version, timeout: 1s}\n"
        },
    )
    harness.env.setdefault("BASE_URL", drf.url)
    harness.env.setdefault("SMOKE_USER", "prof1")
    report = smoke(
        None, harness.run(), environment="t", scenario=path, base_url=drf.url, version=version
    )
    assert report.passed is passed and report.total == 10
    if not passed:
        assert report.failed_step is not None and report.failed_step.name == "served version"
        assert "v1.0.1" in report.failed_step.message


@pytest.mark.slow
def test_throttled_login_fails_at_once_with_its_hint(harness: Harness, tmp_path: Path) -> None:
    """DRF's ScopedRateThrottle answers 429 (with Retry-After). Login is a POST: never retried
    without retry.unsafe, so the step fails at once with the throttle's own words and the hint
    written for a 429 (the waiting itself is proven at the seam, test_runner_seam)."""
    app = GradingApp(tmp_path / "throttled", password=PASSWORD).start(login_rate="1/hour")
    try:
        with httpx.Client(base_url=app.url) as first:
            assert (
                first.post(
                    "/api/login/", json={"username": "prof1", "password": PASSWORD}
                ).status_code
                == 200
            )
        waits: list[float] = []
        harness.env |= {"BASE_URL": app.url, "SMOKE_USER": "prof1"}
        report = smoke(
            None,
            harness.run(),
            environment="t",
            scenario=KORRIGO_SCENARIO,
            base_url=app.url,
            sleep=no_sleep(waits),
        )
    finally:
        app.stop()
    name, code, message = _failed(report)
    assert (name, code) == ("login", 429) and "Request was throttled" in message
    assert waits == [] and report.steps[0].attempts == 1
    assert report.failed_step is not None and "throttled" in (report.failed_step.hint or "")
