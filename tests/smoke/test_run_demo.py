"""The smoke stage end to end against the real demo service (real sockets, real httpx)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from relgate.errors import ConfigError, UsageError
from relgate.secrets import encoded_forms
from relgate.smoke.report import SmokeReport
from relgate.smoke.stage import smoke

from .conftest import DEMO_SCENARIO, KORRIGO_SCENARIO, PASSWORD, Demo, Harness, no_sleep


def _smoke(
    harness: Harness, demo: Demo, scenario: Path = DEMO_SCENARIO, **kw: object
) -> SmokeReport:
    run = harness.run()
    report = smoke(
        None,
        run,
        environment="test",
        scenario=scenario,
        base_url=demo.url,
        **kw,  # type: ignore[arg-type]
    )
    harness.last_dir = run.dir  # type: ignore[attr-defined]
    return report


def _variant(tmp: Path, edit: dict[str, str], source: Path = DEMO_SCENARIO) -> Path:
    text = source.read_text()
    for old, new in edit.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "variant.smoke.yml"
    path.write_text(text)
    return path


def _statuses(report: SmokeReport) -> dict[str, str]:
    return {s.name: s.status for s in report.steps}


def test_demo_scenario_passes_nine_steps(harness: Harness, demo: Demo) -> None:
    report = _smoke(harness, demo)
    assert report.verdict == "9/9 passed"
    assert (report.status, report.exit_code, report.passed_count, report.total) == (
        "passed",
        0,
        9,
        9,
    )
    run_dir: Path = harness.last_dir  # type: ignore[attr-defined]
    artifacts = sorted(p.name for p in (run_dir / "artifacts" / "smoke").iterdir())
    assert artifacts[0] == "01-login.json" and artifacts[-1] == "junit.xml" and len(artifacts) == 10
    saved = SmokeReport.model_validate_json((run_dir / "results" / "smoke.json").read_bytes())
    assert saved.verdict == "9/9 passed"
    console = harness.out.getvalue()
    assert "✅ 4/9 lock — HTTP 201 (" in console
    assert console.rstrip().endswith("smoke grading-e2e: 9/9 passed")
    pdf = json.loads((run_dir / "artifacts/smoke/08-final-pdf.json").read_text())
    body = pdf["attempts"][-1]["response"]["body"]
    assert body["content_type"] == "application/pdf" and body["head_hex"].startswith(b"%PDF-".hex())


def test_scenario_runs_again_and_again(harness: Harness, demo: Demo) -> None:
    first, second = _smoke(harness, demo), _smoke(harness, demo)
    assert first.passed and second.passed


def test_wrong_password_fails_at_login_and_skips_the_rest(harness: Harness, demo: Demo) -> None:
    harness.env["SMOKE_PASS"] = "not-the-password"
    report = _smoke(harness, demo)
    assert report.exit_code == 1 and report.status == "failed"
    failed = report.failed_step
    assert failed is not None and (failed.index, failed.name, failed.status_code) == (
        1,
        "login",
        401,
    )
    assert "SMOKE_PASS" in (failed.hint or "")
    assert failed.message == "expected HTTP 200, got 401: Invalid credentials"
    statuses = _statuses(report)
    assert [statuses[n] for n in ("exam id", "finalize")] == ["skipped", "skipped"]
    unlock = report.steps[-1]
    assert unlock.status == "skipped" and "never captured" in unlock.message
    assert report.verdict == "0/9 passed, failed at 1/9 login"


def test_503_burst_is_absorbed_by_retries(harness: Harness, demo: Demo) -> None:
    demo.faults(**{"503-burst": 2})
    waits: list[float] = []
    report = _smoke(harness, demo, sleep=no_sleep(waits))
    assert report.passed, report.verdict
    exam = report.steps[1]
    assert (exam.name, exam.attempts, exam.http_status) == ("exam id", 3, 200)
    # Exponential backoff with jitter: 200 ms then 400 ms, each jittered into [d/2, d].
    assert len(waits) == 2 and 0.1 <= waits[0] <= 0.2 and 0.2 <= waits[1] <= 0.4
    assert "2 tries" not in harness.out.getvalue() and "3 tries" in harness.out.getvalue()


def test_burst_longer_than_the_retries_fails_with_the_503(harness: Harness, demo: Demo) -> None:
    demo.faults(**{"503-burst": 5})
    report = _smoke(harness, demo, sleep=no_sleep([]))
    assert report.failed_step is not None
    assert (report.failed_step.name, report.failed_step.status_code) == ("exam id", 503)
    assert report.steps[1].attempts == 3


def test_lock_409_names_the_cause_and_cleanup_is_skipped_with_reason(
    harness: Harness, demo: Demo
) -> None:
    with httpx.Client(base_url=demo.url) as other:  # another grader holds the first READY copy
        assert other.post(
            "/api/login/", json={"username": "prof1", "password": PASSWORD}
        ).is_success
        csrf = other.cookies["csrftoken"]
        copies = other.get("/api/exams/1/copies/", params={"status": "READY"}).json()
        locked = other.post(
            f"/api/grading/copies/{copies[0]['id']}/lock/", headers={"X-CSRFToken": csrf}
        )
        assert locked.status_code == 201
    report = _smoke(harness, demo)
    failed = report.failed_step
    assert failed is not None and (failed.name, failed.status_code) == ("lock", 409)
    assert failed.message.startswith("expected HTTP 201, got 409: Copy already locked by prof1")
    assert (failed.hint or "").startswith("The copy is already locked")
    console = harness.out.getvalue()
    assert "❌ 4/9 lock — HTTP 409" in console and "hint: The copy is already locked" in console
    unlock = report.steps[-1]
    assert unlock.status == "skipped" and "'lock_token'" in unlock.message
    assert report.exit_code == 1


def test_annotation_without_lock_token_is_403_and_cleanup_still_runs(
    harness: Harness, demo: Demo, tmp_path: Path
) -> None:
    scenario = _variant(
        tmp_path,
        {
            'headers: {X-CSRFToken: "{{ csrf }}", X-Lock-Token: "{{ lock_token }}"}\n      json: {page_index': 'headers: {X-CSRFToken: "{{ csrf }}"}\n      json: {page_index'
        },
    )
    report = _smoke(harness, demo, scenario=scenario)
    failed = report.failed_step
    assert failed is not None and (failed.name, failed.status_code) == ("annotate", 403)
    statuses = _statuses(report)
    assert statuses["finalize"] == "skipped"
    # The cleanup step ran after the failure, and released the lock the scenario took.
    assert statuses["unlock"] == "passed" and report.steps[-1].http_status == 204
    assert not any(c.lock for c in demo.state.copies.values())


def test_best_effort_failure_is_a_warning_not_a_gate_failure(
    harness: Harness, demo: Demo, tmp_path: Path
) -> None:
    scenario = _variant(tmp_path, {"status: [204, 404]": "status: 204"})
    report = _smoke(harness, demo, scenario=scenario)
    assert report.passed and report.exit_code == 0
    assert report.steps[-1].status == "warning" and report.warnings == 1
    assert report.verdict == "8/9 passed, 1 warning"


def test_slow_endpoint_beyond_the_step_deadline_fails_in_time(
    harness: Harness, demo: Demo, tmp_path: Path
) -> None:
    demo.faults(slow=3)
    scenario = _variant(tmp_path, {"step_deadline: 30s": "step_deadline: 300ms"})
    report = _smoke(harness, demo, scenario=scenario)
    login = report.steps[0]
    assert login.status == "failed" and "deadline" in login.message
    # Ordering: the step ended before the server would have answered (the deadline cut it).
    assert login.duration_ms < 3000


def test_invalid_json_answer_is_reported_as_such(harness: Harness, demo: Demo) -> None:
    demo.faults(broken_endpoint="/api/exams/")
    report = _smoke(harness, demo)
    failed = report.failed_step
    assert failed is not None and failed.name == "exam id" and failed.status_code == 200
    assert "not valid JSON" in failed.message


def test_undefined_reference_is_caught_before_any_request(
    harness: Harness, demo: Demo, tmp_path: Path
) -> None:
    scenario = _variant(
        tmp_path,
        {'url: "/api/exams/{{ exam_id }}/copies/"': 'url: "/api/exams/{{ exam_idd }}/copies/"'},
    )
    with pytest.raises(ConfigError) as err:
        _smoke(harness, demo, scenario=scenario)
    assert demo.state.requests == 0
    (line,) = err.value.lines()
    assert "variant.smoke.yml:" in line and "steps[2].request.url" in line
    assert "'exam_idd' is not a var nor captured by an earlier step" in line


def test_secrets_never_reach_the_run_directory_or_console(harness: Harness, demo: Demo) -> None:
    report = _smoke(harness, demo)
    assert report.passed
    run_dir: Path = harness.last_dir  # type: ignore[attr-defined]
    issued = list(demo.state.issued)  # session ids, CSRF tokens, lock tokens handed out
    assert len(issued) >= 3
    forms = set(encoded_forms(PASSWORD))
    for value in issued:
        forms |= encoded_forms(value)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(files) >= 12
    blobs = {str(p): p.read_bytes() for p in files} | {"console": harness.out.getvalue().encode()}
    leaks = [
        (name, form) for name, blob in blobs.items() for form in forms if form.encode() in blob
    ]
    assert leaks == []


def test_http_to_a_remote_host_is_refused_before_sending(harness: Harness, demo: Demo) -> None:
    with pytest.raises(UsageError, match="https"):
        smoke(
            None,
            harness.run(),
            environment="t",
            scenario=DEMO_SCENARIO,
            base_url="http://smoke.example.com",
        )


def test_missing_secret_is_bad_input(harness: Harness, demo: Demo) -> None:
    harness.env.pop("SMOKE_PASS")
    with pytest.raises(ConfigError, match="secret SMOKE_PASS is not set"):
        _smoke(harness, demo)
    assert demo.state.requests == 0


def test_korrigo_example_runs_unchanged_against_the_demo(harness: Harness, demo: Demo) -> None:
    harness.env |= {"BASE_URL": demo.url, "SMOKE_USER": "prof1"}
    run = harness.run()
    report = smoke(None, run, environment="test", scenario=KORRIGO_SCENARIO)
    assert report.passed, [(s.name, s.message) for s in report.steps]
    assert report.total == 9
