"""Issue 19 items 1-2 on the runbook stack: what ran is read from the engine, per-service images.

Real engine, real registry: the digests compared here are the registry's own (HEAD of the manifest).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from relgate.deploy.state import read_last_good
from relgate.errors import ConfigError
from tests.runbook2.conftest import Retaia, registry_only_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_release_from_the_registry_records_what_runs(retaia: Retaia) -> None:
    result = retaia.deploy("v1.0.0")
    assert result.passed, result.summary
    services = {s.name: s for s in result.services}
    assert sorted(services) == ["caddy", "core", "db", "ingest-cron", "ui"]  # the subset only
    assert "worker" not in retaia.running()
    core = services["core"]
    assert core.image == retaia.images.ref("core", "v1.0.0")
    assert core.registry_digest == retaia.images.digest("core", "v1.0.0")
    assert services["ui"].registry_digest == retaia.images.digest("ui", "v1.0.0")
    assert services["ingest-cron"].image_id == core.image_id
    record = read_last_good(retaia.config(), "prod")
    assert record is not None
    assert record.services["core"].registry_digest == core.registry_digest
    saved = json.loads((retaia.last_run.dir / "results" / "deploy.json").read_text())
    assert {s["name"]: s["registry_digest"] for s in saved["services"]}["core"] == (
        core.registry_digest
    )


def test_an_exported_image_variable_is_refused_before_up(retaia: Retaia) -> None:
    retaia.exported = {"RETAIA_CORE_IMAGE": retaia.images.ref("core", "v1.0.1")}
    with pytest.raises(ConfigError) as caught:
        retaia.deploy("v1.0.0")
    message = str(caught.value)
    assert "core: the exported variable RETAIA_CORE_IMAGE=" in message
    assert retaia.images.ref("core", "v1.0.0") in message  # what relgate asked for
    assert "stack.images" in message  # the fix
    result = json.loads((retaia.last_run.dir / "results" / "deploy.json").read_text())
    assert result["exit_code"] == 2
    assert retaia.running() == {}  # nothing was started
    assert read_last_good(retaia.config(), "prod") is None  # no record claims v1.0.0


def test_per_service_images_deploy_their_own_versions(retaia: Retaia) -> None:
    # core follows the release; ui stays on its own version; an exported variable can't win
    retaia.stack_cfg = {
        "images": {
            "core": f"{retaia.images.registry.host}/{retaia.images.namespace}/core:{{version}}",
            "ingest-cron": f"{retaia.images.registry.host}/{retaia.images.namespace}/core:{{version}}",
            "ui": retaia.images.ref("ui", "v1.0.0"),
        }
    }
    retaia.exported = {"RETAIA_CORE_IMAGE": retaia.images.ref("core", "v1.0.0")}
    result = retaia.deploy("v1.0.1")
    assert result.passed, result.summary
    running = retaia.running()
    assert running["core"] == retaia.images.ref("core", "v1.0.1")
    assert running["ui"] == retaia.images.ref("ui", "v1.0.0")
    record = read_last_good(retaia.config(), "prod")
    assert record is not None
    assert record.services["core"].registry_digest == retaia.images.digest("core", "v1.0.1")
    assert record.services["ui"].registry_digest == retaia.images.digest("ui", "v1.0.0")


def test_a_tag_that_moved_under_a_running_container_is_named(retaia: Retaia) -> None:
    """The check that follows every ``up``, on the real engine: the tag the version asks for now
    names other bytes than the container runs -> one line naming the service and both."""
    import docker

    from relgate.deploy.imagecheck import mismatches, running_image

    assert retaia.deploy("v1.0.0").passed
    ref = retaia.images.ref("core", "v1.0.0")
    client = docker.from_env(version="auto")
    try:
        api = client.api
        containers = api.containers(filters={"label": [
            f"com.docker.compose.project={retaia.project}", "com.docker.compose.service=core"]})  # fmt: skip
        running = {"core": running_image(api, containers[0])}
        assert mismatches(api, running, {"core": ref}, version="v1.0.0") == []
        subprocess.run(["docker", "tag", "relgate-rb2/core:v1.1.0-nopoll", ref], check=True)
        lines = mismatches(api, running, {"core": ref}, version="v1.0.0")
    finally:
        client.close()
    assert len(lines) == 1
    assert lines[0].startswith(f"core: v1.0.0 asks for {ref}, but the tag {ref} now names")
    assert "stack.images" in lines[0]


def test_rollback_pulls_a_pruned_image_back_by_digest(retaia: Retaia) -> None:
    from relgate.deploy.stage import redeploy_last_good

    ref = registry_only_image(retaia.images, "relgate-rb2/core:v1.0.0", "v1.0.2")
    retaia.stack_cfg = {"images": {"ui": retaia.images.ref("ui", "v1.0.0")}}
    assert retaia.deploy("v1.0.2").passed
    recorded = read_last_good(retaia.config(), "prod")
    assert recorded is not None
    digest = recorded.services["core"].registry_digest
    assert digest == retaia.images.digest("core", "v1.0.2")
    assert retaia.deploy("v1.0.1").passed
    # the operator prunes: v1.0.2's image is gone from the host, the registry still has it
    image_id = recorded.services["core"].image_id
    subprocess.run(["docker", "rmi", "-f", image_id], check=True, capture_output=True)
    gone = subprocess.run(["docker", "image", "inspect", image_id], capture_output=True)
    assert gone.returncode != 0
    run = retaia.open_run("rollback")
    result = redeploy_last_good(retaia.config(), run, environment="prod", to_version="v1.0.2")
    assert result.passed, result.summary
    assert retaia.running()["core"] == f"{ref.rsplit(':', 1)[0]}@{digest}"
    pulled = [c for c in result.commands if c.name == "compose-pull-pinned"]
    assert pulled and pulled[0].ok
