"""Every result a stage writes to the run directory, and the run's ``meta.json``: data only.

One model per file under ``results/``; :data:`RESULT_MODELS` maps each :class:`StageName` to it.
Readers go through ``relgate.run`` (``Run.read_result`` / ``read_result``), which tells a
*missing* result from an *unreadable* one (malformed, oversized, another schema) and gives back
the very model the stage wrote — nobody re-parses result JSON by hand.

Submodules: ``_stage`` (common fields, :class:`Status`, :class:`StageName`), ``deploy``,
``smoke``, ``archive``, ``preflight``, ``notes``, ``release``, ``rollback``, ``backup``,
``gate``, ``environments``, ``ops``, ``meta``. Nothing here imports anything of relgate's but this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from relgate.results._stage import (
    RESULT_SCHEMA_VERSION,
    STAGES,
    StageName,
    StageResult,
    Status,
    utcnow,
)
from relgate.results.archive import ArchiveResult
from relgate.results.deploy import DeployResult
from relgate.results.environments import ApprovalsResult, EnvironmentsResult
from relgate.results.gate import GateResult
from relgate.results.meta import GithubRunMeta, RunMeta
from relgate.results.notes import NotesResult
from relgate.results.ops import OpsResult
from relgate.results.preflight import PreflightResult
from relgate.results.release import ReleaseRecord
from relgate.results.rollback import RollbackResult
from relgate.results.smoke import SmokeReport

__all__ = [
    "RESULT_MODELS",
    "RESULT_SCHEMA_VERSION",
    "STAGES",
    "ApprovalsResult",
    "ArchiveResult",
    "DeployResult",
    "EnvironmentsResult",
    "GateResult",
    "GithubRunMeta",
    "NotesResult",
    "OpsResult",
    "PreflightResult",
    "ReleaseRecord",
    "RollbackResult",
    "RunMeta",
    "SmokeReport",
    "StageName",
    "StageResult",
    "Status",
    "utcnow",
]

RESULT_MODELS: Mapping[StageName, type[StageResult]] = MappingProxyType(
    {
        StageName.PREFLIGHT: PreflightResult,
        StageName.DEPLOY: DeployResult,
        StageName.SMOKE: SmokeReport,
        StageName.ARCHIVE: ArchiveResult,
        StageName.NOTES: NotesResult,
        StageName.RELEASE: ReleaseRecord,
        StageName.ROLLBACK: RollbackResult,
        StageName.GATE: GateResult,
        StageName.APPROVALS: ApprovalsResult,
        StageName.ENVIRONMENTS: EnvironmentsResult,
        StageName.OPS: OpsResult,
    }
)
