"""The deploy's GitHub deployment: written in Actions when a token is there, read on a fresh runner.

``deploy.github_deployments``: ``auto`` (in GitHub Actions, when the token variable is set), ``always``
or ``never``. Recording is evidence, not the gate: a GitHub error is a warning in the result, never a
failed deploy; an interruption is still an interruption.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from relgate.actions_context import ActionsContext
from relgate.config import RelgateConfig
from relgate.deploy.models import DeployResult, LastGood, ServiceImage
from relgate.errors import Interrupted, RelgateError
from relgate.run import Run

__all__ = ["GitHubRecord"]


class GitHubRecord:
    """One deploy's deployment on GitHub (``None`` from :meth:`open` when not recording)."""

    def __init__(self, client: Any, config: RelgateConfig, run: Run, environment: str) -> None:
        self.client = client
        self.config = config
        self.run = run
        self.environment = environment
        self.actions = ActionsContext.from_env(run.env)
        self.sha = self.actions.sha or ""
        self.deployment_id: int | None = None
        self.warnings: list[str] = []

    @classmethod
    def open(cls, config: RelgateConfig, run: Run, environment: str) -> GitHubRecord | None:
        env = run.env
        actions = ActionsContext.from_env(env)
        mode = config.deploy.github_deployments
        if mode == "never" or (mode == "auto" and not actions.in_actions):
            return None
        if not env.get(config.github.token_env) or not actions.sha:
            if mode == "always":
                run.reporter.warning(
                    f"deploy.github_deployments: always, but {config.github.token_env} or "
                    "GITHUB_SHA is not set: no GitHub deployment is recorded"
                )
            return None
        from relgate.github.client import GitHubClient

        client = GitHubClient.from_env(config, env, secrets=run.secrets)
        return cls(client, config, run, environment)

    # -- reading -------------------------------------------------------------------------------
    def last_good(self) -> LastGood | None:
        """The last successful deployment of the environment, as a last-known-good record."""
        from relgate.github.deployments import last_known_good

        found = self._quietly("read the last-known-good from GitHub Deployments", lambda: (
            last_known_good(self.client, self.environment)
        ))  # fmt: skip
        if found is None or not found.version:
            return None
        services = {
            name: ServiceImage.model_validate(spec)
            for name, spec in (found.payload.get("services") or {}).items()
            if isinstance(spec, dict)
        }
        return LastGood(
            environment=self.environment,
            driver=str(found.payload.get("driver") or "compose"),
            version=found.version,
            project=found.payload.get("project"),
            services=services,
            compose_config_hash=found.payload.get("compose_config_hash"),
            env_hash=str(found.payload.get("env_hash") or "unknown"),
            recorded_at=datetime.now(UTC),
            run_id=str(found.payload.get("run_id") or ""),
        )

    # -- writing -------------------------------------------------------------------------------
    def started(self, version: str) -> None:
        from relgate.github.deployments import start_deployment

        self.deployment_id = self._quietly("create the GitHub deployment", lambda: (
            start_deployment(
                self.client, environment=self.environment, ref=self.sha,
                payload=self._payload(version, "deploy", {}), description=f"relgate: {version}",
                environment_url=self._url(), log_url=self._log_url(),
            )
        ))  # fmt: skip

    def finished(self, result: DeployResult, last: LastGood | None) -> None:
        """Success or failure of this deploy; a rollback that ran healthy is recorded as a
        deployment of the restored version (the environment's page shows what runs)."""
        from relgate.github.deployments import finish_deployment, start_deployment

        if self.deployment_id is not None:
            deployment_id = self.deployment_id
            state = {"deployed": "success", None: "error"}.get(result.outcome, "failure")
            if result.status.value == "interrupted":
                state = "error"
            self._quietly("finish the GitHub deployment", lambda: finish_deployment(
                self.client, deployment_id, environment=self.environment, state=state,
                description=result.summary, environment_url=self._url(),
                log_url=self._log_url(),
            ))  # fmt: skip
        restored = result.rolled_back_to if result.rolled_back else None
        if restored is None:
            return
        pins = result.rollback.pinned_images if result.rollback is not None else {}
        images = last.services if last is not None and last.version == restored else {}
        images = images or {n: ServiceImage(image=i, image_id=i) for n, i in pins.items()}
        payload = self._payload(restored, "rollback", images)
        rolled = self._quietly("record the rollback on GitHub", lambda: start_deployment(
            self.client, environment=self.environment, ref=self._commit_of(last, restored),
            payload=payload, description=f"relgate: rolled back to {restored}",
            environment_url=self._url(), log_url=self._log_url(),
        ))  # fmt: skip
        if rolled is not None:
            self._quietly("finish the rollback deployment", lambda: finish_deployment(
                self.client, rolled, environment=self.environment, state="success",
                description=f"rolled back to {restored}", environment_url=self._url(),
                log_url=self._log_url(),
            ))  # fmt: skip

    # -- details -------------------------------------------------------------------------------
    def _payload(self, version: str, role: str, images: dict[str, ServiceImage]) -> dict[str, Any]:
        return {
            "version": version,
            "role": role,
            "run_id": self.run.id,
            "project": self.config.project.name,
            "services": {n: i.model_dump(mode="json") for n, i in images.items()},
        }

    def _commit_of(self, last: LastGood | None, version: str) -> str:
        commit = getattr(last, "commit", None) if last is not None else None
        return str(commit or self.sha)

    def _url(self) -> str:
        return self.config.environments[self.environment].base_url

    def _log_url(self) -> str:
        return self.actions.run_url() or ""

    def _quietly(self, what: str, step: Any) -> Any:
        try:
            return step()
        except Interrupted:
            raise
        except RelgateError as exc:
            message = f"GitHub Deployments: could not {what}: {exc.message}"
            self.warnings.append(message)
            self.run.reporter.warning(message)
            return None
