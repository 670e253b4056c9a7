"""Pack a directory into a deterministic, compressed tar, hashing and scanning in the same pass.

Determinism (the same directory packs to the same bytes, on any machine, any day):

* members in UTF-8 byte order of their paths, under one root folder; ``SHA256SUMS`` and
  ``manifest.json`` last, so a streaming reader meets the manifest after everything it covers;
* every header says mtime = ``SOURCE_DATE_EPOCH`` (else 0), uid/gid 0, no user/group names, mode
  0644; PAX format (long and non-ASCII names stay exact); no directory entries;
* gzip with an empty file name and mtime 0; zstd with a content checksum and no dictionary. zstd's
  multi-threaded mode cuts its input into jobs of a size fixed by the level, so its output does not
  depend on the number of threads (it differs from the single-threaded mode, which we never use).

Each file is read once, in 1 MiB chunks: the chunk is hashed, scanned for secrets and compressed, so
memory stays bounded whatever the input size. Tar headers are built with :class:`tarfile.TarInfo`
but written by hand, because :meth:`tarfile.TarFile.addfile` copies in 16 KiB pieces and gives no
hook to see the bytes.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

from relgate.errors import CannotRun
from relgate.evidence.manifest import (
    MANIFEST_NAME,
    STATEMENT_NAME,
    SUMS_NAME,
    FileEntry,
    Manifest,
)
from relgate.evidence.scan import Leak, LeakScanner

__all__ = ["FORMATS", "Format", "PackOutcome", "list_files", "pack_directory", "source_date_epoch"]

Format = Literal["tar.gz", "tar.zst"]
FORMATS: tuple[Format, ...] = ("tar.gz", "tar.zst")
CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
GZIP_LEVEL = 6
ZSTD_LEVEL = 1  # as small as level 3 on logs (measured), twice as fast


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass
class PackOutcome:
    manifest: Manifest
    leaks: list[Leak] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_in: int = 0
    sums: bytes = b""


def source_date_epoch(env: dict[str, str] | os._Environ[str] | None = None) -> int:
    """The timestamp written into every header: ``SOURCE_DATE_EPOCH`` when set and valid, else 0."""
    value = (os.environ if env is None else env).get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else 0


def list_files(root: Path, *, exclude: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """Regular files under ``root`` (relative POSIX paths, sorted) and what was left out, and why.

    Symbolic links are never followed or packed: a link could pull in files from outside the run.
    """
    files: list[str] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = base / name
            rel = path.relative_to(root).as_posix()
            try:
                st = path.lstat()
                rel.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append(f"{rel!r}: file name is not valid UTF-8")
                continue
            except OSError as exc:
                skipped.append(f"{rel}: {exc.strerror}")
                continue
            if stat.S_ISLNK(st.st_mode):
                skipped.append(
                    f"{rel}: symbolic link to {os.readlink(path)} (links are not packed)"
                )
            elif stat.S_ISREG(st.st_mode):
                if rel not in exclude:
                    files.append(rel)
            elif not stat.S_ISDIR(st.st_mode):
                skipped.append(f"{rel}: not a regular file")
    files.sort(key=lambda p: p.encode("utf-8"))
    return files, sorted(skipped)


def pack_directory(
    root: Path,
    dest: Path,
    *,
    fmt: Format,
    prefix: str,
    mtime: int = 0,
    scanner: LeakScanner | None = None,
    threads: int = -1,
    trailer: Callable[[Manifest], Sequence[tuple[str, bytes]]] | None = None,
) -> PackOutcome:
    """Pack every regular file of ``root`` into ``dest`` under ``prefix/``.

    Stops writing (but keeps scanning, to report every leak) as soon as a secret is found; the
    caller then deletes ``dest``. ``manifest.json`` and ``SHA256SUMS`` at the top of ``root`` are
    regenerated, never copied. ``trailer(manifest)`` gives members written after the manifest and
    not listed in it (the signed statement, which names the manifest's digest).
    """
    files, skipped = list_files(root, exclude=frozenset({MANIFEST_NAME, SUMS_NAME, STATEMENT_NAME}))
    outcome = PackOutcome(Manifest(()), skipped=skipped)
    entries: list[FileEntry] = []
    with open(dest, "wb") as raw, _compressor(raw, fmt, threads) as out:
        writer = _TarWriter(out, prefix, mtime)
        for rel in files:
            entry, leaks = _pack_file(writer, root / rel, rel, scanner)
            entries.append(entry)
            outcome.leaks += leaks
            outcome.bytes_in += entry.size
            writer.enabled = not outcome.leaks
        sums = Manifest.of(entries).sums_bytes()
        writer.add_bytes(SUMS_NAME, sums)
        outcome.sums = sums
        manifest = Manifest.of([*entries, FileEntry(SUMS_NAME, len(sums), _sha(sums))])
        writer.add_bytes(MANIFEST_NAME, manifest.canonical_bytes())
        if trailer is not None and not outcome.leaks:
            for rel, data in trailer(manifest):
                writer.add_bytes(rel, data)
        writer.close()
    outcome.manifest = manifest
    return outcome


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pack_file(
    writer: _TarWriter, path: Path, rel: str, scanner: LeakScanner | None
) -> tuple[FileEntry, list[Leak]]:
    digest = hashlib.sha256()
    scan = scanner.stream(rel) if scanner else None
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        writer.begin(rel, size)
        remaining = size
        while remaining:
            chunk = fh.read(min(CHUNK, remaining))
            if not chunk:
                raise CannotRun(f"{rel} shrank while it was being packed; run archive again")
            remaining -= len(chunk)
            digest.update(chunk)
            if scan is not None:
                scan.feed(chunk)
            writer.data(chunk)
        writer.end(size)
    leaks = scan.leaks(lambda: _chunks(path)) if scan is not None else []
    if scanner is not None:
        named = scanner.stream(f"{rel} (file name)")
        named.feed(rel.encode("utf-8"))
        leaks += named.leaks(lambda: [rel.encode("utf-8")])
    return FileEntry(rel, size, digest.hexdigest()), leaks


def _chunks(path: Path) -> Iterator[bytes]:
    """The file again, only to turn the offsets of a found secret into line numbers."""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


class _TarWriter:
    """Writes POSIX (PAX) tar records to a byte sink; ``enabled=False`` turns writes into no-ops."""

    def __init__(self, out: _Sink, prefix: str, mtime: int) -> None:
        self.out = out
        self.prefix = prefix.strip("/")
        self.mtime = mtime
        self.enabled = True
        self.count = 0

    def _write(self, data: bytes) -> None:
        if self.enabled:
            self.out.write(data)
            self.count += len(data)

    def begin(self, rel: str, size: int) -> None:
        info = tarfile.TarInfo(f"{self.prefix}/{rel}")
        info.size, info.mtime, info.mode = size, self.mtime, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict"))

    def data(self, chunk: bytes) -> None:
        self._write(chunk)

    def end(self, size: int) -> None:
        if size % _BLOCK:
            self._write(b"\0" * (_BLOCK - size % _BLOCK))

    def add_bytes(self, rel: str, data: bytes) -> None:
        self.begin(rel, len(data))
        self.data(data)
        self.end(len(data))

    def close(self) -> None:
        # Two zero blocks end the archive; tar readers expect whole 10 KiB records.
        self._write(b"\0" * (2 * _BLOCK))
        if self.count % _RECORD:
            self._write(b"\0" * (_RECORD - self.count % _RECORD))


@contextmanager
def _compressor(raw: IO[bytes], fmt: Format, threads: int) -> Iterator[_Sink]:
    if fmt == "tar.gz":
        import gzip

        # filename="" and mtime=0: nothing about the packing machine or moment in the header.
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL
        ) as gz:
            yield gz
    elif fmt == "tar.zst":
        import zstandard

        # threads=-1: one worker per CPU. Never 0 (single-threaded mode writes other bytes).
        cctx = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL, threads=threads or -1, write_checksum=True
        )
        with cctx.stream_writer(raw, closefd=False) as zst:
            yield zst
    else:  # pragma: no cover - Literal guards this
        raise ValueError(fmt)
