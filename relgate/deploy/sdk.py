"""The Docker SDK boundary shared by the compose and swarm drivers: its connection failures mapped
to one relgate error, and the engine's timestamps read as epoch seconds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from relgate.errors import ServiceUnreachable

__all__ = ["docker_errors", "parse_time"]


@contextmanager
def docker_errors(
    host: str, *, engine: str = "Docker daemon", start: str = "start dockerd"
) -> Iterator[None]:
    """Map the SDK's (and requests') connection failures to :class:`ServiceUnreachable` naming
    ``engine`` at ``host`` and how to ``start`` it. An API error below 500 (a refusal, not an
    outage) propagates unchanged for the caller to judge."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.ConnectionError) as exc:
        if isinstance(exc, docker.errors.APIError) and exc.status_code and exc.status_code < 500:
            raise
        raise ServiceUnreachable(
            f"{engine} not reachable at {host}: {start} or set DOCKER_HOST ({exc})"
        ) from exc


def parse_time(text: str | None) -> float | None:
    """Docker's RFC 3339 with nanoseconds → epoch seconds (None for the zero time or garbage)."""
    if not text or text.startswith("0001-"):
        return None
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        return None
    frac = (m.group(2) or ".0")[:7]
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(f"{m.group(1)}{frac}{zone}").timestamp()
