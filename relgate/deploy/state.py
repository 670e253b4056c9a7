"""The last-known-good record on the deploy host, and the hashes it is made of.

The state dir is ``environments.<env>.state_dir``, else ``$XDG_STATE_HOME/relgate/<project>``
(:mod:`relgate.places`): outside the workspace, which CI wipes; one inside it is refused on an
ephemeral runner. Beside the record, ``<env>.compose/<hash>.json`` (0600) keeps the effective compose
configuration that ran, so a rollback runs that configuration and not a newer, broken one.

``<state_dir>/<env>.last-good.json`` is written only after a passing gate, atomically (temp file +
rename, so a crash never leaves half a record), and read before every deploy: it is what a rollback
goes back to, and what drift is measured against. ``<env>.history.json`` keeps the previous records
so ``relgate rollback --to <version>`` can find an older version's exact images.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from relgate.config import RelgateConfig
from relgate.deploy.models import LastGood
from relgate.errors import BadInputError
from relgate.fsutil import atomic_write
from relgate.places import refuse_workspace_state, stack_project, state_home

__all__ = [
    "HISTORY_LIMIT",
    "check_state_dir",
    "env_hash",
    "find_in_history",
    "last_good_path",
    "read_last_good",
    "running_version",
    "snapshot_path",
    "state_dir",
    "text_hash",
    "write_last_good",
    "write_snapshot",
]

HISTORY_LIMIT = 20


def state_dir(config: RelgateConfig, environment: str) -> Path:
    """``state_dir`` as configured, else ``$XDG_STATE_HOME/relgate/<stack project>``."""
    configured = config.environments[environment].state_dir
    if configured:
        return config.resolve_path(configured)
    return state_home() / stack_project(config, environment)


_state_dir = state_dir


def check_state_dir(config: RelgateConfig, environment: str, env: Mapping[str, str]) -> Path:
    """The state dir, refused (exit 2) inside the workspace of an ephemeral runner unless the
    environment says ``allow_workspace_state``: there the next job would find no record."""
    path = state_dir(config, environment)
    if not config.environments[environment].allow_workspace_state:
        refuse_workspace_state(path, env, field=f"environments.{environment}.state_dir")
    return path


def snapshot_path(config: RelgateConfig, record: LastGood) -> Path | None:
    if not record.compose_snapshot:
        return None
    return (
        state_dir(config, record.environment)
        / f"{record.environment}.compose"
        / (record.compose_snapshot)
    )


def write_snapshot(config: RelgateConfig, environment: str, doc: dict[str, Any]) -> str:
    """Keep the effective compose config that ran, privately (0600 in a 0700 folder): it holds
    the values compose interpolated, secrets included. Named by its hash; returns the name."""
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    name = text_hash(text).removeprefix("sha256:")[:32] + ".json"
    folder = state_dir(config, environment) / f"{environment}.compose"
    folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    atomic_write(folder / name, text.encode("utf-8"), mode=0o600)
    return name


def _prune_snapshots(config: RelgateConfig, environment: str, keep: set[str]) -> None:
    folder = state_dir(config, environment) / f"{environment}.compose"
    for path in folder.glob("*.json") if folder.is_dir() else []:
        if path.name not in keep:
            path.unlink(missing_ok=True)


def last_good_path(config: RelgateConfig, environment: str) -> Path:
    return _state_dir(config, environment) / f"{environment}.last-good.json"


def _history_path(config: RelgateConfig, environment: str) -> Path:
    return _state_dir(config, environment) / f"{environment}.history.json"


def read_last_good(config: RelgateConfig, environment: str) -> LastGood | None:
    """The record, or None when this host never had a passing deploy of ``environment``."""
    path = last_good_path(config, environment)
    try:
        return LastGood.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (ValidationError, ValueError) as exc:
        raise BadInputError(
            f"{path}: the last-known-good record is unreadable ({exc.__class__.__name__}); "
            "fix or delete it (the next passing deploy writes a new one)"
        ) from None


def running_version(config: RelgateConfig, environment: str) -> str | None:
    """The last-known-good version: the version whose data the database holds, for a backup's
    record. None when there is none, or when the record is damaged (that must not block a backup)."""
    try:
        last = read_last_good(config, environment)
    except BadInputError:
        return None
    return last.version if last else None


def read_history(config: RelgateConfig, environment: str) -> list[LastGood]:
    try:
        raw = json.loads(_history_path(config, environment).read_bytes())
        return [LastGood.model_validate(item) for item in raw]
    except (OSError, ValueError, ValidationError, TypeError):
        return []


def find_in_history(config: RelgateConfig, environment: str, version: str) -> LastGood | None:
    """The newest passing record of ``version`` on this host."""
    current = read_last_good(config, environment)
    if current is not None and current.version == version:
        return current
    return next((r for r in read_history(config, environment) if r.version == version), None)


def write_last_good(
    config: RelgateConfig,
    record: LastGood,
    *,
    push_history: bool = True,
    demote_previous: bool = False,
) -> Path:
    """Write the record; the one it replaces joins the history (``push_history=False``: the same
    deploy re-recorded, e.g. after a rollback brought it back; ``demote_previous``: a rollback
    went away from it, so a later quick rollback never goes back to it)."""
    path = last_good_path(config, record.environment)
    previous = read_last_good(config, record.environment)
    if previous is not None and demote_previous and previous.version != record.version:
        previous = previous.model_copy(update={"judged_bad": True})
    atomic_write(path, (record.model_dump_json(indent=2) + "\n").encode("utf-8"))
    history = [previous] if previous is not None and push_history else []
    history += read_history(config, record.environment)
    text = json.dumps(
        [r.model_dump(mode="json") for r in history[:HISTORY_LIMIT]], indent=2, sort_keys=True
    )
    atomic_write(_history_path(config, record.environment), (text + "\n").encode("utf-8"))
    kept = [record, *history[:HISTORY_LIMIT]]
    _prune_snapshots(
        config, record.environment, {r.compose_snapshot for r in kept if r.compose_snapshot}
    )
    return path


def text_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def env_hash(values: Mapping[str, str]) -> str:
    """One hash over the deployment's variables: changes when any value does, reveals none.

    Each value is hashed on its own first, so the outer input never holds a value in clear.
    """
    h = hashlib.sha256()
    for key in sorted(values):
        inner = hashlib.sha256(values[key].encode("utf-8")).hexdigest()
        h.update(f"{key}={inner}\n".encode())
    return "sha256:" + h.hexdigest()
