"""Turn a composite action's inputs into one ``relgate`` command, run it, map its result to outputs.

Called by ``run.sh`` with the relgate command (``deploy``, ``smoke``…). Every action input arrives as
an environment variable ``RELGATE_INPUT_<NAME>`` (the action maps ``inputs.x`` to ``env:``), never as
text spliced into a script, so a value such as ``$(id)`` or a backtick is just data here.

What this adds over calling the CLI directly:

* inputs are validated as the strings they are: booleans must be ``true``/``false`` (an Actions
  expression makes ``'false'`` truthy, so this is checked here, naming the input), choices must be
  one of their values, and required inputs must be set (the runner does not enforce ``required``);
* secrets given as inputs (token, smoke password, ``secrets-env`` lines) are masked before anything
  else is printed, and handed to relgate through its environment, never its argv;
* the stage's result (``relgate --json``) becomes step outputs: every scalar field of the result
  model as a kebab-case output (``bundle_digest`` -> ``bundle-digest``), plus ``result`` (the JSON),
  ``exit-code`` and a few derived ones such as ``rolled-back``.

``RELGATE_ACTION_DRY_RUN=true`` prints the command and sets the ``argv`` output without running it:
the action wiring tests use it, and it is handy when debugging a workflow.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PREFIX = "RELGATE_INPUT_"


class InputError(Exception):
    """An action input has a value relgate cannot use (exit code 2, like any bad input)."""


@dataclass(frozen=True)
class Flag:
    """How one action input becomes CLI arguments."""

    input: str
    flag: str
    kind: str = "str"  # str | bool | choice | negbool
    choices: tuple[str, ...] = ()
    required: bool = False
    # bool only: the flag for 'false' (e.g. --no-smoke). Without it 'false' passes nothing and
    # relgate.yml's default applies; an empty input always leaves the choice to relgate.yml.
    off: str = ""


COMMON = (
    Flag("config", "--config"),
    Flag("environment", "--env"),
    Flag("run-dir", "--run-dir"),
)

# The inputs each command takes beyond COMMON, in argv order.
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[Flag, ...]]] = {
    "preflight": (("preflight",), (Flag("version", "--version"),)),
    "deploy": (
        ("deploy",),
        (Flag("version", "--version", required=True), Flag("rollback", "--no-rollback", "negbool")),
    ),
    "smoke": (
        ("smoke",),
        (
            Flag("scenario", "--scenario"),
            Flag("base-url", "--base-url"),
            Flag("version", "--version"),
        ),
    ),
    "archive": (("archive",), ()),
    "ops": (("ops",), (Flag("wait-lock", "--wait-lock"),)),
    "notes": (
        ("notes",),
        (
            Flag("version", "--version", required=True),
            Flag("since", "--since"),
            Flag("output", "--output"),
            Flag("open-pr", "--pr", "bool"),
        ),
    ),
    "release": (
        ("release",),
        (
            Flag("version", "--version", required=True),
            Flag("bundle", "--bundle"),
            Flag("notes-file", "--notes"),
            Flag("commit", "--commit"),
            Flag("draft", "--draft", "bool"),
        ),
    ),
    "rollback": (
        ("rollback",),
        (
            Flag("mode", "--mode", "choice", ("quick", "full")),
            Flag("to-version", "--to"),
            Flag("backup", "--backup"),
            Flag("restore", "--restore", "choice", ("auto", "always")),
            Flag("smoke", "--smoke", "bool", off="--no-smoke"),
            Flag("allow-unrecorded", "--allow-unrecorded", "bool"),
            Flag("wait-lock", "--wait-lock"),
        ),
    ),
    "approvals": (
        ("environments", "approvals"),
        (Flag("workflow-run-id", "--workflow-run-id", required=True),),
    ),
    "gate": (
        ("gate",),
        (Flag("version", "--version", required=True), Flag("wait-lock", "--wait-lock")),
    ),
    "summary": (
        ("summary",),
        (Flag("artifact-url", "--artifact-url"), Flag("artifact-name", "--artifact-name")),
    ),
}

# Secret inputs -> the environment variable relgate reads them from.
SECRET_INPUTS = {
    "github-token": "GITHUB_TOKEN",
    "smoke-password": "SMOKE_PASS",
    "signing-key": "RELGATE_SIGNING_KEY",
}


def input_value(env: Mapping[str, str], name: str) -> str:
    return env.get(PREFIX + name.upper().replace("-", "_"), "")


def parse_bool(name: str, value: str) -> bool:
    """'true'/'false' (any case, surrounding blanks ignored); anything else is an error naming the input."""
    text = value.strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise InputError(f"input '{name}' must be 'true' or 'false', got {value!r}")


def build_argv(command: str, env: Mapping[str, str]) -> list[str]:
    """The relgate argv for ``command`` from the RELGATE_INPUT_* variables (pure: no I/O)."""
    if command not in COMMANDS:
        raise InputError(f"unknown relgate action command {command!r}")
    sub, flags = COMMANDS[command]
    argv = ["--json"]
    for flag in COMMON:
        value = input_value(env, flag.input).strip()
        if value:
            argv += [f"{flag.flag}={value}"]
    argv += sub
    for flag in flags:
        argv += _flag_args(flag, input_value(env, flag.input))
    return argv


def _flag_args(flag: Flag, raw: str) -> list[str]:
    value = raw.strip()
    if flag.required and not value:
        raise InputError(f"input '{flag.input}' is required")
    if not value:
        return []
    if flag.kind == "negbool":
        return [] if parse_bool(flag.input, value) else [flag.flag]
    if flag.kind == "bool":
        if parse_bool(flag.input, value):
            return [flag.flag]
        return [flag.off] if flag.off else []
    if flag.kind == "choice" and value not in flag.choices:
        raise InputError(
            f"input '{flag.input}' must be one of {', '.join(flag.choices)}, got {value!r}"
        )
    # "--flag=value" keeps a value that starts with "-" from being read as an option.
    return [f"{flag.flag}={value}"]


_DOTENV = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_secrets_env(text: str) -> dict[str, str]:
    """``NAME=value`` lines (blank lines and ``#`` comments skipped; one pair of quotes stripped)."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV.match(line.strip())
        if not match:
            # Never echo the line: it is a secret.
            raise InputError(f"input 'secrets-env' line {number}: expected NAME=value")
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name] = value
    return out


def secret_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment variables to add for relgate, from the secret inputs."""
    extra = parse_secrets_env(input_value(env, "secrets-env"))
    for name, variable in SECRET_INPUTS.items():
        value = input_value(env, name)
        if value:
            extra[variable] = value
    return extra


def outputs_from(
    document: Mapping[str, object], code: int, stage: str | None = None
) -> dict[str, str]:
    """Step outputs from the ``--json`` document (a result model, or an error wrapper).

    For a stage (``stage``: deploy, smoke…) the result is read as that stage's model through
    relgate's typed API: a result its model refuses gives ``status: error`` and says why, never
    the status its broken document seems to carry."""
    result = document.get("result") if "kind" in document else document
    outputs: dict[str, str] = {"exit-code": str(code)}
    if "error" in document and "kind" in document:
        outputs["error"] = str(document["error"])
    elif stage is not None and isinstance(result, Mapping):
        result, problem = _typed(stage, result)
        if problem:
            outputs["error"] = problem
    if isinstance(result, Mapping):
        for key, value in result.items():
            if isinstance(value, bool):
                outputs[key.replace("_", "-")] = "true" if value else "false"
            elif isinstance(value, str | int | float) or value is None:
                outputs[key.replace("_", "-")] = "" if value is None else str(value)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                outputs[key.replace("_", "-")] = ", ".join(value)
        outcome = str(result.get("outcome") or "")
        outputs.setdefault("rolled-back", "true" if outcome == "rolled_back" else "false")
        outputs["result"] = json.dumps(result, sort_keys=True)
    outputs.setdefault("status", "error")
    return outputs


def _typed(stage: str, result: Mapping[str, object]) -> tuple[Mapping[str, object] | None, str]:
    """``result`` as ``stage``'s model dumps it, or (None, why it is unreadable)."""
    from relgate.recorded import parse_result
    from relgate.results import StageName

    try:
        name = StageName(stage)
    except ValueError:
        return result, ""  # not a stage (lock, status, backup…): its own model, mapped as is
    recorded = parse_result(name, json.dumps(result).encode("utf-8"), source=f"relgate {stage}")
    if recorded.result is None:
        return None, f"unreadable result: {recorded.problem}"
    return recorded.result.model_dump(mode="json"), ""


def main(argv: list[str], env: Mapping[str, str], run_cli: Callable[..., int] | None = None) -> int:
    from relgate.gha import Reporter

    reporter = Reporter(sys.stdout, env)
    try:
        parse_bool("setup-python", input_value(env, "setup-python") or "true")
        extra = secret_env(env)
        for name, value in extra.items():
            reporter.mask(value, name)
        command = build_argv(argv[0] if argv else "", env)
    except InputError as exc:
        reporter.error(str(exc), title="relgate action (bad input)")
        reporter.set_output("status", "error")
        reporter.set_output("exit-code", "2")
        return 2
    workdir = input_value(env, "working-directory").strip() or "."
    if parse_bool("dry-run", env.get("RELGATE_ACTION_DRY_RUN", "false") or "false"):
        reporter.line(f"relgate (dry run) in {workdir}: " + json.dumps(command))
        reporter.set_output("argv", json.dumps(command))
        reporter.set_output("status", "dry-run")
        return 0
    os.chdir(workdir)
    os.environ.update(extra)
    run_dir = _run_dir(command, env)
    if run_dir:
        command.insert(1, f"--run-dir={run_dir}")
    with _summary_kept_in(run_dir, {**env, **extra}) as child_env:
        code = _run(command, child_env, run_cli, stage=argv[0])
    reporter.set_output("run-dir", run_dir or env.get("RELGATE_RUN_DIR", ""))
    return code


def _run(
    command: list[str],
    child_env: dict[str, str],
    run_cli: Callable[..., int] | None,
    stage: str | None = None,
) -> int:
    from relgate.gha import Reporter

    if run_cli is None:
        from relgate.cli import main as run_cli
    buffer = io.StringIO()
    # The report (and workflow commands) go to the real stdout; the JSON result to the buffer.
    code = run_cli(command, env=child_env, stdout=buffer, stderr=sys.stdout)
    try:
        document = json.loads(buffer.getvalue() or "{}")
    except ValueError:
        document = {}
    reporter = Reporter(sys.stdout, child_env)
    # `relgate summary` reports on the job; its outputs are its own (job-*), never the stage
    # outputs (status, result, exit-code…) a step before it set: act merges a composite action's
    # step outputs, and the one-shot action's status must stay the gate's.
    if stage == "summary":
        for key, value in document.items():
            if key.startswith("job_") and isinstance(value, str | bool):
                text = ("true" if value else "false") if isinstance(value, bool) else value
                reporter.set_output(key.replace("_", "-"), text)
        return code
    for name, value in outputs_from(document, code, stage).items():
        # Later steps (upload-artifact) resolve paths from the workspace, not working-directory.
        absolute = name.endswith("-path") and value and not os.path.isabs(value)
        reporter.set_output(name, os.path.abspath(value) if absolute else value)
    return code


def _run_dir(command: list[str], env: Mapping[str, str]) -> str | None:
    """The run directory, chosen here when neither the input nor an earlier step set one.

    It is what relgate itself would pick (``<config dir>/.relgate/runs/<run id>``, the run id being
    ``gh-<run id>-<attempt>`` in Actions); choosing it up front lets this script keep the job summary
    in it (see :func:`_summary_kept_in`).
    """
    if any(a.startswith("--run-dir=") for a in command):
        return None
    if env.get("RELGATE_RUN_DIR"):
        return None
    from relgate.run import new_run_id

    config = next((a.split("=", 1)[1] for a in command if a.startswith("--config=")), "relgate.yml")
    return str(Path(config).resolve().parent / ".relgate" / "runs" / new_run_id(env))


@contextlib.contextmanager
def _summary_kept_in(run_dir: str | None, env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Give relgate a private step-summary file, then append it to the real one *and* to the run
    directory's summary.md: a step summary is not downloadable later (and act discards it), the
    evidence bundle is. The text was already redacted by relgate's reporter."""
    child_env = dict(env)
    from relgate.actions_context import ActionsContext

    actions = ActionsContext.from_env(env)
    real = actions.step_summary
    target = run_dir or env.get("RELGATE_RUN_DIR")
    if not actions.in_actions or not real:
        yield child_env
        return
    with tempfile.TemporaryDirectory(prefix="relgate-summary-") as tmp:
        private = Path(tmp) / "summary.md"
        private.touch()
        child_env["GITHUB_STEP_SUMMARY"] = str(private)
        try:
            yield child_env
        finally:
            text = private.read_text(encoding="utf-8")
            # RELGATE_JOB_SUMMARY=defer (set on a job's relgate steps): the step's section waits in
            # the run directory, and the job's last step (`relgate summary`) writes one summary
            # that leads with the verdict, then these sections in order.
            defer = env.get("RELGATE_JOB_SUMMARY") == "defer" and target and Path(target).is_dir()
            if text:
                if not defer:
                    with open(real, "a", encoding="utf-8") as fh:
                        fh.write(text)
                if target and Path(target).is_dir():
                    name = "summary-sections.md" if defer else "summary.md"
                    with open(Path(target) / name, "a", encoding="utf-8") as fh:
                        fh.write(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
