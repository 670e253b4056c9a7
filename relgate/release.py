"""The release stage, and the auditor's check of a published release.

``release`` refuses before touching GitHub unless the evidence bundle proves, for the very commit
that will be tagged, that every required stage (``release.require``: deploy and smoke) passed.
Then: annotated tag (message with the bundle digest) → draft release → assets (bundle, manifest,
notes) checked by size and digest → publish. Each step is idempotent (see
:mod:`relgate.github.releases`): re-running after a crash finishes the job.

``verify_release`` reads it all back: the tag's message names a digest; the bundle attached to the
release must have that digest, verify, and show the required stages passed for the tagged commit.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field

from relgate.actions_context import ActionsContext, tag_for
from relgate.errors import BadInputError
from relgate.results import RunMeta, StageResult, Status
from relgate.results.archive import ArchiveResult
from relgate.results.deploy import DeployResult
from relgate.results.release import AssetRecord, ReleaseRecord
from relgate.results.smoke import SmokeReport

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.evidence.bundle import BundleReport
    from relgate.evidence.proof import Proof
    from relgate.github.client import GitHubClient
    from relgate.github.releases import AssetState, TagState
    from relgate.notes.context import NotesContext
    from relgate.run import Run

__all__ = [
    "AssetRecord",
    "ReleaseRecord",
    "ReleaseVerification",
    "release",
    "tag_digest",
    "verify_release",
]

R = TypeVar("R", bound=StageResult)

DIGEST_TRAILER = "Relgate-Evidence-Digest"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_TRAILER_LINE = re.compile(rf"^{DIGEST_TRAILER}:\s*(sha256:[0-9a-f]{{64}})\s*$", re.MULTILINE)


def release(
    config: RelgateConfig,
    run: Run,
    *,
    bundle: Path,
    version: str,
    draft: bool | None = None,
    notes_file: Path | None = None,
    target: str | None = None,
    github: GitHubClient | None = None,
) -> ReleaseRecord:
    """Verify ``bundle``, then tag ``version`` and publish its GitHub release with the evidence."""

    tag = tag_for(version, config.project.tag_prefix)
    record = ReleaseRecord(status=Status.FAILED, version=version, tag=tag, bundle=str(bundle))
    client = github or _client(config, run)  # lazy: no request until the evidence is proven
    proof = _verify_evidence(config, run, bundle, target, record, repository=client.repository)
    if record.problems or proof.report is None:
        return _refuse(run, record)
    report = proof.report
    for warning in record.warnings:
        run.reporter.warning(warning, title="relgate release")
    ctx = _context(config, run, report, version)
    tag_state = _tag(config, client, ctx, record=record, report=report, redact=run.secrets.redact)
    # What goes to GitHub is redacted like every file of the run (a secret in a commit message…).
    body = run.secrets.redact(_notes_body(config, ctx, notes_file))
    name = _release_name(config, tag, version)
    keep_draft = config.release.draft if draft is None else draft
    _publish(
        config,
        run,
        client,
        ctx,
        record=record,
        report=report,
        body=body,
        name=name,
        keep_draft=keep_draft,
    )
    record.api_requests = client.requests
    record.status, record.exit_code = Status.PASSED, 0
    record.summary = _summary_line(record, tag_state)
    _report(run, ctx, record)
    run.write_result(record)
    return record


# -- evidence -----------------------------------------------------------------------------------
def _verify_evidence(
    config: RelgateConfig,
    run: Run,
    bundle: Path,
    target: str | None,
    record: ReleaseRecord,
    *,
    repository: str,
) -> Proof:
    """The same proof as verify-release: :func:`relgate.evidence.proof.prove`."""
    from relgate.evidence.proof import expected_for_release, prove

    if not bundle.is_file():
        raise BadInputError(f"--bundle {bundle}: no such file")
    if target is not None and not FULL_SHA.match(target.lower()):
        raise BadInputError(f"--commit {target}: give the full 40-hex commit sha, not a prefix")
    chosen = target or _default_target(config, run.env)
    expected = expected_for_release(
        config,
        repository=repository,
        tag=record.tag,
        version=record.version or "",
        commit=chosen.lower() if chosen else None,
    )
    proof = prove(bundle, expected)
    record.bundle_digest = proof.digest
    record.signed_by, record.authenticity = proof.signed_by, proof.authenticity
    record.warnings = list(proof.warnings)
    record.problems = list(proof.problems)
    # No checkout: the commit the (consistent) bundle names is the one to tag.
    commit = proof.report.meta.commit if proof.report else None
    record.target_sha = chosen or commit or ""
    return proof


def _default_target(config: RelgateConfig, env: Mapping[str, str]) -> str | None:
    """The commit to tag: GITHUB_SHA in Actions, else HEAD of the project's repository."""
    actions = ActionsContext.from_env(env)
    if actions.in_actions and actions.sha:
        return actions.sha
    from relgate.notes import history

    repo = config.resolve_path(config.project.repo_path)
    if not history.is_repo(repo):
        return None  # no checkout: the bundle's commit is the target
    return history.resolve_commit(repo, "HEAD")


def _refuse(run: Run, record: ReleaseRecord) -> ReleaseRecord:
    record.status, record.exit_code, record.outcome = Status.FAILED, 1, "refused"
    # The first failed check is the reason (one line); the others follow as detail.
    record.summary = f"release {record.tag} refused: {record.problems[0]}"
    for problem in record.problems:
        run.reporter.error(problem, title="relgate release refused")
    run.write_result(record)
    return record


# -- context, notes, tag ------------------------------------------------------------------------
def _client(config: RelgateConfig, run: Run) -> GitHubClient:
    from relgate.github.client import GitHubClient

    return GitHubClient.from_env(config, run.env, secrets=run.secrets, log=run.reporter.line)


def _context(config: RelgateConfig, run: Run, report: BundleReport, version: str) -> NotesContext:
    from relgate.notes.context import StageFacts
    from relgate.notes.stage import build_context

    packed = report.stages.get("archive")
    # The bundle's own archive result cannot name the bundle's digest (it is inside it): the
    # verified facts of the bundle in hand take its place; its status stays what was recorded.
    archive = (
        packed.model_copy(
            update={
                "bundle_path": report.path,
                "bundle_digest": report.digest,
                "format": report.format,
                "size": report.size,
            }
        )
        if isinstance(packed, ArchiveResult)
        else None
    )
    facts = StageFacts(
        deploy=_typed(report, DeployResult), smoke=_typed(report, SmokeReport), archive=archive
    )
    return build_context(
        config,
        run.env,
        results=facts,
        version=version,
        since=None,
        run_id=report.meta.run_id or run.id,
        environment=report.meta.environment or run.environment,
        meta=report.meta,
        now=run.clock(),
        require_history=False,
        ask_github=False,  # the notes stage already did; keeps a release at its request budget
    )


def _typed(report: BundleReport, model: type[R]) -> R | None:
    """The bundle's result of ``model``'s stage (verified and parsed by ``open_bundle``)."""
    found = report.stages.get(model.model_fields["stage"].default)
    return found if isinstance(found, model) else None


def _tag(
    config: RelgateConfig,
    client: GitHubClient,
    ctx: NotesContext,
    *,
    record: ReleaseRecord,
    report: BundleReport,
    redact: Callable[[str], str],
) -> TagState:
    from relgate.github.releases import ensure_tag
    from relgate.notes.stage import render_tag_message

    message = redact(with_trailers(render_tag_message(config, ctx), report.digest, ctx))
    actor = ctx.ci.actor or "relgate"
    tagger = (actor, f"{actor}@users.noreply.github.com", ctx.generated_at)
    state = ensure_tag(client, record.tag, record.target_sha, message, tagger=tagger)
    record.tag_object, record.tag_action = state.object_sha, state.action
    _check_reused_tag(state, report.digest, redact)
    return state


def _check_reused_tag(state: TagState, digest: str, redact: Callable[[str], str]) -> None:
    """A reused tag must not name other evidence: the release would contradict its own tag."""
    from relgate.errors import VerificationError

    if state.action != "reused" or not state.annotated:
        return
    named = tag_digest(state.message)
    if named is not None and named != digest:
        raise VerificationError(
            f"tag {state.name} already names the evidence {named}, not this bundle's {digest}: "
            "release with that bundle (same commit), or release another version"
        )


def with_trailers(message: str, digest: str, ctx: NotesContext) -> str:
    """The tag message with machine-readable trailers (what verify-release reads)."""
    lines = [f"{DIGEST_TRAILER}: {digest}", f"Relgate-Commit: {ctx.target_sha}"]
    if ctx.evidence and ctx.evidence.get("bundle"):
        lines.append(f"Relgate-Evidence-Bundle: {ctx.evidence['bundle']}")
    if ctx.ci.url:
        lines.append(f"Relgate-Run: {ctx.ci.url}")
    return message.rstrip() + "\n\n" + "\n".join(lines) + "\n"


def tag_digest(message: str) -> str | None:
    """The evidence digest a tag message names (trailer first, else the only sha256 in it)."""
    m = _TRAILER_LINE.search(message)
    if m:
        return m.group(1)
    found = set(_DIGEST.findall(message))
    return found.pop() if len(found) == 1 else None


def _notes_body(config: RelgateConfig, ctx: NotesContext, notes_file: Path | None) -> str:
    from relgate.notes.stage import default_output, render_notes

    if notes_file is not None:
        if not notes_file.is_file():
            raise BadInputError(f"--notes {notes_file}: no such file")
        return notes_file.read_text(encoding="utf-8")
    existing = default_output(config, ctx.version)
    if existing.is_file():
        return existing.read_text(encoding="utf-8")
    return render_notes(config, ctx)


def _release_name(config: RelgateConfig, tag: str, version: str) -> str:
    return config.release.name.replace("{tag}", tag).replace("{version}", version)


# -- release and assets -------------------------------------------------------------------------
def _publish(
    config: RelgateConfig,
    run: Run,
    client: GitHubClient,
    ctx: NotesContext,
    *,
    record: ReleaseRecord,
    report: BundleReport,
    body: str,
    name: str,
    keep_draft: bool,
) -> None:
    from relgate.github.releases import ensure_assets, ensure_draft_release, publish_release
    from relgate.notes.versions import SemVer

    parsed = SemVer.parse(ctx.version.removeprefix(config.project.tag_prefix))
    record.prerelease = bool(parsed and parsed.prerelease) or "-rc" in ctx.version
    rel, _ = ensure_draft_release(
        client, record.tag, name=name, body=body, prerelease=record.prerelease
    )
    files = _asset_files(config, run, report, ctx, body)
    record.assets = [_asset_record(s) for s in ensure_assets(client, rel, files)]
    if not keep_draft:
        rel = publish_release(client, rel, name=name, body=body, prerelease=record.prerelease)
        # A draft's download URLs use a temporary "untagged-…" path; publishing changes them.
        final = {a.name: a.browser_download_url for a in rel.assets}
        for asset in record.assets:
            asset.url = final.get(asset.name, asset.url)
    record.release_id, record.release_url = rel.id, rel.html_url
    record.draft, record.immutable = bool(rel.draft), getattr(rel, "immutable", None)
    record.outcome = "draft" if record.draft else "published"


def _asset_files(
    config: RelgateConfig, run: Run, report: BundleReport, ctx: NotesContext, body: str
) -> list[Any]:
    from relgate.evidence.bundle import open_bundle
    from relgate.github.releases import AssetFile, file_digest
    from relgate.notes.stage import default_output

    bundle = Path(report.path)
    stem = bundle.name.split(".tar")[0]
    # The canonical manifest: sha256 of these bytes is the digest the tag message names.
    manifest_bytes = open_bundle(bundle).manifest.canonical_bytes()
    manifest = run.write_bytes(f"artifacts/release/{stem}.manifest.json", manifest_bytes)
    notes = run.write_text(f"artifacts/release/{default_output(config, ctx.version).name}", body)
    paths = [bundle, manifest, notes]
    for pattern in config.release.assets:
        paths += sorted(p for p in config.base_dir.glob(pattern) if p.is_file())
    files = []
    for path in dict.fromkeys(paths):
        content_type = "application/gzip" if path.name.endswith(".gz") else None
        if path.suffix == ".json":
            content_type = "application/json"
        elif path.suffix == ".md":
            content_type = "text/markdown"
        files.append(
            AssetFile(
                path,
                path.name,
                path.stat().st_size,
                file_digest(path),
                content_type or "application/octet-stream",
            )
        )
    return files


def _asset_record(state: AssetState) -> AssetRecord:
    return AssetRecord(
        name=state.name, size=state.size, digest=state.digest, url=state.url, action=state.action
    )


def _summary_line(record: ReleaseRecord, tag: TagState) -> str:
    verb = "draft saved" if record.draft else "published"
    return (
        f"{record.tag} {verb}: tag {tag.action} on {record.target_sha[:12]}, "
        f"{len(record.assets)} assets, evidence {record.bundle_digest} {record.authenticity}"
    )


def _report(run: Run, ctx: NotesContext, record: ReleaseRecord) -> None:
    from relgate.gha import Summary
    from relgate.notes.render import render as render_template
    from relgate.notes.render import resolve_template
    from relgate.notes.stage import SUMMARY_TEMPLATE

    reporter = run.reporter
    reporter.set_output("tag", record.tag)
    reporter.set_output("release-url", record.release_url or "")
    reporter.set_output("asset-urls", "\n".join(a.url for a in record.assets))
    reporter.ok(record.summary)
    release_view = {
        "tag": record.tag,
        "url": record.release_url,
        "draft": record.draft,
        "assets": [a.model_dump() for a in record.assets],
    }
    markdown = render_template(
        resolve_template(None, SUMMARY_TEMPLATE, "summary"),
        {**ctx.template_vars(), "release": release_view},
    )
    # One line on who vouches for the evidence: a signer's id, or a plain "unauthenticated".
    mark = "🔏" if record.signed_by else "⚠️"
    markdown += f"\n{mark} Evidence {record.authenticity}\n"
    markdown += "".join(f"\n> ⚠️ {w}\n" for w in record.warnings)
    reporter.write_summary(Summary().raw(markdown, record.summary), echo=False)


# -- verify-release -----------------------------------------------------------------------------
class ReleaseVerification(BaseModel):
    """What ``relgate verify-release TAG`` found."""

    tag: str
    status: Status
    exit_code: int = 0
    commit: str | None = None
    tag_digest: str | None = None
    release_url: str | None = None
    draft: bool | None = None
    immutable: bool | None = None
    bundle_asset: str | None = None
    bundle_digest: str | None = None
    verdicts: dict[str, str] = Field(default_factory=dict)
    meta: RunMeta | None = None
    signed_by: str | None = None
    authenticity: str = ""
    problems: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    api_requests: int = 0


def verify_release(
    config: RelgateConfig,
    tag: str,
    *,
    env: Mapping[str, str],
    github: GitHubClient | None = None,
    workdir: Path | None = None,
) -> ReleaseVerification:
    """Check a published release against its tag and its evidence bundle."""
    from relgate.github.client import GitHubClient
    from relgate.github.releases import find_release, read_tag

    client = github or GitHubClient.from_env(config, env)
    result = ReleaseVerification(tag=tag, status=Status.FAILED, exit_code=1)
    tag_state = read_tag(client, tag)
    if tag_state is None:
        raise BadInputError(f"tag {tag}: not found in {client.repository}")
    result.commit, result.tag_digest = tag_state.commit, tag_digest(tag_state.message)
    if not tag_state.annotated:
        result.problems.append(f"{tag} is a lightweight tag: it carries no evidence digest")
    elif result.tag_digest is None:
        result.problems.append(f"the message of tag {tag} names no evidence digest")
    rel = find_release(client, tag)
    if rel is None:
        result.problems.append(f"no GitHub release for {tag}")
    else:
        result.release_url, result.draft = rel.html_url, bool(rel.draft)
        result.immutable = getattr(rel, "immutable", None)
        if result.draft:
            result.problems.append(f"the release of {tag} is still a draft (not published)")
        _check_bundle(config, client, rel, result, workdir)
    result.api_requests = client.requests
    if not result.problems:
        result.status, result.exit_code = Status.PASSED, 0
    return result


def _check_bundle(
    config: RelgateConfig,
    client: GitHubClient,
    rel: Any,
    result: ReleaseVerification,
    workdir: Path | None,
) -> None:
    from relgate.evidence.proof import expected_for_release, prove
    from relgate.github.releases import download_asset, file_digest

    bundles = [a for a in rel.assets if _is_bundle(a.name)]
    if len(bundles) != 1:
        result.problems.append(
            f"expected one evidence bundle among the assets, found {len(bundles)}"
        )
        return
    asset = bundles[0]
    result.bundle_asset = asset.name
    # The same checks as release, on the tag's own facts: its commit, its name, its digest.
    expected = replace(
        expected_for_release(
            config,
            repository=client.repository,
            tag=result.tag,
            version=result.tag,
            commit=result.commit or "",
        ),
        digest=result.tag_digest,
    )
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = download_asset(client, asset, Path(tmp) / asset.name)
        if asset.digest and file_digest(path) != asset.digest:
            result.problems.append(f"{asset.name}: downloaded bytes differ from GitHub's digest")
        proof = prove(path, expected)
    result.bundle_digest = proof.digest
    result.signed_by, result.authenticity = proof.signed_by, proof.authenticity
    result.warnings = list(proof.warnings)
    if proof.report is not None:
        result.verdicts, result.meta = proof.report.verdicts, proof.report.meta
    result.problems.extend(proof.problems)


def _is_bundle(name: str) -> bool:
    return name.startswith("relgate-evidence-") and (
        name.endswith(".tar.gz") or name.endswith(".tar.zst")
    )
