"""Day-2 status: per environment, what should run, what runs, who holds the lock, how the last gate
ended, and how old the newest backup is.

Every source is read independently and a broken one becomes an ``unknown (…)`` cell, never a
failed command: status is what an operator runs when something is already wrong.

The "last gate" is found by the runs' recorded ``started_at`` (not file times) and is for display
only: nothing decides anything from it (evidence is chosen explicitly, by bundle).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from relgate.errors import Interrupted
from relgate.results import RunMeta

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.run import Run

__all__ = ["EnvironmentStatus", "LastGate", "StatusReport", "environment_status", "status"]


class LastGate(BaseModel):
    run_id: str
    run_dir: str
    started_at: str | None = None
    version: str | None = None
    status: str
    verdict: str = ""
    bundle_digest: str | None = None


class EnvironmentStatus(BaseModel):
    name: str
    driver: str
    base_url: str
    last_good: str | None = Field(None, description="Last-known-good version on this host.")
    last_good_at: datetime | None = None
    running: str | None = Field(None, description="What runs now, as the driver reports it.")
    nodes: list[str] = Field(
        default_factory=list, description="Swarm: each node's state and the stack's tasks on it."
    )
    drift: list[str] = Field(default_factory=list)
    lock: str = "unknown"
    lock_held: bool | None = None
    last_gate: LastGate | None = None
    last_backup: str | None = None
    problems: list[str] = Field(default_factory=list)


class StatusReport(BaseModel):
    project: str
    generated_at: datetime
    environments: list[EnvironmentStatus]


def status(
    config: RelgateConfig,
    run: Run,
    *,
    environments: list[str] | None = None,
    probe_running: bool = True,
) -> StatusReport:
    """The status of ``environments`` (default: all of them)."""
    names = environments or list(config.environments)
    report = StatusReport(
        project=config.project.name,
        generated_at=run.clock(),
        environments=[
            environment_status(config, run, name, probe_running=probe_running) for name in names
        ],
    )
    _print(run, report)
    return report


def environment_status(
    config: RelgateConfig, run: Run, name: str, *, probe_running: bool = True
) -> EnvironmentStatus:
    _, env_config = config.environment(name)
    st = EnvironmentStatus(name=name, driver=env_config.stack.driver, base_url=env_config.base_url)
    last = _guarded(st, "last-known-good", lambda: _last_good(config, name))
    if last is not None:
        st.last_good, st.last_good_at = str(last.version), last.recorded_at
    if probe_running:
        _guarded(st, "running", lambda: _running(config, run, name, st, last))
    else:
        st.running = "not probed (--offline)"
    _guarded(st, "lock", lambda: _lock(config, name, st))
    st.last_gate = _guarded(st, "last gate", lambda: last_gate(config, name))
    st.last_backup = _guarded(st, "backup", lambda: _last_backup(config, name, run))
    return st


def _guarded(st: EnvironmentStatus, what: str, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Interrupted:
        raise
    except ImportError as exc:
        st.problems.append(f"{what}: not available in this build ({exc.name})")
    except Exception as exc:  # status must show the rest even when one source is broken
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        st.problems.append(f"{what}: {message}")
    return None


def _last_good(config: RelgateConfig, name: str) -> Any:
    from relgate.deploy.state import read_last_good

    return read_last_good(config, name)


def _running(config: RelgateConfig, run: Run, name: str, st: EnvironmentStatus, last: Any) -> None:
    """Ask the driver what runs; drift = services whose image differs from the record."""
    from relgate.deploy.context import DeployContext
    from relgate.deploy.driver import open_driver

    _, env_config = config.environment(name)
    driver = open_driver(DeployContext(config, run, name, env_config, area="status"))
    try:
        running: Mapping[str, Any] = driver.running()
        per_node = getattr(driver, "nodes", None)  # multi-host drivers (swarm) say where
        if per_node is not None:
            st.nodes = list(per_node())
    finally:
        driver.close()
    if not running:
        st.running = "nothing running"
        return
    recorded: Mapping[str, Any] = last.services if last is not None else {}
    st.drift = [
        f"{service}: runs {img.image} ({_short(img.image_id)}), record has "
        + (_short(recorded[service].image_id) if service in recorded else "no such service")
        for service, img in sorted(running.items())
        if service not in recorded or recorded[service].image_id != img.image_id
    ]
    st.drift += [f"{s}: recorded but not running" for s in sorted(set(recorded) - set(running))]
    if last is not None and not st.drift:
        st.running = f"{last.version} (matches the record)"
    else:
        images = sorted({str(img.image) for img in running.values()})
        st.running = ", ".join(images)


def _short(image_id: str | None) -> str:
    return (image_id or "?").removeprefix("sha256:")[:12]


def _lock(config: RelgateConfig, name: str, st: EnvironmentStatus) -> None:
    from relgate.lock import lock_for

    lock = lock_for(config, name, os.environ).status()
    st.lock, st.lock_held = lock.describe(), lock.held


def last_gate(config: RelgateConfig, environment: str) -> LastGate | None:
    """The newest run of ``environment`` that has a gate (or archive) result, by recorded start.

    Results are read through the typed API: an unreadable one shows as ``unreadable``, never as
    the status its broken file seems to carry."""
    from relgate.recorded import ReadState, read_result
    from relgate.results import ArchiveResult, GateResult

    runs = config.base_dir / ".relgate" / "runs"
    found: list[tuple[str, Path, RunMeta]] = []
    for meta_path in runs.glob("*/meta.json") if runs.is_dir() else []:
        meta = _meta(meta_path)
        if meta is None or meta.environment != environment:
            continue
        found.append((meta.started_at or "", meta_path.parent, meta))
    for started, folder, meta in sorted(found, key=lambda item: item[0], reverse=True):
        gate = read_result(folder, GateResult)
        archive = read_result(folder, ArchiveResult)
        if gate.state is ReadState.MISSING and archive.state is ReadState.MISSING:
            continue
        source = archive if gate.state is ReadState.MISSING else gate
        result = source.result
        return LastGate(
            run_id=meta.run_id or folder.name,
            run_dir=str(folder),
            started_at=started or None,
            version=(result.version if result else None) or meta.version,
            status=source.verdict,
            verdict=(gate.result.verdict if gate.result else "")
            or (result.summary if result else source.problem),
            bundle_digest=(gate.result.bundle_digest if gate.result else None)
            or (archive.result.bundle_digest if archive.result else None),
        )
    return None


def _meta(path: Path) -> RunMeta | None:
    """A run's meta.json; None when unreadable (status shows what it can, it never fails)."""
    from pydantic import ValidationError

    try:
        return RunMeta.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def _last_backup(config: RelgateConfig, name: str, run: Run) -> str | None:
    from relgate.database import find_backups

    records = find_backups(config, name)
    if not records:
        return None
    newest = records[0]
    hours = (run.clock() - newest.created_at).total_seconds() / 3600
    version = f", {newest.app_version}" if newest.app_version else ""
    return f"{Path(newest.path).name} ({hours:.1f}h old{version})"


def _print(run: Run, report: StatusReport) -> None:
    from relgate.gha import Summary

    rows = []
    for st in report.environments:
        gate = st.last_gate
        rows.append(
            [
                st.name,
                st.last_good or "-",
                st.running or "unknown",
                "; ".join(st.drift) or "none",
                st.lock,
                f"{gate.verdict or gate.status} ({gate.bundle_digest or 'no bundle'})"
                if gate
                else "-",
                st.last_backup or "-",
            ]
        )
    summary = Summary().heading(f"relgate status: {report.project}")
    summary.table(
        ["environment", "last-known-good", "running", "drift", "lock", "last gate", "backup"], rows
    )
    for st in report.environments:
        if st.nodes:
            summary.paragraph(f"{st.name}: nodes").bullets(st.nodes)
    problems = [f"{st.name}: {p}" for st in report.environments for p in st.problems]
    if problems:
        summary.bullets(problems)
    run.reporter.write_summary(summary)
