"""The HTTP half of the health gate: the health URL must answer 2xx, retried with backoff.

Containers can be "healthy" by their own check while the public URL still fails (proxy not
reloaded, wrong port, TLS): the gate asks the URL users will hit. ``abort`` is asked between attempts
so a container dying meanwhile ends the wait at once instead of at the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urljoin

from relgate.config import HealthCheckConfig
from relgate.deploy.models import HttpCheckRecord

__all__ = ["check_http", "health_url"]

BACKOFF_START_S = 0.1
BACKOFF_MAX_S = 2.0


def health_url(base_url: str, health: HealthCheckConfig) -> str:
    if health.url.startswith(("http://", "https://")):
        return health.url
    return urljoin(base_url.rstrip("/") + "/", health.url.lstrip("/"))


def check_http(
    url: str,
    health: HealthCheckConfig,
    *,
    deadline: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    abort: Callable[[], str | None] = lambda: None,
) -> HttpCheckRecord:
    """Probe ``url`` until it passes, ``abort`` says why to stop, or ``deadline`` (monotonic)."""
    import httpx

    t0 = monotonic()
    attempts, status, error = 0, None, None
    delay = BACKOFF_START_S
    timeout = health.timeout.total_seconds()
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
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
