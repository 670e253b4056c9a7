"""Scenarios on a real one-node Swarm: the gate's verdicts come from UpdateStatus and tasks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.swarm.bed import SwarmBed
from tests.swarm.conftest import SwarmStackDir, get_text

pytestmark = [pytest.mark.docker, pytest.mark.slow]

Factory = Callable[[SwarmBed], SwarmStackDir]


def test_good_deploy_then_update_serves_the_new_version(
    swarm1: SwarmBed, stack_dir_factory: Factory
) -> None:
    s = stack_dir_factory(swarm1)
    first = s.deploy("v1")
    assert first.outcome == "deployed", s.output.getvalue()
    assert get_text(s.base_url) == "version v1"
    second = s.deploy("v2")
    assert second.outcome == "deployed", s.output.getvalue()
    assert second.exit_code == 0
    assert get_text(s.base_url) == "version v2"
    assert s.update_state() == "completed"
    web = next(x for x in second.services if x.name == "web")
    assert web.placement and web.placement[0].endswith("on rgsw-n1")
