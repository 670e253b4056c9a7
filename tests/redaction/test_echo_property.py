"""Property: a secret echoed back by a server, in any shape, never reaches any output in any form.

A real HTTP server on loopback echoes what it receives (a declared scenario secret and a token
referenced only as ``{{ env.DEPLOY_TOKEN }}``) in error text, JSON, headers, Set-Cookie, binary
bodies, HTML and long messages. ``relgate smoke`` then ``relgate archive`` run through the real CLI
in Actions mode; every byte they produce — console, annotations, outputs, job summary, the run
directory and the unpacked bundle — is scanned for each secret in raw, HTML/XML-escaped,
JSON-escaped (once and twice), URL-encoded (both hex cases), base64 and hex forms, and for any
prefix of six characters or more left at a truncation boundary.

Example count (measured against the code before the fix, 8 seeds, 12 examples each): the
escape-then-redact leak (``&amp;``/``&quot;`` forms of the secret in the job summary and JUnit) showed
in about half of the examples, first at example 1 to 4; every example also leaked a truncated
prefix. 40 examples leave a chance of about 1e-12 to miss it, at ~0.5 s each.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from relgate.cli import main

# See the module docstring for why 40; RELGATE_ECHO_EXAMPLES runs more on demand.
EXAMPLES = int(os.environ.get("RELGATE_ECHO_EXAMPLES", "40"))

SPECIALS = "&<>\"'/+=%\\ "
_alphabet = st.one_of(
    st.sampled_from(SPECIALS),
    st.characters(min_codepoint=0x21, max_codepoint=0x7E),
    st.characters(min_codepoint=0xA1, max_codepoint=0x2FFF, categories=["L", "N", "P", "S"]),
)


def _usable(secret: str) -> bool:
    # Leading/trailing blanks would be trimmed by header parsing, and a secret made only of
    # characters that occur everywhere in the evidence (digits, hex) would "leak" by coincidence.
    if secret != secret.strip() or len(set(secret)) < 4:
        return False
    return not re.fullmatch(r"[0-9a-fA-F .:-]*", secret)


@st.composite
def secrets_(draw: st.DrawFn) -> str:
    """A secret of 10 to 41 characters with at least one of ``& < > " ' / + = % \\ space``."""
    core = draw(st.text(_alphabet, min_size=9, max_size=40))
    at = draw(st.integers(0, len(core)))
    secret = core[:at] + draw(st.sampled_from(SPECIALS)) + core[at:]
    assume(_usable(secret))
    return secret


# -- the echo server -----------------------------------------------------------------------------
class _Echo(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = json.loads(self.rfile.read(length) or b"{}")
        pw, tok = str(sent.get("password", "")), str(sent.get("deploy", ""))
        route = self.path.split("?")[0]
        if route == "/login":
            self._send(401, "application/json", {"detail": f"auth failed for password {pw}"})
        elif route == "/json":
            self._send(200, "application/json", {"echo": pw, "token": tok, "nested": {"p": pw}})
        elif route == "/headers":
            extra = [
                ("X-Echo", f"password={pw}."),
                ("X-Token-Echo", f"t={tok}."),
                ("Set-Cookie", f"session={pw}; HttpOnly; Path=/"),
                ("Set-Cookie", f"note={tok}; Path=/"),
            ]
            self._send(200, "text/plain", f"ok {pw}", extra)
        elif route == "/binary":
            body = b"\x00\xff\x01" + pw.encode() + b"\x00" + tok.encode() + b"\xfe" * 8
            self._send(200, "application/octet-stream", body)
        elif route == "/long":
            self._send(200, "text/plain", "x" * 72 + pw + "y" * 120 + tok + "z" * 300)
        elif route == "/long-json":
            self._send(500, "application/json", {"detail": "w" * 190 + pw + " and " + tok})
        elif route == "/html":
            self._send(200, "text/html", f"<p>bad password: {pw} token: {tok}</p>")
        else:
            self._send(403, "application/json", {"error": f"denied for {pw} / {tok}"})

    def _send(
        self,
        status: int,
        ctype: str,
        body: object,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body, ensure_ascii=False).encode()
        head = [f"HTTP/1.1 {status} X", f"Content-Type: {ctype}", f"Content-Length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in extra or []]
        head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        self.close_connection = True


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _step(name: str, url: str, expect: str, gating: bool = False) -> str:
    body = '{password: "{{ secrets.SMOKE_PASSWORD }}", deploy: "{{ env.DEPLOY_TOKEN }}"}'
    warn = "" if gating else "    on_failure: warn\n"
    return (
        f"  - name: {name}\n{warn}"
        f"    request: {{method: POST, url: {url}, json: {body}}}\n"
        f"    expect: {expect}\n"
        f"    hint: check the {name} endpoint\n"
    )


SCENARIO = (
    "version: 1\nname: echo\nsecrets: [SMOKE_PASSWORD]\n"
    "defaults:\n  retry: {attempts: 1}\n  artifact: {max_bytes: 150}\nsteps:\n"
    + _step("login", "/login", "{status: 200}")
    + _step("json", "/json", "{json: [{path: $.echo, eq: nope}, {path: $.nested, eq: {}}]}")
    + _step("binary", "/binary", "{body: {contains: nope}}")
    + _step("long", "/long", "{body: {contains: nope}}")
    + _step("long json", "/long-json", "{status: 200}")
    + _step("html", "/html", "{body: {eq: nope}}")
    + _step("denied", "/denied", "{status: 200}")
    # Last: the cookie jar then never sends a non-ASCII cookie back (httpx cannot encode it).
    + _step("headers", "/headers", "{headers: {X-Echo: nope, X-Token-Echo: {contains: q}}}", True)
)


# -- the forms looked for --------------------------------------------------------------------------
def _b64_cores(raw: bytes) -> set[str]:
    out = set()
    for offset in range(3):
        for alt in (None, b"-_"):
            enc = base64.b64encode(b"\0" * offset + raw, altchars=alt).decode().rstrip("=")
            core = enc[(offset * 8 + 5) // 6 : ((offset + len(raw)) * 8) // 6]
            if len(core) >= 8:
                out.add(core)
    return out


def forms(secret: str) -> dict[str, str]:
    raw = secret.encode()
    once = json.dumps(secret)[1:-1]
    once_u = json.dumps(secret, ensure_ascii=False)[1:-1]
    found = {
        "raw": secret,
        "html": html.escape(secret),
        "html-noquote": html.escape(secret, quote=False),
        "xml-attr": secret.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;"),
        "markupsafe": html.escape(secret).replace("&quot;", "&#34;").replace("&#x27;", "&#39;"),
        "json": once,
        "json-utf8": once_u,
        "json-twice": json.dumps(once)[1:-1],
        "json-twice-utf8": json.dumps(once_u, ensure_ascii=False)[1:-1],
        "url": urllib.parse.quote(secret, safe=""),
        "url-plus": urllib.parse.quote_plus(secret, safe=""),
        "url-lower": re.sub(
            r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(secret, safe="")
        ),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    for n, core in enumerate(sorted(_b64_cores(raw))):
        found[f"base64-core-{n}"] = core
    return found


def truncated_prefixes(secret: str) -> dict[str, str]:
    """A prefix (≥ 6 characters) right before an ellipsis or the end of a clipped hex dump."""
    out = {}
    for n in range(6, len(secret)):
        p = secret[:n]
        for kind, enc in (
            ("raw", p),
            ("json", json.dumps(p)[1:-1]),
            ("json-twice", json.dumps(json.dumps(p)[1:-1])[1:-1]),
            ("html", html.escape(p)),
            ("html-noquote", html.escape(p, quote=False)),
        ):
            out[f"prefix-{kind}-{n}…"] = enc + "…"
        out[f"prefix-hex-{n}"] = p.encode().hex() + '"'
    return out


def _scan(where: str, data: bytes, secret_name: str, secret: str, leaks: list[str]) -> None:
    text = data.decode("utf-8", "replace")
    for kind, form in {**forms(secret), **truncated_prefixes(secret)}.items():
        if form and form in text:
            leaks.append(f"{secret_name} as {kind} in {where}")


def _outputs(tmp: Path, console: str) -> dict[str, bytes]:
    everything: dict[str, bytes] = {"console": console.encode()}
    for p in sorted(tmp.rglob("*")):
        if p.is_file():
            everything[str(p.relative_to(tmp))] = p.read_bytes()
            if p.name.endswith((".tar.gz", ".tar.zst")):
                everything.update(_unpacked(p))
    return everything


def _unpacked(bundle: Path) -> dict[str, bytes]:
    data = bundle.read_bytes()
    if bundle.name.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
        mode = "r:"
    else:
        mode = "r:gz"
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tar:
        for member in tar.getmembers():
            fh = tar.extractfile(member)
            if fh is not None:
                out[f"{bundle.name}!{member.name}"] = fh.read()
    return out


def run_gate(tmp: Path, url: str, password: str, token: str) -> tuple[dict[str, bytes], list[int]]:
    tmp.mkdir(parents=True)
    scenario = tmp / "smoke.yml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    gh = {n: tmp / "gh" / n for n in ("output", "env", "summary")}
    for f in gh.values():
        f.parent.mkdir(exist_ok=True)
        f.touch()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp / "home"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_OUTPUT": str(gh["output"]),
        "GITHUB_ENV": str(gh["env"]),
        "GITHUB_STEP_SUMMARY": str(gh["summary"]),
        "SMOKE_PASSWORD": password,
        "DEPLOY_TOKEN": token,
    }
    run_dir = tmp / "run"
    out, err = io.StringIO(), io.StringIO()
    codes = [
        main(
            ["--run-dir", str(run_dir), "smoke", "--scenario", str(scenario), "--base-url", url],
            env=env,
            stdout=out,
            stderr=err,
        ),
        main(
            ["--run-dir", str(run_dir), "archive", "--format", "tar.gz", "--output-dir", str(tmp)],
            env=env,
            stdout=out,
            stderr=err,
        ),
    ]
    console = "\n".join(
        line
        for line in (out.getvalue() + err.getvalue()).splitlines()
        if not line.startswith("::add-mask::")  # the runner needs the raw value to mask it
    )
    scenario.unlink()  # the scenario names the secrets, it holds no value; keep the scan honest
    return _outputs(tmp, console), codes


_counter = {"n": 0}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # No shrinking: each example runs two commands (~0.5 s), so shrinking a failure takes many
    # minutes; the first failing example, with every leak's form and file, says enough.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(password=secrets_(), token=secrets_())
def test_echoed_secrets_never_leak(
    echo_url: str, tmp_path_factory: pytest.TempPathFactory, password: str, token: str
) -> None:
    _counter["n"] += 1
    tmp = tmp_path_factory.mktemp("echo")
    outputs, codes = run_gate(tmp / "t", echo_url, password, token)
    bundles = [k for k in outputs if k.endswith(".tar.gz")]
    leaks: list[str] = []
    for where, data in outputs.items():
        _scan(where, data, "SMOKE_PASSWORD", password, leaks)
        _scan(where, data, "DEPLOY_TOKEN", token, leaks)
    problems = sorted(set(leaks))[:15]
    if not bundles:
        problems.insert(0, f"no bundle was produced (archive exit {codes[1]})")
    if codes[0] != 1:
        problems.insert(0, f"smoke should fail at the gating step (exit {codes[0]})")
    assert not problems, f"example {_counter['n']}: " + "; ".join(problems)
