"""What a bundle proves: integrity, signature, and consistency — the one function both ``release``
and ``verify-release`` (and ``evidence verify``) call, so they can never disagree.

:func:`prove` returns a :class:`Proof`. Every problem is one line that starts with the name of the
check that failed (``run-id: …``, ``signature: …``), in the order below; the first line is the
reason a command gives for refusing:

=================  ==============================================================================
check              refuses
=================  ==============================================================================
integrity          bytes that differ from the manifest, unsafe or damaged archives
statement          a statement that is missing, unreadable, signed by no trusted key, or whose
                   subject is not this bundle's digest (a statement copied from another bundle)
archive            a bundle not made by ``relgate archive`` (no readable ``results/archive.json``)
run-id             results from different runs (a file swapped in from another run)
project            evidence of another project (relgate.yml ``project.name``)
repository         evidence of another repository (the one being released to)
version            evidence of another version than the one being tagged (a replayed bundle)
commit             a commit that is not the full 40-hex sha of the commit being tagged
environment        results from different environments
archive-table      results that disagree with the verdict table archive wrote when it packed
statement-content  a signed statement that says something else than the bundle's results
smoke / deploy     a "passed" that its own details contradict (failed step, counts, outcome)
required           a required stage (``release.require``) that did not pass
digest             another bundle than the one a tag names
=================  ==============================================================================

Without a trusted key (``evidence.keys`` empty) the signature cannot be checked: the proof then
says plainly that the evidence is **unauthenticated** (:attr:`Proof.authenticated` is false and a
warning says why) — the consistency checks still run, and still refuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from relgate.evidence.bundle import (
    BundleReport,
    BundleTampered,
    bundle_report,
    open_bundle,
    required_problems,
)
from relgate.results import ArchiveResult, DeployResult, RunMeta, SmokeReport, StageResult, Status

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.evidence.bundle import Bundle
    from relgate.evidence.dsse import TrustedKey

__all__ = ["Expected", "Proof", "expected_for_release", "prove", "trusted_keys"]

_GATING = ("preflight", "deploy", "smoke")
FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
UNAUTHENTICATED = (
    "the evidence is unauthenticated: relgate.yml has no evidence.keys, so nothing proves who "
    "made this bundle (anyone able to run relgate archive could have); see docs/evidence.md"
)


@dataclass(frozen=True)
class Expected:
    """What the bundle must be about. ``None`` means "not checked" (evidence verify without
    flags); ``release`` and ``verify-release`` fill every field."""

    project: str | None = None
    repository: str | None = None
    version: str | None = None
    tag: str | None = None
    commit: str | None = None
    digest: str | None = None
    require: Sequence[str] = ()
    keys: Sequence[TrustedKey] = field(default_factory=tuple)
    require_commit: bool = False  # a release tags the bundle's commit: it must name one


class Proof(BaseModel):
    """What :func:`prove` found: the bundle report, who signed it, and every failed check."""

    report: BundleReport | None = None
    digest: str | None = None
    authenticated: bool = False
    signed_by: str | None = Field(None, description="Id of the trusted key that signed it.")
    authenticity: str = Field("", description="One line: signed by <id>, or unauthenticated.")
    problems: list[str] = Field(default_factory=list, description="'check: why', first = reason")
    warnings: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return self.problems[0] if self.problems else ""


def trusted_keys(config: RelgateConfig | None) -> list[TrustedKey]:
    """The public keys of relgate.yml (``evidence.keys``), ready to verify with."""
    from relgate.evidence.dsse import TrustedKey
    from relgate.evidence.keys import load_public

    if config is None:
        return []
    return [
        TrustedKey(k.id, load_public(k.public_key, what=f"evidence.keys[{k.id}]"))
        for k in config.evidence.keys
    ]


def expected_for_release(
    config: RelgateConfig, *, repository: str, tag: str, version: str, commit: str | None
) -> Expected:
    return Expected(
        project=config.project.name,
        repository=repository,
        version=version,
        tag=tag,
        commit=commit,
        require=tuple(config.release.require),
        keys=tuple(trusted_keys(config)),
        require_commit=True,
    )


def prove(path: Path, expected: Expected) -> Proof:
    """Verify ``path`` against ``expected``; never raises for a bad bundle (problems say why)."""
    proof = Proof()
    try:
        bundle = open_bundle(path)
    except BundleTampered as exc:
        proof.problems = [f"integrity: {p}" for p in exc.problems]
        proof.authenticity = "not checked: the bundle does not verify"
        return proof
    proof.digest = bundle.digest
    proof.report = bundle_report(path, bundle, expected.require)
    _check_signature(bundle, expected, proof)
    proof.problems += consistency_problems(bundle, expected)
    return proof


# -- signature -----------------------------------------------------------------------------------
def _check_signature(bundle: Bundle, expected: Expected, proof: Proof) -> None:
    from relgate.evidence.dsse import Envelope, EnvelopeError
    from relgate.evidence.dsse import verify as verify_envelope
    from relgate.evidence.statement import GateStatement, StatementError

    if bundle.statement is None:
        _unsigned(proof, expected, "the bundle has no gate statement (statement.dsse.json)")
        return
    try:
        envelope = Envelope.parse(bundle.statement)
        statement = GateStatement.parse(envelope.payload_bytes())
        checked = verify_envelope(envelope, expected.keys) if expected.keys else None
    except (EnvelopeError, StatementError) as exc:
        proof.problems.append(f"statement: {exc}")
        return
    if statement.digest("sha256") != bundle.digest.removeprefix("sha256:"):
        proof.problems.append(
            "statement: its subject is another bundle (a statement copied from other evidence): "
            f"sha256:{statement.digest('sha256')} is not this bundle's {bundle.digest}"
        )
    proof.problems += [f"statement-content: {p}" for p in _statement_content(statement, bundle)]
    if checked is None:
        named = ", ".join(s.keyid or "no key id" for s in envelope.signatures)
        why = f"signed by {named}, but no key to check it with" if named else "unsigned"
        _unsigned(proof, expected, why)
    elif checked.key_id is None:
        _untrusted(proof, checked.signature_count, checked.named)
    else:
        proof.authenticated, proof.signed_by = True, checked.key_id
        proof.authenticity = f"signed by {checked.key_id}"


def _unsigned(proof: Proof, expected: Expected, why: str) -> None:
    if expected.keys:
        proof.problems.append(f"statement: {why}; relgate.yml requires a signed statement")
        proof.authenticity = "not signed by a trusted key"
    else:
        proof.warnings.append(UNAUTHENTICATED)
        proof.authenticity = f"unauthenticated ({why})"


def _untrusted(proof: Proof, count: int, named: list[str]) -> None:
    if count == 0:
        proof.problems.append("statement: unsigned (the envelope has no signature)")
    else:
        ids = ", ".join(n or "no key id" for n in named)
        proof.problems.append(
            f"statement: signed by an unknown key ({ids}): no key in evidence.keys verifies it"
        )
    proof.authenticity = "not signed by a trusted key"


def _statement_content(statement: Any, bundle: Bundle) -> list[str]:
    predicate = statement.predicate
    meta = _meta(bundle)
    problems = []
    for name in ("project", "repository", "environment", "version", "commit", "run_id"):
        said, found = getattr(predicate, name), getattr(meta, name)
        if said != found:
            problems.append(f"the statement says {name} {said!r}, the bundle {found!r}")
    if predicate.stages != _archive_table(bundle):
        problems.append("the statement's stage verdicts differ from the bundle's")
    return problems


# -- consistency ---------------------------------------------------------------------------------
def consistency_problems(bundle: Bundle, expected: Expected) -> list[str]:
    """Every disagreement between the bundle's parts, and between the bundle and the release."""
    meta = _meta(bundle)
    stages = bundle.stages
    problems: list[str] = []
    archive = stages.get("archive")
    if archive is None:
        problems.append("archive: no results/archive.json: this bundle was not made by archive")
    problems += _same_run(meta, stages)
    problems += _matches(meta, expected)
    problems += _archive_table_problems(bundle)
    problems += _smoke_problems(bundle.read_result(SmokeReport).result)
    problems += _deploy_problems(bundle.read_result(DeployResult).result)
    problems += [f"required: {p}" for p in required_problems(stages, expected.require)]
    if expected.digest is not None:
        wanted = expected.digest.lower()
        wanted = wanted if wanted.startswith("sha256:") else f"sha256:{wanted}"
        if wanted != bundle.digest:
            problems.append(f"digest: the bundle is {bundle.digest}, expected {wanted}")
    return problems


def _meta(bundle: Bundle) -> RunMeta:
    """The bundle's meta.json, as the typed RunMeta ``open_bundle`` validated."""
    return bundle.meta


def _same_run(meta: RunMeta, stages: Mapping[str, StageResult]) -> list[str]:
    run_id = meta.run_id
    problems = []
    if not run_id:
        return ["run-id: meta.json names no run_id"]
    others = sorted(f"{s} ({r.run_id or 'none'})" for s, r in stages.items() if r.run_id != run_id)
    if others:
        problems.append(
            f"run-id: results from another run than {run_id}: {', '.join(others)} "
            "(a result swapped in from other evidence)"
        )
    environment = meta.environment
    envs = sorted(
        f"{s} ({r.environment})"
        for s, r in stages.items()
        if r.environment is not None and r.environment != environment
    )
    if envs:
        problems.append(
            f"environment: results of another environment than {environment}: " + ", ".join(envs)
        )
    version = meta.version
    # Only the gating stages work on the released version (a rollback names the one it restored).
    versions = sorted(
        f"{s} ({r.version})"
        for s, r in stages.items()
        if s in _GATING and r.version is not None and r.version != version
    )
    if versions:
        problems.append(
            f"version: results for another version than {version}: " + ", ".join(versions)
        )
    return problems


def _matches(meta: RunMeta, expected: Expected) -> list[str]:
    problems = []
    for name, want in (("project", expected.project), ("repository", expected.repository)):
        found = getattr(meta, name)
        if want is not None and found != want:
            problems.append(f"{name}: the evidence is of {found or 'no ' + name}, not {want}")
    version, tag = meta.version, meta.tag
    if (
        expected.tag is not None
        and tag != expected.tag
        and (expected.version is None or version != expected.version)
    ):
        problems.append(
            f"version: the evidence is of {tag or version or 'no version'}, not {expected.tag} "
            "(a bundle of another release)"
        )
    commit = meta.commit
    if commit is None and not expected.require_commit and expected.commit is None:
        pass  # evidence of a run outside git; nothing to release from it, nothing false either
    elif commit is None or not FULL_SHA.match(commit):
        problems.append(
            f"commit: the evidence names {commit or 'no commit'!s}, not a full 40-hex commit sha"
        )
    elif expected.commit is not None and commit != expected.commit.lower():
        problems.append(
            f"commit: the evidence is for commit {commit[:12]}, not {expected.commit[:12]} "
            "(the commit of the tag): deploy and smoke-test that very commit"
        )
    return problems


def _archive_table(bundle: Bundle) -> dict[str, str]:
    archive = bundle.read_result(ArchiveResult).result
    return dict(archive.stages) if archive is not None else {}


def _archive_table_problems(bundle: Bundle) -> list[str]:
    table = _archive_table(bundle)
    if bundle.stages.get("archive") is None:
        return []
    found = {s: r.status.value for s, r in bundle.stages.items()}
    differ = sorted(
        f"{s} is {found.get(s, 'missing')} but archive recorded {said}"
        for s, said in table.items()
        if found.get(s, Status.NOT_RUN.value) != said and s != "archive"
    )
    differ += sorted(f"{s} is not in archive's table" for s in found if s not in table)
    meta_table = bundle.meta.stages
    if meta_table is not None and meta_table != table:
        differ.append("meta.json's stage table differs from archive's")
    return [f"archive-table: {d}" for d in differ]


def _smoke_problems(smoke: SmokeReport | None) -> list[str]:
    if smoke is None or not smoke.passed:
        return []
    steps = smoke.steps
    counted = {k: sum(1 for s in steps if s.status == k) for k in ("passed", "warning", "skipped")}
    why = []
    if smoke.failed_step is not None:
        why.append(f"names failed step {smoke.failed_step.index} {smoke.failed_step.name!r}")
    failed = [s for s in steps if s.status == "failed"]
    if failed:
        why.append(f"step {failed[0].index} {failed[0].name!r} failed")
    if not any(s.status == "passed" and s.gating for s in steps):
        why.append("no gating step passed")
    if (smoke.passed_count, smoke.warnings, smoke.skipped) != (
        counted["passed"],
        counted["warning"],
        counted["skipped"],
    ):
        why.append(
            f"counts {smoke.passed_count}/{smoke.warnings}/{smoke.skipped} (passed/warnings/"
            f"skipped) do not match its steps {counted['passed']}/{counted['warning']}/"
            f"{counted['skipped']}"
        )
    if smoke.total != len(steps):
        why.append(f"total {smoke.total} but {len(steps)} steps recorded")
    return [f"smoke: says passed but {w}" for w in why]


def _deploy_problems(deploy: DeployResult | None) -> list[str]:
    from relgate.results.deploy import Outcome

    if deploy is None or not deploy.passed:
        return []
    why = []
    if deploy.outcome != Outcome.DEPLOYED.value:
        why.append(f"its outcome is {deploy.outcome or 'none'}, not deployed")
    if deploy.rolled_back:
        why.append("it was rolled back")
    if deploy.decision is None or deploy.decision.verdict != "passed":
        why.append("no passed health decision")
    unhealthy = [s.name for s in deploy.services if s.health not in ("healthy", "none")]
    if unhealthy:
        why.append(f"services not healthy: {', '.join(unhealthy)}")
    return [f"deploy: says passed but {w}" for w in why]
