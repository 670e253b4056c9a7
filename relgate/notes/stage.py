"""The notes stage: release notes rendered from git history, CI facts and the run's results.

Renders locally; GitHub is needed only for ``--pr`` (the release-notes pull request).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relgate.actions_context import ActionsContext, tag_for
from relgate.errors import UsageError
from relgate.notes import history
from relgate.notes.context import (
    CommitView,
    NotesContext,
    StageFacts,
    ci_from_env,
    group_commits,
    iso_date,
    stage_views,
)
from relgate.notes.junit import TestCounts, count_tests, find_reports
from relgate.notes.render import TemplateRef, render, resolve_template
from relgate.notes.versions import previous_tag
from relgate.results import RunMeta, Status
from relgate.results.archive import ArchiveResult
from relgate.results.deploy import DeployResult
from relgate.results.notes import NotesResult
from relgate.results.smoke import SmokeReport

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.github.client import GitHubClient
    from relgate.run import Run

__all__ = ["NotesResult", "build_context", "notes", "render_notes", "run_results"]

NOTES_TEMPLATE = "release-notes.md.j2"
TAG_TEMPLATE = "tag-message.txt.j2"
SUMMARY_TEMPLATE = "job-summary.md.j2"


def notes(
    config: RelgateConfig,
    run: Run,
    *,
    version: str,
    since: str | None = None,
    output: Path | None = None,
    pr: bool = False,
    github: GitHubClient | None = None,
) -> NotesResult:
    """Render the release notes of ``version``; write them to ``output`` and the run directory."""
    context = build_context(
        config,
        run.env,
        results=run_results(run),
        version=version,
        since=since,
        run_id=run.id,
        environment=run.environment,
        meta=run.read_meta(),
        now=run.clock(),
    )
    text = render_notes(config, context)
    artifact = run.write_text(f"artifacts/notes/{_output_name(config, version)}", text)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(run.secrets.redact(text), encoding="utf-8")
    result = _result(config, context, text, artifact.relative_to(run.dir), output)
    if pr:
        _open_pr(config, run, context, text=text, result=result, github=github)
    run.reporter.set_output("notes-file", str(output or artifact))
    _job_summary(run, context)
    run.write_result(result)
    return result


def _job_summary(run: Run, ctx: NotesContext) -> None:
    from relgate.gha import Summary

    ref = resolve_template(None, SUMMARY_TEMPLATE, "summary")
    markdown = render(ref, {**ctx.template_vars(), "release": None})
    run.reporter.write_summary(Summary().raw(markdown), echo=False)


def _result(
    config: RelgateConfig, ctx: NotesContext, text: str, artifact: Path, output: Path | None
) -> NotesResult:
    return NotesResult(
        status=Status.PASSED,
        summary=f"notes for {ctx.tag}: {len(ctx.commits)} commits since "
        f"{ctx.previous_tag or 'the first commit'}",
        version=ctx.version,
        tag=ctx.tag,
        previous_tag=ctx.previous_tag,
        target_sha=ctx.target_sha,
        commits=len(ctx.commits),
        breaking=len(ctx.breaking),
        groups={g.key: len(g.commits) for g in ctx.groups},
        tests=ctx.tests["summary"] if ctx.tests else None,
        template=config.notes.template or f"(built-in) {NOTES_TEMPLATE}",
        output=str(output) if output else None,
        artifact=str(artifact),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _open_pr(
    config: RelgateConfig,
    run: Run,
    ctx: NotesContext,
    *,
    text: str,
    result: NotesResult,
    github: GitHubClient | None,
) -> None:
    from relgate.github.client import GitHubClient
    from relgate.notes.pr import publish_notes_pr

    client = github or GitHubClient.from_env(config, run.env, secrets=run.secrets)
    pr = publish_notes_pr(client, config, version=ctx.version, tag=ctx.tag, text=text)
    result.pr_url, result.pr_number = pr.url, pr.number
    result.github_requests = client.requests
    run.reporter.set_output("pr-url", pr.url)
    run.reporter.ok(f"release-notes PR #{pr.number} {pr.action}: {pr.url}")


def _output_name(config: RelgateConfig, version: str) -> str:
    return Path(config.notes.output.replace("{version}", version)).name


def default_output(config: RelgateConfig, version: str) -> Path:
    return config.resolve_path(config.notes.output.replace("{version}", version))


def run_results(run: Run) -> StageFacts:
    """Earlier stages' results in the run directory, read through the typed API."""
    return StageFacts(
        deploy=run.read_result(DeployResult).result,
        smoke=run.read_result(SmokeReport).result,
        archive=run.read_result(ArchiveResult).result,
    )


# -- context ------------------------------------------------------------------------------------
def build_context(
    config: RelgateConfig,
    env: Mapping[str, str],
    *,
    results: StageFacts,
    version: str,
    since: str | None,
    run_id: str,
    environment: str | None,
    meta: RunMeta,
    now: Any,
    require_history: bool = True,
    ask_github: bool = True,
) -> NotesContext:
    """Assemble the template context. Without ``require_history`` a missing git repository (a
    release job without checkout) gives an empty commit list instead of an error. ``ask_github``
    allows fetching the run's approvals (one request) when a token is set."""
    repo = config.resolve_path(config.project.repo_path)
    tag = tag_for(version, config.project.tag_prefix)
    repo_url = _repo_url(config, env)
    if require_history or history.is_repo(repo, full=True):
        history.ensure_repo(repo)
        tags = history.list_tags(repo)
        target = _target(repo, tag, tags, meta)
        previous = _since(
            repo,
            since,
            tags,
            version=version,
            prefix=config.project.tag_prefix,
            tag=tag,
            target=target,
        )
        commits = [
            CommitView(c, repo_url)
            for c in history.iter_commits(
                repo, history.commit_range(previous, target), first_parent=config.notes.first_parent
            )
            if not history.is_noise_merge(c)
        ]
    else:
        target, previous, commits = meta.commit or "", None, []
    groups, breaking = group_commits(commits)
    views = stage_views(results, _tests(config))
    return NotesContext(
        project=_project(config, env),
        version=version,
        tag=tag,
        previous_tag=previous,
        target_sha=target,
        date=iso_date(now),
        generated_at=now.isoformat(),
        commits=commits,
        groups=groups,
        breaking=breaking,
        stats={
            "commits": len(commits),
            "conventional": sum(1 for c in commits if c.conventional),
            "breaking": len(breaking),
            "contributors": len({c.author_email.lower() for c in commits}),
        },
        contributors=sorted({c.author for c in commits}),
        repo_url=repo_url,
        compare_url=f"{repo_url}/compare/{previous}...{tag}" if repo_url and previous else None,
        ci=ci_from_env(env),
        environment=environment,
        run_id=run_id,
        deploy=views["deploy"],
        smoke=views["smoke"],
        tests=views["tests"],
        evidence=views["evidence"],
        approvals=_approvals(meta) or (_fetch_approvals(config, env) if ask_github else []),
    )


def _target(repo: Path, tag: str, tags: Sequence[history.Tag], meta: RunMeta) -> str:
    """The commit being released: its tag if it exists, else the run's commit, else HEAD."""
    for t in tags:
        if t.name == tag:
            return t.commit
    recorded = meta.commit
    if recorded:
        found = history.resolve_commit(repo, recorded)
        if found:
            return found
    head = history.resolve_commit(repo, "HEAD")
    if head is None:
        raise UsageError(f"{repo}: the repository has no commits")
    return head


def _since(
    repo: Path,
    since: str | None,
    tags: Sequence[history.Tag],
    *,
    version: str,
    prefix: str,
    tag: str,
    target: str,
) -> str | None:
    if since:
        if history.resolve_commit(repo, since) is None:
            raise UsageError(f"--since {since}: no such tag or commit in {repo}")
        return since
    names = [t.name for t in tags if t.name != tag]
    found = previous_tag(names, version, prefix)
    if found is None and _not_semver(tag, prefix):
        found = history.nearest_tag(repo, target)
    return found


def _not_semver(tag: str, prefix: str) -> bool:
    from relgate.notes.versions import SemVer

    return SemVer.parse(tag[len(prefix) :] if tag.startswith(prefix) else tag) is None


def _repo_url(config: RelgateConfig, env: Mapping[str, str]) -> str | None:
    actions = ActionsContext.from_env(env)
    return actions.repo_url(config.project.repository)


def _project(config: RelgateConfig, env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": config.project.name,
        "repository": config.project.repository or ActionsContext.from_env(env).repository,
        "contacts": [c.model_dump() for c in config.project.contacts],
    }


def _tests(config: RelgateConfig) -> TestCounts | None:
    if not config.notes.junit:
        return None
    reports = find_reports(config.notes.junit, config.base_dir)
    if not reports:
        if not config.notes.strict:
            return None  # the notes then show no test line, rather than "0 passed"
        from relgate.errors import ConfigError, Problem

        where = str(config.source or "relgate.yml")
        patterns = ", ".join(config.notes.junit)
        raise ConfigError(
            [Problem(where, None, "notes.junit", f"no JUnit file matches {patterns}")]
        )
    return count_tests(reports)


def _approvals(meta: RunMeta) -> list[dict[str, Any]]:
    return list(meta.approvals or [])


def _fetch_approvals(config: RelgateConfig, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """Environment approvals of this workflow run, when GitHub can be asked; else none.

    Best effort on purpose: notes must render without GitHub (locally, or when the token may not
    read Actions), and a missing approval list is visible in the notes, not a reason to fail.
    """
    run_id = ActionsContext.from_env(env).run_id
    if not run_id or not env.get(config.github.token_env):
        return []
    from relgate.errors import Interrupted, RelgateError
    from relgate.github.client import GitHubClient
    from relgate.github.environments import approvals

    try:
        client = GitHubClient.from_env(config, env)
        found = approvals(client, run_id)
    except Interrupted:
        raise
    except RelgateError:
        return []
    return [a.model_dump(mode="json") for a in found]


# -- rendering ----------------------------------------------------------------------------------
def notes_template(config: RelgateConfig) -> TemplateRef:
    path = config.resolve_path(config.notes.template) if config.notes.template else None
    return resolve_template(path, NOTES_TEMPLATE, "notes.template")


def tag_template(config: RelgateConfig) -> TemplateRef:
    path = config.resolve_path(config.notes.tag_template) if config.notes.tag_template else None
    return resolve_template(path, TAG_TEMPLATE, "notes.tag_template")


def render_notes(config: RelgateConfig, ctx: NotesContext) -> str:
    return _one_newline(
        render(
            notes_template(config),
            ctx.template_vars(),
            strict=config.notes.strict,
            placeholders=config.notes.placeholders,
            scrub=lambda patterns: scrubbed(ctx, patterns).template_vars(),
        )
    )


def _one_newline(text: str) -> str:
    return text.rstrip() + "\n"


def render_tag_message(config: RelgateConfig, ctx: NotesContext, **extra: Any) -> str:
    return render(
        tag_template(config),
        {**ctx.template_vars(), **extra},
        strict=config.notes.strict,
        placeholders=config.notes.placeholders,
        scrub=lambda patterns: {**scrubbed(ctx, patterns).template_vars(), **extra},
    )


def scrubbed(ctx: NotesContext, patterns: Sequence[re.Pattern[str]]) -> NotesContext:
    """The context with placeholder-like text removed from what committers wrote."""

    def clean(text: str) -> str:
        for pattern in patterns:
            text = pattern.sub("…", text)
        return text

    def view(c: CommitView) -> CommitView:
        raw = c._c
        cleaned = replace(
            raw,
            subject=clean(raw.subject),
            description=clean(raw.description),
            body=clean(raw.body),
            author_name=clean(raw.author_name),
            breaking_description=clean(raw.breaking_description or "") or None,
        )
        return CommitView(cleaned, ctx.repo_url)

    by_sha = {c.sha: view(c) for c in ctx.commits}
    groups, breaking = group_commits(list(by_sha.values()))
    return replace(
        ctx,
        commits=list(by_sha.values()),
        groups=groups,
        breaking=breaking,
        contributors=sorted({clean(a) for a in ctx.contributors}),
    )
