"""The default :class:`relgate.rollback.AppControl`: a rollback drives the application through the
deploy stage's own machinery (its driver, records and health gate).

Everything is imported lazily: Docker is heavy, and ``relgate rollback`` with a stand-in app (tests,
the embedded demo) never needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relgate.errors import Interrupted, RelgateError

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.results import StageResult
    from relgate.run import Run

__all__ = ["DeployMachinery"]


@dataclass
class DeployMachinery:
    """:class:`AppControl` through :mod:`relgate.deploy` (imported lazily: Docker is heavy)."""

    config: RelgateConfig
    run: Run
    environment: str
    why: str | None = None
    _quick: str | None = None

    def recorded(self, version: str | None) -> str | None:
        """``version`` if recorded; without one, the last-known-good *before* the version running
        now (an operator's "previous stable images"): a release that passed and later turned out
        bad is never redeployed by a plain quick rollback, nor is a version rolled away from."""
        from relgate.deploy.state import find_in_history, read_history, read_last_good

        if version:
            record = find_in_history(self.config, self.environment, version)
            return str(record.version) if record else None
        running = self._running_version()
        current = read_last_good(self.config, self.environment)
        candidates = [current, *read_history(self.config, self.environment)]
        for found in candidates:
            if found is None or found.judged_bad or found.version == running:
                continue
            self._quick = found.version
            self.why = (
                f"going back to {found.version}: the last-known-good before {running}, "
                "which runs now"
                if running
                else f"going back to {found.version}: the last-known-good (nothing runs now)"
            )
            return found.version
        self.why = (
            f"no last-known-good before {running} (which runs now) is recorded: nothing to go "
            "back to; pass --to VERSION to pin a recorded version"
            if running
            else "no last-known-good version recorded on this host"
        )
        return None

    def _running_version(self) -> str | None:
        """What the engine says runs now (the version label), else what the record says."""
        from relgate.deploy.context import DeployContext
        from relgate.deploy.driver import open_driver
        from relgate.deploy.state import read_last_good
        from relgate.errors import ServiceUnreachable

        name, env_config = self.config.environment(self.environment)
        ctx = DeployContext(self.config, self.run, name, env_config, area="rollback")
        driver = open_driver(ctx)
        try:
            version = driver.running_stack().version
        except ServiceUnreachable:  # the engine is down: the record says what ran
            version = None
        finally:
            driver.close()
        if version is None:
            last = read_last_good(self.config, self.environment)
            version = last.version if last else None
        return version

    def schema_now(self, when: str) -> str | None:
        from relgate.deploy.context import DeployContext
        from relgate.deploy.driver import open_driver
        from relgate.deploy.schema import read_schema
        from relgate.deploy.target import Target

        name, env_config = self.config.environment(self.environment)
        ctx = DeployContext(self.config, self.run, name, env_config, area="rollback")
        try:
            running = self._running_version() or "unknown"
            driver = open_driver(ctx)
            try:
                driver.prepare(Target(running))  # the variables compose exec needs
                return read_schema(ctx, driver, when)
            finally:
                driver.close()
        except Interrupted:
            raise
        except RelgateError as exc:  # the engine is down, the stack cannot be read: unknown
            self.run.reporter.warning(f"schema version {when}: {exc.message}")
            return None

    def recorded_schema(self, version: str) -> str | None:
        from relgate.deploy.state import find_in_history

        record = find_in_history(self.config, self.environment, version)
        return record.database_schema if record else None

    def stop(self, keep: Sequence[str]) -> str:
        from relgate.deploy.context import DeployContext
        from relgate.deploy.driver import open_driver
        from relgate.deploy.target import Target

        name, env_config = self.config.environment(self.environment)
        ctx = DeployContext(self.config, self.run, name, env_config, area="rollback")
        driver = open_driver(ctx)
        try:
            version = self.recorded(None) or "stopped"
            services = [s for s in driver.prepare(Target(version)).services if s not in keep]
            driver.stop(services)
        finally:
            driver.close()
        return f"stopped {', '.join(services) or 'the application'}"

    def record(self, version: str) -> str:
        from relgate.deploy.state import (
            find_in_history,
            read_last_good,
            write_last_good,
        )

        current = read_last_good(self.config, self.environment)
        if current is not None and current.version == version:
            return f"{version} already is the last-known-good"
        previous = find_in_history(self.config, self.environment, version)
        if previous is None:
            kept = current.version if current is not None else "nothing"
            return f"{version} has no record to restore (deployed by tag); the record still names {kept}"
        restored = previous.model_copy(
            update={"recorded_at": self.run.clock(), "run_id": self.run.id}
        )
        write_last_good(self.config, restored, demote_previous=True)
        was = current.version if current is not None else "nothing"
        return f"last-known-good is {version} again (was {was})"

    def redeploy(self, version: str | None) -> StageResult:
        from relgate.deploy.stage import redeploy_last_good

        result: StageResult = redeploy_last_good(
            self.config, self.run, environment=self.environment, to_version=version or self._quick
        )
        return result
