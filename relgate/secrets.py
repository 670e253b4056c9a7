"""The secret registry: every secret value relgate knows, and how to keep it out of every output.

A value is registered once (from the environment, a file, a generated token or a value captured at
run time) and from then on :meth:`SecretRegistry.redact` removes it, and the encoded forms in which it
typically leaks, from text and bytes. The forms are: raw, URL-encoded (``quote`` and
``quote_plus``, upper- and lower-case hex), JSON-escaped (once and twice), HTML/XML entity forms,
hex, and base64/base64url. Base64 is the tricky one: a secret inside a longer string
(``user:password`` in a Basic auth header) encodes differently depending on its offset modulo 3, so
for each of the three offsets we keep the run of base64 characters that depends only on the
secret's own bytes (the "stable core"); GitHub's runner masks base64 the same way.

Redact before you encode: every encoder of relgate (job-summary cells, JUnit XML, annotations,
outputs, hex dumps, truncation) takes :class:`Redacted` text, which only this registry makes
(:meth:`~SecretRegistry.redact`, :meth:`~SecretRegistry.clip`, :meth:`~SecretRegistry.hex`), so
mypy refuses an encoder call on text that skipped redaction. The forms above are the second net,
applied by the final writers to whatever was encoded anyway.
"""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from relgate.markdown_chars import escape_markdown_chars

__all__ = [
    "ELLIPSIS",
    "REDACTED",
    "Redacted",
    "SecretHit",
    "SecretRegistry",
    "encoded_forms",
    "looks_secret_name",
    "register_environment",
    "url_credentials",
]

REDACTED = "***"
ELLIPSIS = "…"

# Shorter values would turn redaction into noise ("a" everywhere); they are still masked raw.
_MIN_ENCODED_LEN = 4
_SECRET_NAME = re.compile(
    r"(^|_)(TOKEN|PASSWORD|PASS|PASSWD|SECRET|KEY|API_KEY|PRIVATE_KEY)$", re.IGNORECASE
)
_PUBLIC_KEY_NAME = re.compile(r"(^|_)(PUBLIC_KEY|PUBKEY)$", re.IGNORECASE)
_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#@\s]*)@")


class Redacted(str):
    """Text that went through a :class:`SecretRegistry`: the only text encoders accept.

    Constructed only by the registry (``Redacted(text)`` elsewhere would defeat the point; the
    import-linter contract and review keep it that way). Concatenating two of them gives a plain
    ``str`` again, on purpose: the result must be redacted (cheaply: nothing left to find) again.
    """

    __slots__ = ()


def looks_secret_name(name: str) -> bool:
    """True for names like ``GITHUB_TOKEN``, ``SMOKE_PASS``, ``DB_PASSWORD`` or ``SIGNING_KEY``;
    false for a ``*_PUBLIC_KEY``, which is published on purpose (redacting it hides the very value
    a verifier must be given)."""
    return bool(_SECRET_NAME.search(name)) and not _PUBLIC_KEY_NAME.search(name)


def url_credentials(text: str) -> list[str]:
    """The credentials of every URL in ``text``: ``user:password`` and the password (raw and
    percent-decoded), or a long bare user name (a token)."""
    found: list[str] = []
    for match in _USERINFO.finditer(text):
        userinfo = match.group(1)
        _user, sep, password = userinfo.partition(":")
        if sep:
            parts = [urllib.parse.unquote(password), password, userinfo]
        else:
            # A bare user name is no secret ("ssh://git@host"), but a long one is a token
            # used as the user name ("https://<token>@github.com").
            parts = [userinfo] if len(userinfo) >= 16 else []
        for part in parts:
            if part and part not in found:
                found.append(part)
    return found


def register_environment(env: Mapping[str, str], registry: SecretRegistry) -> list[str]:
    """Register the value of every secret-looking variable (``*_TOKEN``, ``*_PASSWORD``…) and of
    every URL credential found in the environment; return the names registered."""
    names = []
    for name, value in env.items():
        if looks_secret_name(name) and registry.register(value, name):
            names.append(name)
        for part in url_credentials(value) if "@" in value else ():
            registry.register(part, f"{name} (URL credentials)")
    return names


def _base64_cores(raw: bytes, alphabet: str) -> set[str]:
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        if alphabet == "url":
            encoded = encoded.replace("+", "-").replace("/", "_")
        encoded = encoded.rstrip("=")
        # Characters touched by the prefix, and the last partial group, depend on neighbours.
        start = (offset * 8 + 5) // 6
        end_bits = (offset + len(raw)) * 8
        end = end_bits // 6
        core = encoded[start:end]
        if len(core) >= _MIN_ENCODED_LEN:
            cores.add(core)
    return cores


def _lower_hex(quoted: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)


def _entity_forms(value: str) -> set[str]:
    """HTML/XML entity spellings: Python's ``html.escape``, ElementTree's attribute escaping
    (``&quot;``, ``&#10;``), markupsafe/Jinja's (``&#34;``, ``&#39;``) and decimal ``&#38;``."""
    no_quote = html.escape(value, quote=False)
    forms = {no_quote, html.escape(value, quote=True)}
    forms.add(no_quote.replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;"))
    forms.add(no_quote.replace('"', "&#34;").replace("'", "&#39;"))
    forms.add(no_quote.replace("&amp;", "&#38;").replace("&lt;", "&#60;").replace("&gt;", "&#62;"))
    return forms


def encoded_forms(value: str) -> set[str]:
    """Every form of ``value`` that redaction and leak scans look for."""
    forms = {value}
    if len(value) < _MIN_ENCODED_LEN:
        return forms
    for quoted in (
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
        urllib.parse.quote(value),  # "/" kept, as in URL paths
    ):
        forms |= {quoted, _lower_hex(quoted)}
    for ascii_only in (True, False):
        once = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        forms.add(once)
        forms.add(json.dumps(once, ensure_ascii=ascii_only)[1:-1])
    forms |= _entity_forms(value)
    # A markdown table cell: HTML-escaped, pipes and newlines spelled for the table.
    forms.add(html.escape(value, quote=False).replace("|", "\\|").replace("\n", "<br>"))
    # Inline markdown as the release notes escape untrusted text (relgate.notes.markdown).
    forms.add(escape_markdown_chars(value))
    raw = value.encode("utf-8")
    if len(raw) >= 6:  # shorter hex runs turn up by chance in digests
        forms |= {raw.hex(), raw.hex().upper()}
    forms |= _base64_cores(raw, "std")
    forms |= _base64_cores(raw, "url")
    return {f for f in forms if f}


_Listener = Callable[[str], None]


@dataclass(frozen=True)
class SecretHit:
    """Where a secret was found: the secret's name (never its value) and the 1-based line."""

    name: str
    line: int


class SecretRegistry:
    """Known secret values and their names; redacts them from text and bytes."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self._bytes_pattern: re.Pattern[bytes] | None = None
        self._form_names: dict[str, str] = {}
        self._listeners: list[_Listener] = []

    def register(self, value: str | None, name: str = "secret") -> bool:
        """Register a value. Empty or whitespace-only values are ignored (they would redact all)."""
        if value is None or not value.strip():
            return False
        value = value.strip("\r\n") or value
        if value in self._values:
            return False
        self._values[value] = name
        # A multi-line secret (a key, a certificate) leaks line by line as often as whole.
        for line in value.splitlines():
            if len(line.strip()) >= _MIN_ENCODED_LEN and line not in self._values:
                self._values[line] = name
        self._pattern = None
        self._bytes_pattern = None
        for listener in self._listeners:
            listener(value)
        return True

    def on_register(self, listener: _Listener) -> None:
        """Call ``listener(value)`` for every value registered now and later (e.g. ``::add-mask::``)."""
        self._listeners.append(listener)
        for value in self._values:
            listener(value)

    def names(self) -> list[str]:
        return sorted(set(self._values.values()))

    def __len__(self) -> int:
        return len(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def values(self) -> Iterator[str]:
        """The raw values (for masking in Actions only; never print them)."""
        return iter(self._values)

    def _compile(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._values:
            self._form_names = {}
            for value, name in self._values.items():
                for form in encoded_forms(value):
                    self._form_names.setdefault(form, name)
            # Longest first, so a secret that contains another is removed whole.
            forms = sorted(self._form_names, key=lambda f: (-len(f), f))
            self._pattern = re.compile("|".join(re.escape(f) for f in forms))
            self._bytes_pattern = re.compile(b"|".join(re.escape(f.encode("utf-8")) for f in forms))
        return self._pattern

    def redact(self, text: str) -> Redacted:
        """``text`` with every registered value, in every form, replaced by ``***``."""
        pattern = self._compile()
        if pattern is None or not text:
            return Redacted(text)
        return Redacted(pattern.sub(REDACTED, text))

    def redact_all(self, texts: Iterable[str]) -> list[Redacted]:
        return [self.redact(t) for t in texts]

    def clip(self, text: str, limit: int) -> Redacted:
        """Redact, *then* truncate to ``limit`` characters (``…`` marks the cut).

        Truncating first would leave a secret's prefix at the cut (``…Pa55/w…``), which no
        later redaction can recognise."""
        clean = self.redact(text)
        if len(clean) <= limit:
            return clean
        return Redacted(clean[: max(limit - 1, 0)] + ELLIPSIS)

    def hex(self, data: bytes, limit: int) -> Redacted:
        """Hex of the first ``limit`` bytes of ``data``, redacted before it is cut and encoded."""
        window = data[: limit + self._longest_form()]
        return Redacted(self.redact_bytes(window)[:limit].hex())

    def _longest_form(self) -> int:
        self._compile()
        return max((len(f.encode("utf-8")) for f in self._form_names), default=0)

    def redact_bytes(self, data: bytes) -> bytes:
        self._compile()
        if self._bytes_pattern is None or not data:
            return data
        return self._bytes_pattern.sub(REDACTED.encode(), data)

    def redact_obj(self, obj: object) -> object:
        """Redact every string inside a JSON-like structure (keys included)."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self.redact(str(k)): self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_obj(v) for v in obj]
        return obj

    def scan_bytes(self, data: bytes) -> list[SecretHit]:
        """Every place a secret (in any form) appears in ``data``, by name and line."""
        self._compile()
        if self._bytes_pattern is None:
            return []
        hits: list[SecretHit] = []
        for match in self._bytes_pattern.finditer(data):
            line = data.count(b"\n", 0, match.start()) + 1
            form = match.group(0).decode("utf-8", "replace")
            hits.append(SecretHit(self._form_names.get(form, "secret"), line))
        return hits
