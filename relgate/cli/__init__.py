"""The ``relgate`` command line: argument parsing only; each command calls one stage function.

Commands live one per module in this package and register themselves through ``register``.
argparse (not click) keeps ``relgate --version`` close to a bare interpreter start.
"""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import NoReturn, TextIO

from relgate.__about__ import __version__
from relgate.errors import ExitCode, Interrupted, RelgateError, SecretOnCommandLine
from relgate.secrets import url_credentials

__all__ = ["build_parser", "main"]

COMMANDS = (
    "preflight",
    "deploy",
    "smoke",
    "archive",
    "notes",
    "release",
    "rollback",
    "gate",
    "demo",
    "config",
    "evidence",
    "keygen",
    "lock",
    "status",
    "summary",
    "backup",
    "manifest",
    "ops",
    "environments",
    "verify_release",
)

EXIT_CODES = """\
exit codes:
  0  passed
  1  a gate failed (deploy, smoke, evidence verification)
  2  bad input or configuration (the message names the file, line and field)
  3  could not run (tool missing, lock held, interrupted, service unreachable)
"""

MAIN_HELP = f"""\
relgate makes a release of a docker compose stack provably safe: deploy with a real health gate
and automatic rollback, smoke-test over HTTP, pack tamper-evident evidence, render release notes,
and tag + release only when the evidence proves everything passed.

examples:
  relgate demo                         run the whole gate on the embedded demo service
  relgate config check                 validate relgate.yml (file:line messages)
  relgate --env staging gate --version v1.2.0
  relgate --json evidence verify bundle.tar.zst --require deploy,smoke

{EXIT_CODES}
secrets are read only from the environment (or files named in relgate.yml), never from arguments.
"""

# Options that look like they carry a secret value: refused before parsing.
_SECRET_FLAG = re.compile(
    r"^--?([A-Za-z0-9-]*(token|password|passwd|pass|secret|api-key|apikey)[A-Za-z0-9-]*)(=.*)?$",
    re.IGNORECASE,
)
_ALLOWED_FLAGS = {"token-env", "password-env", "secret-env"}


# Where a URL flag's value can come from instead, when it would carry credentials.
_URL_FLAG_ENV = {"--base-url": "RELGATE_BASE_URL"}


def _check_no_secret_flags(argv: Sequence[str]) -> None:
    """Refuse secrets on the command line, in any form, without ever echoing the value."""
    previous = ""
    for arg in argv:
        if arg == "--":
            break
        m = _SECRET_FLAG.match(arg)
        if m and m.group(1).lower() not in _ALLOWED_FLAGS:
            name = m.group(1).upper().replace("-", "_")
            raise SecretOnCommandLine(
                f"{arg.split('=')[0]}: secrets are never accepted on the command line "
                f"(they would show in the process list and shell history); set {name} in the "
                f"environment, or declare it under 'secrets:' in relgate.yml with a 'file:'"
            )
        if url_credentials(arg):
            flag = arg.split("=", 1)[0] if arg.startswith("-") and "=" in arg else previous
            flag = flag if flag.startswith("-") else "an argument"
            env = _URL_FLAG_ENV.get(flag)
            instead = (
                f"set {env} in the environment instead" if env else "pass the URL without them"
            )
            raise SecretOnCommandLine(
                f"{flag}: a URL with credentials (user:password@) is never accepted on the command "
                f"line (it would show in the process list and shell history); {instead}, or "
                f"reference a secret variable from relgate.yml or the scenario"
            )
        previous = arg


class _Parser(argparse.ArgumentParser):
    """argparse, but its error messages never echo a value from the command line.

    argparse quotes rejected values (``invalid choice: 'hunter2'``, ``unrecognized arguments: …``);
    a value put in the wrong place may be a secret, so every quoted value and every argument that
    is not an option name is replaced by ``***`` before the message is printed.
    """

    argv: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {_scrub(message, self.argv)}\n")


def _scrub(message: str, argv: Sequence[str]) -> str:
    message = re.sub(r"(: |value: |choice: )'[^']*'", r"\1'***'", message)
    if "unrecognized arguments:" in message:
        head, _, rest = message.partition("unrecognized arguments:")
        shown = [a.split("=", 1)[0] if a.startswith("-") else "***" for a in rest.split()]
        message = f"{head}unrecognized arguments: {' '.join(shown)}"
    for arg in sorted(argv, key=len, reverse=True):
        value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
        if len(value) >= 4 and not value.startswith("-") and value in message:
            message = message.replace(value, "***")
    return message


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _globals(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print the machine-readable result on stdout (the report goes to stderr)",
    )
    group.add_argument("--config", metavar="FILE", default=default, help="relgate.yml to use")
    group.add_argument(
        "--env", metavar="NAME", default=default, help="environment of the config (staging…)"
    )
    group.add_argument(
        "--run-dir",
        metavar="DIR",
        default=default,
        help="run directory (default: $RELGATE_RUN_DIR or .relgate/runs/<run id>)",
    )


def build_parser() -> argparse.ArgumentParser:
    # argparse looks up a translation for each of its ~60 messages, and every lookup searches the
    # filesystem for catalogues (gettext caches only hits). relgate's CLI is English-only, so the
    # lookups are skipped: that alone halves the time `relgate --help` takes to start.
    argparse._ = _identity  # type: ignore[attr-defined]
    argparse.ngettext = _plural  # type: ignore[attr-defined]
    parser = _Parser(
        prog="relgate",
        description=MAIN_HELP,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"relgate {__version__}")
    _globals(parser, suppress=False)
    common = _Parser(add_help=False)
    _globals(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"relgate.cli.{name}")
        module.register(sub, common)
    for command in sub.choices.values():
        _examples_for_actions(command)
    return parser


def _examples_for_actions(command: argparse.ArgumentParser) -> None:
    """``relgate evidence verify --help`` shows the examples of ``evidence verify`` (the lines of
    its command's examples that use it, else all of them) and the exit codes, like every page."""
    epilog = command.epilog or ""
    if not epilog.startswith("examples:"):
        return
    examples = epilog.split("\n\n", 1)[0].splitlines()[1:]
    for action in command._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, child in action.choices.items():
            if child.epilog:
                continue
            own = [line for line in examples if f" {command.prog.split()[-1]} {name}" in line]
            child.epilog = "examples:\n" + "\n".join(own or examples) + "\n\n" + EXIT_CODES
            child.formatter_class = _Formatter


def _identity(message: str) -> str:
    return message


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def command_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    name: str,
    summary: str,
    examples: str,
    *,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand parser with the shared options, examples and the exit-code table."""
    return sub.add_parser(
        name,
        help=summary,
        description=(description or summary),
        epilog=f"examples:\n{examples.rstrip()}\n\n{EXIT_CODES}",
        formatter_class=_Formatter,
        parents=[common],
    )


def wait_lock_option(parser: argparse.ArgumentParser) -> None:
    """``--wait-lock``: the same option on every command that takes the environment's lock."""
    parser.add_argument(
        "--wait-lock",
        metavar="DURATION",
        help="wait this long for the environment's lock, held by another deploy, rollback, gate "
        "or ops run (e.g. 10m; default: lock.wait)",
    )


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}")


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    from relgate.cli._app import App

    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        _check_no_secret_flags(argv)
    except SecretOnCommandLine as exc:
        err.write(f"relgate: error: {exc.message}\n")
        return int(exc.exit_code)
    parser = build_parser()
    _Parser.argv = tuple(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    if not getattr(args, "command", None):
        parser.print_help(out)
        return int(ExitCode.BAD_INPUT)
    app = App(args, env=env, stdout=out, stderr=err)
    previous = signal.signal(signal.SIGTERM, _on_signal) if _main_thread() else None
    try:
        return app.finish(int(args.handler(app, args)))
    except Interrupted as exc:  # never a failure: exit 3, reported as an interruption
        return app.fail(exc)
    except RelgateError as exc:
        return app.fail(exc)
    except KeyboardInterrupt:
        return app.fail(Interrupted("interrupted by SIGINT"))
    except Exception as exc:  # a bug: say so plainly, traceback only on request
        if app.env.get("RELGATE_DEBUG"):
            raise
        app.reporter.error(
            f"internal error: {type(exc).__name__}: {exc} (set RELGATE_DEBUG=1 for a traceback)",
            title="relgate (could not run)",
        )
        return app.finish(int(ExitCode.CANNOT_RUN))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
