"""One owner of the Actions environment: the run URL rule, owner/name parsing, the tag rule — and
nobody else reads GITHUB_*/RUNNER_*."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from relgate.actions_context import ActionsContext, parse_repository, tag_for

ROOT = Path(__file__).resolve().parents[2]
RUN = {"GITHUB_REPOSITORY": "acme/shop", "GITHUB_RUN_ID": "9912"}


@pytest.mark.parametrize(
    ("env", "url"),
    [
        pytest.param(
            {**RUN, "GITHUB_RUN_ATTEMPT": "2"},
            "https://github.com/acme/shop/actions/runs/9912/attempts/2",
            id="re-run",
        ),
        # Attempt 1 is named too: after a re-run, /runs/<id> alone shows the *last* attempt.
        pytest.param(
            {**RUN, "GITHUB_RUN_ATTEMPT": "1"},
            "https://github.com/acme/shop/actions/runs/9912/attempts/1",
            id="first-attempt",
        ),
        pytest.param(RUN, "https://github.com/acme/shop/actions/runs/9912/attempts/1", id="unset"),
        pytest.param(
            {**RUN, "GITHUB_SERVER_URL": "https://ghe.example.com/"},
            "https://ghe.example.com/acme/shop/actions/runs/9912/attempts/1",
            id="enterprise",
        ),
        pytest.param({"GITHUB_RUN_ID": "9912"}, None, id="no-repository"),
        pytest.param({"GITHUB_REPOSITORY": "acme/shop"}, None, id="no-run"),
    ],
)
def test_run_url_names_the_attempt(env: dict[str, str], url: str | None) -> None:
    assert ActionsContext.from_env(env).run_url() == url


def test_the_run_url_is_the_same_in_meta_notes_and_deployments() -> None:
    from relgate.notes.context import ci_from_env

    env = {**RUN, "GITHUB_ACTIONS": "true"}
    assert ci_from_env(env).url == ActionsContext.from_env(env).run_url()


@pytest.mark.parametrize(
    ("text", "repository"),
    [
        pytest.param("acme/shop", "acme/shop", id="owner-name"),
        pytest.param("https://github.com/acme/shop.git", "acme/shop", id="https"),
        pytest.param("https://github.com/acme/shop", "acme/shop", id="https-no-suffix"),
        pytest.param("git@github.com:acme/shop.git", "acme/shop", id="scp-like"),
        pytest.param("ssh://git@github.com/acme/shop.git", "acme/shop", id="ssh"),
        pytest.param("https://ghe.example.com/acme/my.app/", "acme/my.app", id="dots-slash"),
        pytest.param("shop", None, id="no-owner"),
        pytest.param("", None, id="empty"),
        pytest.param("a/b/c", None, id="three-parts"),
        pytest.param("../shop", None, id="dotdot"),
    ],
)
def test_parse_repository(text: str, repository: str | None) -> None:
    assert parse_repository(text) == repository


@pytest.mark.parametrize(
    ("version", "prefix", "tag"),
    [
        pytest.param("1.2.0", "v", "v1.2.0", id="add-prefix"),
        pytest.param("v1.2.0", "v", "v1.2.0", id="already-prefixed"),
        pytest.param("1.2.0", "", "1.2.0", id="no-prefix"),
        pytest.param("1.2.0-rc1", "release-", "release-1.2.0-rc1", id="long-prefix"),
    ],
)
def test_one_tag_rule(version: str, prefix: str, tag: str) -> None:
    from relgate.evidence.meta import collect_meta
    from relgate.notes import versions

    assert tag_for(version, prefix) == tag
    assert versions.tag_for is tag_for  # notes, preflight and release use this very function
    assert collect_meta  # meta uses it too (imported from relgate.actions_context)


@pytest.mark.parametrize(
    ("env", "key"),
    [
        pytest.param({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "5"}, "gh-5-1", id="attempt-1"),
        pytest.param(
            {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "5", "GITHUB_RUN_ATTEMPT": "3"},
            "gh-5-3",
            id="attempt-3",
        ),
        pytest.param({"GITHUB_RUN_ID": "5"}, None, id="not-in-actions"),
    ],
)
def test_run_key(env: dict[str, str], key: str | None) -> None:
    assert ActionsContext.from_env(env).run_key == key


def _environment_reads(source: str) -> list[int]:
    """Lines that read a GITHUB_*/RUNNER_* variable: ``x.get("GITHUB_…")``, ``x["GITHUB_…"]``,
    ``getenv("GITHUB_…")``."""

    def named(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(("GITHUB_", "RUNNER_"))
        )

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and named(node.args[0]):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("get", "getenv", "pop", "setdefault"):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and named(node.slice):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        pytest.param('env.get("GITHUB_SHA")', [1], id="get"),
        pytest.param('env["RUNNER_DEBUG"]', [1], id="subscript"),
        pytest.param('os.getenv("GITHUB_REF")', [1], id="getenv"),
        pytest.param('msg = "GITHUB_SHA is not set"', [], id="message"),
        pytest.param('token_env = "GITHUB_TOKEN"', [], id="default-name"),
    ],
)
def test_environment_read_finder(source: str, lines: list[int]) -> None:
    assert _environment_reads(source) == lines


def test_only_the_context_module_reads_github_variables() -> None:
    package = ROOT / "relgate"
    found = {
        str(path.relative_to(ROOT)): lines
        for path in package.rglob("*.py")
        if path.name != "actions_context.py"
        and (lines := _environment_reads(path.read_text("utf-8")))
    }
    assert found == {}
