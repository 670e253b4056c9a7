"""The house rules of ARCHITECTURE.md, enforced: import-linter contracts (.importlinter), the
workflow-command syntax only in relgate/gha.py, no scaffolding guards on relgate's own modules, no
importorskip of relgate, and markers that match the fixtures a test uses."""

from __future__ import annotations

import ast
import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests._markers import FIXTURE_MARKERS, missing_markers

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "relgate"
CONTRACTS = ROOT / ".importlinter"
BIN = Path(sys.executable).parent


def test_import_linter_contracts_are_kept() -> None:
    proc = subprocess.run(
        [str(BIN / "lint-imports"), "--config", str(CONTRACTS), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def _top_level_modules() -> set[str]:
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    return {f"relgate.{n}" for n in names}


def _contract(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS)
    return parser[f"importlinter:contract:{name}"]


def _listed(value: str) -> set[str]:
    return {m.strip() for line in value.splitlines() for m in line.split(":") if m.strip()}


@pytest.mark.parametrize(
    ("contract", "allowed"),
    [
        pytest.param("pygithub", "relgate.github", id="pygithub"),
        pytest.param("docker", "relgate.deploy", id="docker"),
    ],
)
def test_forbidden_contracts_cover_every_module(contract: str, allowed: str) -> None:
    """A new module must not slip past a contract by not being listed in it."""
    listed = _listed(_contract(contract)["source_modules"])
    assert listed == _top_level_modules() - {allowed, "relgate.__about__", "relgate.__main__"}


def test_every_module_sits_in_a_layer() -> None:
    layered = _listed(_contract("layers")["layers"].replace("|", ":"))
    assert layered == _top_level_modules()


# -- the workflow-command syntax ------------------------------------------------------------
_COMMAND = re.compile(
    r"::(error|warning|notice|debug|group|endgroup|add-mask|set-output|save-state|"
    r"stop-commands|echo|add-matcher|remove-matcher)\b"
)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def workflow_commands(source: str) -> list[int]:
    """Lines of string literals (docstrings aside) that spell a workflow command."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and _COMMAND.search(node.value)
    )


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        pytest.param('print("::error::boom")\n', [1], id="literal"),
        pytest.param('x = 1\nprint(f"::add-mask::{x}")\n', [2], id="f-string"),
        pytest.param('"""Writes ``::error::`` lines."""\n', [], id="docstring"),
        pytest.param("# ::warning:: in a comment\n", [], id="comment"),
        pytest.param('url = "http://host::8080"\n', [], id="not-a-command"),
    ],
)
def test_workflow_command_finder(source: str, lines: list[int]) -> None:
    assert workflow_commands(source) == lines


def test_only_gha_knows_the_workflow_command_syntax() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for base in (PACKAGE, ROOT / "actions")
        for path in base.rglob("*.py")
        if path != PACKAGE / "gha.py" and (lines := workflow_commands(path.read_text("utf-8")))
    }
    assert found == {}


# -- module length ----------------------------------------------------------------------------
LONG = 550  # "under ~500 lines": a little slack, then the docstring must say why


def long_modules_without_a_reason(package: Path) -> list[str]:
    """Modules over LONG lines whose docstring does not say why they are longer than ~500."""
    found = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text("utf-8")
        lines = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if lines > LONG and "longer than ~500 lines" not in " ".join(doc.split()).lower():
            found.append(f"{path.relative_to(package.parent)} ({lines} lines)")
    return found


def test_long_module_finder(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "x = 1\n" * (LONG + 1)
    (pkg / "short.py").write_text('"""Short."""\n')
    (pkg / "long.py").write_text('"""No reason given."""\n' + body)
    (pkg / "said.py").write_text(
        '"""Why this module is longer than\n~500 lines: one table."""\n' + body
    )
    assert long_modules_without_a_reason(pkg) == [f"pkg/long.py ({LONG + 2} lines)"]


def test_every_long_module_says_why_in_its_docstring() -> None:
    """Issue 11: each module stays under ~500 lines or says in its docstring why not."""
    assert long_modules_without_a_reason(PACKAGE) == []


# -- scaffolding and skips ------------------------------------------------------------------
def test_no_import_not_found_ignore_on_relgate_modules() -> None:
    guard = re.compile(r"import .*# type: ignore\[[^\]]*import-not-found")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in PACKAGE.rglob("*.py")
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if "relgate" in line and guard.search(line)
    ]
    assert found == []


def test_no_importorskip_of_relgate_or_the_test_helpers() -> None:
    """An importorskip of our own code skips silently past strict mode when it breaks."""
    call = re.compile(r"importorskip\(\s*[\"'](relgate|tests)\b")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "tests").rglob("*.py")
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if call.search(line)
    ]
    assert found == []


# -- markers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fixtures", "marks", "missing"),
    [
        pytest.param(["compose_stack", "tmp_path"], [], ["docker"], id="docker-unmarked"),
        pytest.param(["compose_stack"], ["docker"], [], id="docker-marked"),
        pytest.param(["db_workspace"], ["docker"], ["postgres"], id="postgres-unmarked"),
        pytest.param(["app_images", "pg_cluster"], [], ["docker", "postgres"], id="both"),
        pytest.param(["tmp_path"], [], [], id="neither"),
    ],
)
def test_missing_markers(fixtures: list[str], marks: list[str], missing: list[str]) -> None:
    assert missing_markers(fixtures, marks) == missing


def test_marker_table_names_declared_markers_and_real_fixtures() -> None:
    declared = {"docker", "postgres", "act", "slow"}
    assert set(FIXTURE_MARKERS.values()) <= declared
    sources = "\n".join(p.read_text("utf-8") for p in (ROOT / "tests").rglob("conftest.py"))
    for fixture in FIXTURE_MARKERS:
        assert re.search(rf"^def {fixture}\(", sources, re.M), fixture
