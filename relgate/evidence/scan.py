"""Find registered secret values (in every encoding) in a stream of bytes, chunk by chunk.

The registry's own :meth:`~relgate.secrets.SecretRegistry.scan_bytes` works on a whole buffer; a
bundle's files can be large, so this scanner keeps memory bounded: each chunk is searched together
with the last ``longest form - 1`` bytes of the previous one, so a secret cut in two by a chunk
boundary is still found, and found once.

``bytes.find`` per encoded form is used instead of one big alternation regex: CPython's ``re`` has
no multi-literal search and runs at ~140 MB/s on logs, while ``find`` scans at several GB/s per form,
so with the handful of forms a few secrets have, the scan stays off the critical path of packing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from relgate.secrets import SecretRegistry, encoded_forms

__all__ = ["Leak", "LeakScanner", "StreamScan"]


@dataclass(frozen=True, order=True)
class Leak:
    """A secret found in a file: the file, the 1-based line and the secret's *name*."""

    file: str
    line: int
    secret: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} contains the value of {self.secret}"


class LeakScanner:
    """The encoded forms of every registered value, with the name of the secret each one reveals."""

    def __init__(self, registry: SecretRegistry) -> None:
        forms: dict[bytes, str] = {}
        for value in registry.values():
            name = _name_of(registry, value)
            for form in encoded_forms(value):
                forms.setdefault(form.encode("utf-8"), name)
        # Longest first, so the longest form that matches at a position names the leak.
        self.forms = sorted(forms.items(), key=lambda item: (-len(item[0]), item[0]))
        self.overlap = max((len(f) for f in forms), default=1) - 1

    def __bool__(self) -> bool:
        return bool(self.forms)

    def stream(self, file: str) -> StreamScan:
        return StreamScan(self, file)


def _name_of(registry: SecretRegistry, value: str) -> str:
    # The registry maps values to names privately; scanning the value itself reports its name.
    hits = registry.scan_bytes(value.encode("utf-8"))
    return hits[0].name if hits else "secret"


@dataclass
class StreamScan:
    """Scan one file fed in chunks; :meth:`leaks` says what was found (at most one per line).

    Only byte offsets are kept while scanning: counting newlines in every chunk would cost as much
    as the search itself, and leaks are rare, so line numbers are computed at the end from the
    file (``locate``), only when something was found.
    """

    scanner: LeakScanner
    file: str
    offsets: list[tuple[int, str]] = field(default_factory=list)
    _tail: bytes = b""
    _consumed: int = 0  # bytes fed before the current chunk

    def feed(self, chunk: bytes) -> None:
        if not self.scanner.forms or not chunk:
            return
        tail, base = self._tail, self._consumed
        # Matches straddling the previous chunk's end: search tail + the start of this chunk.
        edge = tail + chunk[: self.scanner.overlap] if tail else b""
        for form, name in self.scanner.forms:
            self._find(chunk, form, name, base, 0)
            if edge:
                self._find(edge, form, name, base - len(tail), len(tail))
        self._consumed += len(chunk)
        keep = self.scanner.overlap
        if keep:
            self._tail = (tail + chunk if len(chunk) < keep else chunk)[-keep:]

    def _find(self, buf: bytes, form: bytes, name: str, base: int, must_cross: int) -> None:
        start = buf.find(form)
        while start != -1:
            # In the edge buffer, only matches that begin in the old tail and end in the new chunk
            # are new; the others were found (or will be) by a whole-chunk search.
            if not must_cross or (start < must_cross < start + len(form)):
                self.offsets.append((base + start, name))
            start = buf.find(form, start + 1)

    def leaks(self, data_at: Callable[[], Iterable[bytes]] | None = None) -> list[Leak]:
        """The leaks, with line numbers counted from ``data_at()`` (the file again) if given."""
        if not self.offsets:
            return []
        found = sorted(set(self.offsets))
        lines = _line_numbers([o for o, _ in found], data_at() if data_at else ())
        seen: set[tuple[int, str]] = set()
        out = []
        for (_offset, name), line in zip(found, lines, strict=True):
            if (line, name) not in seen:
                seen.add((line, name))
                out.append(Leak(self.file, line, name))
        return out


def _line_numbers(offsets: list[int], chunks: Iterable[bytes]) -> list[int]:
    """1-based line of each (sorted) byte offset; 0 when the data is not available."""
    result: list[int] = []
    newlines = 0
    pos = 0
    pending = iter(offsets)
    current = next(pending, None)
    for chunk in chunks:
        while current is not None and current < pos + len(chunk):
            result.append(newlines + chunk.count(b"\n", 0, current - pos) + 1)
            current = next(pending, None)
        newlines += chunk.count(b"\n")
        pos += len(chunk)
    while current is not None:
        result.append(0)
        current = next(pending, None)
    return result
