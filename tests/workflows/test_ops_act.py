"""ops.yml under act: one incident issue per environment, opened, updated, then closed (issue 17).

A caller workflow calls the reusable ``.github/workflows/ops.yml`` (``workflow_call``), which runs
``actions/ops`` then ``actions/archive``. The stack is the deploy tests' busybox app under compose on
the real Docker Engine (``tests/images``), deployed once by relgate on "the deploy host"; every act
run is a fresh runner (its own, empty state home and action cache; act deletes the workspace after
the job), so ops learns what runs from the engine, not from a record a previous job left.

The ops check reads a counter in the running container against a threshold (the runbook's
state-conflict alert); the test sets the counter between runs. GitHub is the contract-checked fake
served on loopback (``GITHUB_API_URL`` points at it), and each run has its own run id:

1. counter 50 > 20: the workflow fails; one incident issue is opened naming the check and the run;
2. still 50: the same issue gets a comment naming run 2; no second issue;
3. counter 0: the issue gets a recovery comment and is closed; the workflow succeeds.

Each run uploads its evidence bundle, which verifies and holds that run's ops result.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from relgate.cli import main as relgate_main
from tests._tools import require_tool
from tests.github_fake import FakeGitHub
from tests.workflows._act import ActRun, bundle_files, free_port, make_repo, run_act, stage_result
from tests.workflows._github_server import serve_fake
from tests.workflows.test_release_gate_compose_act import COMPOSE, IMAGES

pytestmark = [pytest.mark.act, pytest.mark.docker, pytest.mark.slow]

TOKEN = "ghp_act_ops_token_000000000000000000000000"
COUNTER = "/tmp/state-conflicts"  # in the web container

# The README's kind of relgate.yml: no state_dir, no lock.dir (a runner's defaults).
CONFIG = """\
version: 1
project:
  name: ops-app
  repository: acme/relgate
  repo_path: ..
environments:
  staging:
    base_url: http://127.0.0.1:{port}
    variables: {{APP_PORT: "{port}"}}
    stack:
      driver: compose
      files: [compose.yml]
      project_name: {project}
deploy:
  pull: false
  timeout: 30s
  stability_window: 2s
  health: {{url: /health, timeout: 2s}}
ops:
  checks:
    - name: state-conflicts
      service: web
      command: [sh, -c, 'echo "state conflicts (last 15 min): $(cat {counter} 2>/dev/null || echo 0)"']
      threshold: {{pattern: 'state conflicts \\(last \\d+ min\\): (\\d+)', max: 20}}
    - name: readiness
      service: web
      command: [sh, -c, "wget -q -O - http://127.0.0.1:8080/health"]
github:
  max_retries: 0
"""

CALLER = """\
name: ops-caller
on:
  workflow_dispatch:
    inputs:
      relgate-ref:
        type: string
        required: true
permissions: {}
jobs:
  ops:
    permissions:
      contents: read
      issues: write
    uses: ./.github/workflows/ops.yml
    with:
      environment: staging
      working-directory: app
      setup-python: false
      relgate-repository: acme/relgate
      relgate-ref: ${{ inputs.relgate-ref }}
    secrets:
      RELGATE_TOKEN: ${{ secrets.RELGATE_TOKEN }}
  report:
    needs: ops
    if: always()
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions: {}
    steps:
      - name: record the reusable workflow's outputs
        env:
          OUTPUTS: ${{ toJSON(needs.ops.outputs) }}
          RESULT: ${{ needs.ops.result }}
        run: |
          printf '{"result": "%s", "outputs": %s}' "$RESULT" "$OUTPUTS" > "$OPS_REPORT"
"""


@dataclass
class OpsWorld:
    base: Path
    repo: Path
    sha: str
    project: str
    fake: FakeGitHub
    api: str
    env: dict[str, str]

    def run(self, n: int) -> tuple[ActRun, dict[str, str], Path]:
        """Ops run ``n`` (GitHub run id 100+n) on a fresh runner: act's run, the ops step's outputs
        and the run's artifact store."""
        runner = self.base / "runners" / f"run-{n}"
        for d in ("state", "temp", "artifacts"):
            (runner / d).mkdir(parents=True)
        secrets = self.base / "secrets.env"
        secrets.write_text(f"RELGATE_TOKEN={TOKEN}\n")
        report = runner / "report.json"
        run = run_act(
            self.repo,
            ".github/workflows/ops-caller.yml",
            event={"inputs": {"relgate-ref": self.sha}},
            env={
                **self.env,
                "XDG_STATE_HOME": str(runner / "state"),
                "RELGATE_ACTION_CACHE": str(runner / "temp"),
                "RELGATE_STANDIN_ARTIFACTS": str(runner / "artifacts"),
                "OPS_REPORT": str(report),
            },
            extra_args=[
                "--secret-file",
                str(secrets),
                "--env",
                f"GITHUB_API_URL={self.api}",
                "--env",
                f"GITHUB_RUN_ID={100 + n}",
            ],
        )
        outputs = _set_outputs(run.output_of("ops"))
        if report.is_file():  # act runs no job after a failed one, `if: always()` or not
            caller = json.loads(report.read_text())
            assert caller["outputs"] == {k: outputs[k] for k in caller["outputs"]}, caller
            outputs["caller-saw"] = caller["result"]
        return run, outputs, runner / "artifacts"

    def set_counter(self, value: int) -> None:
        container = _docker("ps", "-q", "--filter", f"label=com.docker.compose.project={self.project}",
                            "--filter", "label=com.docker.compose.service=web")  # fmt: skip
        assert container, f"no web container of {self.project}"
        _docker("exec", container, "sh", "-c", f"echo {value} > {COUNTER}")


def _set_outputs(text: str) -> dict[str, str]:
    """The ``status`` and ``incident-url`` outputs act printed for the ops job: the ops step's and
    its inner relgate step's (act echoes composite outputs more than once, and the archive step
    sets a ``status`` of its own, so only lines of the ops step count)."""
    found: dict[str, set[str]] = {}
    step = ""
    for line in text.splitlines():
        if "Main " in line:
            step = line
        m = re.search(r"::set-output:: (status|incident-url)=(.*)", line)
        if m and re.search(r"Main (relgate ops|Run the ops checks)", step):
            found.setdefault(m.group(1), set()).add(m.group(2).strip())
    assert all(len(v) == 1 for v in found.values()), found
    return {k: v.pop() for k, v in found.items()}


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def _run_url(n: int) -> str:
    return f"https://github.com/acme/relgate/actions/runs/{100 + n}/attempts/1"


@pytest.fixture(scope="module")
def ops_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsWorld]:
    require_tool("act")
    require_tool("docker")
    done = subprocess.run(["bash", str(IMAGES / "build.sh")], capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"tests/images/build.sh failed:\n{done.stdout}\n{done.stderr}")
    base = tmp_path_factory.mktemp("ops-act")
    port, project = free_port(), f"relgate-ops-act-{uuid.uuid4().hex[:8]}"
    repos = base / "repos" / "acme"
    repos.mkdir(parents=True)
    repo = base / "relgate"
    config = CONFIG.format(port=port, project=project, counter=COUNTER)
    sha = make_repo(
        repo,
        extra={
            "app/relgate.yml": config,
            "app/compose.yml": COMPOSE,
            ".github/workflows/ops-caller.yml": CALLER,
        },
    )
    (repos / "relgate").symlink_to(repo)
    try:
        # The deploy host runs v1 (deployed by relgate, with a state home no act run sees).
        out, err = io.StringIO(), io.StringIO()
        host_state = base / "deploy-host-state"
        code = relgate_main(
            ["deploy", "--config", str(repo / "app" / "relgate.yml"), "--env", "staging",
             "--version", "v1"],
            env={**os.environ, "XDG_STATE_HOME": str(host_state)},
            stdout=out,
            stderr=err,
        )  # fmt: skip
        assert code == 0, out.getvalue() + err.getvalue()
        with serve_fake("acme", "relgate") as (fake, api):
            env = {"RELGATE_STANDIN_REPOS": str(base / "repos")}
            yield OpsWorld(base, repo, sha, project, fake, api, env)
    finally:
        subprocess.run(
            ["docker", "compose", "-p", project, "down", "-v", "--remove-orphans", "-t", "0"],
            capture_output=True,
            check=False,
        )


def _ops_result(artifacts: Path, n: int) -> dict[str, Any]:
    """The run's uploaded evidence: exactly one bundle, whose digests verify, holding its ops result."""
    [bundle] = artifacts.glob(f"relgate-ops-evidence-staging-{100 + n}-1/relgate-evidence-*.tar.*")
    out, err = io.StringIO(), io.StringIO()
    code = relgate_main(["--json", "evidence", "verify", str(bundle)],
                        env={}, stdout=out, stderr=err)  # fmt: skip
    assert code == 0, err.getvalue() + out.getvalue()
    return stage_result(bundle_files(bundle), "ops")


def test_ops_workflow_opens_updates_and_closes_one_incident_issue(ops_world: OpsWorld) -> None:
    fake = ops_world.fake
    ops_world.set_counter(50)

    # 1. failing: the workflow fails, one issue is opened for staging
    run, outputs, artifacts = ops_world.run(1)
    assert run.returncode != 0 and "failure" in run.jobs.values(), (run.jobs, run.describe())
    assert outputs["status"] == "failed", (outputs, run.describe())
    (issue,) = fake.state.issues.values()
    assert outputs["incident-url"] == issue_url(ops_world, issue.number)
    assert issue.title == "relgate ops: staging is failing"
    assert issue.labels == ["relgate-incident"]
    assert issue.state == "open"
    body = issue.body or ""
    assert "| state-conflicts | failed | 50 above the threshold 20 |" in body, body
    assert "| readiness | passed |" in body, body
    assert _run_url(1) in body, body
    assert TOKEN not in body
    result = _ops_result(artifacts, 1)
    assert result["status"] == "failed" and result["incident"]["action"] == "opened", result
    assert {c["name"]: c["status"] for c in result["checks"]} == {
        "state-conflicts": "failed",
        "readiness": "passed",
    }

    # 2. still failing: the same issue gets a comment, no second issue
    run, outputs, artifacts = ops_world.run(2)
    assert run.returncode != 0 and "failure" in run.jobs.values(), (run.jobs, run.describe())
    assert outputs["incident-url"] == issue_url(ops_world, issue.number)
    assert len(fake.state.issues) == 1, fake.state.issues
    assert issue.state == "open"
    (comment,) = issue.comments
    assert "| state-conflicts | failed | 50 above the threshold 20 |" in comment.body
    assert _run_url(2) in comment.body, comment.body
    assert _ops_result(artifacts, 2)["incident"]["action"] == "updated"

    # 3. passing: a recovery comment, the issue is closed, the workflow succeeds
    ops_world.set_counter(0)
    run, outputs, artifacts = ops_world.run(3)
    assert run.returncode == 0, (run.jobs, run.describe())
    # the caller's next job ran and saw the reusable workflow's result and outputs
    assert outputs["caller-saw"] == "success", outputs
    assert outputs["status"] == "passed", outputs
    assert outputs["incident-url"] == issue_url(ops_world, issue.number)
    assert len(fake.state.issues) == 1
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    assert len(issue.comments) == 2
    recovery = issue.comments[-1].body
    assert "staging recovered" in recovery and _run_url(3) in recovery, recovery
    assert "| state-conflicts | passed | value 0 |" in recovery, recovery
    result = _ops_result(artifacts, 3)
    assert result["status"] == "passed" and result["incident"]["action"] == "closed", result


def issue_url(world: OpsWorld, number: int) -> str:
    web = world.api.removesuffix("/api/v3")
    return f"{web}/acme/relgate/issues/{number}"
