"""``relgate smoke`` through the real CLI entry point (exit codes, --check, --json)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from relgate.cli import main

from .conftest import DEMO_SCENARIO, PASSWORD, Demo


def _main(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_check_accepts_the_demo_scenario() -> None:
    code, out, _ = _main(["smoke", "--check", str(DEMO_SCENARIO)], {})
    assert code == 0 and "is valid (9 steps)" in out


def test_check_rejects_a_broken_scenario_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(DEMO_SCENARIO.read_text().replace("{{ exam_id }}", "{{ exam }}"))
    code, out, err = _main(["smoke", "--check", str(bad)], {})
    assert code == 2
    assert (
        "bad.yml:" in out + err
        and "'exam' is not a var nor captured by an earlier step" in out + err
    )


def test_run_passes_with_json_result(tmp_path: Path, demo: Demo) -> None:
    env = {"SMOKE_PASS": PASSWORD}
    argv = [
        "--json",
        "--run-dir",
        str(tmp_path / "run"),
        "smoke",
        "--scenario",
        str(DEMO_SCENARIO),
        "--base-url",
        demo.url,
    ]
    code, out, err = _main(argv, env)
    assert code == 0, err
    result = json.loads(out)
    assert result["verdict"] == "9/9 passed" and result["stage"] == "smoke"
    assert PASSWORD not in out + err


def test_run_failure_exits_1(tmp_path: Path, demo: Demo) -> None:
    env = {"SMOKE_PASS": "wrong"}
    argv = [
        "--run-dir",
        str(tmp_path / "run"),
        "smoke",
        "--scenario",
        str(DEMO_SCENARIO),
        "--base-url",
        demo.url,
    ]
    code, out, _ = _main(argv, env)
    assert code == 1 and "❌ 1/9 login — HTTP 401" in out


def test_missing_scenario_is_usage_error(tmp_path: Path) -> None:
    code, _, _ = _main(
        ["smoke", "--scenario", str(tmp_path / "nope.yml"), "--base-url", "http://127.0.0.1:9"], {}
    )
    assert code == 2


def test_scenario_and_target_come_from_relgate_yml(tmp_path: Path, demo: Demo) -> None:
    (tmp_path / "smoke.yml").write_text(DEMO_SCENARIO.read_text())
    config = tmp_path / "relgate.yml"
    config.write_text(
        "project: {name: demo}\n"
        f"environments:\n  staging:\n    base_url: {demo.url}\n"
        "smoke:\n  scenario: smoke.yml\n"
    )
    argv = [
        "--config",
        str(config),
        "--env",
        "staging",
        "--run-dir",
        str(tmp_path / "run"),
        "smoke",
    ]
    code, out, err = _main(argv, {"SMOKE_PASS": PASSWORD})
    assert code == 0, out + err
    assert f"9 steps against {demo.url}" in out


def test_console_script_skips_httpx_cli_and_anyio() -> None:
    """A smoke run is mostly interpreter startup (bench/smoke_bench.py): the console script keeps
    httpx from importing its own CLI (click, rich, pygments) and anyio, which relgate never uses."""
    import subprocess
    import sys

    code = (
        "import sys; from relgate._entry import _skip_unused_imports; _skip_unused_imports(); "
        "import httpx; httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(204)))"
        ".get('http://127.0.0.1/'); "
        "print(sorted(m for m in ('click', 'rich', 'pygments', 'anyio') if sys.modules.get(m)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
