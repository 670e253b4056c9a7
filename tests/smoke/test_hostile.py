"""No crash on hostile input, and redirects that keep the first URL's rules (issue 14).

Redirect and byte-level cases go through the transport seam (httpx.MockTransport): the real
runner, the real client and cookie jar, a handler playing the servers."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from relgate.cli import main
from relgate.errors import UsageError
from relgate.smoke.report import SmokeReport
from relgate.smoke.stage import smoke

from .conftest import Harness, no_sleep

LOCAL = "http://127.0.0.1:8000"


def _scenario(tmp_path: Path, steps: str, head: str = "") -> Path:
    path = tmp_path / "s.yml"
    path.write_text(f"version: 1\nname: hostile\n{head}steps:\n{steps}")
    return path


def _run(
    harness: Harness, path: Path, handler: Callable[[httpx.Request], httpx.Response]
) -> SmokeReport:
    return smoke(
        None,
        harness.run(),
        environment="t",
        scenario=path,
        base_url=LOCAL,
        transport=httpx.MockTransport(handler),
        sleep=no_sleep([]),
    )


def _check(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["smoke", "--check", str(path)], env={}, stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


# -- redirects ----------------------------------------------------------------------------------
LOGIN = (
    "  - name: login\n    request:\n      method: POST\n      url: /login/\n"
    "      follow_redirects: true\n      headers: {Authorization: Bearer s3cr3t-t0ken, X-CSRFToken: c5rf-t0ken}\n"
    "      json: {password: hunter2-password}\n"
)


def _redirecting(location: str, status: int, seen: list[httpx.Request]):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/login/":
            return httpx.Response(
                status,
                headers={"Location": location, "Set-Cookie": "sessionid=abcdefgh1234; Path=/"},
            )
        return httpx.Response(200, json={"ok": True})

    return handler


@pytest.mark.parametrize(
    ("location", "status", "why"),
    [
        pytest.param(
            "http://attacker.example/steal", 302, "must be https", id="plain-http-elsewhere"
        ),
        pytest.param(
            "https://other.example/login",
            307,
            "re-send the request body",
            id="307-body-cross-origin",
        ),
        pytest.param(
            "https://other.example/login",
            308,
            "re-send the request body",
            id="308-body-cross-origin",
        ),
        pytest.param("ftp://127.0.0.1/x", 302, "absolute http(s) URL", id="non-http-scheme"),
    ],
)
def test_redirect_hops_are_checked_and_refused(
    harness: Harness, tmp_path: Path, location: str, status: int, why: str
) -> None:
    seen: list[httpx.Request] = []
    report = _run(harness, _scenario(tmp_path, LOGIN), _redirecting(location, status, seen))
    assert [r.url.host for r in seen] == ["127.0.0.1"]  # never sent to the second host
    assert report.failed_step is not None and why in report.failed_step.message


@pytest.mark.parametrize("status", [301, 302, 303])
def test_cross_origin_redirect_drops_credentials_body_and_becomes_get(
    harness: Harness, tmp_path: Path, status: int
) -> None:
    seen: list[httpx.Request] = []
    report = _run(
        harness,
        _scenario(tmp_path, LOGIN),
        _redirecting("https://other.example/next", status, seen),
    )
    assert report.passed, report.steps[0].message
    hop = seen[1]
    assert (hop.method, hop.url.host, hop.content) == ("GET", "other.example", b"")
    for name in ("authorization", "cookie", "x-csrftoken"):
        assert name not in hop.headers, name


def test_same_origin_redirect_keeps_the_session(harness: Harness, tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    report = _run(harness, _scenario(tmp_path, LOGIN), _redirecting("/next", 303, seen))
    assert report.passed and "sessionid=abcdefgh1234" in seen[1].headers.get("cookie", "")
    assert seen[1].headers["authorization"] == "Bearer s3cr3t-t0ken"


def test_redirect_limit(harness: Harness, tmp_path: Path) -> None:
    step = "  - name: loop\n    request: {url: /a, follow_redirects: true, max_redirects: 3}\n"
    seen: list[httpx.Request] = []

    def loop(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "/a" if request.url.path == "/b" else "/b"})

    report = _run(harness, _scenario(tmp_path, step), loop)
    assert len(seen) == 4 and report.failed_step is not None
    assert "more than 3 redirects" in report.failed_step.message


# -- header values ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "why"),
    [
        pytest.param("{X-Name: 'Zoë'}", "not ASCII", id="non-ascii"),
        pytest.param('{X-Name: "a\\r\\nX-Evil: 1"}', "control character", id="crlf"),
        pytest.param("{'Bad Name': x}", "not an HTTP token", id="bad-name"),
        pytest.param("{X-Name: 'pre-{{ v }}-é'}", "not ASCII", id="non-ascii-around-template"),
    ],
)
def test_check_refuses_unsendable_header_values(tmp_path: Path, headers: str, why: str) -> None:
    path = _scenario(
        tmp_path, f"  - name: a\n    request: {{url: /a, headers: {headers}}}\n", "vars: {v: x}\n"
    )
    code, text = _check(path)
    assert code == 2 and why in text and "s.yml" in text


def test_rendered_non_ascii_header_fails_the_step_not_the_run(
    harness: Harness, tmp_path: Path
) -> None:
    steps = (
        "  - name: a\n    request: {url: /a}\n    capture:\n      who: {json: $.name}\n"
        "  - name: b\n    request: {url: /b, headers: {X-Who: '{{ who }}'}}\n"
    )
    report = _run(
        harness, _scenario(tmp_path, steps), lambda r: httpx.Response(200, json={"name": "Zoë"})
    )
    assert report.failed_step is not None and report.failed_step.name == "b"
    assert "not ASCII" in report.failed_step.message and report.exit_code == 1


def test_server_cookie_with_any_bytes_does_not_crash(harness: Harness, tmp_path: Path) -> None:
    steps = "  - name: a\n    request: {url: /a}\n  - name: b\n    request: {url: /b}\n"
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            headers=[
                (b"Set-Cookie", "pref=välue\xff; Path=/".encode("utf-8", "surrogateescape")),
                (b"Set-Cookie", b"ok=plain; Path=/"),
                (b"X-Weird", b"\xff\xfe\x00raw"),
            ],
        )

    report = _run(harness, _scenario(tmp_path, steps), handler)
    assert report.passed and len(seen) == 2
    assert seen[1].headers.get("cookie") == "ok=plain"


# -- TLS bundle, regular expressions ------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    [pytest.param(b"not a certificate\n", id="text"), pytest.param(b"\x00\x01\x02", id="binary")],
)
def test_non_pem_ca_bundle_is_exit_2_naming_the_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "ca.crt").write_bytes(content)
    path = _scenario(
        tmp_path, "  - name: a\n    request: {url: /a}\n", "tls: {ca_bundle: ca.crt}\n"
    )
    code, text = _check(path)
    assert code == 2 and "ca.crt" in text and "not a PEM CA bundle" in text


def test_broken_pem_ca_bundle_is_refused_before_any_request(
    harness: Harness, tmp_path: Path
) -> None:
    (tmp_path / "ca.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    )
    path = _scenario(
        tmp_path, "  - name: a\n    request: {url: /a}\n", "tls: {ca_bundle: ca.crt}\n"
    )
    seen: list[httpx.Request] = []
    with pytest.raises(UsageError, match=r"ca\.crt"):
        _run(harness, path, lambda r: seen.append(r) or httpx.Response(200))  # type: ignore[func-returns-value]
    assert seen == []


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("    expect:\n      body: {matches: '^(a|aa)+$'}\n", id="assertion"),
        pytest.param("    capture:\n      x: {regex: '^(a|aa)+$'}\n", id="capture"),
    ],
)
def test_catastrophic_regex_fails_the_step_clearly(
    harness: Harness, tmp_path: Path, where: str
) -> None:
    path = _scenario(tmp_path, "  - name: a\n    request: {url: /a}\n" + where)
    report = _run(harness, path, lambda r: httpx.Response(200, text="a" * 60 + "!"))
    assert report.failed_step is not None and "gave up after" in report.failed_step.message


def test_the_issue_pattern_is_answered(harness: Harness, tmp_path: Path) -> None:
    """'^(a+)+$' on 35 bytes ran past its deadline for over 60 s with the stdlib's re."""
    path = _scenario(
        tmp_path,
        "  - name: a\n    request: {url: /a}\n    expect:\n      body: {matches: '^(a+)+$'}\n",
    )
    report = _run(harness, path, lambda r: httpx.Response(200, text="a" * 34 + "!"))
    assert report.failed_step is not None and "to match" in report.failed_step.message
