"""Small value types shared by config, scenario and result models."""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "MAX_BYTES",
    "MAX_DURATION",
    "ByteSize",
    "Duration",
    "format_duration",
    "is_loopback_host",
    "parse_bytes",
    "parse_duration",
    "require_https",
]

# Sane upper bounds: anything larger is a typo (or an attack), and would overflow timedelta or
# arithmetic later; refusing it at load time gives a located message instead of a crash.
MAX_DURATION = timedelta(days=366)
MAX_BYTES = 1 << 50  # 1 PiB

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_DURATION_FULL = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> timedelta:
    """``90`` (seconds), ``"90s"``, ``"1m30s"``, ``"250ms"``, ``"24h"``, ``"1d"``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 90s, 5m, 1h30m")
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return _bad(value)
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded(float(value) if value < 1e300 else math.inf)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if _NUMBER.fullmatch(text):
            return _bounded(float(text))
        if text and _DURATION_FULL.fullmatch(text):
            return _bounded(sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text)))
    return _bad(value)


def _bounded(seconds: float) -> timedelta:
    if not seconds <= MAX_DURATION.total_seconds():
        raise ValueError(f"a duration is at most {MAX_DURATION.days}d")
    return timedelta(seconds=seconds)


def _bad(value: Any) -> timedelta:
    shown = value if not isinstance(value, str) or len(value) <= 40 else value[:39] + "…"
    raise ValueError(f"{shown!r} is not a duration (use e.g. 90s, 5m, 1h30m, 250ms)")


def format_duration(td: timedelta) -> str:
    seconds = td.total_seconds()
    if seconds < 1 and seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d)\s*)+$"},
            ],
            "description": "seconds, or text such as 250ms, 90s, 5m, 1h30m, 1d",
        }
    ),
]

_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)


def parse_bytes(value: Any) -> int:
    """``1048576``, ``"500MB"``, ``"1GiB"``, ``"2g"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return _bounded_bytes(value)
    if isinstance(value, str) and len(value) <= 64 and (m := _BYTES.match(value)):
        unit = (m.group(2) or "").lower()
        base = 1024 if "i" in unit else 1000
        letter = unit[:1] if unit[:1] in "kmgt" else ""
        power = "kmgt".index(letter) + 1 if letter else 0
        size = float(m.group(1)) * base**power
        return _bounded_bytes(int(size) if size <= MAX_BYTES else MAX_BYTES + 1)
    shown = value if not isinstance(value, str) or len(value) <= 40 else value[:39] + "…"
    if isinstance(value, int) and len(str(value)) > 40:
        shown = f"a {len(str(value))}-digit number"
    raise ValueError(f"{shown!r} is not a size (use e.g. 500MB, 1GiB)")


def _bounded_bytes(size: int) -> int:
    if size > MAX_BYTES:
        raise ValueError("a size is at most 1PiB")
    return size


ByteSize = Annotated[
    int,
    BeforeValidator(parse_bytes),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kKmMgGtT]i?[bB]?|[bB])?\s*$"},
            ],
            "description": "bytes, or text such as 500MB, 1GiB",
        }
    ),
]


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(url: str, *, allow_http: bool = False) -> str:
    """Check that ``url`` is absolute https (http allowed for loopback, or when opted in)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = url if "@" not in url else "a URL with credentials"
        raise ValueError(f"must be an absolute http(s) URL, got {shown!r}")
    if parts.scheme == "http" and not allow_http and not is_loopback_host(parts.hostname):
        raise ValueError("must be https:// (loopback may use http://)")
    return url
