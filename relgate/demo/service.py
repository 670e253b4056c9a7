"""The embedded demo service: the seed runbook's grading API, stdlib only, on loopback.

Run it as ``python -m relgate.demo.service --host 127.0.0.1 --port 0 --version v1.2.0``; it
prints one ``listening on http://127.0.0.1:N`` line (port 0 picks a free one) and stops cleanly on
SIGTERM or SIGINT. Only the standard library is imported, so it starts in a few tens of
milliseconds: deploy health gates and the smoke benchmark measure relgate, not this server.

The API follows the shapes of the real app the seed runbook releases (``examples/korrigo.smoke.yml``
runs against both):

* ``GET /api/health/`` → 200 ``{"status": "ok", "version": …}`` (503 with the ``unhealthy`` fault)
* ``POST /api/login/`` (JSON or form ``username``/``password``) → 200 ``{"message": "Login
  successful"}`` and the ``sessionid`` + ``csrftoken`` cookies; 401 on bad credentials
* ``GET /api/exams/`` → paginated ``{"count", "next", "previous", "results": [...]}``
* ``GET /api/exams/<id>/copies/[?status=READY]`` → a bare array of copies with booklets and page
  images (``/media/copies/<id>/page-<n>.png``)
* ``POST /api/grading/copies/<id>/lock/`` → 201 ``{"token", …}``; 409 while someone holds it
* ``GET|POST /api/grading/copies/<id>/annotations/`` → list / 201 (POST needs ``X-Lock-Token``)
* ``POST /api/grading/copies/<id>/finalize/`` → 200 ``{"status": "GRADED"}`` (needs the token;
  releases the lock and renders the final PDF)
* ``GET|HEAD /api/grading/copies/<id>/final-pdf/`` → a real PDF (Range requests answer 206)

Content negotiation is DRF's: the PDF view renders ``application/pdf`` only and every other view
``application/json`` only, so an ``Accept`` that admits neither is answered 406 ``{"detail": …}``
before anything else is looked at (``Accept: application/json`` on the PDF is a 406).
* ``DELETE /api/grading/copies/<id>/lock/release/`` → 204, or 404 when no lock is held

Unsafe methods (except login) need ``X-CSRFToken`` equal to the ``csrftoken`` cookie, as in
Django. Cookies are not ``Secure``: clients do not send Secure cookies over plain http, even on
loopback. Grading a copy adds a fresh READY one, so the scenario can run again and again.

Demo credentials: user ``prof1``, password from ``RELGATE_DEMO_PASSWORD`` (``demo-password``).

Faults (``--fault NAME[=VALUE]``, env ``RELGATE_DEMO_FAULTS="a,b=1"``, or ``POST /__demo/faults``):

* ``slow[=SECONDS]`` every ``/api/`` answer waits (default 2 s);
* ``503-burst[=N]`` the next N reads (GET/HEAD, health excepted) answer 503 (default 2);
* ``broken-endpoint[=PATH]`` that path (default ``/api/exams/``) answers truncated JSON;
* ``unhealthy`` the health endpoint answers 503;
* ``crash-on-start`` the process exits with status 1 before listening.

``POST /__demo/reset`` restores the seed data and clears the faults; ``GET /__demo/faults`` shows
them; ``POST /__demo/faults`` with ``{"faults": {"slow": 1}}`` replaces them.

Why this module is longer than ~500 lines: it is a stand-in of a whole application (login,
pagination, locks, annotations, PDF rendering, faults) that runs as ``python -m`` with the standard library only.
One file keeps it readable side by side with the real API it imitates and keeps it free of relgate's
own imports, so its start-up cost stays out of the measurements it serves.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FAULTS", "DemoServer", "DemoState", "main", "parse_faults", "render_pdf"]

FAULTS = ("slow", "503-burst", "broken-endpoint", "unhealthy", "crash-on-start")
DEMO_USER = "prof1"
DEFAULT_PASSWORD = "demo-password"  # noqa: S105 (documented demo credential)
LOCK_TTL_S = 900
READY_POOL = 3
ANNOTATION_TYPES = ("COMMENT", "HIGHLIGHT", "ERROR", "CHECK")
_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def parse_faults(specs: Sequence[str]) -> dict[str, str | None]:
    """``["slow=1.5", "unhealthy"]`` (or comma-separated items) → ``{"slow": "1.5", …}``."""
    faults: dict[str, str | None] = {}
    for spec in specs:
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            if name not in FAULTS:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
            faults[name] = value if sep else None
    return faults


# -- data -----------------------------------------------------------------------------------------
@dataclass
class Lock:
    token: str
    user: str
    expires: float


@dataclass
class Copy:
    id: int
    exam: int
    pages: int
    status: str = "READY"
    lock: Lock | None = None
    annotations: list[dict[str, Any]] = field(default_factory=list)
    pdf: bytes | None = None

    def public(self) -> dict[str, Any]:
        images = [f"/media/copies/{self.id}/page-{n}.png" for n in range(1, self.pages + 1)]
        return {
            "id": self.id,
            "exam": self.exam,
            "anonymous_id": f"A-{self.id}",
            "status": self.status,
            "pages_count": self.pages,
            "booklets": [{"id": self.id * 10, "pages_images": images}],
            "is_locked": self.lock is not None,
        }


class DemoState:
    """Everything the service remembers; one lock guards it (requests run in threads)."""

    def __init__(
        self,
        *,
        version: str,
        password: str,
        faults: Mapping[str, str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.version = version
        self.password = password
        self.clock = clock
        self.mutex = threading.RLock()
        self.faults: dict[str, str | None] = dict(faults or {})
        self.burst_left = 0
        self.requests = 0  # how many requests arrived (tests prove "nothing was sent")
        self.issued: list[str] = []  # every credential handed out (tests grep evidence for them)
        self.reset(keep_faults=True)

    def reset(self, *, keep_faults: bool = False) -> None:
        with self.mutex:
            self.sessions: dict[str, str] = {}
            self.requests = 0
            self.exams = [{"id": 1, "name": "Bac blanc — Mathématiques", "date": "2026-06-15"}]
            self.copies: dict[int, Copy] = {}
            self.next_copy = 101
            self.next_annotation = 1
            graded = Copy(id=100, exam=1, pages=2, status="GRADED")
            graded.pdf = render_pdf(100, "GRADED")
            self.copies[100] = graded
            self._refill()
            if not keep_faults:
                self.faults = {}
            self.burst_left = self._burst_size()

    def set_faults(self, faults: Mapping[str, str | None]) -> None:
        with self.mutex:
            self.faults = dict(faults)
            self.burst_left = self._burst_size()

    def _burst_size(self) -> int:
        if "503-burst" not in self.faults:
            return 0
        return int(self.faults["503-burst"] or 2)

    def _refill(self) -> None:
        ready = sum(1 for c in self.copies.values() if c.status == "READY")
        for _ in range(READY_POOL - ready):
            copy = Copy(id=self.next_copy, exam=1, pages=2 + self.next_copy % 2)
            self.copies[copy.id] = copy
            self.next_copy += 1

    def active_lock(self, copy: Copy) -> Lock | None:
        if copy.lock is not None and copy.lock.expires <= self.clock():
            copy.lock = None
        return copy.lock

    def take_burst(self) -> bool:
        with self.mutex:
            if self.burst_left > 0:
                self.burst_left -= 1
                return True
            return False


# -- a real, tiny PDF -------------------------------------------------------------------------------
def render_pdf(copy_id: int, status: str) -> bytes:
    """A valid one-page PDF 1.4 (correct xref offsets), written by hand: no library needed."""
    text = f"Copy {copy_id} - {status} - relgate demo".replace("(", "[").replace(")", "]")
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _png(width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff" * width * 3 for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


_PAGE_PNG = _png()


# -- HTTP -----------------------------------------------------------------------------------------
class _Reply(Exception):
    """Raised by a handler to answer at once (error paths read as one line each)."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real deployment behind a proxy
    # Headers and body are two writes; with Nagle on, the second waits for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server_version = "relgate-demo"
    sys_version = ""
    state: DemoState
    access_log = False

    # Every method goes through one dispatcher.
    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.access_log:
            sys.stderr.write(f"demo: {self.address_string()} {format % args}\n")

    # -- plumbing ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        self.route = parts.path
        self.query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length > 0 else b""
        self.set_cookies: list[str] = []
        if not self.route.startswith("/__demo/"):
            with self.state.mutex:
                self.state.requests += 1
        try:
            try:
                self._route_top()
            except _Reply as reply:
                self._send(reply.status, reply.body, reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its deadline passed)

    def _route_top(self) -> None:
        if self.route.startswith("/__demo/"):
            self._admin()
        elif self.route.startswith("/media/"):
            self._send(200, _PAGE_PNG, {"Content-Type": "image/png"})
        elif self.route.startswith("/api/"):
            self._api()
        else:
            raise _Reply(404, {"detail": "Not found."})

    def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        headers = dict(headers or {})
        if isinstance(body, bytes | bytearray):
            data = bytes(body)
        elif body is None:
            data = b""
        else:
            data = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        for cookie in self.set_cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _cookie(self, name: str) -> str | None:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie") or "")
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel else None

    def _json(self) -> dict[str, Any]:
        ctype = self.headers.get("Content-Type") or ""
        try:
            if "application/x-www-form-urlencoded" in ctype:
                return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8")).items()}
            data = json.loads(self.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise _Reply(400, {"detail": "JSON parse error."}) from None
        if not isinstance(data, dict):
            raise _Reply(400, {"detail": "Expected a JSON object."})
        return data

    # -- faults -----------------------------------------------------------------------------
    def _apply_faults(self) -> None:
        faults = self.state.faults
        if "slow" in faults:
            time.sleep(float(faults["slow"] or 2.0))
        is_health = self.route == "/api/health/"
        if not is_health and self.command in ("GET", "HEAD") and self.state.take_burst():
            raise _Reply(503, {"detail": "Service temporarily unavailable (503 burst)."})
        broken = faults.get("broken-endpoint") or "/api/exams/"
        if "broken-endpoint" in faults and self.route == broken:
            raise _Reply(200, b'{"count": 1, "results": [{"id": 1, "name": "Bac bl', _JSON_TYPE)

    # -- the API ----------------------------------------------------------------------------
    def _api(self) -> None:
        self._apply_faults()
        # As DRF: content negotiation comes first, before authentication.
        offered = "application/pdf" if self.route.endswith("/final-pdf/") else "application/json"
        if not accepts(self.headers.get("Accept"), offered):
            raise _Reply(406, {"detail": "Could not satisfy the request Accept header."})
        if self.route == "/api/health/":
            self._health()
        if self.route == "/api/login/" and self.command == "POST":
            self._login()
        user = self.state.sessions.get(self._cookie("sessionid") or "")
        if user is None:
            raise _Reply(403, {"detail": "Authentication credentials were not provided."})
        if self.command in _UNSAFE:
            token = self._cookie("csrftoken")
            if not token or self.headers.get("X-CSRFToken") != token:
                raise _Reply(403, {"detail": "CSRF Failed: CSRF token missing or incorrect."})
        segments = [s for s in self.route.split("/") if s][1:]  # drop "api"
        with self.state.mutex:
            self._route(segments, user)

    def _route(self, seg: list[str], user: str) -> None:
        method = self.command
        if seg == ["exams"] and method == "GET":
            exams = self.state.exams
            raise _Reply(
                200, {"count": len(exams), "next": None, "previous": None, "results": exams}
            )
        if len(seg) == 3 and seg[0] == "exams" and seg[2] == "copies" and method == "GET":
            self._copies(_int(seg[1]))
        if len(seg) >= 4 and seg[:2] == ["grading", "copies"]:
            copy = self.state.copies.get(_int(seg[2]))
            if copy is None:
                raise _Reply(404, {"detail": "No Copy matches the given query."})
            self._grading(copy, seg[3:], user)
        raise _Reply(404 if method in ("GET", "HEAD") else 405, {"detail": "Not found."})

    def _health(self) -> None:
        if "unhealthy" in self.state.faults:
            raise _Reply(503, {"status": "unhealthy", "version": self.state.version})
        raise _Reply(200, {"status": "ok", "version": self.state.version})

    def _login(self) -> None:
        data = self._json()
        user, password = data.get("username"), data.get("password")
        if user != DEMO_USER or not secrets.compare_digest(
            str(password or "").encode(), self.state.password.encode()
        ):
            raise _Reply(401, {"error": "Invalid credentials"})
        sid, csrf = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self.state.mutex:
            self.state.sessions[sid] = user
            self.state.issued += [sid, csrf]
        self.set_cookies = [
            f"sessionid={sid}; HttpOnly; Path=/; SameSite=Lax",
            f"csrftoken={csrf}; Path=/; SameSite=Lax",
        ]
        raise _Reply(200, {"message": "Login successful", "user": {"username": user}})

    def _copies(self, exam_id: int) -> None:
        if not any(e["id"] == exam_id for e in self.state.exams):
            raise _Reply(404, {"detail": "No Exam matches the given query."})
        statuses = self.query.get("status") or []
        wanted = statuses[-1] if statuses else None
        copies = [
            c.public()
            for c in sorted(self.state.copies.values(), key=lambda c: c.id)
            if c.exam == exam_id and (wanted is None or c.status == wanted)
        ]
        raise _Reply(200, copies)

    def _grading(self, copy: Copy, rest: list[str], user: str) -> None:
        method = self.command
        lock = self.state.active_lock(copy)
        if rest == ["lock"] and method == "POST":
            self._lock(copy, lock, user)
        if rest == ["lock", "release"] and method == "DELETE":
            if lock is None:
                raise _Reply(404, {"detail": "No active lock on this copy."})
            given = self.headers.get("X-Lock-Token")
            if lock.user != user or (given is not None and given != lock.token):
                raise _Reply(403, {"detail": "Lock held by another session."})
            copy.lock = None
            raise _Reply(204, None)
        if rest == ["annotations"] and method == "GET":
            raise _Reply(200, copy.annotations)
        if rest == ["annotations"] and method == "POST":
            self._require_token(lock)
            self._annotate(copy, user)
        if rest == ["finalize"] and method == "POST":
            self._require_token(lock)
            copy.status, copy.lock = "GRADED", None
            copy.pdf = render_pdf(copy.id, "GRADED")
            self.state._refill()
            pdf_url = f"/api/grading/copies/{copy.id}/final-pdf/"
            raise _Reply(200, {"id": copy.id, "status": "GRADED", "final_pdf": pdf_url})
        if rest == ["final-pdf"] and method in ("GET", "HEAD"):
            self._pdf(copy)

    def _lock(self, copy: Copy, lock: Lock | None, user: str) -> None:
        if lock is not None:
            left = round(lock.expires - self.state.clock())
            raise _Reply(409, {"detail": f"Copy already locked by {lock.user} ({left} s left)."})
        if copy.status != "READY":
            raise _Reply(409, {"detail": f"Copy is {copy.status}, not READY."})
        copy.lock = Lock(secrets.token_urlsafe(24), user, self.state.clock() + LOCK_TTL_S)
        self.state.issued.append(copy.lock.token)
        body = {"token": copy.lock.token, "copy_id": copy.id, "expires_in": LOCK_TTL_S}
        raise _Reply(201, body)

    def _require_token(self, lock: Lock | None) -> None:
        given = self.headers.get("X-Lock-Token")
        if lock is None or not given or not secrets.compare_digest(given, lock.token):
            raise _Reply(403, {"detail": "Lock token missing, invalid or expired."})

    def _annotate(self, copy: Copy, user: str) -> None:
        data = self._json()
        errors = _annotation_errors(data, copy.pages)
        if errors:
            raise _Reply(400, errors)
        note = {k: data[k] for k in ("page_index", "x", "y", "w", "h", "type", "content")}
        note |= {"id": self.state.next_annotation, "author": user}
        self.state.next_annotation += 1
        copy.annotations.append(note)
        raise _Reply(201, note)

    def _pdf(self, copy: Copy) -> None:
        if copy.pdf is None:
            raise _Reply(404, {"detail": "Final PDF not generated yet."})
        headers = {
            "Content-Type": "application/pdf",
            "Content-Disposition": f'inline; filename="copy-{copy.id}.pdf"',
            "Accept-Ranges": "bytes",
        }
        start, end = _byte_range(self.headers.get("Range"), len(copy.pdf))
        if (start, end) != (0, len(copy.pdf) - 1):
            headers["Content-Range"] = f"bytes {start}-{end}/{len(copy.pdf)}"
            raise _Reply(206, copy.pdf[start : end + 1], headers)
        raise _Reply(200, copy.pdf, headers)

    # -- admin ------------------------------------------------------------------------------
    def _admin(self) -> None:
        state = self.state
        if self.route == "/__demo/reset" and self.command == "POST":
            state.reset()
            raise _Reply(200, {"reset": True})
        if self.route == "/__demo/faults" and self.command == "GET":
            raise _Reply(200, {"faults": state.faults, "burst_left": state.burst_left})
        if self.route == "/__demo/faults" and self.command == "POST":
            wanted = self._json().get("faults") or {}
            if not isinstance(wanted, dict):
                raise _Reply(400, {"detail": "faults must be an object"})
            try:
                specs = [k if v is None else f"{k}={v}" for k, v in wanted.items()]
                state.set_faults(parse_faults(specs))
            except ValueError as exc:
                raise _Reply(400, {"detail": str(exc)}) from None
            raise _Reply(200, {"faults": state.faults})
        raise _Reply(404, {"detail": "Not found."})


_JSON_TYPE = {"Content-Type": "application/json"}


def accepts(header: str | None, media_type: str) -> bool:
    """Whether an ``Accept`` header admits ``media_type`` (no header admits anything)."""
    if not header or not header.strip():
        return True
    main = media_type.split("/", maxsplit=1)[0]
    for item in header.split(","):
        kind, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and kind.lower() in ("*/*", f"{main}/*", media_type):
            return True
    return False


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _Reply(404, {"detail": "Not found."}) from None


def _annotation_errors(data: Mapping[str, Any], pages: int) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    page = data.get("page_index")
    if not isinstance(page, int) or isinstance(page, bool) or not 0 <= page < pages:
        errors["page_index"] = [f"an integer from 0 to {pages - 1}"]
    for key in ("x", "y", "w", "h"):
        value = data.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            errors[key] = ["a number between 0 and 1"]
    if data.get("type") not in ANNOTATION_TYPES:
        errors["type"] = [f"one of {', '.join(ANNOTATION_TYPES)}"]
    if not isinstance(data.get("content"), str):
        errors["content"] = ["a string"]
    return errors


def _byte_range(header: str | None, size: int) -> tuple[int, int]:
    """The single ``bytes=a-b`` range asked for (the whole file when absent or unusable)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return 0, size - 1
    first, _, last = header[6:].partition("-")
    try:
        if not first:
            return max(0, size - int(last)), size - 1
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        return 0, size - 1
    return (start, end) if start <= end else (0, size - 1)


# -- server ---------------------------------------------------------------------------------------
class DemoServer:
    """The service on a socket; :meth:`start` serves in a thread (tests), :func:`main` in the
    foreground (the ``python -m`` entry point)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        version: str = "dev",
        password: str = DEFAULT_PASSWORD,
        faults: Mapping[str, str | None] | None = None,
        access_log: bool = False,
    ) -> None:
        self.state = DemoState(version=version, password=password, faults=faults)
        handler = type("Handler", (_Handler,), {"state": self.state, "access_log": access_log})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = str(host)
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> DemoServer:
        self._thread = threading.Thread(target=self.serve_forever, name="relgate-demo", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m relgate.demo.service", description="relgate's embedded demo service"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--version", default=os.environ.get("RELGATE_VERSION", "dev"))
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help=f"inject a fault: {', '.join(FAULTS)} (repeatable)",
    )
    parser.add_argument("--access-log", action="store_true", help="log each request to stderr")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = _parser().parse_args(argv)
    try:
        faults = parse_faults([env.get("RELGATE_DEMO_FAULTS", ""), *args.fault])
    except ValueError as exc:
        sys.stderr.write(f"demo: {exc}\n")
        return 2
    if "crash-on-start" in faults:
        sys.stderr.write("demo: crash-on-start fault set: exiting before listening\n")
        return 1
    try:
        server = DemoServer(
            args.host,
            args.port,
            version=args.version,
            password=env.get("RELGATE_DEMO_PASSWORD") or DEFAULT_PASSWORD,
            faults=faults,
            access_log=args.access_log,
        )
    except OSError as exc:
        sys.stderr.write(f"demo: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 3

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return, so it cannot run on the serving thread.
        threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
