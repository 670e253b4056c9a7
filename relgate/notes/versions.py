"""Semantic versions of tags, and which tag a release's notes start from.

The previous tag is chosen by *version order*, not by date or by ``git describe``: a hotfix tag made
yesterday on an old branch must not become the start of today's notes for the main line.

* a final release (``v1.0.0``) starts after the previous *final* release (``v0.9.2``): the notes of
  the GA cover everything its release candidates covered;
* a pre-release (``v1.0.0-rc2``) starts after the closest lower tag of any kind (``v1.0.0-rc1``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import total_ordering

from relgate.actions_context import tag_for

__all__ = ["SemVer", "previous_tag", "tag_for"]

_SEMVER = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


@total_ordering
@dataclass(frozen=True)
class SemVer:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SemVer | None:
        m = _SEMVER.match(text)
        if not m:
            return None
        pre = tuple(m["pre"].split(".")) if m["pre"] else ()
        return cls(int(m["major"]), int(m["minor"]), int(m["patch"]), pre)

    @property
    def prerelease(self) -> bool:
        return bool(self.pre)

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # semver §11: a version without pre-release ranks above any of its pre-releases;
        # numeric identifiers rank below alphanumeric ones and compare as numbers.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() < other._key()


def _version_of(tag: str, prefix: str) -> SemVer | None:
    if not tag.startswith(prefix):
        return None
    return SemVer.parse(tag[len(prefix) :])


def previous_tag(tags: Iterable[str], version: str, prefix: str) -> str | None:
    """The tag the notes of ``version`` start after, or None (no earlier release: all history).

    Returns None as well when ``version`` is not a semantic version; the caller then falls back to
    the nearest reachable tag.
    """
    current = _version_of(tag_for(version, prefix), prefix)
    if current is None:
        return None
    best: tuple[SemVer, str] | None = None
    for tag in tags:
        v = _version_of(tag, prefix)
        if v is None or not v < current:
            continue
        if not current.prerelease and v.prerelease:
            continue
        if best is None or best[0] < v:
            best = (v, tag)
    return best[1] if best else None
