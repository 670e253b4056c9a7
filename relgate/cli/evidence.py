"""``relgate evidence verify|show``: check an evidence bundle, or summarize it for a human."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import UsageError

if TYPE_CHECKING:
    from relgate.evidence.bundle import BundleReport
    from relgate.evidence.dsse import TrustedKey

EXAMPLES = """\
  relgate evidence verify bundle.tar.zst --require deploy,smoke
  relgate evidence verify bundle.tar.zst --expect-digest sha256:3f2a… --expect-sha 4e1d2c9…(40 hex)
  relgate --json evidence verify bundle.tar.zst
  relgate evidence verify bundle.tar.zst --public-key prod-2026=ed25519:Q2x…
  relgate evidence show bundle.tar.zst
  relgate evidence extract bundle.tar.zst ./evidence-1.2.0
"""

_MARK = {"passed": "✓", "failed": "✗", "error": "✗", "interrupted": "!", "missing": "·"}


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(sub, common, "evidence", "verify or show an evidence bundle", EXAMPLES)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        parents=[common],
        help="recompute every digest, validate every result; exit 1 on any problem",
    )
    verify.add_argument("bundle", type=Path, help="the bundle (.tar.zst or .tar.gz)")
    verify.add_argument(
        "--require",
        metavar="STAGES",
        default="",
        help="comma-separated stages that must have passed, e.g. deploy,smoke",
    )
    verify.add_argument("--expect-digest", metavar="sha256:HEX", help="the bundle digest expected")
    verify.add_argument(
        "--expect-sha", metavar="COMMIT", help="the full commit sha the run must be of"
    )
    verify.add_argument(
        "--public-key",
        metavar="ID=ed25519:KEY",
        action="append",
        default=[],
        help="trust this key (repeatable); default: evidence.keys of relgate.yml, when present",
    )
    verify.set_defaults(handler=handle_verify)
    show = actions.add_parser("show", parents=[common], help="print a human summary of a bundle")
    show.add_argument("bundle", type=Path)
    show.set_defaults(handler=handle_show)
    extract = actions.add_parser(
        "extract",
        parents=[common],
        help="verify, then write the bundle's files into a new directory (safely)",
    )
    extract.add_argument("bundle", type=Path)
    extract.add_argument("directory", type=Path, help="a directory that does not exist yet")
    extract.set_defaults(handler=handle_extract)


def _stages(text: str) -> list[str]:
    stages = [s.strip() for s in text.split(",") if s.strip()]
    for stage in stages:
        if not stage.replace("_", "").isalnum():
            raise UsageError(f"--require {text}: {stage!r} is not a stage name")
    return stages


def handle_verify(app: App, args: argparse.Namespace) -> int:
    from relgate.cli.archive import optional_config
    from relgate.evidence.proof import FULL_SHA, Expected, prove, trusted_keys

    sha = args.expect_sha
    if sha is not None and not FULL_SHA.match(sha.lower()):
        raise UsageError(f"--expect-sha {sha}: give the full 40-hex commit sha, not a prefix")
    keys = _keys(args.public_key) if args.public_key else trusted_keys(optional_config(app))
    proof = prove(
        args.bundle,
        Expected(
            require=_stages(args.require),
            digest=args.expect_digest,
            commit=sha.lower() if sha else None,
            keys=tuple(keys),
        ),
    )
    app.emit(proof)
    out = app.reporter
    report = proof.report
    if report is not None:
        for stage, verdict in report.verdicts.items():
            result = report.stages.get(stage)
            note = f"  {result.summary}" if result is not None and result.summary else ""
            out.line(f"  {_MARK.get(verdict, '-')} {stage:<10} {verdict:<11}{note}")
        out.line(f"digest {report.digest}  ({report.files} files, all digests match)")
        out.set_output("bundle-digest", report.digest)
    out.line(f"gate statement: {proof.authenticity}")
    out.set_output("verified", proof.ok)
    out.set_output("signed-by", proof.signed_by or "")
    for warning in proof.warnings:
        out.warning(warning, title="relgate evidence")
    if proof.ok:
        required = (
            f"; required {', '.join(report.required)} passed" if report and report.required else ""
        )
        how = f", {proof.authenticity}" if proof.authenticated else ", UNAUTHENTICATED"
        out.ok(f"EVIDENCE VERIFIED{required}{how}")
        return 0
    for problem in proof.problems:
        out.error(problem, title="evidence verification failed")
    return 1


def _keys(values: list[str]) -> list[TrustedKey]:
    from relgate.evidence.dsse import TrustedKey
    from relgate.evidence.keys import load_public

    keys = []
    for value in values:
        key_id, sep, text = value.partition("=")
        if not sep or not key_id:
            raise UsageError(f"--public-key {value}: expected ID=ed25519:<base64>")
        keys.append(TrustedKey(key_id, load_public(text, what=f"--public-key {key_id}")))
    return keys


def handle_show(app: App, args: argparse.Namespace) -> int:
    from relgate.cli.archive import optional_config
    from relgate.evidence.bundle import verify_bundle
    from relgate.evidence.proof import Expected, prove, trusted_keys

    report = verify_bundle(args.bundle)
    app.emit(report)
    for line in describe(report):
        app.reporter.line(line)
    # Who vouches for it, as evidence verify would say (show never fails on it).
    proof = prove(args.bundle, Expected(keys=tuple(trusted_keys(optional_config(app)))))
    app.reporter.line(f"gate statement: {proof.authenticity}")
    return 0


def handle_extract(app: App, args: argparse.Namespace) -> int:
    from relgate.evidence.bundle import extract_bundle

    bundle = extract_bundle(args.bundle, args.directory)
    app.reporter.ok(
        f"{len(bundle.manifest.files)} files verified and written to {args.directory} "
        f"(digest {bundle.digest})"
    )
    app.emit({"directory": str(args.directory), "digest": bundle.digest})
    return 0


def describe(report: BundleReport) -> list[str]:
    """The human summary: what was released, where, when, by whom, and how each stage went."""
    meta = report.meta
    facts = [
        ("project", meta.project),
        ("environment", meta.environment),
        ("version", meta.version),
        ("tag", meta.tag),
        ("commit", meta.commit),
        ("repository", meta.repository),
        ("base url", meta.base_url),
        ("run", meta.run_id),
        ("workflow run", meta.github.run_url if meta.github else None),
        ("started", meta.started_at),
        ("finished", meta.finished_at),
        ("actor", meta.actor),
        ("host", meta.host),
        ("relgate", meta.relgate_version),
        ("config", meta.config_digest),
        ("retention", f"{meta.retention_days} days" if meta.retention_days else None),
    ]
    lines = [f"{Path(report.path).name}"]
    lines += [f"  {k:<13} {v}" for k, v in facts if v]
    lines.append("stages:")
    for stage, verdict in report.verdicts.items():
        result = report.stages.get(stage)
        ran = result is not None and result.status.value not in ("not_run", "skipped")
        took = f" ({result.duration_s:.1f}s)" if ran and result and result.duration_s else ""
        summary = f"  {result.summary}" if result and result.summary else ""
        lines.append(f"  {_MARK.get(verdict, '-')} {stage:<10} {verdict:<11}{took}{summary}")
    lines.append(
        f"{report.files} files, {report.content_size} bytes ({report.size} packed, {report.format})"
    )
    lines.append(f"digest {report.digest}")
    return lines
