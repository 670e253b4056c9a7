"""Every way a deploy ends writes one readable ``results/deploy.json`` of its own (issue 11,
item 1): ``deploy`` goes through ``run_stage``, whose partial hook turns the exception into the
DeployResult of what was done so far, and the driver is closed and the report written first.

The end is injected at a known point of a real deploy (the process driver, no Docker) through the
reporter's stream, which relgate takes as a parameter: the first progress line of the health gate.
"""

from __future__ import annotations

import pytest

from relgate.errors import CannotRun, ConfigError, Interrupted
from relgate.results import DeployResult, StageName, Status
from relgate.run import run_stage
from tests.deploy.conftest import GATE_WAITS, EndsAt, ProcessStack

pytestmark = pytest.mark.slow

ENDS = [
    pytest.param(Interrupted("interrupted by SIGTERM"), Status.INTERRUPTED, 3, "SIGTERM", id="sigterm"),
    pytest.param(KeyboardInterrupt(), Status.INTERRUPTED, 3, "SIGINT", id="sigint"),
    pytest.param(CannotRun("the engine went away"), Status.ERROR, 3, "engine went", id="cannot-run"),
    pytest.param(ZeroDivisionError("bug"), Status.ERROR, 3, "ZeroDivisionError: bug", id="crash"),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "status", "code", "said"), ENDS)
def test_an_end_during_the_gate_keeps_what_was_attempted(
    process_stack: ProcessStack, exc: BaseException, status: Status, code: int, said: str
) -> None:
    process_stack.deploy_cfg = {"timeout": "60s"}
    process_stack.output = stream = EndsAt(GATE_WAITS, exc)
    with pytest.raises(type(exc)):
        process_stack.deploy("hang-v1")
    assert stream.raised
    run = process_stack.last_run
    got = run.read_result(DeployResult).get()
    assert (got.status, got.exit_code, got.outcome) == (status, code, None)
    assert got.error is not None and said in got.error
    assert (got.target_version, got.driver, got.run_id) == ("hang-v1", "process", run.id)
    assert [s.name for s in got.services] == ["app"], "the services attempted are kept"
    assert got.running_before is not None and got.finished_at is not None
    if status is Status.INTERRUPTED:  # the stack is left as it is, and the result says what runs
        assert got.running_after is not None and "runs now: app" in got.summary
        assert process_stack.pid() is not None
    assert "Deploy hang-v1 to staging: " in (run.dir / "summary.md").read_text()


def test_bad_config_is_the_deploys_own_result(process_stack: ProcessStack) -> None:
    process_stack.stack_cfg = {"command": ["true", "{nope}"]}
    with pytest.raises(ConfigError):
        process_stack.deploy("v1")
    got = process_stack.last_run.read_result(DeployResult).get()
    assert (got.status, got.exit_code, got.outcome) == (Status.ERROR, 2, "bad_config")
    assert got.error is not None and "stack.command" in got.error
    assert process_stack.pid() is None  # nothing was touched


def test_inside_the_gates_run_stage_the_result_is_written_once(
    process_stack: ProcessStack,
) -> None:
    """The gate runs deploy inside its own ``run_stage``: the deploy's own result (not the outer
    generic fallback) is the one on disk, written once."""
    process_stack.deploy_cfg = {"timeout": "60s"}
    process_stack.output = EndsAt(GATE_WAITS, Interrupted("interrupted by SIGTERM"))
    run = process_stack.open_run("gate")
    writes: list[str] = []
    write = run.write_result

    def counted(result: DeployResult) -> object:  # type: ignore[override]
        writes.append(type(result).__name__)
        return write(result)

    run.write_result = counted  # type: ignore[method-assign,assignment]
    from relgate.deploy.stage import deploy

    config = process_stack.config()
    with pytest.raises(Interrupted):
        run_stage(
            run,
            StageName.DEPLOY,
            lambda: deploy(config, run, environment="staging", version="hang-v1"),
        )
    assert writes == ["DeployResult"]
    got = run.read_result(DeployResult).get()
    assert got.status is Status.INTERRUPTED and [s.name for s in got.services] == ["app"]
