"""One try of a smoke request over httpx: the client, TLS, the body read against the deadline.

:class:`Sender` turns a rendered request into an :class:`Exchange` (what was sent, what came back,
how long it took, or why nothing came back); httpx's exceptions are mapped to error kinds here and
nowhere else (``connect``, ``timeout``, ``deadline``, ``protocol``, ``invalid``). The runner decides
what a try means (retry, poll, judge); this module only sends.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any

from relgate.fields import require_https
from relgate.secrets import SecretRegistry

if TYPE_CHECKING:
    import httpx

    from relgate.smoke.scenario import Scenario

__all__ = ["MAX_BODY", "Exchange", "Sender", "open_client", "retry_after"]

MAX_BODY = 10 * 1024 * 1024  # bytes kept of one response; the rest is drained, not stored
_SENSITIVE_COOKIE = ("sess", "csrf", "xsrf", "token", "auth", "sid", "jwt")
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")


class RedirectRefused(Exception):
    """A redirect relgate will not follow (scheme rule, body to another origin, limit)."""


@dataclass
class Exchange:
    """One try: what was sent, what came back (raw; redacted when written), and how long."""

    n: int
    method: str
    url: str
    started_ms: float
    wait_ms: float = 0.0
    duration_ms: float = 0.0
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes = b""
    status: int | None = None
    http_version: str | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False
    redirects: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None

    def header_values(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.response_headers if k.lower() == low]

    def set_cookies(self) -> dict[str, str]:
        cookies: dict[str, str] = {}
        for raw in self.header_values("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(raw)
            except CookieError:
                continue
            cookies.update({k: m.value for k, m in jar.items()})
        return cookies


def open_client(
    scenario: Scenario,
    *,
    transport: httpx.BaseTransport | None = None,
    ca_bundle: str | None = None,
    user_agent: str = "relgate-smoke",
) -> httpx.Client:
    """The scenario's one client: cookie jar, keep-alive, TLS verification on by default.

    ``ca_bundle`` (a PEM path, already resolved by the caller) adds trusted CAs."""
    import httpx

    if transport is None:
        transport = _lazy_tls_transport(ca_bundle, scenario.tls.verify)
    return httpx.Client(transport=transport, headers={"User-Agent": user_agent})


def _lazy_tls_transport(ca_bundle: str | None, verify: bool) -> httpx.BaseTransport:
    import httpx

    class LazyTLSTransport(httpx.BaseTransport):
        """Builds the certificate-verifying transport on the first https request only.

        Loading the CA bundle costs tens of milliseconds, a good share of a whole smoke run
        against a loopback http target; plain http gets a transport that never does TLS.
        """

        def __init__(self, ca_bundle: str | None, verify: bool) -> None:
            self.ca_bundle = ca_bundle
            self.verify = verify
            self.plain: httpx.HTTPTransport | None = None
            self.tls: httpx.HTTPTransport | None = None

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.scheme == "https":
                if self.tls is None:
                    self.tls = httpx.HTTPTransport(verify=self._verify())
                return self.tls.handle_request(request)
            if self.plain is None:
                # No CA loaded: it verifies (and so refuses) any TLS it would ever see.
                self.plain = httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
            return self.plain.handle_request(request)

        def _verify(self) -> ssl.SSLContext | bool:
            if not self.verify:
                return False
            if self.ca_bundle:
                return ssl.create_default_context(cafile=self.ca_bundle)
            return True

        def close(self) -> None:
            for transport in (self.plain, self.tls):
                if transport is not None:
                    transport.close()

    return LazyTLSTransport(ca_bundle, verify)


class Sender:
    """Sends one rendered request through the scenario's client and records the exchange."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        registry: SecretRegistry,
        allow_http: bool = False,
        secret_header: Callable[[str], bool] = lambda _name: False,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.client = client
        self.registry = registry
        self.allow_http = allow_http
        self.secret_header = secret_header
        self.monotonic = monotonic
        self.t0 = monotonic()

    def send(self, request: dict[str, Any], deadline: float, n: int, wait: float) -> Exchange:
        import httpx

        start = self.monotonic()
        ex = Exchange(
            n,
            request["method"],
            request["url"],
            started_ms=round((start - self.t0) * 1000, 1),
            wait_ms=round(wait * 1000, 1),
        )
        left = deadline - start
        if left <= 0:
            ex.error, ex.error_kind = "step deadline spent before this try", "deadline"
            return ex
        t = request["timeout"]
        timeout = httpx.Timeout(
            connect=min(t.connect.total_seconds(), left),
            read=min(t.read.total_seconds(), left),
            write=min(t.write.total_seconds(), left),
            pool=min(t.pool.total_seconds(), left),
        )
        try:
            req = self.client.build_request(
                request["method"],
                request["url"],
                params=request["params"] or None,
                headers=request["headers"],
                json=request.get("json"),
                data=request.get("data"),
                content=request.get("content"),
                timeout=timeout,
            )
            _add_cookies(req, request["cookies"])
            ex.url = str(req.url)
            ex.request_headers = list(req.headers.multi_items())
            ex.request_body = _sent_body(req)
            self._receive(req, request["follow_redirects"], request["max_redirects"], deadline, ex)
        except httpx.TimeoutException as exc:
            spent = self.monotonic() >= deadline - 0.001
            ex.error_kind = "deadline" if spent else "timeout"
            ex.error = "step deadline exceeded" if spent else f"timed out ({type(exc).__name__})"
        except httpx.ConnectError as exc:
            ex.error, ex.error_kind = f"cannot connect: {exc}", "connect"
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            ex.error, ex.error_kind = f"invalid URL: {exc}", "invalid"
        except httpx.TransportError as exc:
            ex.error, ex.error_kind = f"{type(exc).__name__}: {exc}", "protocol"
        except RedirectRefused as exc:
            ex.error, ex.error_kind = str(exc), "redirect"
        except UnicodeError as exc:  # a value from the server (cookie) that cannot be sent back
            ex.error, ex.error_kind = f"cannot send the request: {exc}", "invalid"
        ex.duration_ms = round((self.monotonic() - start) * 1000, 1)
        return ex

    def _receive(
        self,
        req: httpx.Request,
        follow: bool,
        max_redirects: int,
        deadline: float,
        ex: Exchange,
    ) -> None:
        import httpx

        response = self._follow(req, follow, max_redirects, ex)
        try:
            ex.status = response.status_code
            ex.http_version = response.http_version
            ex.response_headers = list(response.headers.multi_items())
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                if self.monotonic() > deadline:
                    raise httpx.ReadTimeout("deadline while reading the body", request=req)
                if size < MAX_BODY:
                    chunks.append(chunk[: MAX_BODY - size])
                size += len(chunk)
            ex.body = b"".join(chunks)
            ex.truncated = size > MAX_BODY
        finally:
            response.close()
        self._register_cookies(ex)
        self._drop_unsendable_cookies()

    def _follow(
        self, req: httpx.Request, follow: bool, max_redirects: int, ex: Exchange
    ) -> httpx.Response:
        """Send ``req``; with ``follow``, follow its redirects one hop at a time, each hop checked
        as the first URL was (https, or http to loopback), with a limit. A hop to another origin
        carries no credentials: Authorization, Cookie and the scenario's secret headers are
        dropped (the jar still sends that origin's own cookies), and a 307/308 that would re-send
        a body there is refused. 301/302 (after POST) and 303 become a GET without a body."""
        hops = 0
        while True:
            response = self.client.send(req, stream=True, follow_redirects=False)
            nxt = response.next_request
            if not follow or nxt is None:
                return response
            response.close()
            hops += 1
            target = str(nxt.url)
            ex.redirects.append((response.status_code, str(req.url)))
            if hops > max_redirects:
                raise RedirectRefused(f"more than {max_redirects} redirects (last to {target})")
            try:
                require_https(target, allow_http=self.allow_http)
            except ValueError as exc:
                raise RedirectRefused(
                    f"redirect {response.status_code} to {target} refused: it {exc}"
                ) from None
            if _origin(nxt.url) != _origin(req.url):
                if nxt.method not in ("GET", "HEAD") and _sent_body(req):
                    raise RedirectRefused(
                        f"redirect {response.status_code} to another origin ({target}) would "
                        "re-send the request body there; refused"
                    )
                for name in list(nxt.headers):
                    if name.lower() in _CREDENTIAL_HEADERS or self.secret_header(name):
                        del nxt.headers[name]
                nxt.headers.pop("Cookie", None)
                self.client.cookies.set_cookie_header(nxt)  # that origin's own cookies only
            req = nxt

    def _drop_unsendable_cookies(self) -> None:
        """A cookie whose value is not ASCII (any bytes a server may set) cannot go back in a
        ``Cookie`` header: httpx would raise on every later request. Such cookies are dropped,
        as strict clients do; a step that needed one fails on the server's answer."""
        jar = self.client.cookies.jar
        for cookie in list(jar):
            value = cookie.value or ""
            if not value.isascii() or any(c < " " or c == "\x7f" for c in value):
                jar.clear(cookie.domain, cookie.path, cookie.name)

    def _register_cookies(self, ex: Exchange) -> None:
        """Session-like cookie values are credentials: keep them out of every output."""
        for name, value in ex.set_cookies().items():
            if len(value) >= 8 and any(s in name.lower() for s in _SENSITIVE_COOKIE):
                self.registry.register(value, f"cookie {name}")


def _add_cookies(req: httpx.Request, cookies: Mapping[str, str]) -> None:
    """Per-request cookies go on top of the jar's (httpx deprecates ``cookies=`` per request)."""
    if not cookies:
        return
    extra = "; ".join(f"{k}={v}" for k, v in cookies.items())
    existing = req.headers.get("Cookie")
    req.headers["Cookie"] = f"{existing}; {extra}" if existing else extra


def _sent_body(req: httpx.Request) -> bytes:
    import httpx

    try:
        return req.content
    except httpx.RequestNotRead:
        return b""


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def retry_after(values: list[str]) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date)."""
    if not values:
        return None
    text = values[0].strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())
