"""The test bed itself: separate nodes, nothing of the shared daemon touched, nothing left behind."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.swarm.bed import HOST_LEG, SwarmBed
from tests.swarm.conftest import require_bed

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _shared(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def _root_rules() -> str:
    done = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False)
    return done.stdout


def test_two_nodes_join_one_swarm_and_leave_nothing_behind() -> None:
    require_bed()
    bed = SwarmBed(nodes_wanted=2)
    bed.up()
    try:
        hostnames = bed.docker(1, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").split("\n")
        assert sorted(h for h in hostnames if h) == ["rgsw-n1 Ready", "rgsw-n2 Ready"]
        ids = {bed.docker(n, "info", "-f", "{{.Swarm.NodeID}}").strip() for n in (1, 2)}
        assert len(ids) == 2  # (the engine IDs are equal: every dockerd reads /etc/docker/key.json)
        assert _shared("info", "-f", "{{.Swarm.LocalNodeState}}").strip() == "inactive"
    finally:
        bed.down()
    assert bed.leftovers() == []
    assert subprocess.run(["ip", "link", "show", HOST_LEG], capture_output=True).returncode != 0
    # (the nodes' iptables rules lived in their own namespaces; the root namespace never had any)
    assert "10.241." not in _root_rules() and "rgsw" not in _root_rules()


def test_cleanup_removes_what_a_killed_run_left() -> None:
    """A bed whose owner died (no finalizer ran) is removed by the next bed's start."""
    require_bed()
    first = SwarmBed(nodes_wanted=1)
    first.up()
    assert first._lock is not None
    os.close(first._lock)  # its owner "dies": the lock goes with it, the bed stays
    first._lock = None
    second = SwarmBed(nodes_wanted=1)
    second.up()
    try:
        assert second.docker(1, "node", "ls", "-q").strip()
    finally:
        second.down()
    assert second.leftovers() == []
