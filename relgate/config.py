"""relgate.yml: the configuration models (pydantic v2) and the loader.

Where a setting can come from, highest priority first:

1. command-line flags of the command being run (``--version``, ``--env``…);
2. ``${VAR}`` / ``${VAR:-default}`` references in relgate.yml, resolved from the environment once
   at load time (never recursively);
3. the values written in relgate.yml;
4. the defaults below.

Secrets never come from the command line or from relgate.yml literals: the ``secrets`` section names
environment variables (or files) and the loader registers their values for redaction.

Every model forbids unknown keys, so a typo is an error with its line number, not a silent default.
Paths in the file are relative to the file's own directory.

Why this module is longer than ~500 lines: it *is* the reference of relgate.yml. The JSON Schema
(``relgate config schema``), the docs and the loader's ``file:line`` errors all come from these
models, read top to bottom in the order of the file's sections, and the loader's secret registration
walks them all. Behaviour lives elsewhere: this module only declares and loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from relgate.errors import ConfigError, Problem
from relgate.fields import ByteSize, Duration, require_https
from relgate.secrets import SecretRegistry, looks_secret_name, url_credentials

__all__ = [
    "ArchiveConfig",
    "ComposeStack",
    "DatabaseConfig",
    "DeployConfig",
    "EnvironmentConfig",
    "EvidenceConfig",
    "GitHubConfig",
    "HealthCheckConfig",
    "LockConfig",
    "LogAssertion",
    "NotesConfig",
    "OpsCheck",
    "OpsConfig",
    "OpsThreshold",
    "PostDeployCommand",
    "PreflightConfig",
    "ProcessStack",
    "ProjectConfig",
    "ProtectionConfig",
    "PublicKeyConfig",
    "ReleaseCheck",
    "ReleaseConfig",
    "RelgateConfig",
    "RollbackConfig",
    "SchemaVersionCommand",
    "SecretSpec",
    "SmokeConfig",
    "SwarmStack",
    "json_schema",
    "load_config",
]

DEFAULT_CONFIG = "relgate.yml"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _duplicates(values: Iterable[str]) -> list[str]:
    """The values that occur more than once, sorted (for "must be unique" errors)."""
    return sorted(v for v, n in Counter(values).items() if n > 1)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- project & secrets --------------------------------------------------------------------------
class Contact(Model):
    name: str
    email: str | None = None
    role: str | None = None


class ProjectConfig(Model):
    """What is released."""

    name: str = Field(description="Project name, used in notes, tags and summaries.")
    repository: str | None = Field(
        None,
        description="owner/name on GitHub; defaults to GITHUB_REPOSITORY or the git remote.",
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
    )
    repo_path: str = Field(".", description="The git working tree of the application.")
    tag_prefix: str = Field("v", description="Tags look like <prefix><version>, e.g. v1.2.3.")
    contacts: list[Contact] = Field(default_factory=list)


class SecretSpec(Model):
    """A secret: an environment variable (or file) whose value is registered for redaction."""

    name: str = Field(description="Environment variable that holds the value.")
    file: str | None = Field(None, description="Read the value from this file instead.")
    required: bool = Field(True, description="Preflight fails when the value is missing.")
    generate: bool = Field(
        False, description="If absent, generate 32 random bytes (hex) for this run."
    )
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} is not an environment variable name")
        return v


def _secret_spec(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


# -- environments & stacks ----------------------------------------------------------------------
class ComposeStack(Model):
    """A docker compose project (Compose v2 CLI)."""

    driver: Literal["compose"] = "compose"
    files: list[str] = Field(
        default_factory=lambda: ["docker-compose.yml"], min_length=1, description="Compose files."
    )
    project_name: str | None = Field(None, description="compose -p; defaults to the project name.")
    services: list[str] = Field(
        default_factory=list, description="Services the gate waits on (empty: all)."
    )
    profiles: list[str] = Field(default_factory=list)
    env_file: str | None = None
    working_dir: str | None = None
    images: dict[str, str] = Field(
        default_factory=dict,
        description="Per-service image reference templates, e.g. core: "
        "registry.example/app/core:{version} ({version} is the release version; write another "
        "service's own version in its template). relgate applies them in an override file, so "
        "no variable exported in the environment can change them.",
    )

    @field_validator("images")
    @classmethod
    def _image_templates(cls, v: dict[str, str]) -> dict[str, str]:
        from relgate.images import check_template

        for service, template in v.items():
            if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$", service):
                raise ValueError(f"{service!r} is not a compose service name")
            try:
                check_template(template)
            except ValueError as exc:
                raise ValueError(f"images.{service}: {exc}") from exc
        return v


class SwarmStack(Model):
    """A Swarm stack (docker stack deploy, watched through the Docker API); multi-host."""

    driver: Literal["swarm"]
    files: list[str] = Field(min_length=1)
    stack_name: str
    services: list[str] = Field(default_factory=list)
    resolve_image: Literal["always", "changed", "never"] = Field(
        "always",
        description="docker stack deploy --resolve-image: 'always' pins every image to its registry "
        "digest (what a rollback needs); 'never' for images loaded on every node.",
    )
    with_registry_auth: bool = Field(
        True, description="Send the manager's registry credentials to the nodes."
    )
    prune: bool = Field(False, description="Remove services no longer in the compose files.")


class ProcessStack(Model):
    """A local process (no Docker): the embedded demo, or apps run directly on the host."""

    driver: Literal["process"]
    command: list[str] = Field(
        min_length=1,
        description="argv; {version}, {port} and {state_dir} are substituted.",
    )
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    port: int | None = Field(None, ge=1, le=65535, description="Port the process listens on.")
    stop_timeout: Duration = timedelta(seconds=10)
    state_dir: str = Field(".relgate/process", description="pid files and logs of the process.")


Stack = Annotated[ComposeStack | SwarmStack | ProcessStack, Field(discriminator="driver")]


class ReviewerRef(Model):
    user: str | None = None
    team: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ReviewerRef:
        if (self.user is None) == (self.team is None):
            raise ValueError("a reviewer is either {user: login} or {team: slug}")
        return self


class ProtectionConfig(Model):
    """GitHub environment protection rules, applied by ``relgate environments apply``."""

    reviewers: list[ReviewerRef] = Field(default_factory=list, max_length=6)
    prevent_self_review: bool = False
    wait_timer: int = Field(0, ge=0, le=43200, description="Minutes to wait before a job runs.")
    branches: list[str] | None = Field(
        None, description="Branch name patterns allowed to deploy (custom policy)."
    )
    tags: list[str] | None = Field(None, description="Tag name patterns allowed to deploy.")
    protected_branches: bool = Field(False, description="Only protected branches may deploy.")

    @model_validator(mode="after")
    def _policy(self) -> ProtectionConfig:
        if self.protected_branches and (self.branches or self.tags):
            raise ValueError("protected_branches cannot be combined with branches/tags patterns")
        return self


class BackupRetention(Model):
    """Which of an environment's backups stay after each new one: a backup is deleted only when it
    is neither among the newest ``keep_last`` nor younger than ``max_age``. ``null`` turns a rule
    off; both ``null`` keeps everything. Never deleted: the backup just taken, the pre-migration
    backup of the version running now (what a full rollback goes back with), safety dumps, and
    files without a sidecar."""

    keep_last: int | None = Field(10, ge=1, description="Newest backups kept whatever their age.")
    max_age: Duration | None = Field(
        None, description="Backups younger than this are kept too (e.g. 14d)."
    )


class DatabaseConfig(Model):
    """The PostgreSQL database of an environment, for backups and full rollbacks."""

    kind: Literal["postgres"] = "postgres"
    dsn_env: str | None = Field(None, description="Env var holding a libpq DSN/URL (a secret).")
    service: str | None = Field(None, description="Reach the database with compose exec.")
    name: str | None = Field(None, description="Database name (with service).")
    user: str = "postgres"
    backup_dir: str = Field(".relgate/backups", description="Backups and their .json sidecars.")
    max_backup_age: Duration = timedelta(hours=24)
    format: Literal["custom", "plain"] = Field(
        "custom", description="custom: pg_dump -Fc; plain: gzip-compressed SQL (.sql.gz)."
    )
    maintenance_db: str = Field(
        "postgres", description="Database to connect to while the target is recreated."
    )
    timeout: Duration = Field(timedelta(minutes=30), description="Per dump or restore.")
    retention: BackupRetention = Field(default_factory=BackupRetention)

    @model_validator(mode="after")
    def _reach(self) -> DatabaseConfig:
        if (self.dsn_env is None) == (self.service is None):
            raise ValueError("set exactly one of dsn_env or service")
        return self


class EnvironmentConfig(Model):
    """One deployment target (staging, production…)."""

    allow_insecure_http: bool = Field(False, description="Permit http:// to non-loopback hosts.")
    base_url: str = Field(description="Public URL; https:// (loopback may use http://).")
    stack: Stack = Field(default_factory=ComposeStack)
    database: DatabaseConfig | None = None
    protection: ProtectionConfig | None = None
    state_dir: str | None = Field(
        None,
        description="Where the last-known-good record of this environment lives, on the host "
        "running relgate (default: $XDG_STATE_HOME/relgate/<project>, else "
        "~/.local/state/relgate/<project>: outside the workspace, which CI wipes).",
    )
    allow_workspace_state: bool = Field(
        False,
        description="Accept a state_dir inside GITHUB_WORKSPACE on a hosted (ephemeral) runner, "
        "where it is normally refused because it is wiped after every job.",
    )
    variables: dict[str, str] = Field(
        default_factory=dict, description="Extra environment passed to compose/the process."
    )

    @field_validator("base_url")
    @classmethod
    def _https(cls, v: str, info: ValidationInfo) -> str:
        return require_https(v, allow_http=bool(info.data.get("allow_insecure_http")))


# -- stages ---------------------------------------------------------------------------------------
class ReleaseCheck(Model):
    """A release check run in the application's checkout before anything is deployed (the runbook's
    ``composer release:check``, ``composer audit``): its exit code decides."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.:-]*$", max_length=64)
    command: list[str] = Field(min_length=1, description="argv, run without a shell.")
    cwd: str | None = Field(None, description="Relative to project.repo_path (default: it).")
    timeout: Duration = timedelta(minutes=10)
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment (no secrets).")


class PreflightConfig(Model):
    checks: list[ReleaseCheck] = Field(
        default_factory=list,
        description="Release checks run in the checkout (not the stack); any failure fails "
        "preflight, with each check's exit code, duration and last output lines in the evidence.",
    )
    tools: list[str] = Field(default_factory=list, description="Extra programs that must exist.")
    min_disk_free: ByteSize = Field(1024**3, description="Free space needed at the run directory.")
    require_tag: bool = Field(True, description="The version's git tag must exist.")
    check_ci: bool = Field(True, description="With a GitHub token: the commit's checks are green.")
    require_backup: bool = Field(False, description="A fresh database backup must exist.")
    check_tls: bool = Field(
        True, description="https base URLs resolve, and their certificate is trusted and valid."
    )
    min_cert_days: int = Field(
        14, ge=0, le=3650, description="Fail when the certificate expires sooner."
    )

    @field_validator("checks")
    @classmethod
    def _unique_checks(cls, v: list[ReleaseCheck]) -> list[ReleaseCheck]:
        if dupes := _duplicates(c.name for c in v):
            raise ValueError(f"release check names must be unique: {', '.join(dupes)}")
        return v


class HealthCheckConfig(Model):
    url: str = Field(description="Path (relative to base_url) or absolute URL; must answer 2xx.")
    timeout: Duration = Field(timedelta(seconds=5), description="Per request.")
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=list, description="Empty: any 2xx."
    )
    contains: str | None = Field(None, description="Body must contain this text.")


class PostDeployCommand(Model):
    name: str
    command: list[str] = Field(min_length=1)
    service: str | None = Field(None, description="Run with compose exec in this service.")
    timeout: Duration = timedelta(minutes=5)
    after_rollback: bool | None = Field(
        None,
        description="Run again after every rollback (automatic, quick, full). Default: yes, "
        "except a command named like a migration (name or argv containing 'migrat').",
    )


class LogAssertion(Model):
    """A service's recent logs must show a line matching ``pattern`` no older than ``max_age``
    (the runbook's "ingest-cron polled" check). relgate waits up to ``max_age`` for one."""

    name: str | None = Field(None, description="Default: '<service> logs'.")
    service: str
    pattern: str = Field(description="Python regular expression searched in each line.")
    max_age: Duration = Field(timedelta(minutes=2), description="Newest match must be this fresh.")
    tail: int = Field(200, ge=1, le=100_000, description="Log lines read (compose logs --tail).")

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return v

    @property
    def label(self) -> str:
        return self.name or f"{self.service} logs"


class SchemaVersionCommand(Model):
    """Prints the applied-migration list or schema version (``doctrine:migrations:list``…)."""

    command: list[str] = Field(min_length=1)
    service: str | None = Field(None, description="Run with compose exec in this service.")
    timeout: Duration = timedelta(minutes=1)


class DeployConfig(Model):
    version_variable: str = Field(
        "RELGATE_VERSION", description="Env var the compose file uses for the image tag."
    )
    git_checkout: bool = Field(False, description="Check out the version's git ref before build.")
    build: bool = False
    pull: bool = True
    timeout: Duration = Field(timedelta(seconds=90), description="Overall health-gate timeout.")
    stability_window: Duration = Field(
        timedelta(seconds=10), description="Services without healthcheck must stay up this long."
    )
    soak: Duration = Field(
        timedelta(0), description="After passing, keep watching this long; any failure rolls back."
    )
    health: HealthCheckConfig | None = None
    post_deploy: list[PostDeployCommand] = Field(default_factory=list)
    log_assertions: list[LogAssertion] = Field(
        default_factory=list,
        description="After post_deploy: recent log lines that must exist, or the deploy fails.",
    )
    schema_version: SchemaVersionCommand | None = Field(
        None,
        description="Recorded before and after the deploy: a difference means migrations were "
        "involved, which decides whether a rollback restores the database.",
    )
    rollback: bool = Field(True, description="Roll back to the last-known-good on failure.")
    backup_before_migrations: bool = False
    github_deployments: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Record each deploy (and rollback) as a GitHub deployment of the environment; "
        "a fresh runner reads the last-known-good there. auto: in GitHub Actions with a token.",
    )


class SmokeConfig(Model):
    scenario: str | None = Field(None, description="Scenario YAML file.")
    ca_bundle: str | None = None
    allow_insecure_http: bool = False
    junit: bool = True


class ArchiveConfig(Model):
    format: Literal["tar.zst", "tar.gz"] = Field(
        "tar.zst",
        description="tar.zst: ~10x faster to pack (multi-threaded zstd); tar.gz: readable by any "
        "tar without zstd. See docs/evidence.md.",
    )
    output_dir: str | None = Field(None, description="Where bundles go (default: beside the run).")
    retention_days: int = Field(365, ge=1, le=36500)
    include: list[str] = Field(
        default_factory=list, description="Extra files (globs) copied into the bundle."
    )


class PublicKeyConfig(Model):
    """A public key that may sign gate statements (``relgate keygen`` prints one)."""

    id: str = Field(
        description="Your name for the key; shown as 'signed by <id>'.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$",
    )
    public_key: str = Field(description="ed25519:<base64 of the 32 raw public key bytes>.")

    @field_validator("public_key")
    @classmethod
    def _ed25519(cls, v: str) -> str:
        import base64
        import binascii

        body = v.removeprefix("ed25519:")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not v.startswith("ed25519:") or len(raw) != 32:
            raise ValueError("expected ed25519:<base64 of 32 bytes> (see relgate keygen)")
        return v


class EvidenceConfig(Model):
    """Who may vouch for evidence: the signed gate statement (see docs/evidence.md)."""

    signing_key_env: str = Field(
        "RELGATE_SIGNING_KEY",
        description="Environment variable holding the Ed25519 private key archive signs with: in "
        "GitHub, an environment secret of the gate's environment. Registered as a secret.",
        pattern=_NAME.pattern,
    )
    keys: list[PublicKeyConfig] = Field(
        default_factory=list,
        description="Public keys whose signature release and verify-release accept (several: "
        "rotation). Empty: evidence is reported as unauthenticated.",
    )

    @field_validator("keys")
    @classmethod
    def _unique(cls, v: list[PublicKeyConfig]) -> list[PublicKeyConfig]:
        for attr in ("id", "public_key"):
            if dupes := _duplicates(getattr(k, attr) for k in v):
                raise ValueError(f"duplicate key {attr}: {', '.join(dupes)}")
        return v


class NotesConfig(Model):
    template: str | None = Field(None, description="Jinja template (default: built in).")
    tag_template: str | None = None
    output: str = "RELEASE_NOTES_{version}.md"
    strict: bool = True
    placeholders: list[str] = Field(
        default_factory=list, description="Extra regexes that must not survive rendering."
    )
    junit: list[str] = Field(default_factory=list, description="JUnit XML globs for test counts.")
    pr_branch: str = "relgate/release-notes-{version}"
    pr_base: str | None = Field(None, description="Base branch of the PR (default: repo default).")
    first_parent: bool = Field(
        False, description="Only mainline commits (merge/squash commits of PRs), not PR branches."
    )


class ReleaseConfig(Model):
    require: list[str] = Field(default_factory=lambda: ["deploy", "smoke"])
    name: str = "{tag}"
    draft: bool = False
    assets: list[str] = Field(default_factory=list)


class RollbackConfig(Model):
    default_mode: Literal["quick", "full"] = "quick"
    smoke_after: bool = Field(
        False, description="Run the smoke scenario after a rollback (needs smoke.scenario)."
    )
    keep_running: list[str] = Field(
        default_factory=list,
        description="Services a full rollback never stops (a database or cache in the stack).",
    )


class OpsThreshold(Model):
    """A number read from the check's output (the first group of ``pattern``) and its limits."""

    pattern: str = Field(description="Regular expression; its first group is the number.")
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _valid(self) -> OpsThreshold:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern: not a regular expression: {exc}") from exc
        if compiled.groups < 1:
            raise ValueError("pattern: needs a group capturing the number, e.g. 'locks: (\\d+)'")
        if self.max is None and self.min is None:
            raise ValueError("give max and/or min")
        return self


class OpsCheck(Model):
    """A daily operations check (the runbook's state-conflict alert, readiness diagnosis): it fails
    when it exits non-zero or its threshold is crossed; ``recovery`` then runs once (the stale-lock
    watchdog) and the check runs again."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.:-]*$", max_length=64)
    command: list[str] = Field(min_length=1)
    service: str | None = Field(None, description="Run with compose exec in this service.")
    timeout: Duration = timedelta(minutes=2)
    threshold: OpsThreshold | None = None
    recovery: list[str] | None = Field(
        None, description="argv run (in the same service) when the check fails, before a re-check."
    )


class OpsConfig(Model):
    """``relgate ops``: scheduled checks of a running environment."""

    checks: list[OpsCheck] = Field(default_factory=list)
    incident: bool = Field(
        True,
        description="Open/update one incident issue per environment on failure; close it on "
        "recovery (needs a GitHub token; skipped with a note without one).",
    )
    incident_label: str = Field("relgate-incident", min_length=1, max_length=50)

    @field_validator("checks")
    @classmethod
    def _unique(cls, v: list[OpsCheck]) -> list[OpsCheck]:
        if dupes := _duplicates(c.name for c in v):
            raise ValueError(f"ops check names must be unique: {', '.join(dupes)}")
        return v


class LockConfig(Model):
    dir: str | None = Field(
        None,
        description="Lock files, one per project + environment + engine, on the host running "
        "relgate (default: $XDG_STATE_HOME/relgate/locks, else ~/.local/state/relgate/locks). "
        "Must not be world-writable.",
    )
    wait: Duration = Field(timedelta(0), description="Default --wait-lock.")
    mode: Literal["auto", "always", "never"] = Field(
        "auto",
        description="auto and always: lock everywhere, GitHub Actions included (a concurrency "
        "group serialises one repository's runs, not an operator or another repository); never.",
    )


class GitHubConfig(Model):
    api_url: str = Field(
        "https://api.github.com",
        description="GitHub Enterprise: …/api/v3. https:// (the token travels with every request); "
        "http:// only to a loopback host.",
    )
    token_env: str = "GITHUB_TOKEN"  # noqa: S105 (a variable name, not a value)
    max_retries: int = Field(5, ge=0, le=20, description="Retries of 5xx and rate limits.")
    max_wait: Duration = Field(
        timedelta(minutes=5), description="Longest wait for a rate limit to reset before failing."
    )

    @field_validator("api_url")
    @classmethod
    def _https(cls, v: str) -> str:
        # No opt-out: the token is sent with every request to this URL.
        if url_credentials(v):
            raise ValueError("must not carry credentials (the token comes from token_env)")
        return require_https(v)


class RelgateConfig(Model):
    """relgate.yml"""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    version: Literal[1] = 1
    project: ProjectConfig
    secrets: list[Annotated[SecretSpec, Field()]] = Field(default_factory=list)
    environments: dict[str, EnvironmentConfig] = Field(min_length=1)
    preflight: PreflightConfig = Field(default_factory=PreflightConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    smoke: SmokeConfig = Field(default_factory=SmokeConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    notes: NotesConfig = Field(default_factory=NotesConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    rollback: RollbackConfig = Field(default_factory=RollbackConfig)
    lock: LockConfig = Field(default_factory=LockConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)
    github: GitHubConfig = Field(default_factory=GitHubConfig)

    _source: Path | None = PrivateAttr(None)
    _digest: str = PrivateAttr("")
    _env_refs: frozenset[str] = PrivateAttr(frozenset())

    @field_validator("secrets", mode="before")
    @classmethod
    def _secret_names(cls, v: Any) -> Any:
        return [_secret_spec(item) for item in v] if isinstance(v, list) else v

    @field_validator("environments")
    @classmethod
    def _env_names(cls, v: dict[str, EnvironmentConfig]) -> dict[str, EnvironmentConfig]:
        for name in v:
            if not re.match(r"^[A-Za-z0-9_.-]+$", name):
                raise ValueError(f"environment name {name!r}: use letters, digits, . _ -")
        return v

    # -- resolved facts -------------------------------------------------------------------------
    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    @property
    def digest(self) -> str:
        """sha256 of the file as written (before interpolation): what the evidence cites."""
        return self._digest

    def resolve_path(self, path: str | os.PathLike[str]) -> Path:
        p = Path(os.path.expanduser(os.fspath(path)))
        return p if p.is_absolute() else self.base_dir / p

    def environment(self, name: str | None) -> tuple[str, EnvironmentConfig]:
        """The environment called ``name`` (or the only/first one)."""
        from relgate.errors import UsageError

        if name is None:
            name = "staging" if "staging" in self.environments else next(iter(self.environments))
        if name not in self.environments:
            raise UsageError(
                f"--env {name}: no such environment in {self._source or DEFAULT_CONFIG} "
                f"(defined: {', '.join(self.environments)})"
            )
        return name, self.environments[name]

    def secret_names(self) -> list[str]:
        """Declared secrets plus token/password-looking variables the file refers to."""
        names = [s.name for s in self.secrets]
        names += [self.github.token_env, self.evidence.signing_key_env]
        names += sorted(n for n in self._env_refs if looks_secret_name(n))
        return list(dict.fromkeys(names))


def load_config(
    path: str | os.PathLike[str] = DEFAULT_CONFIG,
    *,
    env: Mapping[str, str] | None = None,
    secrets: SecretRegistry | None = None,
) -> RelgateConfig:
    """Load, interpolate and validate relgate.yml; register its secrets' values.

    Raises :class:`ConfigError` with every problem located as ``file:line field: message``.
    """
    from relgate.yamlfile import interpolate, load_yaml, validate_model

    env = os.environ if env is None else env
    p = Path(path)
    loaded = load_yaml(p, display=str(path))
    if not isinstance(loaded.data, dict):
        raise ConfigError([Problem(str(path), 1, "", "the top level must be a mapping of keys")])
    problems = interpolate(loaded, env)
    # `$schema:` is for editors (as in the JSON Schema); a string, and nothing relgate reads.
    if "$schema" in loaded.data:
        if not isinstance(loaded.data["$schema"], str):
            problems.append(
                Problem(
                    str(path),
                    loaded.line_of(("$schema",)),
                    "$schema",
                    "must be a string (the schema's URL or path)",
                )
            )
        del loaded.data["$schema"]
    config = validate_model(RelgateConfig, loaded, problems)
    if config.rollback.smoke_after and config.smoke.scenario is None:
        # caught here, not at 2 a.m. when a rollback asked to be smoke-verified cannot be
        raise ConfigError([Problem(
            str(path), loaded.line_of(("rollback", "smoke_after")), "rollback.smoke_after",
            "true needs smoke.scenario (the scenario every rollback is then verified with)",
        )])  # fmt: skip
    config._source = p.resolve()
    config._digest = hashlib.sha256(p.read_bytes()).hexdigest()
    config._env_refs = frozenset(loaded.env_refs)
    if secrets is not None:
        register_secrets(config, env, secrets)
    return config


def register_secrets(
    config: RelgateConfig, env: Mapping[str, str], secrets: SecretRegistry
) -> list[str]:
    """Register every secret value relgate can know of; return the names that are missing."""
    missing = []
    for spec in config.secrets:
        value = env.get(spec.name)
        if value is None and spec.file:
            try:
                value = config.resolve_path(spec.file).read_text(encoding="utf-8").strip()
            except OSError:
                value = None
        if value:
            secrets.register(value, spec.name)
        elif spec.required and not spec.generate:
            missing.append(spec.name)
    for name in config.secret_names():
        secrets.register(env.get(name), name)
    for text in _strings(config.model_dump(mode="json")):
        for cred in url_credentials(text) if "@" in text else ():
            secrets.register(cred, "URL credentials in relgate.yml")
    return missing


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def json_schema() -> dict[str, Any]:
    """The JSON Schema of relgate.yml (shipped as schema/relgate.schema.json)."""
    schema = RelgateConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://relgate.dev/schema/relgate.schema.json"
    schema["title"] = "relgate.yml"
    # The loader also accepts a bare variable name for a secret (shorthand for {name: X}).
    schema["properties"]["secrets"]["items"] = {
        "anyOf": [
            {"type": "string", "pattern": _NAME.pattern},
            {"$ref": "#/$defs/SecretSpec"},
        ]
    }
    # Editors point at the schema with a `$schema:` key; the loader ignores it the same way.
    schema["properties"]["$schema"] = {
        "type": "string",
        "description": "The JSON Schema this file follows (for editors); ignored by relgate.",
    }
    return interpolable(schema)


# What the loader accepts in place of any scalar: a string it interpolates from the environment
# before validating (`timeout: ${DEPLOY_TIMEOUT:-90s}`, `port: ${PORT}`). The schema cannot know
# the environment, so it accepts such a string wherever the loader would.
INTERPOLATED: dict[str, Any] = {
    "type": "string",
    "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*([:]?[-?][^}]*)?\}",
    "description": "${VAR}, ${VAR:-default}, ${VAR-default} or ${VAR:?message}: interpolated "
    "from the environment at load time, then validated.",
}
_NESTED = ("properties", "$defs", "patternProperties")
_SUBSCHEMA = ("items", "additionalProperties")
_ALTERNATIVES = ("anyOf", "oneOf", "allOf")


def interpolable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every scalar leaf also accepting an interpolated string (see INTERPOLATED),
    so an editor and ``relgate config check`` agree on files that use ``${VAR}``.

    Literal tags (``const``, the discriminators of ``driver:``-style unions) are left alone: the
    loader picks the union member before interpolation could change it.
    """

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        out = dict(node)
        for key in _NESTED:
            if isinstance(out.get(key), dict):
                out[key] = {name: walk(sub) for name, sub in out[key].items()}
        for key in _SUBSCHEMA:
            if isinstance(out.get(key), dict):
                out[key] = walk(out[key])
        for key in _ALTERNATIVES:
            if isinstance(out.get(key), list):
                out[key] = [walk(sub) for sub in out[key]]
        if _is_scalar_leaf(out):
            return {"anyOf": [out, INTERPOLATED]}
        return out

    return walk(schema)  # type: ignore[no-any-return]


def _is_scalar_leaf(node: dict[str, Any]) -> bool:
    if "const" in node or any(k in node for k in (*_NESTED, *_SUBSCHEMA, *_ALTERNATIVES, "$ref")):
        return False
    kind = node.get("type")
    if kind in ("object", "array"):
        return False
    if kind == "string" and not any(
        k in node for k in ("pattern", "format", "enum", "maxLength", "minLength")
    ):
        return False  # any string already accepts ${VAR}
    return kind is not None or "enum" in node


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
