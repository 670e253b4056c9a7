"""Fail closed on references and say why only when it is why: strict ``{{ run.* }}``, the
built-in ``expect_version`` check, and hints chosen by the failure's cause (issue 14)."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from relgate.cli import main
from relgate.errors import UsageError
from relgate.smoke.stage import smoke

from .conftest import DEMO_SCENARIO, Demo, Harness, no_sleep

VERSION_STEP = (
    "  - name: version\n    request: {url: /api/health/}\n"
    "    expect:\n      json:\n        - {path: $.version, eq: '{{ run.version }}'}\n"
)


def _scenario(tmp_path: Path, steps: str, head: str = "") -> Path:
    path = tmp_path / "s.yml"
    path.write_text(f"version: 1\nname: strict\n{head}steps:\n{steps}")
    return path


def _handler(seen: list[httpx.Request], version: str = "v2.0.0"):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok", "version": version})

    return handler


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(VERSION_STEP, id="expect-json"),
        pytest.param(
            "  - name: version\n    request: {url: /x, headers: {X-Build: 'b-{{ run.version }}'}}\n",
            id="embedded-header",
        ),
    ],
)
def test_run_version_without_a_version_is_refused_before_any_request(
    harness: Harness, tmp_path: Path, where: str
) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(UsageError) as err:
        smoke(
            None,
            harness.run(),
            environment="t",
            scenario=_scenario(tmp_path, where),
            base_url="http://127.0.0.1:1",
            transport=httpx.MockTransport(_handler(seen)),
        )
    assert "step 'version'" in str(err.value) and "{{ run.version }}" in str(err.value)
    assert "--version" in str(err.value) and seen == []


def test_run_version_renders_the_version_given(harness: Harness, tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    report = smoke(
        None,
        harness.run(),
        environment="t",
        scenario=_scenario(tmp_path, VERSION_STEP),
        base_url="http://127.0.0.1:1",
        version="v2.0.0",
        transport=httpx.MockTransport(_handler(seen, version="v1.9.9")),
    )
    assert report.failed_step is not None and "v2.0.0" in report.failed_step.message


def test_cli_exit_2_names_the_reference(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["--run-dir", str(tmp_path / "run"), "smoke", "--scenario"]
    argv += [str(_scenario(tmp_path, VERSION_STEP)), "--base-url", "http://127.0.0.1:9"]
    code = main(argv, env={}, stdout=out, stderr=err)
    assert code == 2 and "{{ run.version }}" in out.getvalue() + err.getvalue()
    env_code = main(argv, env={"RELGATE_VERSION": "v2.0.0"}, stdout=out, stderr=err)
    assert env_code == 1  # now it runs (and nothing listens on port 9)


EXPECT_VERSION = "expect_version: {url: /api/health/, json: $.version, timeout: 2s}\n"


@pytest.mark.parametrize(
    ("served", "passed"),
    [pytest.param("v2.0.0", True, id="same"), pytest.param("v1.0.0", False, id="old-build")],
)
def test_expect_version_is_a_first_step(
    harness: Harness, tmp_path: Path, served: str, passed: bool
) -> None:
    seen: list[httpx.Request] = []
    report = smoke(
        None,
        harness.run(),
        environment="t",
        scenario=_scenario(tmp_path, "  - name: work\n    request: {url: /work}\n", EXPECT_VERSION),
        base_url="http://127.0.0.1:1",
        version="v2.0.0",
        transport=httpx.MockTransport(_handler(seen, version=served)),
        sleep=no_sleep([]),
    )
    assert report.total == 2 and report.steps[0].name == "served version"
    assert report.passed is passed
    if not passed:
        assert "the deployed version is not the one served" in report.steps[0].message
        assert report.steps[1].status == "skipped" and seen[-1].url.path == "/api/health/"


def test_expect_version_needs_a_version(harness: Harness, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="expect_version"):
        smoke(
            None,
            harness.run(),
            environment="t",
            scenario=_scenario(
                tmp_path, "  - name: work\n    request: {url: /work}\n", EXPECT_VERSION
            ),
            base_url="http://127.0.0.1:1",
            transport=httpx.MockTransport(_handler([])),
        )


# -- hints by condition -----------------------------------------------------------------------
def test_a_503_does_not_print_the_seed_data_hint(harness: Harness, demo: Demo) -> None:
    """The issue's case: a 503 in the demo printed 'No exam: load the seed data'."""
    demo.faults(**{"503-burst": 10})
    report = smoke(
        None,
        harness.run(),
        environment="t",
        scenario=DEMO_SCENARIO,
        base_url=demo.url,
        sleep=no_sleep([]),
    )
    assert report.failed_step is not None and report.failed_step.status_code == 503
    assert report.failed_step.hint is None
    assert "hint:" not in harness.out.getvalue()


@pytest.mark.parametrize(
    ("status", "body", "hint"),
    [
        pytest.param(409, {"detail": "locked"}, "already locked", id="409"),
        pytest.param(403, {"detail": "CSRF Failed"}, "CSRF", id="403"),
        pytest.param(500, {"detail": "boom"}, None, id="unmatched"),
    ],
)
def test_hint_chosen_by_status(
    harness: Harness, tmp_path: Path, status: int, body: dict[str, str], hint: str | None
) -> None:
    steps = (
        "  - name: lock\n    request: {method: POST, url: /lock/}\n    expect: {status: 201}\n"
        "    hints:\n"
        "      - {when: {status: 409}, text: The copy is already locked.}\n"
        "      - {when: {status: [401, 403]}, text: Session or CSRF token rejected.}\n"
        "      - {when: {error: [connect]}, text: Nothing listens.}\n"
    )
    report = smoke(
        None,
        harness.run(),
        environment="t",
        scenario=_scenario(tmp_path, steps),
        base_url="http://127.0.0.1:1",
        transport=httpx.MockTransport(lambda r: httpx.Response(status, json=body)),
    )
    got = report.failed_step.hint if report.failed_step else "passed?"
    assert (got is None) if hint is None else (got is not None and hint in got)


def test_hint_by_error_kind_and_by_check(harness: Harness, tmp_path: Path) -> None:
    steps = (
        "  - name: a\n    request: {url: /a}\n    retry: {attempts: 1}\n"
        "    expect:\n      json:\n        - {path: $.n, gt: 0}\n"
        "    hints:\n"
        "      - {when: {error: [connect]}, text: Nothing listens.}\n"
        "      - {when: {check: json $.n}, text: n is not positive.}\n"
    )

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    runs = []
    for transport in (
        httpx.MockTransport(refuse),
        httpx.MockTransport(lambda r: httpx.Response(200, json={"n": 0})),
    ):
        runs.append(
            smoke(
                None,
                harness.run(),
                environment="t",
                scenario=_scenario(tmp_path, steps),
                base_url="http://127.0.0.1:1",
                transport=transport,
            )
        )
    assert [r.failed_step.hint for r in runs if r.failed_step] == [
        "Nothing listens.",
        "n is not positive.",
    ]


def test_hint_when_needs_a_condition(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    bad = _scenario(
        tmp_path, "  - name: a\n    request: {url: /a}\n    hints: [{when: {}, text: x}]\n"
    )
    assert main(["smoke", "--check", str(bad)], env={}, stdout=out, stderr=err) == 2
    assert "needs status, error or check" in out.getvalue() + err.getvalue()


def test_base_url_may_use_run_facts(harness: Harness, tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    path = _scenario(
        tmp_path,
        "  - name: a\n    request: {url: /a}\n",
        "base_url: 'http://127.0.0.1:1/{{ run.environment }}'\n",
    )
    report = smoke(
        None,
        harness.run(),
        environment="staging",
        scenario=path,
        transport=httpx.MockTransport(_handler(seen)),
    )
    assert report.passed and str(seen[0].url) == "http://127.0.0.1:1/staging/a"
    assert report.base_url == "http://127.0.0.1:1/staging"
