"""``relgate manifest``: write or verify a release manifest (latest.json)."""

from __future__ import annotations

import argparse
from pathlib import Path

from relgate.cli import command_parser
from relgate.cli._app import App

EXAMPLES = """\
  relgate manifest write --version 1.2.0 --asset dist/app.tar.gz --asset-url https://… --output latest.json
  relgate manifest write --version 1.2.0 --asset-url https://… --sha256 <64 hex> --channel beta
  relgate manifest verify --manifest latest.json app.tar.gz
"""


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
    write.set_defaults(handler=handle_write)
    verify = actions.add_parser(
        "verify", parents=[common], help="check an asset's size and sha256 against a manifest"
    )
    verify.add_argument("--manifest", type=Path, required=True, metavar="PATH")
    verify.add_argument("asset", type=Path, metavar="ASSET")
    verify.set_defaults(handler=handle_verify)


def handle_write(app: App, args: argparse.Namespace) -> int:
    from relgate.manifest import build_manifest, write_manifest

    manifest = build_manifest(
        version=args.version,
        asset_url=args.asset_url,
        sha256=args.sha256,
        asset=args.asset,
        notes_url=args.notes_url,
        channel=args.channel,
    )
    path = write_manifest(manifest, args.output)
    size = "" if manifest.size is None else f", {manifest.size} bytes"
    app.reporter.ok(
        f"wrote {path}: {manifest.version} ({manifest.channel}) sha256 {manifest.sha256}{size}"
    )
    app.reporter.set_output("manifest", str(path))
    app.reporter.set_output("sha256", manifest.sha256)
    app.emit(manifest)
    return 0


def handle_verify(app: App, args: argparse.Namespace) -> int:
    from relgate.manifest import raise_if_failed, verify_asset

    check = verify_asset(args.manifest, args.asset)
    app.emit(check)
    raise_if_failed(check)
    app.reporter.ok(
        f"{args.asset} matches {args.manifest} ({check.version}, sha256 {check.actual_sha256})"
    )
    return 0
