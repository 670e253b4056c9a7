"""``results/deploy.json``: the deploy stage's result, its health timeline and its decision.

Every moment that matters carries a timestamp: when each service became healthy, which event made
the gate fail, and when relgate decided (the benchmarks read these).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from relgate.results._stage import StageResult, Status

__all__ = [
    "CommandRecord",
    "Decision",
    "DeployResult",
    "HttpCheckRecord",
    "LogAssertionRecord",
    "Outcome",
    "RollbackRecord",
    "RollbackSmoke",
    "RunningService",
    "RunningStack",
    "ServiceReport",
    "TimelineEntry",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Outcome(StrEnum):
    DEPLOYED = "deployed"  # the target version passed the health gate
    ROLLED_BACK = "rolled_back"  # the target failed; the last-known-good is healthy again
    ROLLBACK_FAILED = "rollback_failed"  # the target failed, and so did the last-known-good
    NO_PREVIOUS_VERSION = "no_previous_version"  # the target failed; nothing to go back to
    FAILED = "failed"  # the target failed and rollback was disabled (--no-rollback)
    LOCK_BUSY = "lock_busy"  # another run holds the environment
    BAD_CONFIG = "bad_config"  # the compose file / config is invalid; nothing was touched


class CommandRecord(_Model):
    """One external command: what ran, how it ended and where its output is."""

    name: str
    argv: list[str]
    exit_code: int | None = Field(None, description="None when it timed out or could not start.")
    duration_s: float
    started_at: datetime
    timed_out: bool = False
    log: str | None = Field(None, description="Path of its output, relative to the run directory.")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class TimelineEntry(_Model):
    """A health transition of one container: created, starting, healthy, unhealthy, exited…"""

    at: datetime
    container: str = Field(description="Short container id (or pid for the process driver).")
    status: str
    detail: str = ""


class ServiceReport(_Model):
    """Where one service ended up, and how it got there."""

    name: str
    state: str = Field("missing", description="running, exited, restarting, missing…")
    health: str = Field("none", description="healthy, unhealthy, starting, or none (no check).")
    containers: list[str] = Field(default_factory=list)
    placement: list[str] = Field(
        default_factory=list, description="Swarm: '<task> on <node>' for each current task."
    )
    image: str | None = Field(None, description="Reference running, read from the engine.")
    image_id: str | None = None
    registry_digest: str | None = Field(None, description="Manifest digest in its registry.")
    restarts: int = 0
    time_to_healthy_s: float | None = None
    last_probe: str | None = Field(None, description="Output of the last failing health probe.")
    timeline: list[TimelineEntry] = Field(default_factory=list)


class Decision(_Model):
    """Why the gate ended the way it did, and when — measured for the benchmarks."""

    verdict: Literal["passed", "failed", "timeout"]
    reason: str
    service: str | None = None
    trigger_at: datetime | None = Field(
        None, description="When the deciding event happened (Docker's own event time)."
    )
    decided_at: datetime
    latency_s: float | None = Field(None, description="decided_at - trigger_at.")


class HttpCheckRecord(_Model):
    url: str
    ok: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None
    duration_s: float


class RollbackSmoke(_Model):
    """The smoke scenario run against the version a rollback brought back (``rollback.smoke_after``):
    which version it tested, and how it ended. The full report is kept beside it (``report``)."""

    version: str = Field(description="The rolled-back version the scenario ran against.")
    status: Status = Field(description="passed | failed (a step failed) | error (could not run).")
    summary: str
    failed_step: str | None = Field(None, description="'step 2/5 name — HTTP 500' when failed.")
    report: str | None = Field(None, description="Run-relative path of the full smoke report.")
    log: str | None = Field(None, description="Run-relative path of the smoke log.")


class RollbackRecord(_Model):
    """The redeploy of the last-known-good version after a failed gate."""

    version: str
    pinned_images: dict[str, str] = Field(
        default_factory=dict, description="service -> image ID the rollback ran."
    )
    healthy: bool
    decision: Decision | None = None
    services: list[ServiceReport] = Field(default_factory=list)
    http: HttpCheckRecord | None = None
    post_deploy: list[CommandRecord] = Field(
        default_factory=list, description="The post-deploy checks run again after the rollback."
    )
    smoke: RollbackSmoke | None = Field(
        None,
        description="The smoke run against the rolled-back version once it was healthy (None: "
        "not configured, or the rollback did not come back healthy); it decides the verdict.",
    )
    error: str | None = None
    started_at: datetime
    duration_s: float
    failure_to_healthy_s: float | None = Field(
        None, description="From the failure event to the previous version healthy again."
    )
    interrupted_by: str | None = Field(
        None, description="A signal that arrived during the rollback, which was finished first."
    )


class RunningService(_Model):
    """One service as the engine runs it now (read from the engine, not assumed)."""

    name: str
    container: str = Field(description="Short container id.")
    state: str
    image: str = Field(description="The reference the container was created from.")
    image_id: str
    repo_digests: list[str] = Field(default_factory=list)
    version: str | None = Field(None, description="The io.relgate.version label, if stamped.")
    config_hash: str | None = None


class RunningStack(_Model):
    """What runs now, captured from the engine before a deploy changes anything: the rollback
    target of that deploy, even when no record of it exists anywhere."""

    project: str | None
    engine: str
    captured_at: datetime
    services: dict[str, RunningService] = Field(default_factory=dict)

    @property
    def version(self) -> str | None:
        """The one version the stamped services agree on (None: unstamped, or they disagree)."""
        found = {s.version for s in self.services.values() if s.version}
        return found.pop() if len(found) == 1 else None

    def pins(self) -> dict[str, str]:
        """What a rollback runs: image IDs, or ``ref@sha256:…`` where the driver knows a registry
        digest (Swarm); never a tag (it may point elsewhere by now)."""
        return {
            n: s.image_id
            for n, s in self.services.items()
            if s.image_id.startswith("sha256:") or "@sha256:" in s.image_id
        }


class LogAssertionRecord(_Model):
    """How one log assertion (deploy.log_assertions) ended."""

    name: str
    service: str
    pattern: str
    max_age_s: float
    ok: bool
    matched_line: str | None = Field(None, description="The newest matching line (redacted).")
    matched_age_s: float | None = Field(None, description="Its age when checked.")
    lines_read: int = 0
    waited_s: float = 0
    reason: str = ""


class DeployResult(StageResult):
    """``results/deploy.json``."""

    stage: Literal["deploy"] = "deploy"
    driver: str = "compose"
    project: str | None = None
    target_version: str | None = None
    previous_version: str | None = Field(None, description="The last-known-good before this run.")
    rolled_back: bool = Field(
        False, description="True when the last-known-good runs again, healthy."
    )
    rolled_back_to: str | None = None
    services: list[ServiceReport] = Field(default_factory=list)
    decision: Decision | None = None
    http: HttpCheckRecord | None = None
    post_deploy: list[CommandRecord] = Field(default_factory=list)
    log_assertions: list[LogAssertionRecord] = Field(default_factory=list)
    commands: list[CommandRecord] = Field(default_factory=list)
    drift: list[str] = Field(
        default_factory=list, description="How the host differed from the record."
    )
    rollback: RollbackRecord | None = None
    running_before: RunningStack | None = Field(
        None, description="What ran before this deploy changed anything (from the engine)."
    )
    running_after: RunningStack | None = Field(
        None, description="What runs when the deploy was interrupted (from the engine)."
    )
    rollback_target: str | None = Field(
        None, description="What a failure goes back to, and where that was learned."
    )
    github_deployment: int | None = Field(None, description="The GitHub deployment's id.")
    warnings: list[str] = Field(default_factory=list)
    backup: str | None = Field(None, description="Pre-migration database backup, if taken.")
    schema_before: str | None = Field(None, description="deploy.schema_version before up.")
    schema_after: str | None = Field(None, description="deploy.schema_version after the attempt.")
    migrations_involved: bool | None = Field(
        None, description="schema_before != schema_after (None: unknown)."
    )
    database_note: str | None = Field(
        None, description="Whether the database needs a restore after a failure, and why."
    )
    last_good_written: bool = False
    generated_secrets: list[str] = Field(default_factory=list, description="Names only.")
