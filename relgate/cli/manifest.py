"""``relgate manifest``: write or verify a release manifest (latest.json)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from relgate.cli import command_parser
from relgate.cli._app import App

if TYPE_CHECKING:
    from relgate.minisign import PublicKey, SecretKey

EXAMPLES = """\
  RELGATE_MINISIGN_KEY="$(cat minisign.key)" relgate manifest write --sign --version 1.2.0 \\
      --asset dist/app.tar.gz --asset-url https://… --output latest.json
  relgate manifest write --version 1.2.0 --asset-url https://… --sha256 <64 hex> --channel beta
  relgate manifest verify --manifest latest.json --public-key minisign.pub app.tar.gz
  relgate manifest verify --manifest latest.json --allow-unsigned app.tar.gz
"""

KEY_ENV = "RELGATE_MINISIGN_KEY"
PUBLIC_KEY_ENV = "RELGATE_MINISIGN_PUBLIC_KEY"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub, common, "manifest", "write or verify a release manifest (latest.json)", EXAMPLES
    )
    actions = parser.add_subparsers(dest="manifest_action", metavar="ACTION", required=True)
    write = actions.add_parser(
        "write", parents=[common], help="write latest.json atomically (version, asset URL, sha256)"
    )
    write.add_argument("--version", required=True, help="released version")
    write.add_argument("--asset-url", required=True, metavar="URL", help="HTTPS URL of the asset")
    write.add_argument("--sha256", metavar="HEX", help="the asset's sha256 (64 hex digits)")
    write.add_argument("--asset", type=Path, metavar="FILE", help="compute sha256 and size")
    write.add_argument("--notes-url", metavar="URL", help="release notes URL")
    write.add_argument("--channel", default="stable", help="update channel (default: stable)")
    write.add_argument(
        "--output", type=Path, default=Path("latest.json"), metavar="PATH", help="manifest path"
    )
    write.add_argument(
        "--sign",
        action="store_true",
        help="sign the asset (its signature goes into the manifest and <asset>.minisig) and the "
        "manifest (<output>.minisig) in minisign format",
    )
    write.add_argument(
        "--key-env",
        default=KEY_ENV,
        metavar="NAME",
        help=f"variable holding the minisign secret key, without password (default: {KEY_ENV})",
    )
    write.set_defaults(handler=handle_write)
    verify = actions.add_parser(
        "verify", parents=[common], help="check an asset's size and sha256 against a manifest"
    )
    verify.add_argument("--manifest", type=Path, required=True, metavar="PATH")
    verify.add_argument(
        "--public-key",
        metavar="KEY",
        help=f"minisign public key (RW… or a .pub file; default: ${PUBLIC_KEY_ENV}): the "
        "manifest's and the asset's signatures must verify",
    )
    verify.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="check size and sha256 only (no public key): for manifests that were never signed",
    )
    verify.add_argument("asset", type=Path, metavar="ASSET")
    verify.set_defaults(handler=handle_verify)


def _secret_key(app: App, name: str) -> SecretKey:
    from relgate.errors import BadInputError
    from relgate.minisign import parse_secret_key

    text = app.env.get(name)
    if not text:
        raise BadInputError(
            f"--sign: set {name} to a minisign secret key without password (`minisign -G -W`)"
        )
    app.secrets.register(text, name)
    for line in text.splitlines():
        app.secrets.register(line.strip(), name)
    return parse_secret_key(text)


def _public_key(app: App, value: str | None) -> PublicKey | None:
    from relgate.errors import BadInputError
    from relgate.minisign import parse_public_key

    value = value or app.env.get(PUBLIC_KEY_ENV)
    if not value:
        return None
    path = Path(value)
    if not value.startswith("RW") and path.is_file():
        value = path.read_text(encoding="utf-8")
    elif not value.startswith("RW"):
        raise BadInputError(f"--public-key {value}: neither a minisign key (RW…) nor a file")
    return parse_public_key(value)


def handle_write(app: App, args: argparse.Namespace) -> int:
    from relgate.manifest import build_manifest, sign_file, write_manifest

    key = _secret_key(app, args.key_env) if args.sign else None
    signature = sign_file(args.asset, key) if key is not None and args.asset else None
    manifest = build_manifest(
        version=args.version,
        asset_url=args.asset_url,
        sha256=args.sha256,
        asset=args.asset,
        notes_url=args.notes_url,
        channel=args.channel,
        signature=signature,
    )
    path = write_manifest(manifest, args.output)
    if key is not None:
        sign_file(path, key)
        signed = f" and {args.asset}" if args.asset else ""
        app.reporter.ok(f"signed {path}{signed} with minisign key {key.public().key_id_hex}")
    size = "" if manifest.size is None else f", {manifest.size} bytes"
    app.reporter.ok(
        f"wrote {path}: {manifest.version} ({manifest.channel}) sha256 {manifest.sha256}{size}"
    )
    app.reporter.set_output("manifest", str(path))
    app.reporter.set_output("sha256", manifest.sha256)
    app.emit(manifest)
    return 0


def handle_verify(app: App, args: argparse.Namespace) -> int:
    from relgate.errors import BadInputError
    from relgate.manifest import raise_if_failed, verify_asset

    key = _public_key(app, args.public_key)
    if key is None and not args.allow_unsigned:
        raise BadInputError(
            f"give --public-key (or set {PUBLIC_KEY_ENV}) to check the signatures, or "
            "--allow-unsigned to check size and sha256 only"
        )
    check = verify_asset(args.manifest, args.asset, key)
    app.emit(check)
    raise_if_failed(check)
    how = f"signatures by {check.key_id} verified" if check.signed else "UNSIGNED: not checked"
    app.reporter.ok(
        f"{args.asset} matches {args.manifest} ({check.version}, sha256 {check.actual_sha256}; "
        f"{how})"
    )
    return 0
