"""The manifest of a bundle and its digest.

``manifest.json`` lists every other file of the bundle with its size and sha256. The **bundle
digest** is ``sha256:`` followed by the hex sha256 of the manifest's *canonical bytes*, defined as:

* the JSON object ``{"files": [...], "format": "relgate-evidence/1"}``;
* ``files`` sorted by ``path`` compared as UTF-8 bytes, each entry ``{"path", "sha256", "size"}``,
  ``path`` relative to the bundle root with ``/`` separators, ``sha256`` lowercase hex;
* serialized with keys sorted, separators ``","`` and ``":"`` (no spaces), non-ASCII escaped as
  ``\\uXXXX`` (``ensure_ascii``), followed by one ``\\n``.

The file stored in the bundle *is* those bytes, so ``sha256sum manifest.json`` gives the digest by
hand. A verifier re-serializes the parsed manifest and refuses one whose bytes differ: otherwise two
manifests saying the same thing could have two digests, and the cited number would prove less.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "STATEMENT_NAME",
    "SUMS_NAME",
    "FileEntry",
    "Manifest",
    "ManifestError",
    "digest_of",
]

MANIFEST_FORMAT = "relgate-evidence/1"
MANIFEST_NAME = "manifest.json"
# sha256sum-compatible list, for an auditor who has coreutils but no relgate.
SUMS_NAME = "SHA256SUMS"
# The signed gate statement (a DSSE envelope): it names the digest, so it is not listed either.
STATEMENT_NAME = "statement.dsse.json"
_HEX = frozenset("0123456789abcdef")


class ManifestError(ValueError):
    """manifest.json is not a canonical relgate manifest."""


@dataclass(frozen=True, order=True)
class FileEntry:
    path: str
    size: int
    sha256: str


def _sort_key(entry: FileEntry) -> bytes:
    return entry.path.encode("utf-8")


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]

    @classmethod
    def of(cls, entries: Iterable[FileEntry]) -> Manifest:
        return cls(tuple(sorted(entries, key=_sort_key)))

    def canonical_bytes(self) -> bytes:
        doc = {
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
            "format": MANIFEST_FORMAT,
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return (text + "\n").encode("ascii")

    @property
    def digest(self) -> str:
        return digest_of(self.canonical_bytes())

    def sums_bytes(self) -> bytes:
        """``<hex>  <path>`` lines, as ``sha256sum -c`` reads them."""
        return "".join(f"{f.sha256}  {f.path}\n" for f in self.files).encode("utf-8")

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """Parse stored bytes; raise :class:`ManifestError` unless they are canonical."""
        try:
            doc: Any = json.loads(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ManifestError(f"{MANIFEST_NAME} is not ASCII JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
            raise ManifestError(f"{MANIFEST_NAME}: format is not {MANIFEST_FORMAT!r}")
        raw = doc.get("files")
        if not isinstance(raw, list):
            raise ManifestError(f"{MANIFEST_NAME}: 'files' must be a list")
        manifest = cls(tuple(_entry(item) for item in raw))
        if manifest.canonical_bytes() != data:
            raise ManifestError(
                f"{MANIFEST_NAME} is not in canonical form (sorted, compact, ASCII); "
                "it was rewritten after packing"
            )
        return manifest


def _entry(item: Any) -> FileEntry:
    if not isinstance(item, dict) or set(item) != {"path", "sha256", "size"}:
        raise ManifestError(f"{MANIFEST_NAME}: bad entry {item!r}")
    path, sha, size = item["path"], item["sha256"], item["size"]
    if not isinstance(path, str) or not isinstance(sha, str) or type(size) is not int:
        raise ManifestError(f"{MANIFEST_NAME}: bad entry {item!r}")
    if len(sha) != 64 or not set(sha) <= _HEX or size < 0:
        raise ManifestError(f"{MANIFEST_NAME}: bad digest or size for {path}")
    return FileEntry(path, size, sha)


def digest_of(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()
