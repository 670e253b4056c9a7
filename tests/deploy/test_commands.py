"""The pure command builders: exact argv lists, no Docker needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from relgate.deploy import commands as cmd
from relgate.deploy.context import check_version
from relgate.deploy.process import render_command
from relgate.errors import UsageError

P = cmd.ComposeProject(name="shop", files=(Path("/srv/a.yml"), Path("/srv/b.yml")))
BASE = [
    "docker",
    "compose",
    "--project-name",
    "shop",
    "--file",
    "/srv/a.yml",
    "--file",
    "/srv/b.yml",
]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            cmd.config_cmd(P, fmt="json"), [*BASE, "config", "--format", "json"], id="config"
        ),
        pytest.param(
            cmd.pull_cmd(P, ["web"]),
            [*BASE, "pull", "--ignore-buildable", "--quiet", "web"],
            id="pull",
        ),
        pytest.param(cmd.build_cmd(P, ["web", "db"]), [*BASE, "build", "web", "db"], id="build"),
        pytest.param(
            cmd.up_cmd(P, ["web"]), [*BASE, "up", "--detach", "--remove-orphans", "web"], id="up"
        ),
        pytest.param(
            cmd.up_cmd(P, [], pinned=True),
            [*BASE, "up", "--detach", "--remove-orphans", "--no-build", "--pull", "never"],
            id="up-pinned-rollback",
        ),
        pytest.param(
            cmd.stop_cmd(P, ["web"]), [*BASE, "stop", "--timeout", "10", "web"], id="stop"
        ),
        pytest.param(cmd.ps_cmd(P), [*BASE, "ps", "--all", "--format", "json"], id="ps"),
        pytest.param(
            cmd.logs_cmd(P, "web", tail=50),
            [*BASE, "logs", "--no-color", "--timestamps", "--tail", "50", "web"],
            id="logs",
        ),
        pytest.param(
            cmd.exec_cmd(P, "web", ["manage.py", "migrate", "--check"]),
            [*BASE, "exec", "-T", "web", "manage.py", "migrate", "--check"],
            id="exec-no-tty",
        ),
        pytest.param(
            cmd.git_checkout_cmd(Path("/src"), "v1.2.0"),
            ["git", "-C", "/src", "checkout", "--detach", "--quiet", "v1.2.0", "--"],
            id="git-checkout",
        ),
    ],
)
def test_builders(argv: list[str], expected: list[str]) -> None:
    assert argv == expected


def test_every_option_of_the_project() -> None:
    p = cmd.ComposeProject(
        name="x",
        files=(Path("c.yml"),),
        profiles=("web", "jobs"),
        env_file=Path("/e/.env"),
        project_dir=Path("/p"),
    )
    assert cmd.compose_base(p) == [
        "docker", "compose", "--project-name", "x", "--project-directory", "/p",
        "--file", "c.yml", "--profile", "web", "--profile", "jobs", "--env-file", "/e/.env",
    ]  # fmt: skip


def test_override_is_appended_last() -> None:
    assert P.with_override(Path("/run/pin.yml")).files[-1] == Path("/run/pin.yml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("My Shop", "my-shop", id="spaces"),
        pytest.param("relgate_demo", "relgate_demo", id="underscore-kept"),
        pytest.param("--Weird..Name--", "weird-name", id="punctuation"),
        pytest.param("!!!", "relgate", id="nothing-left"),
    ],
)
def test_project_name(text: str, expected: str) -> None:
    assert cmd.project_name(text) == expected


@pytest.mark.parametrize(
    "version",
    [
        pytest.param("", id="empty"),
        pytest.param("-rf", id="option-like"),
        pytest.param(".hidden", id="leading-dot"),
        pytest.param("v1 2", id="space"),
        pytest.param("v1;rm", id="shell"),
        pytest.param("a" * 129, id="too-long"),
    ],
)
def test_bad_versions_are_usage_errors(version: str) -> None:
    with pytest.raises(UsageError):
        check_version(version)


def test_good_version() -> None:
    assert check_version("v1.2.0-rc1_b7") == "v1.2.0-rc1_b7"


def test_process_command_rendering() -> None:
    argv = render_command(
        ["app", "--port", "{port}", "--v={version}"], {"port": "80", "version": "v2"}
    )
    assert argv == ["app", "--port", "80", "--v=v2"]
    with pytest.raises(KeyError):
        render_command(["{nope}"], {})
