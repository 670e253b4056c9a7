"""The last-known-good record, its history and hashes; the driver seam (no Docker)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from relgate.config import load_config
from relgate.deploy.context import DeployContext
from relgate.deploy.driver import open_driver
from relgate.deploy.models import DeployResult, LastGood, ServiceImage
from relgate.deploy.state import (
    HISTORY_LIMIT,
    env_hash,
    find_in_history,
    last_good_path,
    read_last_good,
    write_last_good,
)
from relgate.errors import BadInputError
from relgate.gha import Reporter
from relgate.results import RESULT_MODELS, StageName
from relgate.run import Run
from relgate.secrets import SecretRegistry


def _config(tmp_path: Path, stack: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    doc = {
        "project": {"name": "shop"},
        "environments": {
            "staging": {
                "base_url": "http://127.0.0.1:8000",
                "state_dir": "state",
                **({"stack": stack} if stack else {}),
            }
        },
    }
    path = tmp_path / "relgate.yml"
    path.write_text(yaml.safe_dump(doc))
    return load_config(path, env={})


def _record(version: str, image_id: str = "sha256:" + "a" * 64) -> LastGood:
    return LastGood(
        environment="staging",
        driver="compose",
        version=version,
        services={"web": ServiceImage(image=f"shop:{version}", image_id=image_id)},
        env_hash=env_hash({"RELGATE_VERSION": version}),
        recorded_at=datetime(2026, 1, 29, tzinfo=UTC),
        run_id=f"run-{version}",
    )


def test_write_read_and_history(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert read_last_good(config, "staging") is None
    for n in range(HISTORY_LIMIT + 3):
        write_last_good(config, _record(f"v{n}"))
    current = read_last_good(config, "staging")
    assert current is not None and current.version == f"v{HISTORY_LIMIT + 2}"
    assert last_good_path(config, "staging") == tmp_path / "state" / "staging.last-good.json"
    assert find_in_history(config, "staging", "v5") is not None
    assert find_in_history(config, "staging", "v0") is None  # beyond the history limit
    assert not list((tmp_path / "state").glob(".*"))  # no temp files left behind


def test_unreadable_record_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path = last_good_path(config, "staging")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(BadInputError) as caught:
        read_last_good(config, "staging")
    assert str(path) in caught.value.message


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param({"X": "1"}, {"X": "2"}, id="value-changes"),
        pytest.param({"X": "1"}, {"Y": "1"}, id="name-changes"),
        pytest.param({"X": "1"}, {"X": "1", "Y": ""}, id="variable-added"),
    ],
)
def test_env_hash_changes_with_any_variable(a: dict[str, str], b: dict[str, str]) -> None:
    assert env_hash(a) != env_hash(b)


def test_env_hash_is_order_independent_and_hides_values() -> None:
    h = env_hash({"B": "secret-value-1", "A": "2"})
    assert h == env_hash({"A": "2", "B": "secret-value-1"})
    assert "secret-value-1" not in h and h.startswith("sha256:")


def test_result_model_is_registered_and_round_trips() -> None:
    assert RESULT_MODELS[StageName.DEPLOY] is DeployResult
    result = DeployResult(status="failed", outcome="rolled_back", rolled_back=True)
    again = DeployResult.model_validate_json(result.model_dump_json())
    assert again == result


def test_swarm_opens_the_swarm_driver(tmp_path: Path) -> None:
    from relgate.deploy.swarm import SwarmDriver

    config = _config(tmp_path, {"driver": "swarm", "files": ["stack.yml"], "stack_name": "shop"})
    run = Run.open(
        env={}, reporter=Reporter(io.StringIO(), {}, SecretRegistry()), run_dir=tmp_path / "run"
    )
    ctx = DeployContext(config, run, "staging", config.environments["staging"])
    driver = open_driver(ctx)
    assert isinstance(driver, SwarmDriver)
    assert (driver.name, driver.project) == ("swarm", "shop")
