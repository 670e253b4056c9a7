"""The gate statement: an in-toto Statement v1 saying what the gate proved, for which bundle/commit.

Layers (in-toto Attestation Framework v1): the **predicate** (relgate's gate predicate, below) sits
in a **Statement** whose subjects are the bundle's canonical ``manifest.json`` (its sha256 *is* the
bundle digest, and it covers every other file) and the git commit; the Statement is the payload of a
**DSSE envelope** (:mod:`relgate.evidence.dsse`) signed with the environment's Ed25519 key, stored in
the bundle as ``statement.dsse.json`` (outside the manifest, like ``manifest.json`` itself: it
names the digest, so it cannot be inside what the digest covers).

The smoke result is given in the vetted ``test-result/v0.1`` shape (``result``, ``configuration``,
``url``, ``passedTests``, ``warnedTests``, ``failedTests``), nested under ``predicate.smoke``.
Readers ignore fields they do not know, as the framework asks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relgate.evidence.manifest import STATEMENT_NAME
from relgate.results import ApprovalsResult, RunMeta, SmokeReport, StageResult

__all__ = [
    "GATE_PREDICATE_TYPE",
    "STATEMENT_NAME",
    "STATEMENT_TYPE",
    "TEST_RESULT_TYPE",
    "GateStatement",
    "StatementError",
    "build_statement",
    "statement_bytes",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
GATE_PREDICATE_TYPE = "https://relgate.dev/attestation/gate/v1"
TEST_RESULT_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
_TEST_RESULT = {"passed": "PASSED", "failed": "FAILED"}


class StatementError(ValueError):
    """The payload is not a relgate gate statement."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Subject(_Loose):
    name: str
    digest: dict[str, str]


class GatePredicate(_Loose):
    """What relgate's gate predicate says (the fields a verifier compares with the bundle)."""

    project: str | None = None
    repository: str | None = None
    environment: str | None = None
    version: str | None = None
    tag: str | None = None
    commit: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    stages: dict[str, str] = Field(default_factory=dict)


class GateStatement(_Loose):
    type: str = Field(alias="_type")
    subject: list[Subject]
    predicate_type: str = Field(alias="predicateType")
    predicate: GatePredicate

    def digest(self, algorithm: str) -> str | None:
        """The one subject digest of that algorithm (``None`` when absent or ambiguous)."""
        found = {s.digest[algorithm] for s in self.subject if algorithm in s.digest}
        return found.pop() if len(found) == 1 else None

    @classmethod
    def parse(cls, payload: bytes) -> GateStatement:
        try:
            statement = cls.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "statement"
            raise StatementError(f"not an in-toto statement: {where}: {first['msg']}") from None
        if statement.type != STATEMENT_TYPE:
            raise StatementError(f"_type is {statement.type!r}, not {STATEMENT_TYPE}")
        if statement.predicate_type != GATE_PREDICATE_TYPE:
            raise StatementError(f"predicateType is {statement.predicate_type!r}")
        return statement


def build_statement(
    *,
    bundle_name: str,
    digest: str,
    meta: RunMeta,
    stages: Mapping[str, StageResult],
    verdicts: Mapping[str, str],
) -> dict[str, Any]:
    """The Statement for a bundle whose canonical manifest has ``digest`` (``sha256:<hex>``)."""
    run_url = meta.github.run_url if meta.github is not None else None
    subject: list[dict[str, Any]] = [
        {"name": f"{_stem(bundle_name)}/manifest.json", "digest": {"sha256": _hex(digest)}}
    ]
    commit = meta.commit
    if commit:
        repo = meta.repository
        name = f"git+https://github.com/{repo}" if repo else "git"
        subject.append({"name": name, "digest": {"gitCommit": commit}})
    predicate: dict[str, Any] = {
        "project": meta.project,
        "repository": meta.repository,
        "environment": meta.environment,
        "version": meta.version,
        "tag": meta.tag,
        "commit": commit,
        "run_id": meta.run_id,
        "run_url": run_url,
        "config_digest": meta.config_digest,
        "relgate_version": meta.relgate_version,
        "finished_at": meta.finished_at,
        "stages": dict(verdicts),
    }
    smoke = stages.get("smoke")
    if smoke is not None:
        predicate["smoke"] = _test_result(smoke, run_url)
    predicate["approved_by"] = _approved_by(stages.get("approvals"))
    return {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": GATE_PREDICATE_TYPE,
        "predicate": predicate,
    }


def statement_bytes(statement: Mapping[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _test_result(smoke: StageResult, url: str | None) -> dict[str, Any]:
    """The smoke result as a ``test-result/v0.1`` predicate (the scenario's steps are the tests)."""
    by_status: dict[str, list[str]] = {"passed": [], "warning": [], "failed": []}
    configuration: list[dict[str, Any]] = []
    if isinstance(smoke, SmokeReport):
        for step in smoke.steps:
            by_status.setdefault(step.status, []).append(f"{step.index} {step.name}")
        if smoke.scenario:
            entry: dict[str, Any] = {"name": smoke.scenario}
            if smoke.scenario_digest:
                entry["digest"] = {"sha256": _hex(smoke.scenario_digest)}
            configuration.append(entry)
    result = _TEST_RESULT.get(smoke.status.value, "FAILED")
    if result == "PASSED" and by_status["warning"]:
        result = "WARNED"
    return {
        "predicateType": TEST_RESULT_TYPE,
        "result": result,
        "configuration": configuration,
        "url": url,
        "passedTests": by_status["passed"],
        "warnedTests": by_status["warning"],
        "failedTests": by_status["failed"],
    }


def _approved_by(approvals: StageResult | None) -> list[str] | None:
    """Who approved the deployment, when the approvals step recorded it (None: unknown)."""
    return list(approvals.approved_by) if isinstance(approvals, ApprovalsResult) else None


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _stem(bundle_name: str) -> str:
    return bundle_name.split(".tar", maxsplit=1)[0]
