"""The JSON Schema an editor uses and relgate's own loader accept the same files (issue 18).

The corpus: ``tests/config_corpus/good/*.yml`` (both must accept), ``bad/*.yml`` marked
``# expect: both`` (both must refuse) or ``# expect: loader`` with a ``# why:`` line (the loader
refuses what JSON Schema cannot express, e.g. "https unless loopback"), plus every shipped
relgate.yml (the demo's, the examples'). ``# env: A=1 B=2`` sets the environment the loader
interpolates from; the schema sees the file as written, ``${VAR}`` and all.
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from relgate.config import json_schema, load_config
from relgate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "config_corpus"
SHIPPED = sorted(
    [ROOT / "relgate" / "demo" / "relgate.yml", *(ROOT / "examples").rglob("relgate*.yml")]
)
GOOD = sorted((CORPUS / "good").glob("*.yml")) + SHIPPED
BAD = sorted((CORPUS / "bad").glob("*.yml"))
# The demo's config is filled in by `relgate demo`; the same variables here.
SHIPPED_ENV = {
    "RELGATE_DEMO_HOME": "/tmp/relgate-demo",
    "RELGATE_DEMO_PORT": "8080",
    "RELGATE_DEMO_PYTHON": "/usr/bin/python3",
    "RELGATE_DEMO_PUBLIC_KEY": "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "RELGATE_DEMO_PUBKEY": "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
}


def _header(path: Path, key: str) -> str | None:
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(rf"#\s*{key}:\s*(.*)$", line)
        if m:
            return m.group(1).strip()
    return None


def _env(path: Path) -> dict[str, str]:
    spec = _header(path, "env") or ""
    env = dict(pair.split("=", 1) for pair in spec.split()) if spec else {}
    return {**SHIPPED_ENV, **env} if path in SHIPPED else env


def _loader_accepts(path: Path) -> tuple[bool, str]:
    try:
        load_config(path, env=_env(path))
    except ConfigError as exc:
        return False, str(exc)
    return True, ""


def _schema_accepts(path: Path) -> tuple[bool, str]:
    validator = jsonschema.Draft202012Validator(json_schema())
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    return not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:3])


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", GOOD, ids=[_id(p) for p in GOOD])
def test_good_files_pass_both(path: Path) -> None:
    loader, why_loader = _loader_accepts(path)
    schema, why_schema = _schema_accepts(path)
    assert loader, f"the loader refuses {_id(path)}: {why_loader}"
    assert schema, f"the schema refuses {_id(path)}, the loader accepts it: {why_schema}"


@pytest.mark.parametrize("path", BAD, ids=[_id(p) for p in BAD])
def test_bad_files_are_refused(path: Path) -> None:
    expect = _header(path, "expect")
    assert expect in {"both", "loader"}, f"{_id(path)}: say '# expect: both' or '# expect: loader'"
    loader, _ = _loader_accepts(path)
    assert not loader, f"the loader accepts {_id(path)}"
    schema, _ = _schema_accepts(path)
    if expect == "both":
        assert not schema, f"the schema accepts {_id(path)}, the loader refuses it"
    else:
        assert _header(path, "why"), f"{_id(path)}: a loader-only refusal needs a '# why:' line"


def test_every_schema_has_an_id() -> None:
    import json

    for path in sorted((ROOT / "schema").glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema.get("$id", "").endswith(path.name), path.name
        assert schema.get("$schema", "").startswith("https://json-schema.org/"), path.name


def test_the_corpus_is_not_empty() -> None:
    assert len(GOOD) >= 5 and len(BAD) >= 8
