"""actions/_lib/invoke.py without act: input validation, argv building, outputs, summary keeping."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.workflows._act import PROJECT


@pytest.fixture(scope="module")
def invoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "relgate_action_invoke", PROJECT / "actions/_lib/invoke.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("true", True, id="true"),
        pytest.param("false", False, id="false"),
        pytest.param(" TRUE ", True, id="case-and-blanks"),
    ],
)
def test_parse_bool_accepts(invoke: ModuleType, value: str, expected: bool) -> None:
    assert invoke.parse_bool("rollback", value) is expected


@pytest.mark.parametrize("value", ["yes", "1", "", "on", "false\nx", "${{ true }}"], ids=repr)
def test_parse_bool_rejects_naming_the_input(invoke: ModuleType, value: str) -> None:
    with pytest.raises(invoke.InputError, match="input 'rollback' must be 'true' or 'false'"):
        invoke.parse_bool("rollback", value)


def test_build_argv_keeps_values_whole(invoke: ModuleType) -> None:
    env = {
        "RELGATE_INPUT_VERSION": "-rf $(id)\nx",
        "RELGATE_INPUT_ROLLBACK": "false",
        "RELGATE_INPUT_ENVIRONMENT": "staging",
    }
    assert invoke.build_argv("deploy", env) == [
        "--json",
        "--env=staging",
        "deploy",
        "--version=-rf $(id)\nx",
        "--no-rollback",
    ]


@pytest.mark.parametrize(
    ("command", "env", "message"),
    [
        pytest.param("deploy", {}, "input 'version' is required", id="missing-required"),
        pytest.param(
            "rollback",
            {"RELGATE_INPUT_MODE": "fast"},
            "must be one of quick, full",
            id="bad-choice",
        ),
        pytest.param(
            "rollback",
            {"RELGATE_INPUT_RESTORE": "never"},
            "must be one of auto, always",
            id="bad-restore",
        ),
        pytest.param("nope", {}, "unknown relgate action command", id="unknown-command"),
    ],
)
def test_build_argv_rejects(invoke: ModuleType, command: str, env: dict, message: str) -> None:
    with pytest.raises(invoke.InputError, match=message):
        invoke.build_argv(command, env)


def test_secrets_env_parsing_never_echoes_values(invoke: ModuleType) -> None:
    text = "# comment\n\nDB_PASSWORD='p w'\nexport API_KEY=abc=def\n"
    assert invoke.parse_secrets_env(text) == {"DB_PASSWORD": "p w", "API_KEY": "abc=def"}
    with pytest.raises(invoke.InputError) as info:
        invoke.parse_secrets_env("OK=1\nnot a pair hunter2")
    assert "line 2" in str(info.value) and "hunter2" not in str(info.value)


def test_outputs_from_result_and_error(invoke: ModuleType) -> None:
    out = invoke.outputs_from(
        {
            "status": "failed",
            "outcome": "rolled_back",
            "bundle_digest": None,
            "steps": [1],
            "ok": True,
        },
        1,
    )
    assert out["status"] == "failed" and out["rolled-back"] == "true" and out["bundle-digest"] == ""
    assert out["ok"] == "true" and "steps" not in out and json.loads(out["result"])["steps"] == [1]
    err = invoke.outputs_from({"error": "boom", "kind": "ConfigError", "exit_code": 2}, 2)
    assert err == {"exit-code": "2", "error": "boom", "status": "error"}


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"stage": "smoke", "passed_count": 9}, id="no-status"),
        pytest.param({"stage": "smoke", "status": "passed", "surprise": 1}, id="unknown-field"),
        pytest.param({"stage": "deploy", "status": "passed"}, id="another-stage"),
    ],
)
def test_a_stage_result_its_model_refuses_is_an_error(
    invoke: ModuleType, document: dict[str, object]
) -> None:
    out = invoke.outputs_from(document, 0, "smoke")
    assert out["status"] == "error" and out["error"].startswith("unreadable result: "), out
    assert "result" not in out


def test_a_stage_result_is_mapped_from_its_model(invoke: ModuleType) -> None:
    out = invoke.outputs_from({"stage": "smoke", "status": "failed", "passed_count": 3}, 1, "smoke")
    assert (out["status"], out["passed-count"], out["total"]) == ("failed", "3", "0")
    assert json.loads(out["result"])["stage"] == "smoke"


def test_main_runs_relgate_keeps_summary_and_maps_outputs(
    invoke: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app").mkdir()
    output, summary = tmp_path / "output.txt", tmp_path / "summary.md"
    output.touch()
    summary.touch()
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "77",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RELGATE_INPUT_WORKING_DIRECTORY": str(tmp_path / "app"),
        "RELGATE_INPUT_VERSION": "v1",
        "RELGATE_INPUT_SMOKE_PASSWORD": "pw-123",
    }
    seen: dict = {}

    def fake_cli(argv: list[str], *, env: dict, stdout: io.StringIO, stderr: object) -> int:
        seen.update(argv=argv, env=env)
        run_dir = Path(argv[1].split("=", 1)[1])
        run_dir.mkdir(parents=True)
        Path(env["GITHUB_STEP_SUMMARY"]).write_text("## smoke\n9/9 passed\n")
        # A valid ArchiveResult: stage results are read through relgate's typed API.
        stdout.write(
            json.dumps(
                {"stage": "archive", "status": "passed", "summary": "9/9 passed",
                 "bundle_path": "n.md"}
            )
        )  # fmt: skip
        return 0

    monkeypatch.chdir(tmp_path)
    code = invoke.main(["archive"], env, run_cli=fake_cli)
    assert code == 0
    run_dir = tmp_path / "app" / ".relgate" / "runs" / "gh-77-2"
    assert seen["argv"][:2] == ["--json", f"--run-dir={run_dir}"]
    assert seen["env"]["SMOKE_PASS"] == "pw-123"
    assert "pw-123" not in " ".join(seen["argv"])
    assert (run_dir / "summary.md").read_text() == "## smoke\n9/9 passed\n"
    assert summary.read_text() == "## smoke\n9/9 passed\n"
    outputs = output.read_text()
    assert "9/9 passed" in outputs and str(tmp_path / "app" / "n.md") in outputs
    assert "run-dir<<" in outputs and str(run_dir) in outputs


@pytest.mark.parametrize(
    ("command", "inputs", "expected"),
    [
        pytest.param(
            "release",
            {"version": "v1", "notes-file": "-notes $(id).md", "commit": "abc", "draft": "true"},
            ["--version=v1", "--notes=-notes $(id).md", "--commit=abc", "--draft"],
            id="release-all",
        ),
        pytest.param(
            "release",
            {"version": "v1", "draft": "false"},
            ["--version=v1"],
            id="release-draft-false-leaves-it-to-relgate-yml",
        ),
        pytest.param(
            "rollback",
            {"backup": "b.dump", "smoke": "true", "allow-unrecorded": "true", "wait-lock": "10m"},
            ["--backup=b.dump", "--smoke", "--allow-unrecorded", "--wait-lock=10m"],
            id="rollback-all",
        ),
        pytest.param(
            "rollback",
            {"smoke": "FALSE", "allow-unrecorded": "false"},
            ["--no-smoke"],
            id="rollback-smoke-false-is-explicit",
        ),
        pytest.param("rollback", {"smoke": ""}, [], id="rollback-smoke-empty-uses-relgate-yml"),
        pytest.param(
            "rollback",
            {"mode": "full", "restore": "always"},
            ["--mode=full", "--restore=always"],
            id="rollback-restore-always",
        ),
    ],
)
def test_release_and_rollback_flags(
    invoke: ModuleType, command: str, inputs: dict[str, str], expected: list[str]
) -> None:
    env = {"RELGATE_INPUT_" + k.upper().replace("-", "_"): v for k, v in inputs.items()}
    assert invoke.build_argv(command, env) == ["--json", command, *expected]


@pytest.mark.parametrize(
    ("command", "name"),
    [("release", "draft"), ("rollback", "smoke"), ("rollback", "allow-unrecorded")],
)
def test_new_booleans_are_validated_naming_the_input(
    invoke: ModuleType, command: str, name: str
) -> None:
    env = {"RELGATE_INPUT_VERSION": "v1", "RELGATE_INPUT_" + name.upper().replace("-", "_"): "yes"}
    with pytest.raises(invoke.InputError, match=f"input '{name}' must be 'true' or 'false'"):
        invoke.build_argv(command, env)


# Inputs every action may carry that are not CLI flags of the command (handled by invoke/run.sh).
_GENERIC = {
    "working-directory",
    "github-token",
    "secrets-env",
    "setup-python",
    "smoke-password",
    "signing-key",
}


def _wired_inputs(path: Path) -> tuple[str, set[str]]:
    import yaml

    action = yaml.safe_load(path.read_text(encoding="utf-8"))
    step = next(s for s in action["runs"]["steps"] if "_lib/run.sh" in s.get("run", ""))
    command = step["run"].split()[-1]
    names = {
        k.removeprefix("RELGATE_INPUT_").lower().replace("_", "-")
        for k in step["env"]
        if k.startswith("RELGATE_INPUT_")
    }
    for name in names:  # each env entry passes exactly the input of that name
        key = "RELGATE_INPUT_" + name.upper().replace("-", "_")
        assert step["env"][key] == f"${{{{ inputs.{name} }}}}", (path, key)
        assert name in action["inputs"], (path, name)
    return command, names


@pytest.mark.parametrize(
    "path",
    [PROJECT / "action.yml", *sorted((PROJECT / "actions").glob("*/action.yml"))],
    ids=lambda p: p.parent.name if p.parent.name != PROJECT.name else "gate",
)
def test_every_action_input_is_wired_to_a_flag(invoke: ModuleType, path: Path) -> None:
    """An input added to action.yml without an invoke.py flag (or the reverse) is silently dropped."""
    command, wired = _wired_inputs(path)
    _, flags = invoke.COMMANDS[command]
    flag_inputs = {f.input for f in (*invoke.COMMON, *flags)}
    assert wired - _GENERIC - flag_inputs == set(), "inputs wired to no CLI flag"
    assert {f.input for f in flags} - wired == set(), "flags whose input the action never passes"
