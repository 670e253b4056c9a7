"""The job summary of a swarm deploy: tasks by node and each service's update steps."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from relgate.deploy.models import DeployResult, ServiceReport, TimelineEntry
from relgate.deploy.report import report
from relgate.gha import Reporter
from relgate.results import Status
from relgate.run import Run
from relgate.secrets import SecretRegistry


def _at(second: int) -> datetime:
    return datetime(2026, 12, 1, 12, 0, second, tzinfo=UTC)


def test_summary_lists_tasks_by_node_and_the_update_timeline(tmp_path: Path) -> None:
    out = io.StringIO()
    run = Run.open(env={}, reporter=Reporter(out, {}, SecretRegistry()), run_dir=tmp_path / "r")
    web = ServiceReport(
        name="web",
        state="running",
        health="healthy",
        placement=["aaaa on rgsw-n1", "bbbb on rgsw-n2"],
        timeline=[
            TimelineEntry(at=_at(1), container="aaaa", status="running", detail="on rgsw-n1"),
            TimelineEntry(
                at=_at(2), container="swarm", status="waiting", detail="1/2 tasks running"
            ),
            TimelineEntry(at=_at(3), container="swarm", status="done", detail="update completed"),
        ],
    )
    result = DeployResult(status=Status.PASSED, driver="swarm", services=[web], summary="ok")
    report(run, result)
    text = out.getvalue()
    assert "web: aaaa on rgsw-n1, bbbb on rgsw-n2" in text
    assert "web 12:00:02.000 waiting: 1/2 tasks running" in text
    assert "web 12:00:03.000 done: update completed" in text
    assert "running: on rgsw-n1" not in text  # task steps stay in results/deploy.json


def test_compose_summaries_have_no_node_section(tmp_path: Path) -> None:
    out = io.StringIO()
    run = Run.open(env={}, reporter=Reporter(out, {}, SecretRegistry()), run_dir=tmp_path / "r")
    result = DeployResult(status=Status.PASSED, services=[ServiceReport(name="web")], summary="ok")
    report(run, result)
    assert "Tasks by node" not in out.getvalue()
