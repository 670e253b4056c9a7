"""How the gate reports: the job summary (per-stage table, Mermaid gantt with a text timeline),
step outputs, and one verdict line last."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relgate.gha import Summary
from relgate.results import Status
from relgate.results.gate import GateResult, GateStageRow

if TYPE_CHECKING:
    from relgate.run import Run

__all__ = ["ORDER", "report"]

ORDER = ("preflight", "deploy", "smoke", "rollback", "archive", "notes")


def report(run: Run, result: GateResult) -> None:
    """The job summary (per-stage table, Mermaid timeline), step outputs and the verdict line."""
    out = run.reporter
    summary = Summary().heading(f"relgate gate: {result.version} → {result.environment}")
    # The verdict is in the markdown; on a terminal it is the line printed last, and only there.
    summary.paragraph(result.verdict, strong=True, echo=False)
    summary.table(
        ["stage", "status", "duration", "summary"],
        [
            [r.stage, r.status.value, f"{r.duration_s:.1f}s" if r.duration_s else "", r.summary]
            for r in sorted(result.stages, key=lambda r: ORDER.index(r.stage))
        ],
    )
    summary.mermaid(_gantt(result), _timeline_text(result))
    if result.bundle_path and out.actions:
        # A path on the runner is useless to a reader: the bundle is the uploaded artifact, which
        # the job summary links to; its digest identifies it.
        facts = [f"evidence: {result.bundle_digest} (uploaded as a workflow artifact)"]
    elif result.bundle_path:
        facts = [f"evidence: {result.bundle_path} ({result.bundle_digest})"]
    else:
        facts = []
    facts += [f"release notes: {result.notes_path}"] if result.notes_path else []
    facts += result.warnings
    if facts:
        summary.bullets(facts)
    out.write_summary(summary)
    out.set_output("status", result.status.value)
    out.set_output("verdict", result.verdict)
    out.set_output("version", result.version)
    if result.status is Status.PASSED:
        out.ok(result.verdict)
    else:
        out.error(result.verdict, title="relgate gate")


def _timed(result: GateResult) -> list[GateStageRow]:
    rows = [
        r
        for r in result.stages
        if r.started_at and r.finished_at and r.status not in (Status.SKIPPED, Status.NOT_RUN)
    ]
    return sorted(rows, key=lambda r: (r.started_at, ORDER.index(r.stage)))


def _gantt(result: GateResult) -> str:
    lines = ["gantt", "  dateFormat x", "  axisFormat %H:%M:%S", "  section gate"]
    for row in _timed(result):
        if row.status in (Status.SKIPPED, Status.NOT_RUN):
            continue
        assert row.started_at and row.finished_at
        start = int(row.started_at.timestamp() * 1000)
        end = max(int(row.finished_at.timestamp() * 1000), start + 1)
        tag = "done" if row.status is Status.PASSED else "crit"
        lines.append(f"  {row.stage} {row.status.value} :{tag}, {row.stage}, {start}, {end}")
    return "\n".join(lines)


def _timeline_text(result: GateResult) -> str:
    rows = _timed(result)
    if not rows:
        return "timeline: no stage ran"
    first = min(r.started_at for r in rows if r.started_at)
    total = max((r.finished_at - first).total_seconds() for r in rows if r.finished_at) or 1.0
    lines = ["timeline:"]
    for row in rows:
        assert row.started_at and row.finished_at
        offset = (row.started_at - first).total_seconds()
        took = (row.finished_at - row.started_at).total_seconds()
        lead, width = int(30 * offset / total), max(1, int(30 * took / total))
        bar = " " * lead + ("█" if row.status is Status.PASSED else "▒") * width
        lines.append(
            f"  {row.stage:<10} {row.status.value:<11} +{offset:6.1f}s {took:6.1f}s |{bar:<31}|"
        )
    return "\n".join(lines)
