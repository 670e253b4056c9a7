"""Structural redaction of HTTP exchanges before they become evidence.

Two layers protect every artifact. This module is the first: it knows *where* credentials live in
HTTP — auth, cookie, CSRF and token headers (plus any ``*-token``, ``*-key``, ``*-secret``,
``*-signature`` header), credential-looking JSON and form keys, and signed-URL query parameters —
and blanks those values whatever they are. ``Set-Cookie`` keeps the cookie name and attributes
(the evidence still proves ``HttpOnly; SameSite``) but not the value. Every text it returns has
also been through the run's :class:`~relgate.secrets.SecretRegistry` (env secrets and
``secret: true`` captures), so what leaves here is :class:`~relgate.secrets.Redacted` before any
encoder (JSON, hex, truncation) sees it. The second layer is the run's writer, which removes every
registered value in every encoding from everything written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from relgate.secrets import REDACTED, Redacted, SecretRegistry

__all__ = ["Redactor"]

_HEADERS = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-csrftoken",
    "x-csrf-token",
    "x-xsrf-token",
    "x-api-key",
    "x-auth-token",
    "x-lock-token",
    "x-amz-security-token",
}
_HEADER_SUFFIXES = ("-token", "-key", "-secret", "-signature", "-password")
_JSON_KEYS = {
    "password",
    "passwd",
    "pass",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "csrfmiddlewaretoken",
    "csrftoken",
    "sessionid",
    "api_key",
    "apikey",
    "private_key",
}
_QUERY = {
    "token",
    "access_token",
    "api_key",
    "apikey",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
}
_LAST_NAME = re.compile(r"(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[['\"]([^'\"]+)['\"]\])$")
_JWT = re.compile(r"\b(eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+")


class Redactor:
    """Blank credential-bearing parts of headers, URLs and JSON/form bodies."""

    def __init__(
        self,
        *,
        headers: Iterable[str] = (),
        json_keys: Iterable[str] = (),
        query_params: Iterable[str] = (),
        secrets: SecretRegistry | None = None,
    ) -> None:
        self.secrets = secrets if secrets is not None else SecretRegistry()
        self.headers = _HEADERS | {h.lower() for h in headers}
        self.json_keys = _JSON_KEYS | {k.lower() for k in json_keys}
        self.query = _QUERY | {q.lower() for q in query_params}

    def header_is_secret(self, name: str) -> bool:
        low = name.lower()
        return low in self.headers or low.endswith(_HEADER_SUFFIXES)

    def path_is_secret(self, path: str) -> bool:
        """True when a JSONPath ends on a credential key (``$.token``, ``$['password']``)."""
        match = _LAST_NAME.search(path)
        if match is None:
            return False
        return (match.group(1) or match.group(2) or "").lower() in self.json_keys

    def header(self, name: str, value: str) -> Redacted:
        return self.secrets.redact(self._header(name, value))

    def _header(self, name: str, value: str) -> str:
        low = name.lower()
        if low == "set-cookie":
            cookie, _, attributes = value.partition(";")
            cname = cookie.split("=", 1)[0].strip()
            return f"{cname}={REDACTED}" + (f";{attributes}" if attributes else "")
        if low == "cookie":
            names = [part.split("=", 1)[0].strip() for part in value.split(";") if part.strip()]
            return "; ".join(f"{n}={REDACTED}" for n in names)
        if low in ("location", "content-location"):
            return self.url(value)
        if self.header_is_secret(name):
            return REDACTED
        return _JWT.sub(r"\1." + REDACTED, value)

    def header_list(self, items: Iterable[tuple[str, str]]) -> list[list[Redacted]]:
        """Headers as ``[[name, value], …]`` (a list: Set-Cookie may repeat)."""
        return [[self.secrets.redact(name), self.header(name, value)] for name, value in items]

    def url(self, url: str) -> Redacted:
        """The URL with signed-URL query values and any ``user:password@`` blanked."""
        parts = urlsplit(url)
        if "@" in parts.netloc:
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{REDACTED}@{host}")
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            cleaned = [(k, REDACTED if k.lower() in self.query else v) for k, v in pairs]
            parts = parts._replace(query=urlencode(cleaned, safe="*"))
        return self.secrets.redact(urlunsplit(parts))

    def data(self, value: Any) -> Any:
        """A JSON-like value with credential keys blanked and every string redacted (any depth)."""
        if isinstance(value, dict):
            return {
                self.secrets.redact(str(k)): (
                    REDACTED if str(k).lower() in self.json_keys else self.data(v)
                )
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def text(self, text: str) -> Redacted:
        return self.secrets.redact(_JWT.sub(r"\1." + REDACTED, text))
