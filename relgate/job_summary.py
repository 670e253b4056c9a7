"""The job summary a person reads first: the verdict and its cause, then the detail.

Stages write their own sections (the preflight table, the deploy timeline, the smoke steps) as they
run. Written straight to the job summary, they bury the verdict under a 16-row preflight table; so
in a job (the one-shot gate, or the reusable workflow's steps) they are *deferred* into
``summary-sections.md`` in the run directory, and ``relgate summary`` — the job's last step —
writes one summary that leads:

1. the verdict line, version and environment;
2. the failing stage and its cause: the failing service and its last log lines, the health probe's
   last answer, the failing smoke step and the server's explanation;
3. the state the environment is left in: rolled back to X and healthy, stopped, untouched…;
4. where the evidence is (a link to the uploaded artifact, not a path on the runner);
5. then the stage table and the deferred sections, as they were written.

Everything is read from the typed results (``relgate.recorded``), never re-parsed by hand; a result
that is missing or unreadable is said to be so, never taken as passed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from relgate.gha import Summary
from relgate.recorded import Recorded, read_result
from relgate.results import StageName, StageResult, Status
from relgate.results.deploy import DeployResult
from relgate.results.gate import GateResult
from relgate.results.rollback import RollbackResult
from relgate.results.smoke import SmokeReport

__all__ = ["SECTIONS_FILE", "Headline", "compose", "headline"]

SECTIONS_FILE = "summary-sections.md"
ORDER = ("preflight", "deploy", "smoke", "rollback", "archive", "notes")
_TAIL_LINES = 12


@dataclass(frozen=True)
class Headline:
    verdict: str
    passed: bool
    version: str | None
    environment: str | None
    cause: list[str]
    state: str | None
    stages: list[tuple[str, str, str]]  # (stage, status, summary)


def headline(run_dir: Path) -> Headline:
    """What the first lines of the summary say, from the run directory's results."""
    records = {name: read_result(run_dir, StageName(name)) for name in ORDER}
    gate = read_result(run_dir, GateResult)
    stages = [
        (n, _status(r), r.result.summary if r.result else r.problem)
        for n, r in records.items()
        if r.state.value != "missing"
    ]
    failing = next(
        (
            (n, r)
            for n, r in records.items()
            if (n != "rollback" and r.failed)
            or (n in ("deploy", "smoke", "archive") and r.state.value == "unreadable")
        ),
        None,
    )
    if gate.result is not None:
        verdict, passed = gate.result.verdict, gate.result.status is Status.PASSED
    elif failing is not None:
        name, rec = failing
        detail = rec.result.summary if rec.result else rec.problem
        verdict, passed = f"GATE FAILED at {name}: {detail}", False
    elif records["deploy"].passed and records["smoke"].passed:
        verdict, passed = "GATE PASSED", True
    else:
        missing = [n for n in ("deploy", "smoke") if not records[n].passed]
        verdict = f"GATE NOT PASSED: no passing {' or '.join(missing)} result in this run"
        passed = False
    version = environment = None
    for rec in records.values():
        if rec.result is not None:
            version = version or rec.result.version
            environment = environment or rec.result.environment
    cause = _cause(run_dir, failing[0], failing[1]) if failing else []
    return Headline(
        verdict, passed, version, environment, cause, _environment_state(records), stages
    )


def compose(
    run_dir: Path, *, artifact_url: str | None = None, artifact_name: str | None = None
) -> Summary:
    """The job summary: headline, evidence link, stage table, then the deferred sections."""
    head = headline(run_dir)
    icon = "✅" if head.passed else "❌"
    summary = Summary().heading(f"{icon} {head.verdict}", level=2)
    facts = []
    if head.version or head.environment:
        facts.append(f"version {head.version or '?'} → environment {head.environment or '?'}")
    if head.state:
        facts.append(f"environment left: {head.state}")
    link = _evidence_link(artifact_url, artifact_name) if artifact_url else None
    if not link and (artifact_name or artifact_url):
        # No usable link (act's stand-in answers file://): name the artifact, and leave a URL that
        # is not plain https out altogether (markdown would render brackets in it as a link).
        facts.append(f"evidence: workflow artifact {artifact_name or '(unnamed)'}")
    if facts:
        summary.bullets(facts)
    if link:
        summary.raw(link, f"evidence: {artifact_url}")
    if head.cause:
        summary.details("cause", "\n".join(head.cause))
    if head.stages:
        summary.table(["stage", "status", "summary"], [list(s) for s in head.stages])
    # Deferred sections (a job's steps); else what a run outside Actions wrote as it went.
    sections = run_dir / SECTIONS_FILE
    if not sections.is_file():
        sections = run_dir / "summary.md"
    if sections.is_file():
        text = sections.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            summary.raw(text + "\n", "")
    return summary


def _evidence_link(url: str, name: str | None) -> str | None:
    """A markdown link to the uploaded artifact, or None: only a plain https URL (GitHub's: no
    spaces or brackets) becomes a link, with relgate's own artifact name (checked) as its label.
    Anything else is shown as escaped text by the caller: a summary never fails the job."""
    if not re.fullmatch(r"https://[^\s()<>\[\]\\`\"']+", url):
        return None
    label = name if name and re.fullmatch(r"[A-Za-z0-9._-]+", name) else "evidence bundle"
    return f"- evidence: [{label}]({url})\n"


def _status(rec: Recorded[StageResult]) -> str:
    return rec.result.status.value if rec.result else rec.state.value


def _cause(run_dir: Path, stage: str, rec: Recorded[StageResult]) -> list[str]:
    result = rec.result
    if result is None:
        return [f"results/{stage}.json is {rec.state.value}: {rec.problem}"]
    lines = [f"{stage}: {result.summary}"] if result.summary else []
    if result.error:
        lines.append(f"error: {result.error}")
    if isinstance(result, DeployResult):
        lines += _deploy_cause(run_dir, result)
    if isinstance(result, SmokeReport) and result.failed_step:
        step = result.failed_step
        code = f" — HTTP {step.status_code}" if step.status_code else ""
        lines.append(f"failed step {step.index}/{result.total} {step.name}{code}: {step.message}")
        if step.hint:
            lines.append(f"hint: {step.hint}")
    return lines


def _deploy_cause(run_dir: Path, result: DeployResult) -> list[str]:
    lines: list[str] = []
    failing = result.decision.service if result.decision else None
    if result.decision and result.decision.reason:
        lines.append(f"decision: {result.decision.reason}")
    for service in result.services:
        if failing and service.name != failing:
            continue
        if service.last_probe:
            lines.append(f"{service.name}: last health probe: {service.last_probe.strip()}")
    if result.http and not result.http.ok:
        answer = f"HTTP {result.http.status_code}" if result.http.status_code else result.http.error
        lines.append(f"health URL {result.http.url}: {answer} after {result.http.attempts} tries")
    for name in [failing] if failing else [s.name for s in result.services]:
        tail = _log_tail(run_dir, result, name)
        if tail:
            lines.append(f"last log lines of {name}:")
            lines += [f"  {line}" for line in tail]
    return lines


def _log_tail(run_dir: Path, result: DeployResult, service: str | None) -> list[str]:
    """The last lines the failing service logged: compose's ``logs-<service>`` capture, or the
    process driver's own log. Both were written redacted by the run's writer."""
    if not service:
        return []
    candidates = [c.log for c in result.commands if c.name == f"logs-{service}" and c.log]
    candidates += [f"logs/deploy/process-{service}.log"]
    for rel in candidates:
        path = (run_dir / rel).resolve()
        if run_dir.resolve() in path.parents and path.is_file():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            return [line for line in lines if line.strip()][-_TAIL_LINES:]
    return []


def _environment_state(records: dict[str, Recorded[StageResult]]) -> str | None:
    deploy = records["deploy"].result
    rollback = records["rollback"].result
    if isinstance(rollback, RollbackResult):
        if rollback.status is Status.PASSED and rollback.rolled_back_to:
            smoked = ", smoke passed" if rollback.smoke_verdict else ""
            why = (
                "after the failed smoke" if records["smoke"].failed else f"{rollback.mode} rollback"
            )
            database = f"; {rollback.restore_decision}" if rollback.restore_decision else ""
            return f"rolled back to {rollback.rolled_back_to}, healthy{smoked} ({why}){database}"
        if rollback.status is not Status.PASSED:
            return f"rollback to {rollback.target_version or '?'} FAILED: {rollback.summary}"
    if not isinstance(deploy, DeployResult):
        return "untouched (no deploy ran)" if records["preflight"].failed else None
    outcome = deploy.outcome or ""
    if deploy.status is Status.PASSED:
        return f"{deploy.target_version} running, healthy"
    smoke = deploy.rollback.smoke if deploy.rollback else None
    if deploy.rolled_back_to and smoke is not None:
        if smoke.status is Status.PASSED:
            return f"rolled back to {deploy.rolled_back_to}, healthy, smoke passed against it"
        return (
            f"rolled back to {deploy.rolled_back_to}, healthy, but its smoke "
            f"{smoke.status.value} ({smoke.failed_step or smoke.summary}): the environment "
            "needs a person now"
        )
    if deploy.rolled_back and deploy.rolled_back_to:
        return f"rolled back to {deploy.rolled_back_to}, healthy"
    return {
        "rollback_failed": "rollback FAILED too: the environment needs a person now",
        "no_previous_version": "stopped what this deploy started (no earlier version to go back to)",
        "failed": "left as the failed deploy made it (rollback disabled)",
        "lock_busy": "untouched (another run holds the environment)",
        "bad_config": "untouched (the configuration was refused before anything changed)",
    }.get(outcome, f"deploy ended {deploy.status.value} ({outcome or 'no outcome'})")
