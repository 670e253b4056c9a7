"""The HTTP half of the health gate: the health URL must answer 2xx, retried with backoff.

Containers can be "healthy" by their own check while the public URL still fails (proxy not
reloaded, wrong port, TLS): the gate asks the URL users will hit. ``abort`` is asked between attempts
so a container dying meanwhile ends the wait at once instead of at the deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

from relgate.config import HealthCheckConfig
from relgate.deploy.models import HttpCheckRecord

__all__ = ["ClientInAdvance", "check_http", "health_url"]

BACKOFF_START_S = 0.1
BACKOFF_MAX_S = 2.0


def health_url(base_url: str, health: HealthCheckConfig) -> str:
    if health.url.startswith(("http://", "https://")):
        return health.url
    return urljoin(base_url.rstrip("/") + "/", health.url.lstrip("/"))


class ClientInAdvance:
    """Builds the HTTP client in a thread while containers start.

    Creating an ``httpx.Client`` loads the CA bundle (~0.1 s); done after the services turn
    healthy, that would sit on the critical path of every deploy.
    """

    def __init__(self, health: HealthCheckConfig) -> None:
        self._timeout = health.timeout.total_seconds()
        self._client: Any = None
        self._thread = threading.Thread(target=self._build, daemon=True, name="relgate-http")
        self._thread.start()

    def _build(self) -> None:
        import httpx

        self._client = httpx.Client(timeout=self._timeout, follow_redirects=False)

    def get(self) -> Any:
        self._thread.join()
        if self._client is None:  # the thread failed: build it here, raising the real error
            self._build()
        return self._client


def check_http(
    url: str,
    health: HealthCheckConfig,
    *,
    deadline: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    abort: Callable[[], str | None] = lambda: None,
    prepared: ClientInAdvance | None = None,
) -> HttpCheckRecord:
    """Probe ``url`` until it passes, ``abort`` says why to stop, or ``deadline`` (monotonic)."""
    import httpx

    t0 = monotonic()
    attempts, status, error = 0, None, None
    delay = BACKOFF_START_S
    with (prepared or ClientInAdvance(health)).get() as client:
        while True:
            attempts += 1
            try:
                response = client.get(url, headers={"User-Agent": "relgate-deploy"})
                status, error = response.status_code, _judge(response, health)
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            if error is None:
                return HttpCheckRecord(
                    url=url, ok=True, attempts=attempts, status_code=status,
                    duration_s=round(monotonic() - t0, 3),
                )  # fmt: skip
            reason = abort()
            if reason or monotonic() + delay >= deadline:
                return HttpCheckRecord(
                    url=url, ok=False, attempts=attempts, status_code=status,
                    error=reason or error, duration_s=round(monotonic() - t0, 3),
                )  # fmt: skip
            sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)


def _judge(response: object, health: HealthCheckConfig) -> str | None:
    import httpx

    assert isinstance(response, httpx.Response)
    code = response.status_code
    allowed = code in health.expect_status if health.expect_status else 200 <= code < 300
    if not allowed:
        return f"HTTP {code}"
    if health.contains is not None and health.contains not in response.text:
        return f"HTTP {code} but the body does not contain {health.contains!r}"
    return None
