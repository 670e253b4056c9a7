"""docs/operations.md stays true: its configuration sample validates, and it describes the
pre-migration backup as what it is (wired into deploy)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from relgate.config import DatabaseConfig, DeployConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _configuration_sample() -> dict:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return yaml.safe_load(block.group(1))


def test_database_sample_validates() -> None:
    doc = _configuration_sample()
    database = DatabaseConfig.model_validate(doc["environments"]["staging"]["database"])
    assert database.retention.keep_last == 10
    DeployConfig.model_validate(doc["deploy"])


def test_pre_migration_backup_is_not_described_as_unwired() -> None:
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    assert "not yet wired" not in text
    assert "right before `up`" in text
