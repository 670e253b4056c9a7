"""Read and verify an evidence bundle without extracting it.

(Longer than ~500 lines on purpose: the streaming reader, its safety limits, the manifest
comparison and the typed loading of results are one pass over the tar and share its state.)

A bundle is read as a stream, member by member, in one pass: nothing touches the disk, so a hostile
bundle cannot plant files, and the checks below refuse it before any of its content is trusted:

* only regular files (and directories, ignored) — links, devices and FIFOs are refused;
* every path relative, under one root folder, without ``..`` or empty parts, and unique;
* limits on the number of members, the size of one member and the total size.

Integrity: every member is hashed while it streams by; at the end the canonical ``manifest.json``
(see :mod:`relgate.evidence.manifest`) must list exactly the members present with the same sizes
and digests. Any difference raises :class:`BundleTampered`, naming each file concerned. Results are
then read through :func:`relgate.recorded.parse_result`, as a run directory's are: a result
that is unreadable (malformed, oversized, another stage's or schema) makes the bundle unusable.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError

from relgate.errors import BadInputError, RelgateError, VerificationError
from relgate.evidence.manifest import (
    MANIFEST_NAME,
    STATEMENT_NAME,
    SUMS_NAME,
    Manifest,
    ManifestError,
)
from relgate.recorded import ReadState, Recorded, parse_result
from relgate.results import STAGES, RunMeta, StageName, StageResult, Status

__all__ = [
    "Bundle",
    "BundleLimits",
    "BundleReport",
    "BundleTampered",
    "LooseResult",
    "bundle_report",
    "detect_format",
    "extract_bundle",
    "known_stage",
    "open_bundle",
    "required_problems",
    "verify_bundle",
]

R = TypeVar("R", bound=StageResult)

_CHUNK = 1 << 20
# Small members kept in memory during the pass: they are what a verifier and the stages read.
_KEEP_MAX = 16 << 20


class LooseResult(StageResult):
    """The result of a stage this relgate has no model for: its common fields are checked, the
    rest is kept as is (a newer relgate's or a plugin's stage must not make a bundle unreadable)."""

    model_config = ConfigDict(extra="allow")


def known_stage(stage: str) -> StageName | None:
    """The :class:`StageName` of ``results/<stage>.json``; None for a stage relgate has no model
    for (read as a :class:`LooseResult`)."""
    try:
        return StageName(stage)
    except ValueError:
        return None


class BundleTampered(VerificationError):
    """The bundle's bytes do not match its manifest, or it is not a safe relgate bundle."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{path.name}: " + "; ".join(self.problems))

    def lines(self) -> list[str]:
        return [f"evidence verification failed: {p}" for p in self.problems]


@dataclass(frozen=True)
class BundleLimits:
    """Refuse bundles beyond these (a decompression bomb stops here, not at the disk's end)."""

    max_members: int = 100_000
    max_member_size: int = 16 << 30
    max_total_size: int = 64 << 30


class BundleReport(BaseModel):
    """What ``relgate evidence verify`` found."""

    path: str
    digest: str = Field(description="sha256:<hex> of the canonical manifest: the bundle digest.")
    format: str
    size: int = Field(description="Bytes of the bundle file.")
    files: int = Field(description="Files listed in the manifest.")
    content_size: int
    meta: RunMeta = Field(default_factory=RunMeta)
    stages: dict[str, SerializeAsAny[StageResult]] = Field(default_factory=dict)
    verdicts: dict[str, str] = Field(
        default_factory=dict, description="stage -> passed/failed/…/missing"
    )
    required: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list, description="Unmet requirements.")

    @property
    def ok(self) -> bool:
        return not self.problems


def detect_format(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "tar.zst"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "unknown"


@dataclass
class _Member:
    path: str  # relative to the bundle root
    size: int
    sha256: str
    data: bytes | None


@contextmanager
def _tar_stream(path: Path) -> Iterator[tuple[str, tarfile.TarFile, Any]]:
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed below, after the decompressor)
    except OSError as exc:
        raise BadInputError(f"cannot read bundle {path}: {exc.strerror}") from None
    with raw:
        fmt = detect_format(raw.read(512))
        raw.seek(0)
        stream: Any  # GzipFile, ZstdDecompressionReader or the raw file: all read() bytes
        if fmt == "tar.gz":
            import gzip

            stream = gzip.GzipFile(fileobj=raw, mode="rb")
        elif fmt == "tar.zst":
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        elif fmt == "tar":
            stream = raw
        else:
            raise BadInputError(f"{path}: not an evidence bundle (neither tar.gz nor tar.zst)")
        with stream, tarfile.open(fileobj=stream, mode="r|") as tf:
            yield fmt, tf, stream


def _safe_relpath(name: str, root: str | None) -> tuple[str, str]:
    """(root, path below root) of a member name, or ValueError saying why it is unsafe."""
    if name.startswith("/") or "\\" in name or "\0" in name:
        raise ValueError("absolute or non-POSIX path")
    parts = PurePosixPath(name).parts
    if not parts or any(p in ("..", ".", "") for p in parts) or "//" in name:
        raise ValueError("path with '..' or empty parts")
    if root is not None and parts[0] != root:
        raise ValueError(f"outside the bundle's root folder {root}/")
    return parts[0], "/".join(parts[1:])


def _iter_members(
    path: Path,
    limits: BundleLimits,
    keep: Callable[[str], bool],
    sink: Callable[[str], IO[bytes]] | None = None,
) -> Iterator[tuple[str, _Member | None]]:
    """Yield (format, member) for each file; ``member`` None for directory entries. With
    ``sink``, each file's bytes are also written to ``sink(relpath)`` as they stream by."""
    root: str | None = None
    seen: set[str] = set()
    total = 0
    where = "in the first member"
    try:
        with _tar_stream(path) as (fmt, tf, stream):
            for info in tf:
                where = f"in {info.name}"
                try:
                    root, rel = _safe_relpath(info.name, root)
                except ValueError as why:
                    raise BundleTampered(path, [f"unsafe member {info.name!r}: {why}"]) from None
                if info.isdir():
                    yield fmt, None
                    continue
                if not info.isreg():
                    raise BundleTampered(path, [f"unsafe member {info.name!r}: {_kind(info)}"])
                if not rel or rel in seen:
                    raise BundleTampered(path, [f"duplicate or empty member {info.name!r}"])
                seen.add(rel)
                total += info.size
                _check_limits(path, limits, len(seen), info, total)
                out = sink(rel) if sink is not None else None
                try:
                    member = _read_member(tf, info, rel, keep(rel) and info.size <= _KEEP_MAX, out)
                finally:
                    if out is not None:
                        out.close()
                where = f"after {info.name}"
                yield fmt, member
            _drain(stream)
    except RelgateError:
        raise
    except Exception as exc:  # tarfile, gzip, zlib, zstandard: all mean the bytes are damaged
        raise BundleTampered(path, [f"damaged data {where}: {exc}"]) from None


def _drain(stream: Any) -> None:
    """Read to the end of the compressed stream: its checksum (zstd) or CRC (gzip) is verified
    there, and a damaged header that looks like the end of the archive must not hide the rest."""
    while chunk := stream.read(_CHUNK):
        if chunk.strip(b"\0"):
            raise ValueError("data after the end of the tar archive")


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return f"symbolic link to {info.linkname!r} (links are refused)"
    if info.islnk():
        return f"hard link to {info.linkname!r} (links are refused)"
    if info.ischr() or info.isblk():
        return "device file (refused)"
    if info.isfifo():
        return "FIFO (refused)"
    return "not a regular file (refused)"


def _check_limits(
    path: Path, limits: BundleLimits, count: int, info: tarfile.TarInfo, total: int
) -> None:
    if count > limits.max_members:
        raise BundleTampered(path, [f"more than {limits.max_members} members"])
    if info.size > limits.max_member_size:
        raise BundleTampered(path, [f"{info.name}: larger than {limits.max_member_size} bytes"])
    if total > limits.max_total_size:
        raise BundleTampered(path, [f"content larger than {limits.max_total_size} bytes"])


def _read_member(
    tf: tarfile.TarFile, info: tarfile.TarInfo, rel: str, keep: bool, out: IO[bytes] | None
) -> _Member:
    fh = tf.extractfile(info)
    digest = hashlib.sha256()
    kept: list[bytes] = []
    size = 0
    if fh is not None:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if keep:
                kept.append(chunk)
            if out is not None:
                out.write(chunk)
    return _Member(rel, size, digest.hexdigest(), b"".join(kept) if keep else None)


def _keep_index(rel: str) -> bool:
    return rel in (MANIFEST_NAME, SUMS_NAME, STATEMENT_NAME, "meta.json") or (
        rel.startswith("results/") and rel.endswith(".json") and rel.count("/") == 1
    )


@dataclass
class _Scan:
    format: str
    manifest: Manifest
    kept: dict[str, bytes]
    statement: bytes | None = None


def _scan(path: Path, limits: BundleLimits) -> _Scan:
    """One pass: every member hashed and compared with the manifest; index files kept."""
    fmt = "unknown"
    members: dict[str, _Member] = {}
    for seen_fmt, member in _iter_members(path, limits, _keep_index):
        fmt = seen_fmt
        if member is not None:
            members[member.path] = member
    stored = members.pop(MANIFEST_NAME, None)
    statement = members.pop(STATEMENT_NAME, None)
    if stored is None or stored.data is None:
        raise BundleTampered(path, [f"{MANIFEST_NAME} is missing"])
    try:
        manifest = Manifest.parse(stored.data)
    except ManifestError as exc:
        raise BundleTampered(path, [str(exc)]) from None
    problems = _compare(manifest, members)
    sums = members.get(SUMS_NAME)
    if sums is not None and sums.data is not None:
        listed = Manifest.of(f for f in manifest.files if f.path != SUMS_NAME).sums_bytes()
        if sums.data != listed:
            problems.append(f"{SUMS_NAME}: does not match {MANIFEST_NAME}")
    if problems:
        raise BundleTampered(path, problems)
    kept = {rel: m.data for rel, m in members.items() if m.data is not None}
    return _Scan(fmt, manifest, kept, statement.data if statement is not None else None)


def _compare(manifest: Manifest, members: dict[str, _Member]) -> list[str]:
    problems = []
    listed = manifest.by_path()
    for rel, entry in listed.items():
        member = members.get(rel)
        if member is None:
            problems.append(f"{rel}: listed in the manifest but missing from the bundle")
        elif member.size != entry.size or member.sha256 != entry.sha256:
            problems.append(f"{rel}: content differs from the manifest (modified)")
    problems += [
        f"{rel}: present in the bundle but not in the manifest (added)"
        for rel in sorted(members)
        if rel not in listed
    ]
    return problems


def _load_results(path: Path, kept: dict[str, bytes]) -> dict[str, StageResult]:
    stages: dict[str, StageResult] = {}
    problems: list[str] = []
    for rel, data in sorted(kept.items()):
        if not (rel.startswith("results/") and rel.endswith(".json")):
            continue
        stage = rel[len("results/") : -len(".json")]
        name = known_stage(stage)
        if name is None:
            try:
                loose = LooseResult.model_validate_json(data)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"])
                problems.append(f"{rel}: not a valid stage result: {where}: {first['msg']}")
                continue
            if loose.stage != stage:
                problems.append(f"{rel}: says it is the result of stage {loose.stage!r}")
                continue
            stages[stage] = loose
            continue
        recorded = parse_result(name, data, source=rel)
        if recorded.result is None:
            problems.append(recorded.problem)
            continue
        stages[stage] = recorded.result
    if problems:
        raise BundleTampered(path, problems)
    return stages


def _load_meta(path: Path, kept: dict[str, bytes]) -> RunMeta:
    raw = kept.get("meta.json")
    if raw is None:
        return RunMeta()
    try:
        return RunMeta.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(document)"
        raise BundleTampered(
            path, [f"meta.json: not a valid RunMeta: {where}: {first['msg']}"]
        ) from None


class Bundle:
    """A verified bundle, opened read-only. Create with :func:`open_bundle`."""

    def __init__(
        self,
        path: Path,
        scan: _Scan,
        meta: RunMeta,
        stages: dict[str, StageResult],
        limits: BundleLimits,
    ) -> None:
        self.path = path
        self.format = scan.format
        self.manifest = scan.manifest
        self.digest = scan.manifest.digest
        self.meta = meta
        self.stages = stages
        self._kept = scan.kept
        self.limits = limits
        # The DSSE envelope of the gate statement, unparsed (relgate.evidence.proof judges it).
        self.statement = scan.statement

    def result(self, stage: str) -> StageResult | None:
        return self.stages.get(stage)

    @overload
    def read_result(self, stage: type[R]) -> Recorded[R]: ...
    @overload
    def read_result(self, stage: StageName) -> Recorded[StageResult]: ...
    def read_result(self, stage: type[StageResult] | StageName) -> Recorded[StageResult]:
        """A stage's result in the bundle, recorded or missing: an unreadable one made
        :func:`open_bundle` refuse the whole bundle already."""
        if isinstance(stage, StageName):
            name, model = stage, StageResult
        else:
            name, model = StageName(stage.model_fields["stage"].default), stage
        found = self.stages.get(name.value)
        if found is None:
            problem = f"results/{name.value}.json: not in the bundle"
            return Recorded(name, ReadState.MISSING, problem=problem)
        if not isinstance(found, model):  # pragma: no cover (open_bundle used the same models)
            problem = f"results/{name.value}.json: not a {model.__name__}"
            return Recorded(name, ReadState.UNREADABLE, problem=problem)
        return Recorded(name, ReadState.RECORDED, found)

    def names(self) -> list[str]:
        return [f.path for f in self.manifest.files]

    def read(self, relpath: str, *, max_size: int = 256 << 20) -> bytes:
        """A member's bytes (checked against the manifest again: the file could change)."""
        if relpath in self._kept:
            return self._kept[relpath]
        entry = self.manifest.by_path().get(relpath)
        if entry is None:
            raise BadInputError(f"{self.path.name}: no file {relpath!r} in the bundle")
        if entry.size > max_size:
            raise BadInputError(f"{relpath}: {entry.size} bytes, more than {max_size} to read")
        for _fmt, member in _iter_members(self.path, self.limits, lambda r: r == relpath):
            if member is not None and member.path == relpath and member.data is not None:
                if member.sha256 != entry.sha256:
                    raise BundleTampered(self.path, [f"{relpath}: content differs (modified)"])
                return member.data
        raise BundleTampered(self.path, [f"{relpath}: missing from the bundle"])


def open_bundle(path: Path, *, limits: BundleLimits | None = None) -> Bundle:
    """Verify ``path`` (digests, safety, result models) and open it for reading."""
    limits = limits or BundleLimits()
    scan = _scan(path, limits)
    meta = _load_meta(path, scan.kept)
    stages = _load_results(path, scan.kept)
    return Bundle(path, scan, meta, stages, limits)


def extract_bundle(path: Path, dest: Path, *, limits: BundleLimits | None = None) -> Bundle:
    """Verify ``path``, then write its files under ``dest`` (which must not exist yet).

    The bundle is verified before a single file is written, and every file written is hashed
    again on the way and checked against the manifest; on any problem ``dest`` is removed. Files
    are created exclusively (``O_EXCL``), never through a link, only below ``dest``.
    """
    import shutil

    bundle = open_bundle(path, limits=limits)
    try:
        dest.mkdir(parents=True)
    except FileExistsError:
        raise BadInputError(f"{dest}: already exists; extract into a new directory") from None
    try:
        members = [
            m
            for _fmt, m in _iter_members(path, bundle.limits, lambda _r: False, _creator(dest))
            if m is not None
        ]
        _compare_or_raise(path, bundle.manifest, members)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return bundle


def _creator(dest: Path) -> Callable[[str], IO[bytes]]:
    def create(rel: str) -> IO[bytes]:
        target = dest / rel  # rel was checked: relative, no '..', no empty parts
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.fdopen(os.open(target, flags, 0o644), "wb")

    return create


def _compare_or_raise(path: Path, manifest: Manifest, members: list[_Member]) -> None:
    by_path = {m.path: m for m in members}
    by_path.pop(MANIFEST_NAME, None)
    by_path.pop(STATEMENT_NAME, None)
    problems = _compare(manifest, by_path)
    if problems:
        raise BundleTampered(path, problems)


def verdicts(stages: dict[str, StageResult]) -> dict[str, str]:
    """Every known stage's status in the bundle, ``missing`` when it has no result at all."""
    names = list(STAGES) + sorted(s for s in stages if s not in STAGES)
    return {s: (stages[s].status.value if s in stages else "missing") for s in names}


def bundle_report(path: Path, bundle: Bundle, require: Sequence[str] = ()) -> BundleReport:
    """What ``bundle`` (opened from ``path``) holds, as both verifiers report it: the one builder
    of :class:`BundleReport` (``problems`` left for the caller's checks)."""
    return BundleReport(
        path=str(path),
        digest=bundle.digest,
        format=bundle.format,
        size=path.stat().st_size,
        files=len(bundle.manifest.files),
        content_size=bundle.manifest.total_size,
        meta=bundle.meta,
        stages=bundle.stages,
        verdicts=verdicts(bundle.stages),
        required=list(require),
    )


def required_problems(stages: Mapping[str, StageResult], require: Sequence[str]) -> list[str]:
    """One line per required stage that is missing from the bundle or did not pass."""
    problems = []
    for stage in require:
        result = stages.get(stage)
        if result is None:
            problems.append(f"{stage}: required but missing from the bundle")
        elif result.status is not Status.PASSED:
            problems.append(
                f"{stage}: required to pass but {result.status.value}: {result.summary}"
            )
    return problems


def verify_bundle(
    path: Path,
    *,
    require: Sequence[str] = (),
    expect_digest: str | None = None,
    expect_sha: str | None = None,
    limits: BundleLimits | None = None,
) -> BundleReport:
    """Verify a bundle. Tampering raises :class:`BundleTampered`; unmet requirements (a required
    stage that did not pass, another digest or commit than expected) are listed in ``problems``."""
    bundle = open_bundle(path, limits=limits)
    report = bundle_report(path, bundle, require)
    report.problems = _requirements(report, bundle, require, expect_digest, expect_sha)
    return report


def _requirements(
    report: BundleReport,
    bundle: Bundle,
    require: Sequence[str],
    expect_digest: str | None,
    expect_sha: str | None,
) -> list[str]:
    problems = required_problems(bundle.stages, require)
    if expect_digest is not None:
        wanted = expect_digest if expect_digest.startswith("sha256:") else f"sha256:{expect_digest}"
        if wanted.lower() != report.digest:
            problems.append(f"digest is {report.digest}, expected {wanted}")
    if expect_sha is not None:
        commit = bundle.meta.commit or ""
        if len(expect_sha) < 7 or not commit.startswith(expect_sha.lower()):
            problems.append(f"commit is {commit or 'unknown'}, expected {expect_sha}")
    return problems
