"""``relgate demo`` end to end, as the README's first command runs it: a subprocess, Python only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from relgate.evidence.bundle import verify_bundle

pytestmark = pytest.mark.slow
RELGATE = str(Path(sys.executable).with_name("relgate"))


@pytest.mark.parametrize(
    ("mode", "code", "verdict", "verdicts"),
    [
        pytest.param(None, 0, "GATE PASSED", {"deploy": "passed", "smoke": "passed"}, id="pass"),
        pytest.param(
            "deploy", 1, "GATE FAILED at deploy: app: exited (code 1); rolled back to v0.9.0",
            {"deploy": "failed", "smoke": "skipped"}, id="break-deploy",
        ),
        pytest.param(
            "smoke", 1, "GATE FAILED at smoke: step 2/9 exam id — HTTP 503",
            {"deploy": "passed", "smoke": "failed", "rollback": "passed"}, id="break-smoke",
        ),
    ],
)  # fmt: skip
def test_demo(
    tmp_path: Path, mode: str | None, code: int, verdict: str, verdicts: dict[str, str]
) -> None:
    # Python only: no docker, git or anything else on PATH but the interpreter's own directory.
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "NO_COLOR": "1"}
    home = tmp_path / "demo"
    argv = [RELGATE, "demo", "--home", str(home), *(["--break", mode] if mode else [])]
    # How long the demo takes is a benchmark's question (bench/), not a pass/fail one here.
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == code, out
    assert verdict in out
    bundle = Path(re.search(r"^bundle: (\S+)$", out, re.M).group(1))  # type: ignore[union-attr]
    report = verify_bundle(bundle)
    assert {k: report.verdicts[k] for k in verdicts} == verdicts
    assert "evidence verified" in out and "signed by relgate-demo" in out
    # What the demo tells the user to run shows who signed, too.
    command = re.search(r"^  (relgate evidence verify .*)$", out, re.M).group(1)  # type: ignore[union-attr]
    checked = subprocess.run(
        [RELGATE, *command.split()[1:]], env=env, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "gate statement: signed by relgate-demo" in checked.stdout
    # The demo stops its service, whatever happened.
    for pid_file in (home / "process").glob("*.pid.json"):
        import json

        pid = int(json.loads(pid_file.read_text())["pid"])
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
