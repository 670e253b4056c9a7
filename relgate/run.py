"""The run: its id, its directory, its clock, its secrets and its reporter.

A run directory is the one contract between stages::

    <run-dir>/
      meta.json              who, what, when (merged by every stage)
      results/<stage>.json   one typed result per stage
      logs/                  logs, e.g. logs/deploy/compose-up.log
      artifacts/<stage>/     stage evidence, e.g. artifacts/smoke/04-lock.json
      summary.md             the job summary as written (outside Actions)

Every file is written through :class:`Run`'s writer, which redacts registered secrets and replaces
files atomically (temp file + rename), so a crash never leaves half a result behind. Logs are the
exception that proves the rule: they are appended line by line (redacted too), because a log that
only appears when complete is useless when the process dies.
"""

from __future__ import annotations

import json
import os
import secrets as _random
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel

from relgate.errors import BadInputError, GateFailed, Interrupted, RelgateError, UsageError
from relgate.gha import Reporter
from relgate.results import StageResult, Status, result_model, utcnow
from relgate.secrets import SecretRegistry

__all__ = ["Run", "new_run_id"]

R = TypeVar("R", bound=StageResult)
Clock = Callable[[], datetime]


def new_run_id(env: Mapping[str, str], clock: Clock = utcnow) -> str:
    """``gh-<run id>-<attempt>`` in Actions (every job of a workflow run agrees), else a UTC
    timestamp plus a random suffix (two runs in the same second never collide)."""
    run_id = env.get("GITHUB_RUN_ID")
    if env.get("GITHUB_ACTIONS") == "true" and run_id:
        return f"gh-{run_id}-{env.get('GITHUB_RUN_ATTEMPT', '1')}"
    return f"{clock().strftime('%Y%m%dT%H%M%SZ')}-{_random.token_hex(3)}"


class Run:
    """One release run. Create with :meth:`open`; pass it to stage functions."""

    def __init__(
        self,
        run_id: str,
        directory: Path,
        *,
        env: Mapping[str, str],
        secrets: SecretRegistry,
        reporter: Reporter,
        clock: Clock = utcnow,
        environment: str | None = None,
    ) -> None:
        self.id = run_id
        self.dir = directory
        self.env = dict(env)
        self.secrets = secrets
        self.reporter = reporter
        self.clock = clock
        self.environment = environment
        self.version: str | None = None

    @classmethod
    def open(
        cls,
        *,
        env: Mapping[str, str],
        reporter: Reporter,
        run_dir: str | os.PathLike[str] | None = None,
        base_dir: Path | None = None,
        clock: Clock = utcnow,
        environment: str | None = None,
    ) -> Run:
        """Open (or create) the run directory.

        The directory is, in order: ``run_dir`` (``--run-dir``), ``RELGATE_RUN_DIR`` (exported to
        later steps of the same job), or ``<base>/.relgate/runs/<run id>``. It is never guessed
        from "the newest folder".
        """
        chosen = run_dir or env.get("RELGATE_RUN_DIR")
        if chosen:
            directory = Path(chosen)
            run_id = _read_id(directory) or new_run_id(env, clock)
        else:
            run_id = new_run_id(env, clock)
            directory = (base_dir or Path.cwd()) / ".relgate" / "runs" / run_id
        if directory.exists() and not directory.is_dir():
            raise UsageError(f"--run-dir {directory}: exists and is not a directory")
        for sub in ("results", "logs", "artifacts"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        run = cls(
            run_id,
            directory.resolve(),
            env=env,
            secrets=reporter.secrets,
            reporter=reporter,
            clock=clock,
            environment=environment,
        )
        if reporter.summary_path is None:
            reporter.summary_path = run.dir / "summary.md"
        meta = run.read_meta()
        if "run_id" not in meta:
            run.update_meta(run_id=run_id, started_at=clock().isoformat(), environment=environment)
        reporter.export_env("RELGATE_RUN_DIR", str(run.dir))
        return run

    # -- paths -----------------------------------------------------------------------------
    def path(self, relative: str | os.PathLike[str]) -> Path:
        """``relative`` inside the run directory; refuses absolute paths and ``..``."""
        rel = Path(relative)
        if rel.is_absolute() or ".." in rel.parts:
            raise BadInputError(f"refusing to write outside the run directory: {relative}")
        return self.dir / rel

    def artifacts(self, stage: str) -> Path:
        p = self.dir / "artifacts" / stage
        p.mkdir(parents=True, exist_ok=True)
        return p

    def logs(self, stage: str) -> Path:
        p = self.dir / "logs" / stage
        p.mkdir(parents=True, exist_ok=True)
        return p

    # -- the writer --------------------------------------------------------------------------
    def write_bytes(self, relative: str | os.PathLike[str], data: bytes) -> Path:
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = self.secrets.redact_bytes(data)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            # The rename makes the write atomic for readers and against a crashing process. No
            # fsync per file: it guards only against a kernel crash and cost ~4 ms per artifact.
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def write_text(self, relative: str | os.PathLike[str], text: str) -> Path:
        return self.write_bytes(relative, self.secrets.redact(text).encode("utf-8"))

    def write_json(self, relative: str | os.PathLike[str], obj: Any) -> Path:
        """Write ``obj`` as JSON, every string redacted *before* it is JSON-escaped (a secret with
        a ``"`` or a ``\\`` changes shape once escaped), then the text redacted again."""
        if isinstance(obj, BaseModel):
            data, sort = obj.model_dump(mode="json"), False
        else:
            data, sort = json.loads(json.dumps(obj, default=str)), True
        clean = self.secrets.redact_obj(data)
        text = json.dumps(clean, indent=2, sort_keys=sort, ensure_ascii=False)
        return self.write_text(relative, text + "\n")

    def append_log(self, relative: str | os.PathLike[str], text: str) -> Path:
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(self.secrets.redact(text))
        return target

    @contextmanager
    def open_log(self, relative: str | os.PathLike[str]) -> Iterator[_RedactingStream]:
        """A text stream whose every write is redacted and appended to the log."""
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8") as fh:
            yield _RedactingStream(fh, self.secrets)

    # -- results and meta --------------------------------------------------------------------
    def write_result(self, result: StageResult) -> Path:
        if not result.run_id:
            result.run_id = self.id
        if result.environment is None:
            result.environment = self.environment
        if result.version is None:
            result.version = self.version
        if result.finished_at is None:
            result.finish(self.clock())
        return self.write_json(f"results/{result.stage}.json", result)

    def read_result(self, stage: str, model: type[R] | None = None) -> R | StageResult | None:
        p = self.path(f"results/{stage}.json")
        if not p.is_file():
            return None
        cls = model or result_model(stage)
        return cls.model_validate_json(p.read_bytes())

    def read_meta(self) -> dict[str, Any]:
        p = self.path("meta.json")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def update_meta(self, **fields: Any) -> dict[str, Any]:
        meta = self.read_meta()
        meta.update({k: v for k, v in fields.items() if v is not None})
        self.write_json("meta.json", meta)
        return meta

    @contextmanager
    def stage(self, name: str) -> Iterator[StageResult]:
        """Record a fallback result if the stage body raises before writing its own.

        A stage that fails, crashes or is interrupted is therefore never silently absent from the
        evidence. The exception is re-raised for the CLI to turn into an exit code.
        """
        started = StageResult(stage=name, status=Status.ERROR, started_at=self.clock())
        try:
            yield started
        except BaseException as exc:
            if not self._result_written_since(name, started.started_at):
                started.status, started.exit_code = _status_of(exc)
                started.error = self.secrets.redact(_describe(exc))
                started.summary = f"{name} {started.status.value}: {started.error}"
                self.write_result(started)
            raise

    def _result_written_since(self, stage: str, since: datetime) -> bool:
        # Read the raw field only: validating the stage's full model here could raise and hide
        # the exception that is being recorded.
        try:
            data = json.loads(self.path(f"results/{stage}.json").read_text(encoding="utf-8"))
            return datetime.fromisoformat(str(data["started_at"])) >= since
        except (OSError, ValueError, KeyError, TypeError):
            return False


def _status_of(exc: BaseException) -> tuple[Status, int]:
    if isinstance(exc, Interrupted | KeyboardInterrupt):
        return Status.INTERRUPTED, 3
    if isinstance(exc, GateFailed):
        return Status.FAILED, 1
    if isinstance(exc, RelgateError):
        return Status.ERROR, int(exc.exit_code)
    return Status.ERROR, 3


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RelgateError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    return f"{type(exc).__name__}: {exc}"


def _read_id(directory: Path) -> str | None:
    try:
        data = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("run_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


class _RedactingStream:
    """File-like: redacts each write. Writes are line-buffered by the underlying file."""

    def __init__(self, fh: IO[str], secrets: SecretRegistry) -> None:
        self._fh = fh
        self._secrets = secrets

    def write(self, text: str) -> int:
        return self._fh.write(self._secrets.redact(text))

    def flush(self) -> None:
        self._fh.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)
