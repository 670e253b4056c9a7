"""Every YAML snippet in README.md and docs/ is checked, so the docs cannot drift from the code.

Each fenced ``yaml`` block is recognised by what it is and checked by the tool that owns it:

* a **workflow** (``jobs:``), a job's ``steps:`` or a list of steps, a ``concurrency:`` block →
  completed into a minimal workflow and linted by actionlint, as GitHub would parse it;
* a **relgate.yml** (its top-level keys are relgate.yml's) → merged over a minimal valid config and
  loaded by relgate's own loader (unknown keys, wrong types and bad values fail);
* a **smoke scenario**, a list of scenario steps, or a step's ``capture:``/``retry:`` part →
  completed into a scenario and statically checked by relgate's scenario loader.

A block that is none of these fails the test: say what it is by putting
``<!-- snippet: illustration -->`` on the line before its fence (for a deliberately partial or
invalid example), and the test only checks that it is YAML.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._tools import require_tool

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FAKE_SHA = "0123456789abcdef0123456789abcdef01234567"
CONFIG_KEYS = {
    "version",
    "project",
    "secrets",
    "environments",
    "preflight",
    "deploy",
    "smoke",
    "archive",
    "notes",
    "release",
    "lock",
    "github",
    "rollback",
    "backup",
    "ops",
    "manifest",
    "evidence",
    "signing",
    "$schema",
}


@dataclass(frozen=True)
class Snippet:
    file: Path
    line: int
    text: str
    illustration: bool

    @property
    def id(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def snippets() -> Iterator[Snippet]:
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = re.match(r"^(\s*)```(yaml|yml)\s*$", lines[i])
            if not m:
                i += 1
                continue
            indent = len(m.group(1))
            j = i + 1
            while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
                j += 1
            body = "\n".join(line[indent:] for line in lines[i + 1 : j])
            before = lines[i - 1].strip() if i else ""
            yield Snippet(path, i + 1, body, before == "<!-- snippet: illustration -->")
            i = j + 1


ALL = list(snippets())


def _placeholders(text: str) -> str:
    """``@<full sha>``, ``<sha>`` and similar are for the reader; fill them for the linter."""
    return re.sub(r"<[^<>\n]*sha[^<>\n]*>", FAKE_SHA, text)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _kind(doc: Any) -> str:
    if isinstance(doc, list):
        if all(
            isinstance(s, dict) and "request" not in s and ("uses" in s or "run" in s) for s in doc
        ):
            return "steps"
        if all(isinstance(s, dict) and ("request" in s or "name" in s) for s in doc):
            return "scenario-steps"
    if isinstance(doc, dict):
        keys = set(doc)
        if "jobs" in keys or (
            "steps" in keys
            and any(isinstance(s, dict) and "uses" in s for s in doc.get("steps") or [])
        ):
            return "workflow" if "jobs" in keys else "job"
        if keys <= {"concurrency", "permissions"}:
            return "workflow-part"
        if "steps" in keys:
            return "scenario"
        if keys & {"capture", "retry", "poll", "expect", "request"} and keys <= {
            "capture",
            "retry",
            "poll",
            "expect",
            "request",
            "name",
            "hints",
            "run",
        }:
            return "step-part"
        if keys <= CONFIG_KEYS:
            return "config"
    return "unknown"


def _actionlint(workflow: dict[str, Any], tmp_path: Path, snippet: Snippet) -> None:
    require_tool("actionlint")
    wf_dir = tmp_path / ".github" / "workflows"
    wf_dir.mkdir(parents=True)
    # relgate's own actionlint settings (runner labels, contexts actionlint does not know yet).
    config = ROOT / ".github" / "actionlint.yaml"
    (tmp_path / ".github" / "actionlint.yaml").write_text(config.read_text(encoding="utf-8"))
    path = wf_dir / "snippet.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8")
    proc = subprocess.run(
        [
            "actionlint",
            "-no-color",
            "-config-file",
            ".github/actionlint.yaml",
            str(path.relative_to(tmp_path)),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"{snippet.id}: actionlint:\n{proc.stdout}{proc.stderr}"


def _job(steps: list[Any]) -> dict[str, Any]:
    return {"runs-on": "ubuntu-latest", "steps": steps}


BASE_CONFIG: dict[str, Any] = {
    "project": {"name": "snippet"},
    "environments": {
        "staging": {
            "base_url": "https://staging.example.com",
            "stack": {"driver": "compose", "files": ["compose.yml"]},
        }
    },
}


def _check_config(doc: dict[str, Any], tmp_path: Path, snippet: Snippet) -> None:
    from relgate.config import load_config
    from relgate.errors import RelgateError

    # A snippet that shows its own environments shows them whole (a process stack has no files).
    base = {k: v for k, v in BASE_CONFIG.items() if not (k == "environments" and k in doc)}
    merged = _deep_merge(base, doc)
    for env in (merged.get("environments") or {}).values():
        if isinstance(env, dict):
            env.setdefault("base_url", "https://staging.example.com")
            env.setdefault("stack", {"driver": "compose", "files": ["compose.yml"]})
    path = tmp_path / "relgate.yml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    (tmp_path / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    try:
        load_config(path, env={"SMOKE_PASS": "x", "DB_PASSWORD": "x"})
    except RelgateError as exc:
        pytest.fail(f"{snippet.id}: relgate.yml snippet does not load: {exc}", pytrace=False)


class _AnyEnv(dict[str, str]):
    """Every variable a snippet names is set: the check is of the scenario, not of a shell."""

    def __missing__(self, key: str) -> str:
        return "https://app.example.com" if key.endswith("URL") else "x"

    def __contains__(self, key: object) -> bool:
        return True

    def get(self, key: str, default: Any = None) -> str:  # type: ignore[override]
        return self[key]


def _fragment_vars(text: str) -> dict[str, str]:
    """Names a fragment of steps takes from steps the snippet does not show."""
    names = re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*[}|]", text)
    return {n: "1" for n in names if n not in {"env", "run", "secrets", "vars"}}


def _check_scenario(doc: dict[str, Any], tmp_path: Path, snippet: Snippet) -> None:
    from relgate.errors import RelgateError
    from relgate.smoke.scenario import load_scenario

    doc = {"version": 1, "name": "snippet", **doc}
    # `- ...` in a top-to-bottom example stands for "your steps": check the rest around one.
    doc["steps"] = [
        {"name": f"step{i}", "request": {"method": "GET", "url": "/"}} if s == "..." else s
        for i, s in enumerate(doc.get("steps") or [])
    ]
    path = tmp_path / "smoke.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    try:
        load_scenario(path, env=_AnyEnv())
    except RelgateError as exc:
        pytest.fail(f"{snippet.id}: scenario snippet does not load: {exc}", pytrace=False)


@pytest.mark.parametrize("snippet", ALL, ids=[s.id for s in ALL])
def test_snippet(snippet: Snippet, tmp_path: Path) -> None:
    doc = yaml.safe_load(_placeholders(snippet.text))
    if snippet.illustration:
        return
    kind = _kind(doc)
    # A fragment may use ${{ inputs.x }}: declare what it uses, as its trigger would.
    used = sorted(set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", snippet.text)))
    trigger = {
        "workflow_dispatch": {"inputs": {n: {"type": "string"} for n in used}} if used else None
    }
    if kind == "workflow":
        doc.setdefault("on", trigger)
        _actionlint(doc, tmp_path, snippet)
    elif kind == "job":
        _actionlint({"on": trigger, "jobs": {"snippet": _job(doc["steps"])}}, tmp_path, snippet)
    elif kind == "steps":
        _actionlint({"on": trigger, "jobs": {"snippet": _job(doc)}}, tmp_path, snippet)
    elif kind == "workflow-part":
        _actionlint(
            {"on": trigger, **doc, "jobs": {"snippet": _job([{"run": "true"}])}}, tmp_path, snippet
        )
    elif kind == "config":
        _check_config(doc, tmp_path, snippet)
    elif kind == "scenario":
        _check_scenario(doc, tmp_path, snippet)
    elif kind == "scenario-steps":
        _check_scenario({"vars": _fragment_vars(snippet.text), "steps": doc}, tmp_path, snippet)
    elif kind == "step-part":
        step = {"name": "snippet", "request": {"method": "GET", "url": "/"}, **doc}
        _check_scenario({"vars": _fragment_vars(snippet.text), "steps": [step]}, tmp_path, snippet)
    else:
        pytest.fail(
            f"{snippet.id}: a YAML snippet of no known kind (workflow, relgate.yml, scenario): "
            "check it here or mark it <!-- snippet: illustration -->",
            pytrace=False,
        )


def test_snippets_were_found() -> None:
    # The extractor itself must keep working: README and docs hold well over a dozen snippets.
    assert len(ALL) >= 15
    assert any(s.file.name == "README.md" for s in ALL)


def test_a_broken_config_snippet_would_fail(tmp_path: Path) -> None:
    bad = Snippet(ROOT / "README.md", 1, "deploy:\n  timeout: 90s\n  helath: {url: /}\n", False)
    with pytest.raises(pytest.fail.Exception, match="helath"):
        test_snippet(bad, tmp_path)
