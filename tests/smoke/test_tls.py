"""TLS: verification is on by default; a custom CA bundle makes a private certificate trusted."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from relgate.demo.service import DemoServer
from relgate.smoke.stage import smoke
from tests._tools import require_tool

from .conftest import DEMO_SCENARIO, PASSWORD, Harness


@pytest.fixture(scope="module")
def tls_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    require_tool("openssl")
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = DemoServer("127.0.0.1", 0, password=PASSWORD)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    server.start()
    yield server.url.replace("http://", "https://"), cert
    server.stop()


def _scenario(tmp_path: Path, ca: Path | None) -> Path:
    text = DEMO_SCENARIO.read_text()
    if ca is not None:
        text = text.replace("deadline: 2m\n", f"deadline: 2m\ntls: {{ca_bundle: {ca}}}\n")
    path = tmp_path / "tls.smoke.yml"
    path.write_text(text)
    return path


def test_untrusted_certificate_fails_the_first_step(
    harness: Harness, tmp_path: Path, tls_demo: tuple[str, Path]
) -> None:
    url, _ = tls_demo
    report = smoke(
        None, harness.run(), environment="t", scenario=_scenario(tmp_path, None), base_url=url
    )
    assert report.failed_step is not None and report.failed_step.name == "login"
    assert "CERTIFICATE_VERIFY_FAILED" in report.failed_step.message


def test_custom_ca_bundle_is_trusted(
    harness: Harness, tmp_path: Path, tls_demo: tuple[str, Path]
) -> None:
    url, cert = tls_demo
    report = smoke(
        None, harness.run(), environment="t", scenario=_scenario(tmp_path, cert), base_url=url
    )
    assert report.passed, report.verdict
