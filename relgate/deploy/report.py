"""How a deploy tells people what happened: the job summary table, step outputs, the last line."""

from __future__ import annotations

from relgate.deploy.models import DeployResult, ServiceReport
from relgate.gha import Summary
from relgate.run import Run

__all__ = ["report"]


def report(run: Run, result: DeployResult) -> None:
    reporter = run.reporter
    summary = Summary().heading(
        f"Deploy {result.target_version or '?'} to {result.environment or run.environment}: "
        f"{result.outcome or result.status.value}"
    )
    summary.paragraph(result.summary)
    if result.services:
        summary.table(_HEADER, [_row(s) for s in result.services])
        _placement(summary, result.services)
    images = [s for s in result.services if s.image]
    if images:
        summary.heading("Images that ran (read from the engine)", level=3)
        summary.table(
            ["service", "reference", "registry digest"],
            [[s.name, s.image, s.registry_digest or f"local {(s.image_id or '')[:19]}"]
             for s in images],
        )  # fmt: skip
    if result.rollback is not None:
        rb = result.rollback
        summary.heading(
            f"Rollback to {rb.version}: {'healthy' if rb.healthy else 'FAILED'}", level=3
        )
        if rb.services:
            summary.table(_HEADER, [_row(s) for s in rb.services])
            _placement(summary, rb.services)
        if rb.smoke is not None:
            summary.paragraph(
                f"Smoke after the rollback, against {rb.smoke.version}: {rb.smoke.status.value}"
                f" — {rb.smoke.failed_step or rb.smoke.summary}"
            )
    if result.drift:
        summary.heading("Drift from the last-known-good record", level=3).bullets(result.drift)
    reporter.write_summary(summary)
    reporter.set_output("status", result.status.value)
    reporter.set_output("outcome", result.outcome or "")
    reporter.set_output("version", result.target_version or "")
    reporter.set_output("rolled-back", result.rolled_back)
    reporter.set_output("rolled-back-to", result.rolled_back_to or "")
    if result.passed:
        reporter.ok(f"deploy: {result.summary}")


_HEADER = ["service", "state", "health", "time to healthy", "restarts"]


def _row(s: ServiceReport) -> list[object]:
    ttl = f"{s.time_to_healthy_s:.1f}s" if s.time_to_healthy_s is not None else "—"
    return [s.name, s.state, s.health, ttl, s.restarts]


def _placement(summary: Summary, services: list[ServiceReport]) -> None:
    """Multi-host drivers (swarm): which task runs on which node, and each service's update steps."""
    lines = [f"{s.name}: {', '.join(s.placement)}" for s in services if s.placement]
    if not lines:
        return
    summary.heading("Tasks by node", level=3).bullets(lines)
    steps = [
        f"{s.name} {e.at:%H:%M:%S.%f}"[:-3] + f" {e.status}: {e.detail}"
        for s in services
        for e in s.timeline
        if e.container == "swarm" or e.status == "failed"
    ]
    if steps:
        summary.heading("Update timeline", level=3).bullets(steps)
