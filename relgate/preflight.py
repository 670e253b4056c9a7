"""The preflight stage: every prerequisite of the runbooks, checked before anything is touched.

The seed's "sanity" block ran its commands joined by ``&&``: the first missing tool hid every other
problem, and an operator fixed them one run at a time. Here every check runs, each lands in a
PASS / FAIL / SKIP table (terminal and job summary), and one failure fails the stage with *all* the
failures listed. A check that does not apply (Docker checks for the process driver, the tag check
without ``--version``) is skipped with its reason, never silently passed.

Checks, in order: tools, Docker daemon, compose file, git tag, main up to date, base URLs, TLS
(DNS, trusted certificate, expiry), secrets, database reachable, database backup, release-notes
templates, disk space, CI of the commit, then the configured release checks (``preflight.checks``,
run in the checkout: see :mod:`relgate.release_checks`).

The outside world (``which``, commands, disk usage, GitHub) comes in through :class:`Probe`, so tests
replace only what cannot run here.

Why this module is longer than ~500 lines: it is one short, independent function per check (the
:data:`CHECKS` table at the end is the outline); splitting them by theme would scatter that order
over several files without making any single check easier to read.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from relgate.actions_context import ActionsContext, tag_for
from relgate.errors import Interrupted, RelgateError
from relgate.fields import is_loopback_host
from relgate.release_checks import ReleaseCheckRecord, run_release_check
from relgate.results import StageName, Status
from relgate.results.preflight import CheckStatus, PreflightCheck, PreflightResult
from relgate.run import run_stage

if TYPE_CHECKING:
    from relgate.config import EnvironmentConfig, RelgateConfig
    from relgate.deploy.commands import ComposeProject
    from relgate.deploy.engine import EngineInfo
    from relgate.github.checks import CommitChecks
    from relgate.run import Run

__all__ = ["CheckStatus", "PreflightCheck", "PreflightResult", "Probe", "preflight"]


CommandRun = Callable[[Sequence[str], Mapping[str, str], Path | None], tuple[int, str]]
EngineProbe = Callable[[Mapping[str, str], Path | None], "EngineInfo"]
ComposeCheck = Callable[["ComposeProject", Mapping[str, str], Path | None], str | None]
CiCheck = Callable[["RelgateConfig", Mapping[str, str], str], tuple[CheckStatus, str]]


def _run(argv: Sequence[str], env: Mapping[str, str], cwd: Path | None) -> tuple[int, str]:
    """Run a read-only command; (exit code, stdout+stderr). 127 when the program is missing."""
    from relgate import proc
    from relgate.errors import ToolMissing

    try:
        done = proc.run(argv, env=env, cwd=cwd, merge_stderr=True, timeout=60)
    except ToolMissing:
        return 127, f"{argv[0]}: not found"
    if done.timed_out:
        return 124, f"{' '.join(argv[:3])}: timed out after 60s"
    return int(done.returncode or 0), done.out.strip()


def _probe_engine(env: Mapping[str, str], cwd: Path | None) -> EngineInfo:
    from relgate.deploy.engine import probe_engine

    return probe_engine(env, cwd)


def _check_compose(project: ComposeProject, env: Mapping[str, str], cwd: Path | None) -> str | None:
    from relgate.deploy.engine import check_compose_config

    return check_compose_config(project, env, cwd)


def _disk_free(path: Path) -> int:
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


@dataclass
class Probe:
    """How preflight looks at the world (Docker only through :mod:`relgate.deploy.engine`)."""

    which: Callable[[str], str | None] = shutil.which
    run: CommandRun = _run  # git, psql
    engine: EngineProbe = _probe_engine
    compose_config: ComposeCheck = _check_compose
    disk_free: Callable[[Path], int] = _disk_free
    ci: CiCheck | None = None  # default: the GitHub client (relgate.github)


@dataclass
class _Ctx:
    config: RelgateConfig
    run: Run
    environment: str
    env_config: EnvironmentConfig
    version: str | None
    probe: Probe
    tag_commit: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def driver(self) -> str:
        return self.env_config.stack.driver

    def sh(self, *argv: str, env: Mapping[str, str] | None = None) -> tuple[int, str]:
        return self.probe.run(list(argv), env or self.run.env, self.config.base_dir)

    def engine(self) -> EngineInfo:
        """Asked once per preflight: the compose and daemon checks share the answer."""
        if "engine" not in self.facts:
            self.facts["engine"] = self.probe.engine(self.run.env, self.config.base_dir)
        info: EngineInfo = self.facts["engine"]
        return info

    def git(self, *args: str) -> tuple[int, str]:
        repo = self.config.resolve_path(self.config.project.repo_path)
        return self.sh("git", "-C", str(repo), *args)


def _pass(name: str, detail: str = "") -> PreflightCheck:
    return PreflightCheck(name=name, status=CheckStatus.PASS, detail=detail)


def _fail(name: str, detail: str) -> PreflightCheck:
    return PreflightCheck(name=name, status=CheckStatus.FAIL, detail=detail)


def _skip(name: str, reason: str) -> PreflightCheck:
    return PreflightCheck(name=name, status=CheckStatus.SKIP, detail=reason)


def preflight(
    config: RelgateConfig,
    run: Run,
    *,
    environment: str,
    version: str | None,
    probe: Probe | None = None,
) -> PreflightResult:
    """``relgate preflight``: passed only when no check failed (skips do not fail)."""
    name, env_config = config.environment(environment)
    ctx = _Ctx(config, run, name, env_config, version, probe or Probe())

    def body() -> PreflightResult:
        result = PreflightResult(status=Status.ERROR, started_at=run.clock(), version=version)
        for check in CHECKS:
            result.checks.extend(_safely(check, ctx))
        result.tag_commit = ctx.tag_commit
        result.release_checks = list(ctx.facts.get("release_checks", []))
        result.failed = [c.name for c in result.checks if c.status is CheckStatus.FAIL]
        _conclude(result)
        return result

    result = run_stage(run, StageName.PREFLIGHT, body)
    _report(run, result)
    return result


def _safely(check: Callable[[_Ctx], Iterable[PreflightCheck]], ctx: _Ctx) -> list[PreflightCheck]:
    """One broken check must not hide the others: its error becomes its FAIL row."""
    label = check.__name__.removeprefix("_check_").replace("_", " ")
    try:
        return list(check(ctx))
    except Interrupted:
        raise  # a signal is not a failed check: the stage records it as interrupted
    except RelgateError as exc:
        return [_fail(label, " ".join(exc.lines()))]
    except OSError as exc:
        return [_fail(label, f"{type(exc).__name__}: {exc}")]


def _conclude(result: PreflightResult) -> None:
    counts = {s: sum(1 for c in result.checks if c.status is s) for s in CheckStatus}
    tally = f"{counts[CheckStatus.PASS]} passed, {counts[CheckStatus.FAIL]} failed, {counts[CheckStatus.SKIP]} skipped"
    if result.failed:
        result.status, result.exit_code, result.outcome = Status.FAILED, 1, "failed"
        failures = [f"{c.name}: {c.detail}" for c in result.checks if c.status is CheckStatus.FAIL]
        result.error = "; ".join(failures)
        result.summary = f"preflight failed ({tally}): " + ", ".join(result.failed)
    else:
        result.status, result.exit_code, result.outcome = Status.PASSED, 0, "passed"
        result.summary = f"preflight passed ({tally})"


def _report(run: Run, result: PreflightResult) -> None:
    from relgate.gha import Summary

    # Skipped checks are folded away: they are why the table was 16 rows long, and say nothing
    # about this release (their reasons are one click away, and all in the result).
    shown = [c for c in result.checks if c.status is not CheckStatus.SKIP]
    skipped = [c for c in result.checks if c.status is CheckStatus.SKIP]
    summary = Summary().heading(f"Preflight {result.environment or ''}: {result.outcome}".strip())
    summary.table(
        ["result", "check", "detail"], [[c.status.value.upper(), c.name, c.detail] for c in shown]
    )
    if skipped:
        summary.details(
            f"{len(skipped)} checks skipped", "\n".join(f"{c.name}: {c.detail}" for c in skipped)
        )
    summary.paragraph(result.summary)
    run.reporter.write_summary(summary)
    for check in result.checks:
        if check.status is CheckStatus.FAIL:
            run.reporter.error(f"{check.name}: {check.detail}", title="preflight")


# -- tools and Docker --------------------------------------------------------------------------
def _needed_tools(ctx: _Ctx) -> list[tuple[str, str]]:
    """(program, why) for every program this environment's plan runs on this host."""
    needed: list[tuple[str, str]] = []
    if ctx.driver in ("compose", "swarm"):
        needed.append(("docker", f"the {ctx.driver} driver"))
    if ctx.version and ctx.config.preflight.require_tag:
        needed.append(("git", "the release tag"))
    db = ctx.env_config.database
    if db is not None and db.dsn_env:
        needed += [(p, "database backups") for p in ("pg_dump", "pg_restore", "psql")]
    needed += [(t, "preflight.tools") for t in ctx.config.preflight.tools]
    return list(dict.fromkeys(needed))


def _check_tools(ctx: _Ctx) -> Iterator[PreflightCheck]:
    if ctx.driver == "process":
        yield _skip("tool: docker", "not needed by the process driver")
    for program, why in _needed_tools(ctx):
        found = ctx.probe.which(program)
        if found:
            yield _pass(f"tool: {program}", found)
        else:
            yield _fail(f"tool: {program}", f"not found on PATH (needed for {why})")
    if ctx.driver == "compose":
        yield _compose_v2(ctx)


def _compose_v2(ctx: _Ctx) -> PreflightCheck:
    if not ctx.probe.which("docker"):
        return _fail("tool: docker compose v2", "needs the docker CLI")
    info = ctx.engine()
    if info.compose_version is None:
        return _fail("tool: docker compose v2", info.compose_error or "no answer")
    return _pass("tool: docker compose v2", info.compose_version)


def _check_docker_daemon(ctx: _Ctx) -> Iterator[PreflightCheck]:
    if ctx.driver == "process":
        yield _skip("docker daemon", "not needed by the process driver")
        return
    if not ctx.probe.which("docker"):
        yield _fail("docker daemon", "no docker CLI to reach it with")
        return
    info = ctx.engine()
    ctx.facts["docker"] = info.reachable
    if info.server_version is None:
        yield _fail("docker daemon", info.server_error or "not reachable")
    else:
        yield _pass("docker daemon", f"Docker Engine {info.server_version}")


def _check_compose_file(ctx: _Ctx) -> Iterator[PreflightCheck]:
    from relgate.config import ComposeStack

    stack = ctx.env_config.stack
    if ctx.driver == "swarm":
        files = [ctx.config.resolve_path(f) for f in getattr(stack, "files", [])]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            yield _fail("compose file", f"not found: {', '.join(missing)}")
            return
        from relgate.deploy.swarm_spec import stack_problems

        swarm_refused, warnings = stack_problems(files)
        if swarm_refused:
            yield _fail("compose file", "Swarm refuses: " + "; ".join(map(str, swarm_refused)))
            return
        names = ", ".join(f.name for f in files)
        note = f" (warnings: {'; '.join(warnings)})" if warnings else ""
        yield _pass("compose file", f"{names}: usable as a swarm stack{note}")
        return
    if not isinstance(stack, ComposeStack):
        yield _skip("compose file", f"not used by the {ctx.driver} driver")
        return
    files = [ctx.config.resolve_path(f) for f in stack.files]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        yield _fail("compose file", f"not found: {', '.join(missing)}")
        return
    if not ctx.facts.get("docker"):
        yield _skip("compose file", "exists; not validated (the Docker daemon is not reachable)")
        return
    from relgate.deploy.commands import ComposeProject, compose_variables

    project = ComposeProject.from_stack(ctx.config, stack)
    variables = compose_variables(ctx.config, ctx.env_config, ctx.version or "preflight")
    refused = ctx.probe.compose_config(project, {**ctx.run.env, **variables}, ctx.config.base_dir)
    if refused is not None:
        yield _fail("compose file", f"docker compose config refuses it: {refused}")
    else:
        yield _pass(
            "compose file", ", ".join(f.name for f in files) + " accepted by compose config"
        )


# -- git -----------------------------------------------------------------------------------------
def _check_git_tag(ctx: _Ctx) -> Iterator[PreflightCheck]:
    if not ctx.version:
        yield _skip("git tag", "no --version given")
        return
    if not ctx.config.preflight.require_tag:
        yield _skip("git tag", "preflight.require_tag is off")
        return
    tag = tag_for(ctx.version, ctx.config.project.tag_prefix)
    code, out = ctx.git("rev-parse", "--git-dir")
    if code != 0:
        repo = ctx.config.resolve_path(ctx.config.project.repo_path)
        why = "git is not installed" if code == 127 else f"{repo} is not a git repository"
        yield _fail("git tag", f"cannot look for {tag}: {why} (project.repo_path)")
        return
    code, out = ctx.git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
    if code != 0:
        yield _fail(
            "git tag",
            f"{tag} does not exist (create it: git tag -a {tag} && git push origin {tag})",
        )
        return
    ctx.tag_commit = sha = out.strip()
    expected = _expected_commit(ctx, tag)
    if expected and not sha.startswith(expected) and not expected.startswith(sha):
        yield _fail("git tag", f"{tag} points at {sha[:12]}, expected {expected[:12]}")
        return
    yield _pass("git tag", f"{tag} → {sha[:12]}")
    yield _tag_on_main(ctx, tag, sha)


def _expected_commit(ctx: _Ctx, tag: str) -> str | None:
    """Where the tag must point: RELGATE_EXPECTED_SHA, or the commit a tag-triggered run checked
    out (GITHUB_SHA with GITHUB_REF = refs/tags/<tag>)."""
    env = ctx.run.env
    if env.get("RELGATE_EXPECTED_SHA"):
        return env["RELGATE_EXPECTED_SHA"].strip()
    actions = ActionsContext.from_env(env)
    if actions.tag_ref == tag and actions.sha:
        return actions.sha
    return None


def _main_branch(ctx: _Ctx) -> str | None:
    code, out = ctx.git("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    candidates = [out.strip()] if code == 0 and out.strip() else []
    candidates += ["origin/main", "main", "origin/master", "master"]
    for ref in candidates:
        if ctx.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")[0] == 0:
            return ref
    return None


def _tag_on_main(ctx: _Ctx, tag: str, sha: str) -> PreflightCheck:
    branch = _main_branch(ctx)
    if branch is None:
        return _skip("tag on main", "no main/master branch in this clone")
    code, _ = ctx.git("merge-base", "--is-ancestor", sha, branch)
    if code == 1:
        return _fail("tag on main", f"{tag} ({sha[:12]}) is not on {branch}")
    if code != 0:
        return _fail("tag on main", f"git merge-base failed (exit {code}); a shallow clone?")
    return _pass("tag on main", f"{tag} is on {branch}")


def _check_main_up_to_date(ctx: _Ctx) -> Iterator[PreflightCheck]:
    for local in ("main", "master"):
        if ctx.git("rev-parse", "--verify", "--quiet", f"refs/heads/{local}")[0] != 0:
            continue
        remote = f"origin/{local}"
        if ctx.git("rev-parse", "--verify", "--quiet", f"refs/remotes/{remote}")[0] != 0:
            yield _skip("main up to date", f"no {remote} to compare {local} with")
            return
        code, out = ctx.git("rev-list", "--count", f"{local}..{remote}")
        behind = int(out.strip()) if code == 0 and out.strip().isdigit() else None
        if behind:
            yield _fail(
                "main up to date",
                f"{local} is {behind} commit(s) behind {remote} (git pull --ff-only)",
            )
        elif behind is None:
            yield _fail(
                "main up to date", f"cannot compare {local} with {remote}: {_last_line(out)}"
            )
        else:
            yield _pass("main up to date", f"{local} contains {remote} (as last fetched)")
        return
    yield _skip("main up to date", "no local main/master branch")


# -- configuration -------------------------------------------------------------------------------
def _check_base_urls(ctx: _Ctx) -> Iterator[PreflightCheck]:
    urls = [("base_url", ctx.env_config.base_url)]
    health = ctx.config.deploy.health
    if health is not None and "://" in health.url:
        urls.append(("deploy.health.url", health.url))
    for label, url in urls:
        parts = urlsplit(url)
        name = f"https: {label}"
        if parts.scheme == "https":
            yield _pass(name, url)
        elif parts.scheme == "http" and is_loopback_host(parts.hostname):
            yield _pass(name, f"{url} (loopback: http allowed)")
        elif ctx.env_config.allow_insecure_http:
            yield _pass(name, f"{url} (plain http allowed by allow_insecure_http)")
        else:
            yield _fail(name, f"{url} is not https://")


def _check_tls(ctx: _Ctx) -> Iterator[PreflightCheck]:
    """The seed's "DNS staging opérationnel" and "TLS en place (cert valide)": resolve, handshake
    with verification (system CAs, or smoke.ca_bundle), and enough days left on the certificate."""
    if not ctx.config.preflight.check_tls:
        yield _skip("tls: base_url", "preflight.check_tls is off")
        return
    parts = urlsplit(ctx.env_config.base_url)
    if parts.scheme != "https":
        yield _skip("tls: base_url", f"{parts.scheme}:// (no TLS to check)")
        return
    host, port = parts.hostname or "", parts.port or 443
    bundle = ctx.config.smoke.ca_bundle
    cafile = str(ctx.config.resolve_path(bundle)) if bundle else None
    try:
        not_after, issuer = tls_certificate(host, port, cafile=cafile)
    except _TlsProblem as exc:
        yield _fail("tls: base_url", f"{host}:{port}: {exc}")
        return
    days = (not_after - ctx.run.clock()).total_seconds() / 86400
    detail = f"{host}:{port}: trusted certificate from {issuer}, expires in {days:.0f} days"
    if days < ctx.config.preflight.min_cert_days:
        yield _fail(
            "tls: base_url",
            f"{detail} (less than preflight.min_cert_days {ctx.config.preflight.min_cert_days})",
        )
    else:
        yield _pass("tls: base_url", detail)


class _TlsProblem(Exception):
    pass


def tls_certificate(
    host: str, port: int, *, cafile: str | None = None, timeout: float = 5.0
) -> tuple[datetime, str]:
    """(notAfter, issuer organisation or CN) of the verified certificate ``host`` presents."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=cafile)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert() or {}
    except socket.gaierror as exc:
        raise _TlsProblem(f"DNS: cannot resolve the host ({exc.strerror})") from exc
    except ssl.SSLCertVerificationError as exc:
        raise _TlsProblem(f"certificate not trusted: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise _TlsProblem(f"TLS handshake failed: {exc.reason or exc}") from exc
    except OSError as exc:
        raise _TlsProblem(f"cannot connect: {exc.strerror or exc}") from exc
    not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(cert["notAfter"])), UTC)
    names: dict[str, str] = {}
    for rdn in cert.get("issuer", ()):
        for pair in rdn:
            if isinstance(pair, tuple) and len(pair) == 2:
                names[str(pair[0])] = str(pair[1])
    return not_after, str(names.get("organizationName") or names.get("commonName") or "?")


def _check_database(ctx: _Ctx) -> Iterator[PreflightCheck]:
    """The seed's "Accès DB sur la stack": the database answers (DSN mode)."""
    from relgate.database import connect

    db = ctx.env_config.database
    if db is None:
        yield _skip("database reachable", "no database configured")
        return
    if db.service:
        yield _skip(
            "database reachable", f"reached with compose exec in {db.service} once the stack runs"
        )
        return
    conn, _ = connect(ctx.config, ctx.environment, ctx.run.env, ctx.run.secrets)
    env = {"PGCONNECT_TIMEOUT": "5", **conn.env}
    code, out = ctx.probe.run(
        conn.argv("psql", "-X", "-A", "-t", "-c", "SHOW server_version"), env, None
    )
    if code == 0:
        yield _pass("database reachable", f"{conn.label}: PostgreSQL {out.strip().split()[0]}")
    else:
        yield _fail("database reachable", f"{conn.label}: {_last_line(out)}")


def _check_secrets(ctx: _Ctx) -> Iterator[PreflightCheck]:
    from relgate.config import register_secrets

    missing = register_secrets(ctx.config, ctx.run.env, ctx.run.secrets)
    db = ctx.env_config.database
    if db is not None and db.dsn_env and not ctx.run.env.get(db.dsn_env):
        missing.append(db.dsn_env)
    required = [s.name for s in ctx.config.secrets if s.required]
    if missing:
        yield _fail(
            "secrets", f"not set: {', '.join(missing)} (set them in the environment, or a file:)"
        )
    elif required or (db is not None and db.dsn_env):
        names = [*required, *([db.dsn_env] if db is not None and db.dsn_env else [])]
        yield _pass("secrets", f"set: {', '.join(dict.fromkeys(names))} (values never shown)")
    else:
        yield _skip("secrets", "no required secrets declared")


def _check_backup(ctx: _Ctx) -> Iterator[PreflightCheck]:
    from relgate.database import check_backup, connect, find_backups

    db = ctx.env_config.database
    planned_full = ctx.config.rollback.default_mode == "full" and db is not None
    if not (ctx.config.preflight.require_backup or planned_full):
        yield _skip(
            "database backup",
            "not needed: preflight.require_backup is off and rollback.default_mode is quick",
        )
        return
    if db is None:
        yield _fail(
            "database backup", f"required, but environments.{ctx.environment}.database is not set"
        )
        return
    records = find_backups(ctx.config, ctx.environment)
    if not records:
        yield _fail(
            "database backup",
            f"required, but none recorded in {ctx.config.resolve_path(db.backup_dir)} (run relgate backup)",
        )
        return
    conn, _ = connect(
        ctx.config, ctx.environment, ctx.run.env, ctx.run.secrets, version=ctx.version
    )
    path = Path(records[0].path)
    check = check_backup(path, max_age=db.max_backup_age, now=ctx.run.clock(), conn=conn)
    if check.ok:
        age = (check.age_s or 0) / 3600
        yield _pass("database backup", f"{path.name}: {age:.1f}h old, sha256 verified, readable")
    else:
        yield _fail("database backup", f"{path.name}: " + "; ".join(check.problems))


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def _check_notes_template(ctx: _Ctx) -> Iterator[PreflightCheck]:
    from relgate.notes.render import compile_placeholders, find_placeholders

    templates = [
        ("notes.template", ctx.config.notes.template),
        ("notes.tag_template", ctx.config.notes.tag_template),
    ]
    configured = [(field_, t) for field_, t in templates if t]
    if not configured:
        yield _skip("notes template", "built-in templates (checked by relgate's own tests)")
        return
    patterns = compile_placeholders(ctx.config.notes.placeholders)
    for field_, template in configured:
        path = ctx.config.resolve_path(template)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            yield _fail(f"{field_}", f"{path}: cannot read ({exc.strerror})")
            continue
        # Blank out Jinja constructs (keeping their newlines) so only the static text is scanned.
        static = _JINJA.sub(lambda m: "\n" * m.group(0).count("\n"), source)
        hits = find_placeholders(static, patterns)
        if hits:
            where = ", ".join(f"line {h.line}: {h.text}" for h in hits[:10])
            yield _fail(field_, f"{path.name} has unfilled placeholders ({where})")
        else:
            yield _pass(field_, f"{path.name}: no unknown placeholders")


def _check_disk(ctx: _Ctx) -> Iterator[PreflightCheck]:
    need = ctx.config.preflight.min_disk_free
    free = ctx.probe.disk_free(ctx.run.dir)
    detail = f"{_bytes(free)} free at {ctx.run.dir} (need {_bytes(need)})"
    yield _pass("disk space", detail) if free >= need else _fail("disk space", detail)


# -- CI -----------------------------------------------------------------------------------------
def _check_ci(ctx: _Ctx) -> Iterator[PreflightCheck]:
    if not ctx.config.preflight.check_ci:
        yield _skip("CI checks", "preflight.check_ci is off")
        return
    if not ctx.run.env.get(ctx.config.github.token_env, "").strip():
        yield _skip(
            "CI checks", f"skipped: no GitHub token ({ctx.config.github.token_env} not set)"
        )
        return
    sha = ctx.tag_commit or ActionsContext.from_env(ctx.run.env).sha
    if not sha:
        code, out = ctx.git("rev-parse", "HEAD")
        sha = out.strip() if code == 0 else None
    if not sha:
        yield _skip("CI checks", "no commit to check (no tag, GITHUB_SHA or git HEAD)")
        return
    status, detail = (ctx.probe.ci or github_ci)(ctx.config, ctx.run.env, sha)
    yield PreflightCheck(name="CI checks", status=status, detail=detail)


def github_ci(config: RelgateConfig, env: Mapping[str, str], sha: str) -> tuple[CheckStatus, str]:
    """The commit's check runs and commit statuses, through relgate's GitHub client.

    The run's own jobs (same ``GITHUB_RUN_ID``) are ignored: they are in progress by definition.
    """
    from relgate.github.checks import commit_checks
    from relgate.github.client import GitHubClient

    client = GitHubClient.from_env(config, env)
    return ci_verdict(commit_checks(client, sha, ignore_run_id=ActionsContext.from_env(env).run_id))


def ci_verdict(checks: CommitChecks) -> tuple[CheckStatus, str]:
    """PASS only when every check run concluded green and the commit status (if any) is success."""
    sha = checks.sha[:12]
    if not checks.total:
        return CheckStatus.FAIL, f"no CI checks reported for {sha}: nothing proves it green"
    red = list(checks.failed)
    if checks.statuses and checks.state != "success":
        red.append(f"commit status {checks.state}")
    if red or checks.pending:
        parts = ([f"failed: {', '.join(red)}"] if red else []) + (
            [f"still running: {', '.join(checks.pending)}"] if checks.pending else []
        )
        return CheckStatus.FAIL, f"{sha}: " + "; ".join(parts)
    green = checks.passed + (1 if checks.statuses else 0)
    return CheckStatus.PASS, f"{sha}: {green} check(s) green"


# -- helpers ------------------------------------------------------------------------------------
def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _bytes(n: int) -> str:
    for unit, size in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _check_release_commands(ctx: _Ctx) -> Iterator[PreflightCheck]:
    """preflight.checks, in the checkout (last: the slowest, and they need nothing above)."""
    records: list[ReleaseCheckRecord] = ctx.facts.setdefault("release_checks", [])
    for check in ctx.config.preflight.checks:
        record = run_release_check(ctx.config, ctx.run, check)
        records.append(record)
        row = _pass if record.ok else _fail
        yield row(f"release check: {check.name}", record.verdict())


CHECKS: tuple[Callable[[_Ctx], Iterable[PreflightCheck]], ...] = (
    _check_tools,
    _check_docker_daemon,
    _check_compose_file,
    _check_git_tag,
    _check_main_up_to_date,
    _check_base_urls,
    _check_tls,
    _check_secrets,
    _check_database,
    _check_backup,
    _check_notes_template,
    _check_disk,
    _check_ci,
    _check_release_commands,
)
