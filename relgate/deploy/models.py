"""What the deploy stage keeps on the host: the last-good record, and each outcome's exit code.

The deploy result itself (``results/deploy.json``) lives in :mod:`relgate.results.deploy` with
every other result model; it is re-exported here for the deploy code.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from relgate.results.deploy import (
    CommandRecord,
    Decision,
    DeployResult,
    HttpCheckRecord,
    Outcome,
    RollbackRecord,
    RollbackSmoke,
    RunningService,
    RunningStack,
    ServiceReport,
    TimelineEntry,
)

__all__ = [
    "OUTCOME_EXIT",
    "VERSION_LABEL",
    "CommandRecord",
    "Decision",
    "DeployResult",
    "HttpCheckRecord",
    "LastGood",
    "Outcome",
    "RollbackRecord",
    "RollbackSmoke",
    "RunningService",
    "RunningStack",
    "ServiceImage",
    "ServiceReport",
    "TimelineEntry",
]


# The label relgate stamps on the containers of the services it versions: what runs says what it is.
VERSION_LABEL = "io.relgate.version"

# The exit code of each outcome (0 passed, 1 gate failed, 2 bad input, 3 could not run).
OUTCOME_EXIT: dict[Outcome, int] = {
    Outcome.DEPLOYED: 0,
    Outcome.ROLLED_BACK: 1,
    Outcome.ROLLBACK_FAILED: 1,
    Outcome.NO_PREVIOUS_VERSION: 1,
    Outcome.FAILED: 1,
    Outcome.LOCK_BUSY: 3,
    Outcome.BAD_CONFIG: 2,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceImage(_Model):
    """The exact image a service ran, so a rollback can run the very same bytes again."""

    image: str = Field(description="The reference the container runs, read from the engine.")
    image_id: str = Field(description="sha256:… image ID on the deploy host.")
    repo_digests: list[str] = Field(default_factory=list)
    registry_digest: str | None = Field(
        None, description="sha256:… manifest digest in the reference's registry (None: local)."
    )
    config_hash: str | None = Field(None, description="Compose's com.docker.compose.config-hash.")


class LastGood(_Model):
    """``<state_dir>/<env>.last-good.json``: the last version that passed the gate on this host.

    Hashes only: the environment hash covers variable values without recording any of them. The
    effective compose configuration that ran (values included, so possibly secrets) is kept beside
    it in a private file (``compose_snapshot``, mode 0600), never in the record or the evidence.
    """

    schema_version: int = 1
    environment: str
    driver: str
    version: str
    project: str | None = None
    engine: str | None = None
    services: dict[str, ServiceImage] = Field(default_factory=dict)
    compose_config_hash: str | None = None
    compose_snapshot: str | None = Field(
        None, description="File (in the state dir) holding the effective compose config that ran."
    )
    judged_bad: bool = Field(
        False, description="A rollback went away from it: a quick rollback never returns to it."
    )
    env_hash: str
    env_keys: list[str] = Field(default_factory=list)
    recorded_at: datetime
    run_id: str
    database_schema: str | None = Field(None, description="deploy.schema_version at record time.")
