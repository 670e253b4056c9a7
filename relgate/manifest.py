"""The release manifest (``latest.json``): what a self-updating client reads to find a release.

The schema is the one of the media-ingest runbook's ``write-ui-manifest`` command: ``version``,
``channel``, ``asset_url``, ``sha256``, ``size``, ``notes_url``, ``generated_at``. A client must
never trust an asset it cannot check, so ``sha256`` is always 64 lowercase hex digits and
:func:`verify_asset` refuses a size or digest mismatch.

The manifest is served to clients while it is being replaced, so it is written atomically: a temp
file in the same directory, flushed and fsynced, then renamed over the old one. A crash at any point
leaves either the old manifest or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from relgate.errors import BadInputError, VerificationError
from relgate.fields import require_https
from relgate.fsutil import atomic_write, write_all

if TYPE_CHECKING:
    from relgate.minisign import PublicKey, SecretKey

__all__ = [
    "ManifestCheck",
    "ReleaseManifest",
    "atomic_write",
    "build_manifest",
    "file_digest",
    "manifest_schema",
    "read_manifest",
    "sign_file",
    "verify_asset",
    "write_manifest",
]

_HEX64 = r"^[0-9a-f]{64}$"


class ReleaseManifest(BaseModel):
    """``latest.json``."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, description="Released version, e.g. 1.2.0.")
    channel: str = Field("stable", pattern=r"^[a-z0-9][a-z0-9._-]*$", description="stable, beta…")
    asset_url: str = Field(description="HTTPS URL of the asset (loopback may use http).")
    sha256: str = Field(pattern=_HEX64, description="sha256 of the asset, 64 lowercase hex digits.")
    size: int | None = Field(None, ge=0, description="Size of the asset in bytes.")
    notes_url: str | None = Field(None, description="Release notes (HTTPS).")
    generated_at: datetime = Field(description="When the manifest was written (UTC).")
    signature: str | None = Field(
        None,
        description="The asset's minisign signature (the content of its .minisig file), as "
        "Tauri's updater reads it.",
    )

    @field_validator("sha256", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("asset_url", "notes_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        return None if value is None else require_https(value, allow_http=False)


class ManifestCheck(BaseModel):
    """The result of ``relgate manifest verify``."""

    manifest: str
    asset: str
    version: str
    ok: bool
    expected_sha256: str
    actual_sha256: str
    expected_size: int | None
    actual_size: int
    signed: bool = Field(False, description="Manifest and asset signatures were checked.")
    key_id: str | None = Field(None, description="minisign key ID the signatures were made with.")
    problems: list[str] = Field(default_factory=list)


def file_digest(path: Path) -> tuple[str, int]:
    """(sha256 hex, size) of ``path``, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read the asset ({exc.strerror})") from exc
    return digest.hexdigest(), size


def build_manifest(
    *,
    version: str,
    asset_url: str,
    sha256: str | None = None,
    asset: Path | None = None,
    size: int | None = None,
    notes_url: str | None = None,
    channel: str = "stable",
    now: datetime | None = None,
    signature: str | None = None,
) -> ReleaseManifest:
    """A validated manifest; with ``asset`` the digest and size are computed (and must agree with
    a ``sha256`` given as well)."""
    from pydantic import ValidationError

    if asset is not None:
        actual, size = file_digest(asset)
        if sha256 and sha256.strip().lower() != actual:
            raise BadInputError(f"--sha256 does not match {asset} (its sha256 is {actual})")
        sha256 = actual
    if not sha256:
        raise BadInputError("give --sha256 HEX or --asset FILE (to compute it)")
    try:
        return ReleaseManifest(
            version=version,
            channel=channel,
            asset_url=asset_url,
            sha256=sha256,
            size=size,
            notes_url=notes_url,
            generated_at=(now or datetime.now(UTC)).replace(microsecond=0),
            signature=signature,
        )
    except ValidationError as exc:
        raise BadInputError(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {_message(e)}" for e in exc.errors())
        ) from exc


def _message(error: Any) -> str:
    if error.get("type") == "string_pattern_mismatch" and error["loc"] == ("sha256",):
        return "must be 64 hexadecimal digits (a sha256)"
    return str(error["msg"]).removeprefix("Value error, ")


def manifest_json(manifest: ReleaseManifest) -> bytes:
    # an unsigned manifest keeps the runbook's exact key set (no "signature": null)
    exclude = {"signature"} if manifest.signature is None else None
    return (manifest.model_dump_json(indent=2, exclude=exclude) + "\n").encode("utf-8")


def write_manifest(
    manifest: ReleaseManifest,
    path: Path,
    *,
    write: Callable[[IO[bytes], bytes], None] = write_all,
) -> Path:
    return atomic_write(path, manifest_json(manifest), write=write)


def read_manifest(path: Path) -> ReleaseManifest:
    """Load and validate a manifest; problems are located as ``file:line field: message``."""
    from relgate.yamlfile import load_yaml, validate_model

    loaded = load_yaml(path, display=str(path))
    return validate_model(ReleaseManifest, loaded, [])


def verify_asset(
    manifest_path: Path, asset: Path, public_key: PublicKey | None = None
) -> ManifestCheck:
    """Check ``asset`` against the manifest — and, with ``public_key``, the manifest's signature
    (``<manifest>.minisig``, checked *before* its content is trusted) and the asset's (the
    manifest's ``signature`` field, else ``<asset>.minisig``). Problems are collected in the check;
    :func:`raise_if_failed` turns them into :class:`VerificationError`."""
    problems: list[str] = []
    if public_key is not None:
        problems += _signature_problems(manifest_path, None, public_key, "manifest")
        if problems:  # an unsigned or forged manifest says nothing about the asset
            return _refused(manifest_path, asset, problems, public_key)
    manifest = read_manifest(manifest_path)
    actual, size = file_digest(asset)
    check = ManifestCheck(
        manifest=str(manifest_path),
        asset=str(asset),
        version=manifest.version,
        ok=True,
        expected_sha256=manifest.sha256,
        actual_sha256=actual,
        expected_size=manifest.size,
        actual_size=size,
    )
    if manifest.size is not None and manifest.size != size:
        check.problems.append(
            f"size mismatch: manifest says {manifest.size} bytes, asset has {size}"
        )
    if manifest.sha256 != actual:
        check.problems.append(
            f"sha256 mismatch: manifest says {manifest.sha256}, asset has {actual}"
        )
    if public_key is not None:
        check.problems += _signature_problems(asset, manifest.signature, public_key, "asset")
        check.signed, check.key_id = True, public_key.key_id_hex
    check.ok = not check.problems
    return check


def _refused(
    manifest_path: Path, asset: Path, problems: list[str], key: PublicKey
) -> ManifestCheck:
    return ManifestCheck(
        manifest=str(manifest_path), asset=str(asset), version="?", ok=False, expected_sha256="",
        actual_sha256="", expected_size=None, actual_size=0, signed=True,
        key_id=key.key_id_hex, problems=problems,
    )  # fmt: skip


def _signature_problems(path: Path, embedded: str | None, key: PublicKey, what: str) -> list[str]:
    from relgate import minisign

    sig_path = Path(f"{path}.minisig")
    if embedded is None:
        try:
            embedded = sig_path.read_text(encoding="utf-8")
        except OSError:
            return [f"{what} signature missing: no {sig_path.name} (unsigned {what} refused)"]
    try:
        minisign.verify(path.read_bytes(), minisign.parse_signature(embedded), key)
    except VerificationError as exc:
        return [f"{what} signature: {exc.message}"]
    except OSError as exc:
        return [f"{what}: cannot read {path} ({exc.strerror})"]
    return []


def sign_file(
    path: Path, key: SecretKey, *, now: datetime | None = None, write: bool = True
) -> str:
    """Sign ``path`` as ``minisign -S`` does (prehashed, trusted comment with timestamp and file
    name); write ``<path>.minisig`` atomically unless ``write`` is False; return its text."""
    from relgate import minisign

    stamp = int((now or datetime.now(UTC)).timestamp())
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it to sign ({exc.strerror})") from exc
    text = minisign.sign(
        data,
        key,
        trusted_comment=f"timestamp:{stamp}\tfile:{path.name}\thashed",
        untrusted_comment="signature from relgate secret key",
    ).text()
    if write:
        atomic_write(Path(f"{path}.minisig"), text.encode("utf-8"))
    return text


def raise_if_failed(check: ManifestCheck) -> None:
    if not check.ok:
        raise VerificationError(f"{check.asset}: " + "; ".join(check.problems))


def manifest_schema() -> dict[str, Any]:
    """JSON Schema of ``latest.json`` (shipped as schema/manifest.schema.json)."""
    schema = ReleaseManifest.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://relgate.dev/schema/manifest.schema.json"
    schema["title"] = "relgate release manifest (latest.json)"
    return schema
