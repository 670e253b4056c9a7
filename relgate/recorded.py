"""Reading results back: the one typed door to ``results/<stage>.json``.

A reader asks for a stage's result and gets a :class:`Recorded`, which says which of three things
is true, so that no reader has to guess:

* **missing** — no result file at all (the stage never ran, or never got as far as writing);
* **unreadable** — a file is there but cannot be trusted: not JSON, larger than
  :data:`MAX_RESULT_BYTES`, not the stage's model (a field missing or of the wrong type, an
  unknown field), another stage's result, or another ``schema_version``;
* **recorded** — the very model the stage wrote; its ``status`` says passed, failed, error…

Fail closed: only a *recorded* result whose status is ``passed`` is :attr:`Recorded.passed`. A
missing field is never defaulted to "passed" (``status`` has no default in the model).

The same parser serves a run directory (:func:`read_result`, ``Run.read_result``) and a bundle's
members (:func:`parse_result`), so a result means the same thing wherever it is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Generic, TypeVar, overload

from pydantic import ValidationError

from relgate.errors import VerificationError
from relgate.results import RESULT_MODELS, RESULT_SCHEMA_VERSION, StageName, StageResult, Status

__all__ = [
    "MAX_RESULT_BYTES",
    "ReadState",
    "Recorded",
    "ResultUnavailable",
    "model_of",
    "parse_result",
    "read_result",
    "result_path",
]

# A stage result is a page of JSON; anything this large is not one (and is not read into memory).
MAX_RESULT_BYTES = 16 << 20

R = TypeVar("R", bound=StageResult)
R_co = TypeVar("R_co", bound=StageResult, covariant=True)


class ReadState(StrEnum):
    MISSING = "missing"
    UNREADABLE = "unreadable"
    RECORDED = "recorded"


class ResultUnavailable(VerificationError):
    """A result a caller requires is missing, unreadable, or did not pass."""


@dataclass(frozen=True)
class Recorded(Generic[R_co]):
    """What reading one stage's result found. ``result`` is set only when ``state`` is
    ``recorded``; ``problem`` says why not otherwise."""

    stage: StageName
    state: ReadState
    result: R_co | None = None
    problem: str = ""

    @property
    def passed(self) -> bool:
        """True only for a readable result that says ``passed``."""
        return self.result is not None and self.result.status is Status.PASSED

    @property
    def failed(self) -> bool:
        """A readable result that says the stage did not pass (failed, error, interrupted)."""
        return self.result is not None and self.result.status in (
            Status.FAILED,
            Status.ERROR,
            Status.INTERRUPTED,
        )

    @property
    def verdict(self) -> str:
        """``missing``, ``unreadable``, or the recorded status (``passed``, ``failed``, …)."""
        return self.result.status.value if self.result is not None else self.state.value

    def describe(self) -> str:
        """One line for a human: the result's summary, or why there is none."""
        if self.result is not None:
            return f"{self.stage}: {self.result.status.value}: {self.result.summary}".rstrip(": ")
        return f"{self.stage}: {self.state.value}: {self.problem}"

    def get(self) -> R_co:
        """The result, whatever its status; :class:`ResultUnavailable` if missing or unreadable."""
        if self.result is None:
            raise ResultUnavailable(self.describe())
        return self.result

    def require_passed(self) -> R_co:
        """The result if it passed; else :class:`ResultUnavailable` saying why not."""
        result = self.get()
        if result.status is not Status.PASSED:
            raise ResultUnavailable(f"{self.stage}: required to pass but {self.describe()}")
        return result


def model_of(stage: StageName) -> type[StageResult]:
    return RESULT_MODELS[stage]


def result_path(directory: Path, stage: StageName) -> Path:
    return directory / "results" / f"{stage.value}.json"


@overload
def parse_result(stage: type[R], data: bytes, *, source: str = ...) -> Recorded[R]: ...
@overload
def parse_result(stage: StageName, data: bytes, *, source: str = ...) -> Recorded[StageResult]: ...
def parse_result(
    stage: type[StageResult] | StageName, data: bytes, *, source: str = ""
) -> Recorded[StageResult]:
    """``data`` (a result file's bytes) as the stage's model, or why it cannot be trusted."""
    model, name = _model_and_name(stage)
    where = source or f"results/{name.value}.json"
    if len(data) > MAX_RESULT_BYTES:
        return _unreadable(name, f"{where}: {_mib(len(data))}, more than a result may be")
    try:
        result = model.model_validate_json(data)
    except ValidationError as exc:
        return _unreadable(name, f"{where}: not a valid {model.__name__}: {_first(exc)}")
    if result.stage != name.value:
        return _unreadable(name, f"{where}: says it is the result of stage {result.stage!r}")
    if result.schema_version != RESULT_SCHEMA_VERSION:
        return _unreadable(
            name,
            f"{where}: schema_version {result.schema_version}; this relgate reads "
            f"{RESULT_SCHEMA_VERSION}",
        )
    return Recorded(name, ReadState.RECORDED, result)


@overload
def read_result(directory: Path, stage: type[R]) -> Recorded[R]: ...
@overload
def read_result(directory: Path, stage: StageName) -> Recorded[StageResult]: ...
def read_result(directory: Path, stage: type[StageResult] | StageName) -> Recorded[StageResult]:
    """The result of ``stage`` in the run directory ``directory``."""
    _model, name = _model_and_name(stage)
    path = result_path(directory, name)
    where = f"results/{name.value}.json"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return Recorded(name, ReadState.MISSING, problem=f"{where}: no such file")
    except OSError as exc:
        return _unreadable(name, f"{where}: {exc.strerror or exc}")
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > MAX_RESULT_BYTES:  # checked before reading: never load a huge file
            return _unreadable(name, f"{where}: {_mib(size)}, more than a result may be")
        data = fh.read(MAX_RESULT_BYTES + 1)
    return parse_result(stage, data, source=where)


def _model_and_name(stage: type[StageResult] | StageName) -> tuple[type[StageResult], StageName]:
    if isinstance(stage, StageName):
        return model_of(stage), stage
    default = stage.model_fields["stage"].default
    return stage, StageName(default)


def _unreadable(stage: StageName, problem: str) -> Recorded[StageResult]:
    return Recorded(stage, ReadState.UNREADABLE, problem=problem)


def _first(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(x) for x in first["loc"]) or "(document)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"
