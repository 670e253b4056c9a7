"""The run: its id, its directory, its clock, its secrets and its reporter.

A run directory is the one contract between stages::

    <run-dir>/
      meta.json              who, what, when (merged by every stage; a RunMeta)
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

import contextlib
import json
import os
import secrets as _random
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar, overload

from pydantic import BaseModel, ValidationError

from relgate.actions_context import ActionsContext
from relgate.errors import BadInputError, GateFailed, Interrupted, RelgateError, UsageError
from relgate.gha import Reporter
from relgate.recorded import ReadState, Recorded, read_result
from relgate.results import RunMeta, StageName, StageResult, Status, utcnow
from relgate.secrets import SecretRegistry

__all__ = ["Run", "new_run_id", "run_stage"]

R = TypeVar("R", bound=StageResult)
Clock = Callable[[], datetime]


def new_run_id(env: Mapping[str, str], clock: Clock = utcnow) -> str:
    """``gh-<run id>-<attempt>`` in Actions (every job of a workflow run agrees), else a UTC
    timestamp plus a random suffix (two runs in the same second never collide)."""
    key = ActionsContext.from_env(env).run_key
    if key:
        return key
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
        if run.read_meta().run_id is None:
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

    @overload
    def read_result(self, stage: type[R]) -> Recorded[R]: ...
    @overload
    def read_result(self, stage: StageName) -> Recorded[StageResult]: ...
    def read_result(self, stage: type[StageResult] | StageName) -> Recorded[StageResult]:
        """A stage's result: recorded (the stage's own model), missing or unreadable."""
        return read_result(self.dir, stage)

    def read_meta(self) -> RunMeta:
        """``meta.json``; :class:`BadInputError` if it is there but not a valid :class:`RunMeta`."""
        return _load_meta(self.path("meta.json")) or RunMeta()

    def update_meta(self, **fields: Any) -> RunMeta:
        """Merge ``fields`` (None values ignored) into ``meta.json``; unknown keys are refused."""
        merged = self.read_meta().model_dump(exclude_none=True)
        merged.update({k: v for k, v in fields.items() if v is not None})
        try:
            meta = RunMeta.model_validate(merged)
        except ValidationError as exc:
            raise BadInputError(f"meta.json: {_first_error(exc)}") from None
        self.write_json("meta.json", meta.model_dump(mode="json", exclude_none=True))
        return meta


def run_stage(
    run: Run,
    name: StageName,
    fn: Callable[[], R],
    *,
    partial: Callable[[BaseException], R] | None = None,
) -> R:
    """Run one stage body and make sure ``results/<name>.json`` says how it ended.

    The stage's own result is written when it returns (unless it wrote one itself meanwhile). When
    it raises, ``partial`` (the stage's hook, if it has one) turns the exception into the stage's
    own result — what was done so far, in its own model — and that is written. Without a hook, or
    when the hook raises, returns another stage's result or cannot be written, a generic fallback
    records the exception — failed (a gate said no), error (bad input, could not run, crash) or
    interrupted — so the result is never lost to a bug in the hook. A result the stage recorded
    itself first is kept: it says more than either. The exception is then re-raised: what it means
    (an exit code, a gate going on to archive) is the caller's business. So a stage that fails,
    crashes or is interrupted is never silently absent from the evidence.
    """
    started = run.clock()
    try:
        result = fn()
    except BaseException as exc:
        if not _recorded_since(run, name, started):
            _record_end(run, name, started, exc, partial)
        raise
    if not _recorded_since(run, name, started):
        run.write_result(result)
    return result


def _record_end(
    run: Run,
    name: StageName,
    started: datetime,
    exc: BaseException,
    partial: Callable[[BaseException], R] | None,
) -> None:
    """Write the stage's own partial result, or the generic fallback when there is none."""
    _keep_unreadable(run, name)
    lost = None
    if partial is not None:
        try:
            own = partial(exc)
            if own.stage != name.value:
                raise TypeError(f"the hook returned a {own.stage!r} result")
            run.write_result(own)
            return
        except BaseException as problem:  # interrupt-safe: exc, re-raised by run_stage, ends it
            lost = describe_end(problem)
    status, exit_code = ended_by(exc)
    fallback = StageResult(stage=name.value, status=status, exit_code=exit_code, started_at=started)
    fallback.error = run.secrets.redact(describe_end(exc))
    fallback.summary = f"{name.value} {status.value}: {fallback.error}"
    if lost is not None:
        fallback.error += f"; its own partial result was lost: {run.secrets.redact(lost)}"
    run.write_result(fallback)


def _keep_unreadable(run: Run, name: StageName) -> None:
    """A result file the stage wrote but its model refuses is evidence of a bug: keep its bytes
    beside the fallback that replaces it."""
    recorded = run.read_result(name)
    if recorded.state is ReadState.UNREADABLE:
        original = run.path(f"results/{name.value}.json")
        with contextlib.suppress(OSError):
            run.write_bytes(f"artifacts/{name.value}/unreadable-result.json", original.read_bytes())


def _recorded_since(run: Run, name: StageName, since: datetime) -> bool:
    """A readable result of ``name`` started at or after ``since`` (not one left by an earlier
    run of the same directory)."""
    recorded = run.read_result(name)
    return recorded.result is not None and recorded.result.started_at >= since


def _load_meta(path: Path) -> RunMeta | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return RunMeta.model_validate_json(data)
    except ValidationError as exc:
        raise BadInputError(f"{path}: not a valid meta.json: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first["loc"]) or "(document)"
    return f"{where}: {first['msg']}"


def ended_by(exc: BaseException) -> tuple[Status, int]:
    """The status and exit code a stage that raised ``exc`` ends with (the one rule for every
    stage's fallback and partial result)."""
    if isinstance(exc, Interrupted | KeyboardInterrupt):
        return Status.INTERRUPTED, 3
    if isinstance(exc, GateFailed):
        return Status.FAILED, 1
    if isinstance(exc, RelgateError):
        return Status.ERROR, int(exc.exit_code)
    return Status.ERROR, 3


def describe_end(exc: BaseException) -> str:
    """What ``exc`` says, for a result's ``error``."""
    if isinstance(exc, RelgateError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    return f"{type(exc).__name__}: {exc}"


def _read_id(directory: Path) -> str | None:
    meta = _load_meta(directory / "meta.json")
    return meta.run_id if meta else None


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
