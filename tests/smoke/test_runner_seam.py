"""Retry and poll semantics through the transport seam (httpx.MockTransport): the cases the demo
service cannot stage on demand (a 502 on a POST, 429 with and without Retry-After)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from relgate.smoke.report import SmokeReport
from relgate.smoke.stage import smoke

from .conftest import Harness, no_sleep


def _scenario(tmp_path: Path, step: str, defaults: str = "") -> Path:
    path = tmp_path / "s.yml"
    path.write_text(f"version: 1\nname: seam\n{defaults}steps:\n{step}")
    return path


def _run(
    harness: Harness,
    path: Path,
    handler: Callable[[httpx.Request], httpx.Response],
    waits: list[float],
) -> SmokeReport:
    return smoke(
        None,
        harness.run(),
        environment="t",
        scenario=path,
        base_url="http://127.0.0.1:1",
        transport=httpx.MockTransport(handler),
        sleep=no_sleep(waits),
    )


def _answers(
    *responses: httpx.Response,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return handler, seen


POST = "  - name: lock\n    request: {method: POST, url: /lock/}\n    expect: {status: 201}\n"


def test_post_is_not_retried_by_default(harness: Harness, tmp_path: Path) -> None:
    handler, seen = _answers(httpx.Response(502), httpx.Response(201))
    report = _run(harness, _scenario(tmp_path, POST), handler, [])
    assert (
        len(seen) == 1 and report.failed_step is not None and report.failed_step.status_code == 502
    )


def test_unsafe_post_retry_sends_one_idempotency_key(harness: Harness, tmp_path: Path) -> None:
    step = POST + "    retry: {attempts: 3, unsafe: true, backoff: {initial: 10ms}}\n"
    handler, seen = _answers(httpx.Response(502), httpx.Response(503), httpx.Response(201))
    report = _run(harness, _scenario(tmp_path, step), handler, [])
    assert report.passed and len(seen) == 3
    keys = {r.headers.get("Idempotency-Key") for r in seen}
    assert len(keys) == 1 and None not in keys


@pytest.mark.parametrize(
    ("headers", "tries", "waits"),
    [
        pytest.param({}, 1, [], id="429-without-retry-after-is-final"),
        pytest.param({"Retry-After": "2"}, 2, [2.0], id="429-retry-after-seconds"),
        pytest.param({"Retry-After": "120"}, 2, [30.0], id="retry-after-capped"),
    ],
)
def test_429_is_retried_only_with_retry_after(
    harness: Harness, tmp_path: Path, headers: dict[str, str], tries: int, waits: list[float]
) -> None:
    step = "  - name: get\n    request: {url: /x}\n    deadline: 5m\n"
    handler, seen = _answers(httpx.Response(429, headers=headers), httpx.Response(200))
    recorded: list[float] = []
    _run(harness, _scenario(tmp_path, step), handler, recorded)
    assert (len(seen), recorded) == (tries, waits)


def test_500_is_not_transient(harness: Harness, tmp_path: Path) -> None:
    handler, seen = _answers(httpx.Response(500), httpx.Response(200))
    report = _run(
        harness, _scenario(tmp_path, "  - name: get\n    request: {url: /x}\n"), handler, []
    )
    assert len(seen) == 1 and not report.passed


def test_connection_errors_are_retried(harness: Harness, tmp_path: Path) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    report = _run(
        harness, _scenario(tmp_path, "  - name: get\n    request: {url: /x}\n"), handler, []
    )
    assert report.passed and report.steps[0].attempts == 3


def test_poll_repeats_until_expectations_hold(harness: Harness, tmp_path: Path) -> None:
    step = "  - name: pdf\n    request: {url: /pdf}\n    poll: {every: 1s, timeout: 30s, while_status: [404]}\n    expect:\n      body: {startswith: '%PDF-'}\n"
    pdf = httpx.Response(200, content=b"%PDF-1.4 ...", headers={"Content-Type": "application/pdf"})
    handler, seen = _answers(httpx.Response(404), httpx.Response(200, text="rendering"), pdf)
    waits: list[float] = []
    report = _run(harness, _scenario(tmp_path, step), handler, waits)
    assert report.passed and len(seen) == 3 and waits == [1.0, 1.0]


def test_capture_select_one_refuses_ambiguity(harness: Harness, tmp_path: Path) -> None:
    step = "  - name: list\n    request: {url: /x}\n    capture:\n      id: {json: '$[*].id'}\n"
    handler, _ = _answers(httpx.Response(200, json=[{"id": 1}, {"id": 2}]))
    report = _run(harness, _scenario(tmp_path, step), handler, [])
    assert "matched 2 values; use select: first or all" in report.steps[0].message


def test_whole_value_template_sends_the_captured_type(harness: Harness, tmp_path: Path) -> None:
    steps = (
        "  - name: a\n    request: {url: /a}\n    capture:\n      n: {json: $.n}\n"
        "  - name: b\n    request: {method: PUT, url: /b, json: {n: '{{ n }}', text: 'n={{ n }}'}}\n"
    )
    handler, seen = _answers(httpx.Response(200, json={"n": 42}), httpx.Response(200))
    assert _run(harness, _scenario(tmp_path, steps), handler, []).passed
    assert seen[1].content == b'{"n":42,"text":"n=42"}'


def test_always_step_gets_the_cleanup_grace_after_the_deadline(
    harness: Harness, tmp_path: Path
) -> None:
    steps = (
        "  - name: work\n    request: {url: /work}\n"
        "  - name: cleanup\n    run: always\n    request: {method: DELETE, url: /lock}\n"
    )
    path = _scenario(tmp_path, steps, defaults="deadline: 2s\ncleanup_grace: 30s\n")
    handler, seen = _answers(httpx.Response(204))
    ticks = iter(range(1000))  # a clock that advances one second per reading

    report = smoke(
        None,
        harness.run(),
        environment="t",
        scenario=path,
        base_url="http://127.0.0.1:1",
        transport=httpx.MockTransport(handler),
        monotonic=lambda: float(next(ticks)),
        sleep=no_sleep([]),
    )
    work, cleanup = report.steps
    assert work.status == "failed" and "deadline" in work.message
    assert cleanup.status == "passed" and [r.url.path for r in seen] == ["/lock"]


POLL = "  - name: pdf\n    request: {url: /pdf}\n    poll: {every: 1s, timeout: 30s}\n    retry: {attempts: 1}\n    expect: {status: 200}\n"


@pytest.mark.parametrize(
    ("first", "tries"),
    [
        pytest.param(
            httpx.Response(406, json={"detail": "Could not satisfy the request Accept header."}),
            1,
            id="406-is-final",
        ),
        pytest.param(
            httpx.Response(404, json={"detail": "Not found."}), 1, id="404-unnamed-is-final"
        ),
        pytest.param(httpx.Response(403, json={"detail": "CSRF Failed"}), 1, id="403-is-final"),
        pytest.param(httpx.Response(409, json={"detail": "locked"}), 1, id="409-is-final"),
        pytest.param(httpx.Response(503), 2, id="503-is-transient"),
        pytest.param(
            httpx.Response(429, headers={"Retry-After": "3"}), 2, id="429-retry-after-is-transient"
        ),
    ],
)
def test_poll_continues_only_on_not_yet_answers(
    harness: Harness, tmp_path: Path, first: httpx.Response, tries: int
) -> None:
    handler, seen = _answers(first, httpx.Response(200))
    report = _run(harness, _scenario(tmp_path, POLL), handler, [])
    assert len(seen) == tries and report.passed == (tries == 2)
    if tries == 1:  # stopped at once, with what the server said
        said = first.json().get("detail") if first.content else ""
        assert said and said in report.steps[0].message


def test_poll_honours_retry_after_of_a_429(harness: Harness, tmp_path: Path) -> None:
    handler, _ = _answers(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200))
    waits: list[float] = []
    assert _run(harness, _scenario(tmp_path, POLL), handler, waits).passed
    assert waits == [3.0]


def test_step_headers_merge_over_defaults_case_insensitively(
    harness: Harness, tmp_path: Path
) -> None:
    defaults = "defaults:\n  headers: {Accept: application/json, X-Trace: abc, X-Drop: me}\n"
    step = "  - name: pdf\n    request:\n      url: /pdf\n      headers: {accept: application/pdf, X-Drop: null}\n"
    handler, seen = _answers(httpx.Response(200))
    assert _run(harness, _scenario(tmp_path, step, defaults), handler, []).passed
    sent = seen[0].headers
    assert sent.get_list("accept") == ["application/pdf"]
    assert sent["x-trace"] == "abc" and "x-drop" not in sent
