"""The ``archive`` stage: always run, whatever happened before; pack the run into one bundle.

Order of work, each step a helper below:

1. register every secret relgate can know of (config, environment) for the scan;
2. give every gating stage a result: one that never ran gets ``not_run``, one whose result file is
   unreadable is replaced by an ``error`` result (the original kept beside it);
3. write ``meta.json`` (who, what, when, which commit; see :mod:`relgate.evidence.meta`);
4. write this stage's own result, so the bundle holds it (its digest cannot be inside the bundle it
   names: the final result with the digest is written to the run directory after packing);
5. pack, hashing and scanning in the same pass. A secret found (something bypassed the redacting
   writer) never costs the bundle: each offending file is rewritten redacted — or, if redaction
   cannot clean it, replaced by a placeholder that says why — the result lists files, lines and
   secret names (never the value), and the run is packed again.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from relgate.evidence.bundle import LooseResult, known_stage
from relgate.evidence.manifest import MANIFEST_NAME, STATEMENT_NAME, SUMS_NAME, Manifest
from relgate.evidence.meta import collect_meta
from relgate.evidence.pack import Format, pack_directory, source_date_epoch
from relgate.evidence.scan import LeakScanner
from relgate.evidence.signing import Signer, signer_for
from relgate.recorded import ReadState
from relgate.results import STAGES, StageResult, Status
from relgate.results.archive import ArchiveResult, LeakRecord
from relgate.secrets import looks_secret_name

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.run import Run

__all__ = ["GATING_STAGES", "ArchiveResult", "LeakRecord", "archive", "bundle_name"]

# Stages that run before archive in a gate: each must have a result in the bundle, even not_run.
GATING_STAGES = STAGES[: STAGES.index("archive")]
DEFAULT_FORMAT: Format = "tar.zst"


def archive(
    config: RelgateConfig | None,
    run: Run,
    *,
    output_dir: Path | None = None,
    fmt: Format | None = None,
) -> ArchiveResult:
    """Pack ``run`` into a bundle; return the result (failed, without bundle, if a secret leaks)."""
    result = ArchiveResult(status=Status.PASSED, started_at=run.clock(), outcome="packed")
    fmt = _usable_format(fmt or (config.archive.format if config else DEFAULT_FORMAT), result)
    result.format = fmt
    _register_known_secrets(config, run)
    result.stages = _record_every_stage(run, result)
    run.version = run.version or _recorded_version(run)
    run.update_meta(
        **collect_meta(
            config,
            env=run.env,
            run_id=run.id,
            environment=run.environment,
            version=run.version,
            finished_at=run.clock(),
        ),
        stages=result.stages,
    )
    if config is not None and config.archive.include:
        _copy_includes(config, run, result)
    result.summary = "evidence packed (the bundle digest is in the run's results/archive.json)"
    run.write_result(result.model_copy())
    dest = _destination(config, run, fmt, output_dir)
    signer = signer_for(config, run.env)
    result.warnings += signer.warnings
    _pack(run, dest, fmt, result, signer)
    if result.leaks:
        _withhold_leaks(run, result)
        run.write_result(result.model_copy())
        _pack(run, dest, fmt, result, signer)
    run.write_result(result)
    _report(run, result)
    return result


def _pack(run: Run, dest: Path, fmt: Format, result: ArchiveResult, signer: Signer) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    # What the statement says is read back through the typed API: the files just packed.
    meta = run.read_meta()
    stages = {
        s: found
        for s in result.stages
        if (name := known_stage(s)) is not None
        and (found := run.read_result(name).result) is not None
    }

    def statement(manifest: Manifest) -> list[tuple[str, bytes]]:
        envelope = signer.envelope(
            manifest, bundle_name=dest.name, meta=meta, stages=stages, verdicts=result.stages
        )
        return [(STATEMENT_NAME, envelope)]

    try:
        outcome = pack_directory(
            run.dir,
            tmp,
            fmt=fmt,
            prefix=dest.name.removesuffix(f".{fmt}"),
            mtime=source_date_epoch(run.env),
            scanner=LeakScanner(run.secrets),
            trailer=statement,
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    result.skipped = outcome.skipped
    result.files = len(outcome.manifest.files)
    result.content_size = outcome.manifest.total_size
    if outcome.leaks:
        tmp.unlink(missing_ok=True)
        result.leaks = [
            LeakRecord(file=x.file, line=x.line, secret=x.secret) for x in outcome.leaks
        ]
        where = ", ".join(str(x) for x in outcome.leaks[:10])
        more = f" (and {len(outcome.leaks) - 10} more)" if len(outcome.leaks) > 10 else ""
        result.status, result.exit_code, result.outcome = Status.FAILED, 1, "secret_leak"
        result.error = f"refusing to pack: a known secret is in the evidence: {where}{more}"
        result.summary = result.error
        return
    os.replace(tmp, dest)
    result.signed_by = signer.key_id if signer.key is not None else None
    if signer.statement is not None:
        result.predicate_path = str(_write_predicate(dest, signer.statement))
    result.bundle_path = str(dest)
    result.bundle_digest = outcome.manifest.digest
    result.size = dest.stat().st_size
    result.summary = (
        f"{result.files} files ({_human(result.content_size)}) packed: "
        f"{_human(result.size)} {fmt}, digest {result.bundle_digest[:19]}…"
    )
    # The run directory mirrors the bundle, for stages and people reading the run in place.
    run.write_bytes(SUMS_NAME, outcome.sums)
    run.write_bytes(MANIFEST_NAME, outcome.manifest.canonical_bytes())


def _write_predicate(dest: Path, statement: dict[str, Any]) -> Path:
    """The predicate alone, beside the bundle: what GitHub's attest action signs for the bundle."""
    # Not "<bundle>.predicate.json": globs for bundles ("*.tar.*") must not pick it up.
    path = dest.with_name(dest.name.split(".tar", maxsplit=1)[0] + ".predicate.json")
    text = json.dumps(statement["predicate"], indent=2, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _withhold_leaks(run: Run, result: ArchiveResult) -> None:
    """Make every file a leak was found in safe to pack, keeping the rest of the bundle.

    The file is rewritten through the redacting writer; if a secret can still be found in it (or
    the secret is in its *name*), it is replaced by a placeholder note. The leaks stay listed in
    the result, and a warning says what was done: this is a bug to fix, not a normal path.
    """
    found = list(result.leaks)
    done: list[str] = []
    for rel in dict.fromkeys(leak.file for leak in found):
        names = sorted({leak.secret for leak in found if leak.file == rel})
        lines = ",".join(str(leak.line) for leak in found if leak.file == rel)
        done.append(f"{_withhold(run, rel, names)} (line {lines}: {', '.join(names)})")
    result.leaks = found
    result.status, result.exit_code, result.outcome, result.error = (
        Status.PASSED,
        0,
        "packed_redacted",
        None,
    )
    result.warnings.append(
        "a known secret was found in files that bypassed redaction; packed without it: "
        + "; ".join(done)
    )


def _withhold(run: Run, rel: str, names: list[str]) -> str:
    note = f"the value of {', '.join(names)}"
    if rel.endswith(" (file name)"):
        original = rel.removesuffix(" (file name)")
        path = run.dir / original
        placeholder = f"artifacts/archive/withheld-{len(list(run.dir.rglob('withheld-*')))}.txt"
        run.write_text(
            placeholder, f"relgate withheld a file whose name contained {note}; it was removed.\n"
        )
        path.unlink(missing_ok=True)
        return f"a file whose name contained {note} became {placeholder}"
    path = run.dir / rel
    data = path.read_bytes()
    clean = run.secrets.redact_bytes(data)
    if run.secrets.scan_bytes(clean):
        clean = (
            f"relgate withheld this file: it contained {note}, which redaction could not "
            f"remove. The original ({len(data)} bytes) was not packed.\n"
        ).encode()
        run.write_bytes(rel, clean)
        return f"{rel} replaced by a placeholder"
    run.write_bytes(rel, clean)
    return f"{rel} redacted"


def _copy_includes(config: RelgateConfig, run: Run, result: ArchiveResult) -> None:
    """``archive.include`` globs (relative to relgate.yml) copied, redacted, under
    ``artifacts/archive/include/``; a file that cannot be read is a warning, not a lost bundle."""
    base = config.base_dir
    for pattern in config.archive.include:
        matches = sorted(p for p in base.glob(pattern) if p.is_file() and not p.is_symlink())
        if not matches:
            result.warnings.append(f"archive.include {pattern!r}: no file matches")
        for path in matches:
            try:
                rel = path.resolve().relative_to(base.resolve()).as_posix()
                run.write_bytes(f"artifacts/archive/include/{rel}", path.read_bytes())
            except (OSError, ValueError) as exc:
                result.warnings.append(f"archive.include {path}: not copied ({exc})")


def _usable_format(fmt: Format, result: ArchiveResult) -> Format:
    if fmt == "tar.zst":
        try:
            import zstandard  # noqa: F401
        except ImportError:
            result.warnings.append(
                "zstandard is not installed (pip install 'relgate[zstd]'); packed as tar.gz"
            )
            return "tar.gz"
    return fmt


def _register_known_secrets(config: RelgateConfig | None, run: Run) -> None:
    if config is not None:
        from relgate.config import register_secrets

        register_secrets(config, run.env, run.secrets)
    for name, value in run.env.items():
        if looks_secret_name(name):
            run.secrets.register(value, name)


def _record_every_stage(run: Run, result: ArchiveResult) -> dict[str, str]:
    """Status of every stage; gating stages without a (readable) result get one now."""
    table: dict[str, str] = {}
    names = [*STAGES, *sorted(_extra_stages(run))]
    for stage in names:
        if stage == "archive":
            table[stage] = Status.PASSED.value
            continue
        existing = _readable_result(run, stage, result)
        if existing is None and stage in GATING_STAGES:
            existing = StageResult(
                stage=stage,
                status=Status.NOT_RUN,
                summary=f"{stage} did not run in this run (no result was written)",
                started_at=run.clock(),
            )
            run.write_result(existing)
        table[stage] = existing.status.value if existing else Status.NOT_RUN.value
    return table


def _recorded_version(run: Run) -> str | None:
    """The version the stages worked on, when ``archive`` runs on its own (a later step)."""
    recorded = run.read_meta().version
    if recorded:
        return recorded
    for stage in GATING_STAGES:
        found = _readable_result(run, stage, ArchiveResult(status=Status.PASSED))
        if found is not None and found.version:
            return found.version
    return None


def _extra_stages(run: Run) -> set[str]:
    found = {p.stem for p in (run.dir / "results").glob("*.json")}
    return found - set(STAGES)


def _readable_result(run: Run, stage: str, result: ArchiveResult) -> StageResult | None:
    path = run.dir / "results" / f"{stage}.json"
    name = known_stage(stage)
    if name is None:
        return _loose_result(run, stage, path, result)
    recorded = run.read_result(name)
    if recorded.state is ReadState.MISSING:
        return None
    if recorded.result is not None:
        return recorded.result
    return _replace_unreadable(run, stage, path, recorded.problem, result)


def _loose_result(run: Run, stage: str, path: Path, result: ArchiveResult) -> StageResult | None:
    """A result of a stage this relgate has no model for: its common fields must still hold."""
    if not path.is_file():
        return None
    try:
        return LooseResult.model_validate_json(path.read_bytes())
    except (ValidationError, ValueError) as exc:
        return _replace_unreadable(run, stage, path, str(exc).splitlines()[0], result)


def _replace_unreadable(
    run: Run, stage: str, path: Path, problem: str, result: ArchiveResult
) -> StageResult:
    """Keep the original (it is evidence too) and put a valid result in its place."""
    run.write_bytes(f"artifacts/archive/unreadable-{stage}.json", path.read_bytes())
    replacement = StageResult(
        stage=stage,
        status=Status.ERROR,
        exit_code=3,
        summary=f"{stage} result was unreadable; original kept as "
        f"artifacts/archive/unreadable-{stage}.json",
        error=problem,
        started_at=run.clock(),
    )
    run.write_result(replacement)
    result.warnings.append(replacement.summary)
    return replacement


def bundle_name(project: str, environment: str | None, run_id: str, fmt: Format) -> str:
    """``relgate-evidence-<project>-<environment>-<run id>.<fmt>`` (unsafe characters as ``-``)."""
    parts = [project, environment or "none", run_id]
    safe = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "-", p).strip("-.") or "x" for p in parts)
    return f"relgate-evidence-{safe}.{fmt}"


def _destination(
    config: RelgateConfig | None, run: Run, fmt: Format, output_dir: Path | None
) -> Path:
    if output_dir is None and config is not None and config.archive.output_dir:
        output_dir = config.resolve_path(config.archive.output_dir)
    directory = output_dir or run.dir.parent
    directory.mkdir(parents=True, exist_ok=True)
    project = config.project.name if config else run.read_meta().project or "run"
    return directory / bundle_name(project, run.environment, run.id, fmt)


def _report(run: Run, result: ArchiveResult) -> None:
    reporter = run.reporter
    for warning in result.warnings:
        reporter.warning(warning)
    reporter.set_output("archive-status", result.status.value)
    if result.status is Status.PASSED:
        reporter.ok(f"evidence: {result.bundle_path}")
        reporter.line(f"  digest {result.bundle_digest}  ({_human(result.size or 0)})")
        signed = f"signed by {result.signed_by}" if result.signed_by else "unsigned"
        reporter.line(f"  gate statement {signed}")
        reporter.set_output("signed-by", result.signed_by or "")
        reporter.set_output("predicate-path", result.predicate_path or "")
        reporter.set_output("bundle-path", result.bundle_path)
        reporter.set_output("bundle-digest", result.bundle_digest)
        reporter.set_output("bundle-size", result.size)
        reporter.export_env("RELGATE_BUNDLE", result.bundle_path or "")
    else:
        for leak in result.leaks:
            reporter.error(
                f"{leak.file}:{leak.line}: contains the value of {leak.secret}",
                title="secret in evidence",
            )


def _human(size: int | None) -> str:
    value = float(size or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
