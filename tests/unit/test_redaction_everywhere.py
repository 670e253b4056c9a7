"""Acceptance: with a secret registered, no output of any kind carries it, in any encoding."""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
from pathlib import Path

from relgate.gha import Reporter, Summary
from relgate.results import StageResult, Status
from relgate.run import Run
from relgate.secrets import SecretRegistry

SECRET = "Sup3r/Secret+Pass=word"


def forms() -> list[str]:
    return [
        SECRET,
        urllib.parse.quote(SECRET, safe=""),
        json.dumps(SECRET)[1:-1],
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
        base64.b64encode(f"prof1:{SECRET}".encode()).decode()[8:20],
    ]


def test_every_output_is_clean(tmp_path: Path) -> None:
    files = {n: tmp_path / n for n in ("output", "env", "summary")}
    for f in files.values():
        f.touch()
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(files["output"]),
        "GITHUB_ENV": str(files["env"]),
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "GITHUB_RUN_ID": "77",
    }
    log = io.StringIO()
    secrets = SecretRegistry()
    reporter = Reporter(log, env, secrets)
    run = Run.open(env=env, reporter=reporter, base_dir=tmp_path)
    reporter.mask(SECRET, "SMOKE_PASS")
    basic = "Basic " + base64.b64encode(f"prof1:{SECRET}".encode()).decode()

    for leak in (SECRET, basic, urllib.parse.quote(SECRET, safe=""), json.dumps({"p": SECRET})):
        reporter.line(f"log: {leak}")
        reporter.error(f"annotation: {leak}", title=leak)
        reporter.progress(f"progress {leak}")
        reporter.set_output("out", leak)
        reporter.export_env("EXPORTED", leak)
        run.append_log("logs/deploy/compose.log", f"{leak}\n")
        with run.open_log("logs/smoke/runner.log") as fh:
            fh.write(f"stream {leak}\n")
        run.write_text(
            "artifacts/smoke/01-login.json",
            json.dumps({"headers": {"Authorization": basic}, "body": leak}),
        )
        run.write_bytes("artifacts/smoke/raw.bin", leak.encode())
        run.write_json("artifacts/notes/context.json", {"password": leak})
        run.write_result(StageResult(stage="smoke", status=Status.FAILED, error=leak, summary=leak))
        run.update_meta(actor=leak)
        reporter.write_summary(Summary().heading(leak).table(["k"], [[leak]]).details(leak, leak))

    everything = {"stdout": log.getvalue().replace(f"::add-mask::{SECRET}", "")}
    for name, f in files.items():
        everything[name] = f.read_text()
    for p in run.dir.rglob("*"):
        if p.is_file():
            everything[str(p.relative_to(run.dir))] = p.read_text(errors="replace")
    assert len(everything) >= 10
    for where, text in everything.items():
        for form in forms():
            assert form not in text, f"{form!r} leaked into {where}"
