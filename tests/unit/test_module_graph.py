"""Who imports whom, read from the source (function-level imports included, since a lazy import
still ties two modules together): the deploy package has no import loop, and the database code
never reaches into deploy state (the caller passes the running version in)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "relgate"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found.update(t for t in targets if t in modules and t != name)
        graph[name] = found
    return graph


def _cycle_through(graph: dict[str, set[str]], start: str, within: str) -> list[str] | None:
    """A path start → … → start using only modules under ``within``, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if not nxt.startswith(within):
                continue
            if nxt == start:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_the_deploy_package_has_no_import_loop() -> None:
    graph = _graph()
    loops = {
        name: cycle
        for name in graph
        if name.startswith("relgate.deploy")
        and (cycle := _cycle_through(graph, name, "relgate.deploy")) is not None
    }
    assert loops == {}


@pytest.mark.parametrize(
    "forbidden", ["relgate.deploy.state", "relgate.deploy.stage"], ids=["state", "stage"]
)
def test_database_code_does_not_read_deploy_state(forbidden: str) -> None:
    graph = _graph()
    offenders = [m for m in graph if m.startswith("relgate.database") and forbidden in graph[m]]
    assert offenders == []


def _docker_argvs(path: Path) -> list[int]:
    """Lines where an argv starting ``"docker", "<subcommand>"`` is written (a list, a tuple, or
    the arguments of a call)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.List | ast.Tuple):
            items = node.elts
        elif isinstance(node, ast.Call):
            items = list(node.args)
        else:
            continue
        if (
            len(items) >= 2
            and all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items[:2])
            and items[0].value == "docker"  # type: ignore[attr-defined]
        ):
            lines.append(node.lineno)
    return lines


def test_only_the_deploy_package_runs_docker() -> None:
    found = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in PACKAGE.rglob("*.py")
        if "deploy" not in path.relative_to(PACKAGE).parts and (lines := _docker_argvs(path))
    }
    assert found == {}


def test_one_subprocess_runner() -> None:
    """Programs run through relgate.proc; the process driver alone starts a long-lived service
    (its own session, outliving relgate) and so uses subprocess directly."""
    allowed = {"relgate/proc.py", "relgate/deploy/process.py"}
    importers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if "subprocess" in names:
                importers.add(str(path.relative_to(PACKAGE.parent)))
    assert importers == allowed
