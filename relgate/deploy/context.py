"""The resolved runtime of one deploy: config, run, environment, the child environment, clocks.

Raw config stays in :mod:`relgate.config`; this is the ready-to-use side (no defaults here on
purpose). Clocks and the sleep function are fields so tests and benchmarks pass their own.
"""

from __future__ import annotations

import copy
import re
import secrets as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from relgate.config import EnvironmentConfig, RelgateConfig
from relgate.deploy.executor import Executor
from relgate.errors import UsageError
from relgate.run import Run

__all__ = ["DeployContext", "check_version"]

# A version becomes an image tag: Docker's tag grammar (and never an option-looking "-x").
_VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def check_version(version: str | None) -> str:
    if not version:
        raise UsageError("no version to deploy: pass --version (or set RELGATE_VERSION)")
    if not _VERSION.match(version):
        raise UsageError(
            f"--version {version!r}: use letters, digits, '.', '_' and '-' (it becomes an image "
            "tag), at most 128 characters, not starting with '.' or '-'"
        )
    return version


@dataclass
class DeployContext:
    config: RelgateConfig
    run: Run
    environment: str
    env_config: EnvironmentConfig
    area: str = "deploy"  # logs/<area>/ and artifacts/<area>/
    clock: Callable[[], float] = time.time  # epoch seconds: comparable with Docker event times
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll_interval_s: float = 2.0  # the inspect safety net; events do the real work
    generated: list[str] = field(default_factory=list)
    child_env: dict[str, str] = field(default_factory=dict)
    deploy_vars: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.child_env = self._child_env()
        self.executor = Executor(self.run, self.area, self.child_env, cwd=self.config.base_dir)

    def _child_env(self) -> dict[str, str]:
        """The run's environment, plus the environment's variables and generated secrets.

        Secrets reach compose through the environment only, never argv.
        """
        env = dict(self.run.env)
        env.update(self.env_config.variables)
        self.deploy_vars = dict(self.env_config.variables)
        for spec in self.config.secrets:
            value = env.get(spec.name)
            if not value and spec.generate:
                value = _random.token_hex(32)
                env[spec.name] = value
                self.generated.append(spec.name)
            if value:
                self.run.secrets.register(value, spec.name)
        return env

    def with_version(self, version: str) -> dict[str, str]:
        """The variables that make ``version`` the deployed one."""
        return {self.config.deploy.version_variable: version}

    def for_area(self, area: str) -> DeployContext:
        """The same deploy, logging under another area (the rollback's own logs)."""
        other = copy.copy(self)
        other.area = area
        other.executor = Executor(self.run, area, self.child_env, cwd=self.config.base_dir)
        other.executor.records = self.executor.records  # one list of commands for the result
        return other
