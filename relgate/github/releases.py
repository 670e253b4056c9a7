"""Annotated tags, releases and assets on GitHub, each step idempotent and resumable.

Every function looks before it writes, so running the release again after a crash at any point
finishes the job without duplicates:

* **tag**: a tag *object* (message, tagger) and then ``refs/tags/<tag>`` pointing at that object
  — not at the commit, which would make a lightweight tag and orphan the object (the PyGithub
  ``create_git_tag_and_release`` pitfall). An existing tag on the same commit is reused; on another
  commit it is an error (tags are never moved).
* **release**: created as a **draft**; found again by tag among the releases (drafts cannot be
  fetched by tag). Edits always pass ``draft`` and ``prerelease`` explicitly: PyGithub's
  ``update_release`` defaults them to False and would publish a draft by accident.
* **assets**: uploaded to the draft, then checked (size and GitHub's sha256 digest) before the
  release is published; an asset already there with the same size/digest is kept, a different one
  is replaced while the release is a draft and is an error after.
* **publish** last: with immutable releases nothing can be added afterwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from relgate.errors import VerificationError
from relgate.github.client import GitHubClient, is_status

__all__ = [
    "AssetFile",
    "AssetState",
    "TagState",
    "download_asset",
    "ensure_assets",
    "ensure_draft_release",
    "ensure_tag",
    "file_digest",
    "find_release",
    "publish_release",
    "read_tag",
]

_PAGE = 100


@dataclass(frozen=True)
class TagState:
    name: str
    commit: str
    object_sha: str  # the tag object (annotated) or the commit (lightweight)
    annotated: bool
    message: str
    action: Literal["created", "reused", "found"]


@dataclass(frozen=True)
class AssetFile:
    path: Path
    name: str
    size: int
    digest: str  # sha256:<hex>
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class AssetState:
    name: str
    size: int
    digest: str | None
    url: str
    action: Literal["uploaded", "kept", "replaced"]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return f"sha256:{h.hexdigest()}"


# -- tags ---------------------------------------------------------------------------------------
def read_tag(client: GitHubClient, tag: str) -> TagState | None:
    """The tag as GitHub has it (peeled to its commit), or None."""

    def step() -> TagState | None:
        try:
            # Attributes are read inside the try: PyGithub objects may load lazily.
            ref = client.repo.get_git_ref(f"tags/{tag}")
            kind, sha = ref.object.type, ref.object.sha
        except Exception as exc:
            if is_status(exc, 404):
                return None
            raise
        if kind != "tag":
            return TagState(tag, sha, sha, False, "", "found")
        obj = client.repo.get_git_tag(sha)
        return TagState(tag, obj.object.sha, obj.sha, True, obj.message or "", "found")

    return client.retrying(f"read tag {tag}", step)


def ensure_tag(
    client: GitHubClient,
    tag: str,
    commit: str,
    message: str,
    *,
    tagger: tuple[str, str, str],
) -> TagState:
    """The annotated tag ``tag`` on ``commit``: created, or reused if already there."""
    from github import InputGitAuthor

    def step() -> TagState:
        existing = read_tag(client, tag)
        if existing is not None:
            if existing.commit != commit:
                raise VerificationError(
                    f"tag {tag} already exists on commit {existing.commit[:12]}, not on "
                    f"{commit[:12]} that the evidence is for; tags are never moved — release "
                    "another version"
                )
            return TagState(
                tag, commit, existing.object_sha, existing.annotated, existing.message, "reused"
            )
        name, email, date = tagger
        obj = client.repo.create_git_tag(
            tag, message, commit, "commit", tagger=InputGitAuthor(name, email, date)
        )
        try:
            client.repo.create_git_ref(f"refs/tags/{tag}", obj.sha)
        except Exception as exc:
            if is_status(exc, 422):  # created meanwhile (a retried POST, a concurrent run)
                return _reused(client, tag, commit)
            raise
        return TagState(tag, commit, obj.sha, True, message, "created")

    return client.retrying(f"create tag {tag}", step)


def _reused(client: GitHubClient, tag: str, commit: str) -> TagState:
    found = read_tag(client, tag)
    if found is None or found.commit != commit:
        raise VerificationError(f"tag {tag} appeared on another commit while releasing")
    return TagState(tag, commit, found.object_sha, found.annotated, found.message, "reused")


# -- releases -----------------------------------------------------------------------------------
def find_release(client: GitHubClient, tag: str) -> Any | None:
    """The release of ``tag``, draft or published, or None.

    Drafts are invisible to ``GET /releases/tags/{tag}``, so the list (newest first, where a fresh
    draft is) is searched first; only a long list needs the by-tag lookup after it.
    """

    def step() -> Any | None:
        seen = 0
        for release in client.repo.get_releases():
            if release.tag_name == tag:
                return release
            seen += 1
            if seen >= _PAGE:
                break
        if seen < _PAGE:
            return None
        try:
            found = client.repo.get_release(tag)
            _ = found.id, found.draft  # load it here, where a 404 is expected
            return found
        except Exception as exc:
            if is_status(exc, 404):
                return None
            raise

    return client.retrying(f"find release {tag}", step)


def ensure_draft_release(
    client: GitHubClient, tag: str, *, name: str, body: str, prerelease: bool
) -> tuple[Any, Literal["created", "found", "updated"]]:
    """The release of ``tag``: an existing one (draft or not), else a new draft."""

    def step() -> tuple[Any, Literal["created", "found", "updated"]]:
        release = find_release(client, tag)
        if release is None:
            created = client.repo.create_git_release(
                tag,
                name=name,
                message=body,
                draft=True,
                prerelease=prerelease,
                make_latest="false" if prerelease else "legacy",
            )
            return created, "created"
        if release.draft and (release.body != body or release.name != name):
            release = release.update_release(
                name=name, message=body, draft=True, prerelease=prerelease
            )
            return release, "updated"
        return release, "found"

    return client.retrying(f"create draft release {tag}", step)


def ensure_assets(client: GitHubClient, release: Any, files: Sequence[AssetFile]) -> list[Any]:
    """Every file attached with the right size and digest; returns AssetState list."""
    states: list[AssetState] = []
    current = {a.name: a for a in release.assets}
    for file in files:
        existing = current.get(file.name)
        if existing is not None and _same(existing, file):
            states.append(_state(existing, "kept"))
            continue
        if existing is not None and not release.draft:
            raise VerificationError(
                f"release {release.tag_name} is published with a different {file.name} "
                f"({existing.size} bytes, {existing.digest}); it cannot be replaced after "
                "publication"
            )
        states.append(_upload(client, release, file, replace=existing))
    return states


def _same(asset: Any, file: AssetFile) -> bool:
    digest = asset.digest
    return bool(asset.size == file.size and (digest is None or digest == file.digest))


def _state(asset: Any, action: Literal["uploaded", "kept", "replaced"]) -> AssetState:
    return AssetState(asset.name, asset.size, asset.digest, asset.browser_download_url, action)


def _upload(client: GitHubClient, release: Any, file: AssetFile, *, replace: Any) -> AssetState:
    attempts = [0]

    def step() -> AssetState:
        nonlocal replace
        if attempts[0]:
            # A failed attempt may have been applied: look at what GitHub holds now.
            fresh = client.repo.get_release(release.id)
            replace = next((a for a in fresh.assets if a.name == file.name), None)
            if replace is not None and _same(replace, file):
                return _state(replace, "uploaded")
        attempts[0] += 1
        if replace is not None:
            replace.delete_asset()
        try:
            asset = release.upload_asset(
                str(file.path), name=file.name, content_type=file.content_type
            )
        except Exception as exc:
            if is_status(exc, 422) and "immutable" in str(exc).lower():
                raise VerificationError(
                    f"release {release.tag_name} is immutable (published): {file.name} cannot be "
                    "added any more; the release is missing its evidence — publish a new version"
                ) from exc
            raise
        if not _same(asset, file):
            asset.delete_asset()
            raise VerificationError(
                f"{file.name}: GitHub stored {asset.size} bytes ({asset.digest}), expected "
                f"{file.size} bytes ({file.digest}); removed it"
            )
        return _state(asset, "replaced" if replace is not None else "uploaded")

    return client.retrying(f"upload {file.name}", step)


def publish_release(
    client: GitHubClient, release: Any, *, name: str, body: str, prerelease: bool
) -> Any:
    """Flip the draft to published (the last, irreversible step)."""
    if not release.draft:
        return release
    attempts = [0]

    def step() -> Any:
        if attempts[0]:
            fresh = client.repo.get_release(release.id)
            if not fresh.draft:
                return fresh
        attempts[0] += 1
        return release.update_release(
            name=name,
            message=body,
            draft=False,
            prerelease=prerelease,
            make_latest="false" if prerelease else "legacy",
        )

    return client.retrying(f"publish release {release.tag_name}", step)


def download_asset(client: GitHubClient, asset: Any, target: Path) -> Path:
    def step() -> Path:
        asset.download_asset(str(target))
        return target

    return client.retrying(f"download {asset.name}", step)
