"""``relgate ops`` on the runbook stack: the daily checks with thresholds and the stale-lock
recovery, run in the real stack; one incident issue per environment in the contract-checked fake
GitHub, opened on failure, updated while it lasts, closed with a comment on recovery."""

from __future__ import annotations

import re

import pytest
import responses

from relgate.ops import ops
from tests.github_fake._fake import FakeGitHub
from tests.runbook2.conftest import Retaia
from tests.runbook2.test_runbook import RUNBOOK

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ALERTS = ["php", "bin/console", "app:alerts:state-conflicts", "--window-minutes=15",
          "--state-conflicts-threshold=20", "--lock-failed-threshold=10",
          "--active-locks-threshold=200", "--stale-locks-threshold=0", "--stale-lock-minutes=30"]  # fmt: skip
OPS = {
    "checks": [
        {"name": "state-conflicts", "service": "core", "command": ALERTS,
         "recovery": ["php", "bin/console", "app:locks:watchdog-recover", "--stale-lock-minutes=30"]},
        {"name": "readiness", "service": "core",
         "command": ["php", "bin/console", "app:ops:readiness-check"]},
        # the same numbers, judged by relgate's own threshold on the command's output
        {"name": "conflict-count", "service": "core",
         "command": [*ALERTS[:4], "--state-conflicts-threshold=100000"],
         "threshold": {"pattern": r"state conflicts \(last \d+ min\): (\d+)", "max": 20}},
    ]
}  # fmt: skip


def set_counter(stack: Retaia, name: str, value: int) -> None:
    stack.compose("exec", "-T", "db", "sh", "-c", f"echo {value} > /var/lib/db/{name}")


def test_ops_recovers_opens_updates_and_closes_one_incident(retaia: Retaia) -> None:
    retaia.deploy_cfg = dict(RUNBOOK)
    retaia.stack_cfg = {"images": {"ui": retaia.images.ref("ui", "v1.0.0")}}
    retaia.extra = {"project": {"name": "retaia", "repository": "acme/retaia"}, "ops": OPS}
    assert retaia.deploy("v1.0.0").passed
    retaia.exported = {"GITHUB_TOKEN": "ghp_fake_token_for_ops_0000"}

    def run_ops(name: str):  # type: ignore[no-untyped-def]
        return ops(retaia.config(), retaia.open_run(name), environment="prod")

    # the fake intercepts every `requests` call: let docker-py's (unix socket) through
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.add_passthru(re.compile(r"http\+docker://"))
    with mock:
        fake = FakeGitHub(owner="acme", repo="retaia")
        fake.install(mock)
        healthy = run_ops("ops-1")
        assert healthy.exit_code == 0, healthy.summary
        assert [c.status for c in healthy.checks] == ["passed"] * 3
        assert healthy.checks[2].value == 0
        assert healthy.incident is not None and healthy.incident.action == "none"

        set_counter(retaia, "stale-locks", 3)  # the watchdog's job
        recovered = run_ops("ops-2")
        assert recovered.exit_code == 0, recovered.summary
        first = recovered.checks[0]
        assert first.status == "recovered" and first.first.exit_code == 1
        assert (
            first.recovery is not None
            and "recovered 3 stale locks" in first.recovery.last_lines[-1]
        )
        assert not fake.state.issues

        set_counter(retaia, "state-conflicts", 50)  # no recovery helps
        failing = run_ops("ops-3")
        assert failing.exit_code == 1
        statuses = {c.name: (c.status, c.reason) for c in failing.checks}
        assert statuses["state-conflicts"][0] == "failed"
        assert "still failing after recovery" in statuses["state-conflicts"][1]
        assert statuses["conflict-count"] == ("failed", "50 above the threshold 20")
        assert failing.incident is not None and failing.incident.action == "opened"
        (issue,) = fake.state.issues.values()
        assert issue.title == "relgate ops: prod is failing" and issue.labels == [
            "relgate-incident"
        ]
        assert "| conflict-count | failed | 50 above the threshold 20 |" in (issue.body or "")

        again = run_ops("ops-4")
        assert again.incident is not None and again.incident.action == "updated"
        assert len(fake.state.issues) == 1 and len(issue.comments) == 1

        set_counter(retaia, "state-conflicts", 0)
        fixed = run_ops("ops-5")
        assert fixed.exit_code == 0, fixed.summary
        assert fixed.incident is not None and fixed.incident.action == "closed"
        assert issue.state == "closed" and issue.state_reason == "completed"
        assert "recovered" in issue.comments[-1].body
        fake.verify()
    saved = (retaia.dir / "runs" / "ops-5" / "results" / "ops.json").read_text()
    assert '"action": "closed"' in saved
