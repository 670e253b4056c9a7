"""What every command gets: parsed arguments, the environment, the reporter, config and run.

Only this package turns errors into exit codes and ``::error::`` lines (see relgate.errors).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

from relgate.errors import ExitCode, RelgateError
from relgate.gha import Reporter
from relgate.secrets import SecretRegistry, register_environment

if TYPE_CHECKING:
    import argparse

    from relgate.config import RelgateConfig
    from relgate.run import Run

__all__ = ["App"]


class App:
    """The command's context. Streams and environment are passed in so tests need no patching."""

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        env: Mapping[str, str] | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.args = args
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.json = bool(getattr(args, "json", False))
        self.secrets = SecretRegistry()
        # With --json, stdout carries only the JSON document; the report goes to stderr.
        self.reporter = Reporter(
            self.stderr if self.json else self.stdout,
            self.env,
            self.secrets,
            err_stream=self.stderr,
        )
        # Before the first byte is written: every token/password-looking variable and URL
        # credential of the environment is a secret for the whole command.
        register_environment(self.env, self.secrets)
        self.result: Any = None
        self._config: RelgateConfig | None = None

    # -- inputs ------------------------------------------------------------------------------
    @property
    def config_path(self) -> str:
        return str(
            getattr(self.args, "config", None) or self.env.get("RELGATE_CONFIG") or "relgate.yml"
        )

    @property
    def env_name(self) -> str | None:
        value = getattr(self.args, "env", None) or self.env.get("RELGATE_ENV")
        return str(value) if value else None

    def config(self) -> RelgateConfig:
        if self._config is None:
            from relgate.config import load_config

            self._config = load_config(self.config_path, env=self.env, secrets=self.secrets)
        return self._config

    def open_run(self, config: RelgateConfig | None = None, environment: str | None = None) -> Run:
        from relgate.run import Run

        return Run.open(
            env=self.env,
            reporter=self.reporter,
            run_dir=getattr(self.args, "run_dir", None),
            base_dir=config.base_dir if config is not None else None,
            environment=environment,
        )

    def version(self, value: str | None) -> str | None:
        """``--version``, else ``$RELGATE_VERSION`` (what the composite actions set)."""
        return value or self.env.get("RELGATE_VERSION") or None

    def required_version(self, value: str | None) -> str:
        from relgate.errors import UsageError

        version = self.version(value)
        if not version:
            raise UsageError(
                "--version is required (e.g. --version v1.2.0, or RELGATE_VERSION in the environment)"
            )
        return version

    def duration(self, flag: str, value: str | None, default: timedelta) -> timedelta:
        """A duration flag such as ``--wait-lock 10m``; a bad value is a usage error naming it."""
        from relgate.errors import UsageError
        from relgate.fields import parse_duration

        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise UsageError(f"{flag} {value}: {exc}") from None

    def environment_lock(
        self,
        config: RelgateConfig,
        run: Run,
        *,
        environment: str,
        version: str | None,
        command: str,
        wait: timedelta,
    ) -> AbstractContextManager[object]:
        """The lock of this project's environment on its engine, so two deploys (or a deploy and a
        rollback) never race — in GitHub Actions too. A no-op only with ``lock.mode: never``.
        """
        from relgate.lock import LockOwner, lock_enabled, lock_for

        if not lock_enabled(config, self.env):
            return nullcontext()
        lock = lock_for(config, environment, self.env)
        owner = LockOwner.me(
            run_id=run.id,
            environment=environment,
            version=version or None,
            command=command,
            clock=run.clock,
            key=lock.key,
        )
        return lock.held(owner, wait=wait)

    # -- outputs -----------------------------------------------------------------------------
    def emit(self, result: Any) -> None:
        """Set the machine-readable result (printed on stdout with --json)."""
        self.result = result

    def finish(self, code: int) -> int:
        if self.json and self.result is not None:
            from pydantic import BaseModel

            if isinstance(self.result, BaseModel):
                text = self.result.model_dump_json(indent=2)
            else:
                text = json.dumps(self.result, indent=2, default=str)
            self.stdout.write(self.secrets.redact(text) + "\n")
            self.stdout.flush()
        return code

    def fail(self, exc: RelgateError) -> int:
        lines = exc.lines()
        for line in lines:
            title = f"relgate ({_KIND[exc.exit_code]})" if self.reporter.actions else None
            self.reporter.error(line, title=title)
        if self.json:
            self.result = {
                "error": self.secrets.redact("\n".join(lines)),
                "kind": type(exc).__name__,
                "exit_code": int(exc.exit_code),
                **({"result": self._dump(self.result)} if self.result is not None else {}),
            }
        return self.finish(int(exc.exit_code))

    @staticmethod
    def _dump(value: Any) -> Any:
        from pydantic import BaseModel

        return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


_KIND = {
    ExitCode.PASSED: "passed",
    ExitCode.GATE_FAILED: "gate failed",
    ExitCode.BAD_INPUT: "bad input",
    ExitCode.CANNOT_RUN: "could not run",
}
