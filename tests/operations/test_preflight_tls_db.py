"""Preflight's network checks: TLS of the base URL against a real TLS server on loopback
(certificates made by openssl), and database reachability against the real PostgreSQL."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from relgate.preflight import CheckStatus, preflight
from tests._tools import require_tool
from tests.operations.conftest import Cluster, Workspace


def make_cert(folder: Path, days: int) -> tuple[Path, Path]:
    require_tool("openssl")
    cert, key = folder / f"cert-{days}.pem", folder / f"key-{days}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", str(days), "-subj", "/O=Relgate Test CA/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """A TLS endpoint on 127.0.0.1 that completes handshakes; yields (port, folder, stop)."""
    servers: list[socket.socket] = []
    state = {"cert": None}

    def start(days: int) -> tuple[int, Path]:
        cert, key = make_cert(tmp_path, days)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        servers.append(listener)

        def serve() -> None:
            while listener.fileno() != -1:
                try:
                    conn, _ = listener.accept()
                except (TimeoutError, OSError):
                    continue
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (ssl.SSLError, OSError):
                    pass

        threading.Thread(target=serve, daemon=True).start()
        state["cert"] = cert
        return listener.getsockname()[1], cert

    yield start  # type: ignore[misc]
    for listener in servers:
        listener.close()


def _run(
    ws: Workspace, base_url: str, **preflight_cfg: object
) -> dict[str, tuple[CheckStatus, str]]:
    doc = {
        "project": {"name": "gradeapp"},
        "environments": {
            "staging": {"base_url": base_url, "stack": {"driver": "process", "command": ["true"]}}
        },
        "preflight": {"min_disk_free": "1MB", **preflight_cfg},
    }
    if "ca_bundle" in preflight_cfg:
        doc["smoke"] = {"ca_bundle": str(doc["preflight"].pop("ca_bundle"))}  # type: ignore[union-attr]
    (ws.folder / "relgate.yml").write_text(yaml.safe_dump(doc))
    result = preflight(ws.config(), ws.run(), environment="staging", version=None)
    return {c.name: (c.status, c.detail) for c in result.checks}


def test_trusted_certificate_passes_with_days_left(workspace: Workspace, tls_server) -> None:  # type: ignore[no-untyped-def]
    port, cert = tls_server(90)
    status, detail = _run(workspace, f"https://localhost:{port}", ca_bundle=cert)["tls: base_url"]
    assert status is CheckStatus.PASS, detail
    assert "trusted certificate from Relgate Test CA" in detail and "expires in 90 days" in detail


@pytest.mark.parametrize(
    ("days", "trusted", "says"),
    [
        pytest.param(90, False, "certificate not trusted: self-signed certificate", id="untrusted"),
        pytest.param(5, True, "less than preflight.min_cert_days 14", id="expires-soon"),
    ],
)
def test_bad_certificate_fails(
    workspace: Workspace, tls_server, days: int, trusted: bool, says: str
) -> None:  # type: ignore[no-untyped-def]
    port, cert = tls_server(days)
    extra = {"ca_bundle": cert} if trusted else {}
    status, detail = _run(workspace, f"https://localhost:{port}", **extra)["tls: base_url"]
    assert (status, says in detail) == (CheckStatus.FAIL, True), detail


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        pytest.param(
            "https://relgate-nonexistent.invalid", CheckStatus.FAIL, "DNS: cannot resolve", id="dns"
        ),
        pytest.param("https://127.0.0.1:1", CheckStatus.FAIL, "cannot connect", id="refused"),
        pytest.param(
            "http://127.0.0.1:8080",
            CheckStatus.SKIP,
            "http:// (no TLS to check)",
            id="loopback-http",
        ),
    ],
)
def test_tls_check_reports_dns_and_connection(
    workspace: Workspace, url: str, status: CheckStatus, says: str
) -> None:
    got, detail = _run(workspace, url)["tls: base_url"]
    assert (got, says in detail) == (status, True), detail


@pytest.mark.postgres
def test_database_reachable(db_workspace: Workspace, pg_cluster: Cluster) -> None:
    text = (db_workspace.folder / "relgate.yml").read_text()
    doc = yaml.safe_load(text)
    doc["preflight"] = {"min_disk_free": "1MB", "check_tls": False}
    (db_workspace.folder / "relgate.yml").write_text(yaml.safe_dump(doc))
    checks = {
        c.name: c
        for c in preflight(
            db_workspace.config(), db_workspace.run(), environment="staging", version=None
        ).checks
    }
    assert checks["database reachable"].status is CheckStatus.PASS
    assert (
        checks["database reachable"].detail.endswith("PostgreSQL 15.18")
        or "PostgreSQL 1" in checks["database reachable"].detail
    )
    db_workspace.env["APP_DATABASE_URL"] = (
        f"postgresql://postgres:x@127.0.0.1:{pg_cluster.port}/no_such_db_here"
    )
    checks = {
        c.name: c
        for c in preflight(
            db_workspace.config(), db_workspace.run("r2"), environment="staging", version=None
        ).checks
    }
    assert checks["database reachable"].status is CheckStatus.FAIL
    assert 'database "no_such_db_here" does not exist' in checks["database reachable"].detail
