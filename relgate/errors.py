"""The one error tree of relgate. Only the CLI turns these into exit codes and ``::error::`` lines.

RelgateError                      base; ``exit_code`` says how the CLI ends
├── BadInputError          (2)    the user's input is wrong: fix it and run again
│   ├── ConfigError               relgate.yml (or a scenario/template) has problems; lists each
│   ├── SecretOnCommandLine       a secret was passed as an argument instead of the environment
│   └── UsageError                a flag or argument is wrong
├── GateFailed             (1)    the release gate said no: deploy, smoke or verification failed
│   ├── VerificationError         evidence does not prove what it must (digests, results)
│   └── SecretLeak                a known secret value would be written into evidence
└── CannotRun              (3)    relgate could not do its job: nothing was judged
    ├── ToolMissing               a required program (docker, compose, git…) is absent
    ├── LockHeld                  another run holds the environment's lock
    ├── Interrupted               SIGINT/SIGTERM arrived; evidence was still written
    ├── ServiceUnreachable        Docker daemon, GitHub or another service did not answer
    └── NotBuiltYet               the command exists but its stage is not implemented yet
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "BadInputError",
    "CannotRun",
    "ConfigError",
    "ExitCode",
    "GateFailed",
    "Interrupted",
    "LockHeld",
    "NotBuiltYet",
    "Problem",
    "RelgateError",
    "SecretLeak",
    "SecretOnCommandLine",
    "ServiceUnreachable",
    "ToolMissing",
    "UsageError",
    "VerificationError",
]


class ExitCode(IntEnum):
    """Exit codes shared by every command (documented in the README and ``--help``)."""

    PASSED = 0
    GATE_FAILED = 1
    BAD_INPUT = 2
    CANNOT_RUN = 3


class RelgateError(Exception):
    """Base of every error relgate raises on purpose."""

    exit_code: ExitCode = ExitCode.CANNOT_RUN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def lines(self) -> list[str]:
        """The message as the lines a user should read (one problem a line)."""
        return [self.message]


class BadInputError(RelgateError):
    """The input (file, flag, field) is wrong; running again unchanged will fail again."""

    exit_code = ExitCode.BAD_INPUT


@dataclass(frozen=True)
class Problem:
    """One located problem in an input file: ``file:line field.path: message``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where} {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(BadInputError):
    """An input file has one or more problems; each is reported on its own line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class SecretOnCommandLine(BadInputError):
    """A secret was given as an argument; secrets come only from the environment or a file."""


class UsageError(BadInputError):
    """A command-line flag or argument is wrong."""


class GateFailed(RelgateError):
    """The gate judged and said no."""

    exit_code = ExitCode.GATE_FAILED


class VerificationError(GateFailed):
    """Evidence failed verification (a digest, a result, a requirement)."""


class SecretLeak(GateFailed):
    """A registered secret value was found where evidence would be written; nothing was packed."""


class CannotRun(RelgateError):
    """relgate could not run the step at all; no verdict was reached."""

    exit_code = ExitCode.CANNOT_RUN


class ToolMissing(CannotRun):
    """A required external program is not installed or not on PATH."""


class LockHeld(CannotRun):
    """Another run holds the lock of this environment."""


class Interrupted(CannotRun):
    """A signal stopped the run; what was done so far was still recorded."""


class ServiceUnreachable(CannotRun):
    """A service relgate depends on (Docker daemon, GitHub API…) did not answer."""


class NotBuiltYet(CannotRun):
    """The command is declared but its stage is not implemented yet."""

    def __init__(self, command: str) -> None:
        super().__init__(f"'relgate {command}' is not built yet in this version of relgate")
