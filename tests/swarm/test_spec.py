"""The compose → Swarm stack translation, without Docker: refusals with file:line, safe defaults."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from relgate.cli import main
from relgate.deploy import swarm_commands as cmd
from relgate.deploy.swarm_spec import (
    check_compose,
    healthcheck_window,
    parse_duration,
    render,
    stack_problems,
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stack.yml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("service", "line", "field", "needle"),
    [
        pytest.param(
            "a: {image: x, container_name: a}",
            3,
            "container_name",
            "names task",
            id="container_name",
        ),
        pytest.param(
            "a: {image: x, pull_policy: never}", 3, "pull_policy", "resolve_image", id="pull_policy"
        ),
        pytest.param("a: {build: .}", 3, "build", "cannot build", id="build-without-image"),
        pytest.param(
            "a:\n    image: x\n    depends_on: {b: {condition: service_healthy}}",
            5,
            "depends_on",
            "conditions",
            id="depends_on-map",
        ),
        pytest.param(
            "a:\n    image: x\n    ports: ['127.0.0.1:8080:80']",
            5,
            "ports[0]",
            "every address",
            id="port-on-loopback",
        ),
        pytest.param(
            "a:\n    image: x\n    ports: ['127.0.0.1::80']",
            5,
            "ports[0]",
            "host IP",
            id="ephemeral-port-on-loopback",
        ),
        pytest.param(
            "a:\n    image: x\n    ports: [{target: 80, host_ip: 127.0.0.1}]",
            5,
            "ports[0].host_ip",
            "host IP",
            id="long-syntax-host_ip",
        ),
    ],
)
def test_refused_features_are_located(
    tmp_path: Path, service: str, line: int, field: str, needle: str
) -> None:
    text = "version: '3.8'\nservices:\n  " + service.replace("\n", "\n  ") + "\n"
    path = tmp_path / "stack.yml"
    path.write_text(text)
    checked = check_compose([path])
    assert len(checked.errors) == 1, checked.errors
    problem = checked.errors[0]
    assert (problem.file, problem.line, problem.field) == (str(path), line, f"services.a.{field}")
    assert needle in problem.message


@pytest.mark.parametrize(
    "service",
    [
        pytest.param("a: {image: x, depends_on: [b]}", id="depends_on-list"),
        pytest.param("a: {image: x, ports: ['8080:80', '9000']}", id="ports-without-ip"),
        pytest.param(
            "a: {image: x, ports: [{target: 80, published: 8080, mode: host}]}", id="host-mode"
        ),
    ],
)
def test_what_swarm_accepts_is_not_refused(tmp_path: Path, service: str) -> None:
    path = _write(tmp_path, f"services:\n  {service}\n")
    assert check_compose([path]).errors == []


def test_build_next_to_an_image_and_restart_are_warnings(tmp_path: Path) -> None:
    path = _write(tmp_path, "services:\n  a: {image: x, build: ., restart: always}\n")
    checked = check_compose([path])
    assert checked.errors == []
    assert [w.field for w in checked.warnings] == ["services.a.build", "services.a.restart"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("2.5s", 2.5),
        (3_000_000_000, 3.0),
        ("", None),
        ("5", None),
        ("5x", None),
        ("s5", None),
    ],
    ids=[
        "m-s",
        "ms",
        "h",
        "fraction",
        "api-nanoseconds",
        "empty",
        "no-unit",
        "bad-unit",
        "unit-first",
    ],
)
def test_parse_duration(text: Any, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def _rendered(spec: dict[str, Any], image_hc: dict[str, Any] | None = None) -> dict[str, Any]:
    out = render({"services": {"s": spec}}, image_healthcheck=lambda image: image_hc)
    result: dict[str, Any] = out.services["s"]["deploy"]
    return result


def test_defaults_start_first_pause_and_a_monitor_longer_than_the_healthcheck() -> None:
    deploy = _rendered(
        {
            "image": "x",
            "healthcheck": {
                "interval": "2s",
                "retries": 3,
                "start_period": "10s",
                "test": ["CMD", "true"],
            },
        }
    )
    assert deploy["update_config"] == {
        "failure_action": "pause",
        "order": "start-first",
        "monitor": "17s",
    }
    assert deploy["rollback_config"] == {
        "order": "start-first",
        "monitor": "17s",
        "failure_action": "pause",
    }


def test_the_image_healthcheck_counts_when_the_file_has_none() -> None:
    image_hc = {"Test": ["CMD", "true"], "Interval": 1_000_000_000, "Retries": 2}
    assert healthcheck_window({"image": "x"}, lambda image: image_hc) == 2.0
    deploy = _rendered({"image": "x"}, image_hc)
    assert deploy["update_config"]["monitor"] == "5s"  # never below Swarm's own default


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        pytest.param(
            {"ports": [{"target": 80, "published": 80, "mode": "host"}]},
            "host-mode port",
            id="host-port",
        ),
        pytest.param(
            {"deploy": {"placement": {"max_replicas_per_node": 1}}},
            "max_replicas_per_node",
            id="max-per-node",
        ),
        pytest.param({"deploy": {"mode": "global"}}, "global", id="global"),
    ],
)
def test_stop_first_where_start_first_cannot_work(spec: dict[str, Any], reason: str) -> None:
    out = render({"services": {"s": {"image": "x", **spec}}})
    assert out.services["s"]["deploy"]["update_config"]["order"] == "stop-first"
    assert reason in out.notes[0]


def test_user_settings_are_kept_and_a_short_monitor_is_a_warning() -> None:
    spec = {
        "image": "x",
        "healthcheck": {"test": ["CMD", "true"], "interval": "5s", "retries": 3},
        "deploy": {
            "update_config": {"monitor": "10s", "failure_action": "rollback", "order": "stop-first"}
        },
    }
    out = render({"services": {"s": spec}})
    assert out.services["s"]["deploy"]["update_config"] == {
        "monitor": "10s",
        "failure_action": "rollback",
        "order": "stop-first",
    }
    assert len(out.warnings) == 1 and "15s" in out.warnings[0]


def test_pins_replace_images_for_a_rollback() -> None:
    out = render(
        {"services": {"a": {"image": "r/a:v2"}, "b": {"image": "r/b:v2"}}},
        pins={"a": "r/a@sha256:" + "1" * 64},
    )
    assert out.services["a"]["image"] == "r/a@sha256:" + "1" * 64
    assert out.services["b"]["image"] == "r/b:v2"


def test_config_check_refuses_with_file_and_line(tmp_path: Path) -> None:
    _write(
        tmp_path,
        """\
        services:
          web:
            image: app:${RELGATE_VERSION}
            container_name: web
            healthcheck: {test: ["CMD", "true"], interval: 5s, retries: 3}
            deploy:
              update_config: {monitor: 5s}
        """,
    )
    config = {
        "project": {"name": "p"},
        "environments": {
            "staging": {
                "base_url": "https://staging.example",
                "stack": {"driver": "swarm", "files": ["stack.yml"], "stack_name": "p"},
            }
        },
    }
    (tmp_path / "relgate.yml").write_text(yaml.safe_dump(config))
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--config", str(tmp_path / "relgate.yml"), "config", "check"],
        env={},
        stdout=out,
        stderr=err,
    )
    assert code == 2, err.getvalue()
    assert f"{tmp_path / 'stack.yml'}:4 services.web.container_name" in err.getvalue()
    assert "stack.yml:7 services.web.deploy.update_config.monitor: 5s is not longer" in (
        out.getvalue() + err.getvalue()
    )


def test_stack_problems_leave_missing_files_to_the_caller(tmp_path: Path) -> None:
    assert stack_problems([tmp_path / "nope.yml"]) == ([], [])


def test_deploy_argv_is_detached_with_the_configured_resolution() -> None:
    assert cmd.stack_deploy_cmd("shop", Path("/r/stack.yml")) == [
        "docker",
        "stack",
        "deploy",
        "--detach=true",
        "--compose-file",
        "/r/stack.yml",
        "--resolve-image",
        "always",
        "--with-registry-auth",
        "shop",
    ]
    assert cmd.stack_deploy_cmd(
        "shop", Path("s.yml"), resolve_image="never", with_registry_auth=False, prune=True
    ) == [
        "docker",
        "stack",
        "deploy",
        "--detach=true",
        "--compose-file",
        "s.yml",
        "--resolve-image",
        "never",
        "--prune",
        "shop",
    ]


def test_other_argv_builders() -> None:
    assert cmd.stack_config_cmd([Path("a.yml"), Path("b.yml")]) == [
        "docker",
        "stack",
        "config",
        "--compose-file",
        "a.yml",
        "--compose-file",
        "b.yml",
    ]
    assert cmd.service_scale_cmd({"s_b": 0, "s_a": 0}) == [
        "docker",
        "service",
        "scale",
        "--detach",
        "s_a=0",
        "s_b=0",
    ]
    assert cmd.service_logs_cmd("s_web", tail=10) == [
        "docker",
        "service",
        "logs",
        "--no-trunc",
        "--timestamps",
        "--tail",
        "10",
        "s_web",
    ]


def test_dollars_are_escaped_again_for_stack_deploy() -> None:
    from relgate.deploy.swarm import escape_dollars

    doc = {"services": {"a": {"command": ["sh", "-c", "echo $(date) $$x"], "replicas": 2}}}
    assert escape_dollars(doc) == {
        "services": {"a": {"command": ["sh", "-c", "echo $$(date) $$$$x"], "replicas": 2}}
    }
