from __future__ import annotations

import base64
import binascii
import html
import json
import re
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relgate.secrets import (
    REDACTED,
    Redacted,
    SecretRegistry,
    encoded_forms,
    looks_secret_name,
    register_environment,
    url_credentials,
)

SECRET = "p@ss w0rd/+é"


def registry(*values: str) -> SecretRegistry:
    r = SecretRegistry()
    for v in values:
        r.register(v, "S")
    return r


@pytest.mark.parametrize(
    "leak",
    [
        pytest.param(SECRET, id="raw"),
        pytest.param(urllib.parse.quote(SECRET, safe=""), id="url-quote"),
        pytest.param(urllib.parse.quote_plus(SECRET), id="url-quote-plus"),
        pytest.param(json.dumps(SECRET)[1:-1], id="json-escaped"),
        pytest.param(json.dumps(SECRET, ensure_ascii=False)[1:-1], id="json-raw"),
        pytest.param(base64.b64encode(SECRET.encode()).decode(), id="base64"),
        pytest.param(base64.b64encode(f"prof1:{SECRET}".encode()).decode(), id="basic-auth"),
        pytest.param(base64.urlsafe_b64encode(f"ab:{SECRET}".encode()).decode(), id="base64url"),
    ],
)
def test_every_encoded_form_is_redacted(leak: str) -> None:
    out = registry(SECRET).redact(f"header: {leak} end")
    assert REDACTED in out
    assert _reveals(out, SECRET) is False


def _reveals(text: str, secret: str) -> bool:
    """Does ``text`` still carry ``secret`` in any form a reader could decode?"""
    if secret in text or urllib.parse.unquote_plus(text).find(secret) >= 0:
        return True
    for run in re.findall(r"[A-Za-z0-9+/_-]{4,}={0,2}", text):
        for decoder in (base64.b64decode, base64.urlsafe_b64decode):
            for cut in range(4):
                chunk = run[cut:]
                chunk += "=" * (-len(chunk) % 4)
                try:
                    if secret.encode() in decoder(chunk):
                        return True
                except (binascii.Error, ValueError):
                    pass
    return False


def test_longest_secret_wins_when_one_contains_another() -> None:
    r = registry("abcd", "abcdefgh")
    assert r.redact("xx abcdefgh yy abcd") == f"xx {REDACTED} yy {REDACTED}"


@pytest.mark.parametrize(
    "empty", ["", "   ", "\n", None], ids=["empty", "spaces", "newline", "none"]
)
def test_empty_secrets_do_not_redact_everything(empty: str | None) -> None:
    r = SecretRegistry()
    assert r.register(empty, "EMPTY") is False
    assert r.redact("nothing to hide") == "nothing to hide"
    assert not r


def test_short_secret_is_masked_raw_only() -> None:
    r = registry("ab")
    assert encoded_forms("ab") == {"ab"}
    assert r.redact("cab") == f"c{REDACTED}"


def test_multiline_secret_lines_are_redacted_separately() -> None:
    r = registry("-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----")
    assert r.redact("oops MIIEvQIBADANBg") == f"oops {REDACTED}"


def test_bytes_and_scan_name_the_line_never_the_value() -> None:
    r = SecretRegistry()
    r.register("hunter2hunter2", "SMOKE_PASS")
    data = b"line one\nthe password is hunter2hunter2\n"
    assert r.redact_bytes(data) == b"line one\nthe password is ***\n"
    hits = r.scan_bytes(data)
    assert [(h.name, h.line) for h in hits] == [("SMOKE_PASS", 2)]
    assert "hunter2" not in repr(hits)


def test_redact_obj_walks_keys_and_values() -> None:
    r = registry("tok3n-value")
    assert r.redact_obj({"tok3n-value": ["a tok3n-value", 3]}) == {REDACTED: [f"a {REDACTED}", 3]}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("GITHUB_TOKEN", True),
        ("SMOKE_PASS", True),
        ("DB_PASSWORD", True),
        ("API_KEY", True),
        ("PASSENGER", False),
        ("TOKENIZER_MODE", False),
        ("BASE_URL", False),
    ],
)
def test_secret_name_heuristic(name: str, secret: bool) -> None:
    assert looks_secret_name(name) is secret


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(min_size=6, max_size=40).filter(lambda s: s.strip() == s and s.strip()),
    prefix=_text,
    suffix=_text,
)
def test_property_no_form_survives(secret: str, prefix: str, suffix: str) -> None:
    r = registry(secret)
    for leak in (
        prefix + secret + suffix,
        base64.b64encode((prefix + secret + suffix).encode()).decode(),
        urllib.parse.quote(prefix + secret + suffix, safe=""),
        json.dumps(prefix + secret + suffix),
    ):
        assert not _reveals(r.redact(leak), secret), leak


ISSUE_SECRET = 'Pa55/w0rd+&"x 9='


@pytest.mark.parametrize(
    "leak",
    [
        pytest.param(html.escape(ISSUE_SECRET, quote=False), id="html-noquote"),
        pytest.param(html.escape(ISSUE_SECRET), id="html-quote"),
        pytest.param(ISSUE_SECRET.replace("&", "&amp;").replace('"', "&quot;"), id="xml-attr"),
        pytest.param(ISSUE_SECRET.replace("&", "&amp;").replace('"', "&#34;"), id="markupsafe"),
        pytest.param(json.dumps(json.dumps(ISSUE_SECRET)[1:-1])[1:-1], id="json-twice"),
        pytest.param(
            re.sub(
                r"%[0-9A-F]{2}",
                lambda m: m.group(0).lower(),
                urllib.parse.quote(ISSUE_SECRET, safe=""),
            ),
            id="url-lowercase",
        ),
        pytest.param(ISSUE_SECRET.encode().hex(), id="hex"),
        pytest.param(ISSUE_SECRET.encode().hex().upper(), id="HEX"),
    ],
)
def test_escaped_forms_are_redacted_by_the_second_net(leak: str) -> None:
    assert leak != ISSUE_SECRET
    out = registry(ISSUE_SECRET).redact(f"<p>{leak}</p>")
    assert out == f"<p>{REDACTED}</p>"


def test_redact_returns_the_redacted_type() -> None:
    assert isinstance(registry(ISSUE_SECRET).redact("x"), Redacted)
    assert isinstance(SecretRegistry().redact("x"), Redacted)


@pytest.mark.parametrize("cut", range(60, 100, 3))
def test_clip_redacts_before_it_truncates(cut: int) -> None:
    text = "x" * 72 + ISSUE_SECRET + "y" * 40
    clipped = registry(ISSUE_SECRET).clip(text, cut)
    assert len(clipped) <= cut
    assert ISSUE_SECRET[:6] not in clipped, clipped


def test_clip_leaves_short_text_alone() -> None:
    assert registry(ISSUE_SECRET).clip("short", 80) == "short"
    assert registry(ISSUE_SECRET).clip("abcdef", 4) == "abc…"


@pytest.mark.parametrize("offset", [0, 10, 20, 28, 31, 40])
def test_hex_dump_never_spells_a_secret_or_its_prefix(offset: int) -> None:
    data = b"\x00" * offset + ISSUE_SECRET.encode() + b"\xff" * 64
    dump = registry(ISSUE_SECRET).hex(data, 32)
    assert len(dump) <= 64
    assert ISSUE_SECRET.encode()[:4].hex() not in dump, dump


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DEPLOY_TOKEN", True),
        ("SMOKE_PASS", True),
        ("DB_PASSWD", True),
        ("SIGNING_KEY", True),
        ("CLIENT_SECRET", True),
        ("KEYBOARD", False),
        ("TOKENS_DIR", False),
        ("RELGATE_DEMO_PUBLIC_KEY", False),
        ("SIGNING_PUBLIC_KEY", False),
        ("PUBLIC_KEY", False),
        ("HOME", False),
    ],
)
def test_secret_looking_names(name: str, secret: bool) -> None:
    assert looks_secret_name(name) is secret


def test_url_credentials_and_environment_registration() -> None:
    text = "https://admin:hunter2%21@example.com/x ssh://git@h https://ghp_0123456789abcdef@h"
    assert url_credentials(text) == [
        "hunter2!",
        "hunter2%21",
        "admin:hunter2%21",
        "ghp_0123456789abcdef",
    ]
    reg = SecretRegistry()
    names = register_environment(
        {"DEPLOY_TOKEN": "tok-123456", "HOME": "/root", "DB_URL": "postgres://app:pw-9876@db/x"},
        reg,
    )
    assert names == ["DEPLOY_TOKEN"]
    assert reg.redact("tok-123456 pw-9876 /root") == "*** *** /root"


def test_only_the_registry_makes_redacted_text() -> None:
    """``Redacted(text)`` anywhere else would let unredacted text into an encoder unnoticed."""
    import ast
    from pathlib import Path

    root = Path(__file__).parents[2] / "relgate"
    offenders = []
    for path in root.rglob("*.py"):
        if path == root / "secrets.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name == "Redacted":
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("Pa55*w0rd_[x]|y~z!`q\\r&<>", id="punctuation"),
        pytest.param('Pa55/w0rd+&"x 9=', id="issue-secret"),
    ],
)
def test_markdown_escaped_secret_is_redacted_like_the_notes_escape_it(secret: str) -> None:
    from relgate.notes.markdown import escape_markdown

    escaped = escape_markdown(secret)
    assert registry(secret).redact(f"- {escaped} -") == f"- {REDACTED} -"
