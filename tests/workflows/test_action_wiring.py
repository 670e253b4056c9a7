"""Every composite action, run under act, passes hostile inputs to relgate as inert data.

A harness workflow feeds each action inputs full of shell metacharacters (``$(…)``, backticks,
quotes, ``;``, newlines, ``${HOME}``) with ``RELGATE_ACTION_DRY_RUN=true``, so the action installs
relgate, validates its inputs and reports the exact argv it would run as the ``argv`` output. The test
checks each argv carries the values byte for byte, that a sentinel file which any shell evaluation
would create does not exist, that secrets never reach argv, and that a bad boolean is refused
naming the input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._tools import require_tool
from tests.workflows._act import make_repo, run_act

pytestmark = [pytest.mark.act, pytest.mark.slow]

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"


def _nasty(sentinel: Path) -> str:
    return (
        f"v1 $(touch {sentinel}) `touch {sentinel}` ; touch {sentinel} && "
        f"\"dq\" 'sq' ${{HOME}} %0A\nsecond line | cat > {sentinel}"
    )


# (step id, action path, the inputs it gets; "N" = the nasty value)
CASES = {
    "preflight": ("./actions/preflight", {"version": "N", "config": "N", "environment": "N"}),
    "deploy": ("./actions/deploy", {"version": "N", "run-dir": "N", "rollback": "false"}),
    "smoke": ("./actions/smoke", {"scenario": "N", "base-url": "N", "smoke-password": "S"}),
    "archive": ("./actions/archive", {"config": "N"}),
    "ops": ("./actions/ops", {"environment": "N", "working-directory": "."}),
    "notes": ("./actions/notes", {"version": "N", "since": "N", "output": "N", "open-pr": "true"}),
    "release": (
        "./actions/release",
        {
            "version": "N",
            "bundle": "N",
            "notes-file": "N",
            "commit": "N",
            "draft": "true",
            "github-token": "S",
        },
    ),
    "rollback": (
        "./actions/rollback",
        {
            "mode": "full",
            "to-version": "N",
            "backup": "N",
            "restore": "always",
            "smoke": "false",
            "allow-unrecorded": "true",
            "wait-lock": "N",
        },
    ),
    "gate": ("./", {"version": "N", "wait-lock": "N", "secrets-env": "X"}),
    "approvals": ("./actions/approvals", {"workflow-run-id": "N"}),
}

EXPECTED = {
    "preflight": ["--json", "--config=N", "--env=N", "preflight", "--version=N"],
    "deploy": [
        "--json",
        "--config=relgate.yml",
        "--run-dir=N",
        "deploy",
        "--version=N",
        "--no-rollback",
    ],
    "smoke": ["--json", "--config=relgate.yml", "smoke", "--scenario=N", "--base-url=N"],
    "archive": ["--json", "--config=N", "archive"],
    "ops": ["--json", "--config=relgate.yml", "--env=N", "ops"],
    "notes": [
        "--json",
        "--config=relgate.yml",
        "notes",
        "--version=N",
        "--since=N",
        "--output=N",
        "--pr",
    ],
    "release": [
        "--json",
        "--config=relgate.yml",
        "release",
        "--version=N",
        "--bundle=N",
        "--notes=N",
        "--commit=N",
        "--draft",
    ],
    "rollback": [
        "--json",
        "--config=relgate.yml",
        "rollback",
        "--mode=full",
        "--to=N",
        "--backup=N",
        "--restore=always",
        "--no-smoke",
        "--allow-unrecorded",
        "--wait-lock=N",
    ],
    "gate": ["--json", "--config=relgate.yml", "gate", "--version=N", "--wait-lock=N"],
    "approvals": [
        "--json",
        "--config=relgate.yml",
        "environments",
        "approvals",
        "--workflow-run-id=N",
    ],
}


def _harness() -> str:
    steps = [f"      - uses: {CHECKOUT}\n        with:\n          persist-credentials: false\n"]
    for n, (sid, (path, inputs)) in enumerate(CASES.items()):
        values = {
            k: {
                "N": "${{ inputs.nasty }}",
                "S": "${{ inputs.secret }}",
                "X": "TOKEN_X=${{ inputs.secret }}",
            }.get(v, v)
            for k, v in inputs.items()
        }
        # Half the actions use the runner's python3 directly, half go through setup-python.
        values["setup-python"] = "true" if n % 2 else "false"
        with_block = "".join(f"          {k}: {json.dumps(v)}\n" for k, v in values.items())
        steps.append(f"      - id: {sid}\n        uses: {path}\n        with:\n{with_block}")
    steps.append(
        "      - id: badbool\n        continue-on-error: true\n        uses: ./actions/deploy\n"
        "        with:\n          version: v1\n          rollback: 'yes'\n          setup-python: 'false'\n"
    )
    env = "".join(
        f"          OUT_{sid.upper()}: ${{{{ toJSON(steps.{sid}.outputs) }}}}\n"
        for sid in [*CASES, "badbool"]
    )
    env += "          OUTCOME_BADBOOL: ${{ steps.badbool.outcome }}\n"
    steps.append(
        "      - name: record\n        shell: python3 {0}\n        env:\n"
        + env
        + "        run: |\n"
        "          import json, os\n"
        "          data = {k: v for k, v in os.environ.items() if k.startswith(('OUT_', 'OUTCOME_'))}\n"
        "          open(os.environ['WIRING_OUT'], 'w').write(json.dumps(data))\n"
    )
    return (
        "name: wiring\non:\n  workflow_dispatch:\n    inputs:\n"
        "      nasty:\n        type: string\n      secret:\n        type: string\n"
        "permissions: {}\njobs:\n  wire:\n    runs-on: ubuntu-latest\n    timeout-minutes: 20\n"
        "    steps:\n" + "".join(steps)
    )


def test_inputs_reach_relgate_as_data(tmp_path: Path, action_cache: Path) -> None:
    require_tool("act")
    sentinel = tmp_path / "sentinel-must-not-exist"
    nasty = _nasty(sentinel)
    secret = "s3cr3t-$(id)-`id`"
    repo = tmp_path / "repo"
    make_repo(repo, extra={".github/workflows/wiring.yml": _harness()})
    out = tmp_path / "wiring.json"
    run = run_act(
        repo,
        ".github/workflows/wiring.yml",
        event={"inputs": {"nasty": nasty, "secret": secret}},
        env={
            "RELGATE_ACTION_DRY_RUN": "true",
            "RELGATE_ACTION_CACHE": str(action_cache),
            "WIRING_OUT": str(out),
        },
    )
    assert run.jobs.get("wire") == "success", run.describe()
    assert not sentinel.exists(), "an input was evaluated by a shell"
    recorded = json.loads(out.read_text())
    for sid, expected in EXPECTED.items():
        outputs = json.loads(recorded[f"OUT_{sid.upper()}"])
        assert outputs.get("status") == "dry-run", (sid, outputs)
        argv = json.loads(outputs["argv"])
        assert argv == [a.replace("N", nasty) if a.endswith("=N") else a for a in expected], sid
        assert secret not in outputs["argv"]
    bad = json.loads(recorded["OUT_BADBOOL"])
    assert recorded["OUTCOME_BADBOOL"] == "failure"
    assert bad["exit-code"] == "2"
    assert "input 'rollback' must be 'true' or 'false'" in run.output_of("wire")
    assert secret not in run.describe(), "a secret input reached the log unmasked"
