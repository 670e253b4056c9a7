"""The contract-checked GitHub fake served over real HTTP on 127.0.0.1, for processes the test does
not run itself (relgate inside an act job).

The fake speaks GitHub Enterprise Server URLs (``<base>/api/v3``, ``<base>/api/uploads``) with this
server's address as the base, so the API, release uploads and downloads all land here. Every request
goes through the same contract checks as in-process tests; ``violations`` are re-raised on stop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.github_fake import FakeGitHub


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub
    base: str

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        prepared = requests.Request(
            self.command,
            self.base + self.path,
            headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
            data=body,
        ).prepare()
        status, headers, payload = self.fake._callback(prepared)
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


@contextmanager
def serve_fake(owner: str, repo: str) -> Iterator[tuple[FakeGitHub, str]]:
    """(fake, api_url) while a server on a free loopback port serves the fake."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fake = FakeGitHub(owner=owner, repo=repo, enterprise_url=base)
    handler = type("Handler", (_Handler,), {"fake": fake, "base": base})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"{base}/api/v3"
    finally:
        server.shutdown()
        server.server_close()
        fake.verify()
