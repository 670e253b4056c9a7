"""Image references: templates, grammar, registry digests, and exported variables that override."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from relgate.cli import main
from relgate.images import (
    check_reference,
    check_template,
    overriding_variables,
    registry_digest,
    render_image,
    repository,
)

VERSION_VAR = {"RELGATE_VERSION": "v1.0.0"}


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        pytest.param("ghcr.io/retaia/core:{version}", "ghcr.io/retaia/core:v1.0.0", id="tag"),
        pytest.param("127.0.0.1:5000/a/b:{version}", "127.0.0.1:5000/a/b:v1.0.0", id="port"),
        pytest.param("ghcr.io/retaia/ui:v2.3.1", "ghcr.io/retaia/ui:v2.3.1", id="fixed"),
        pytest.param("app:{version}-slim", "app:v1.0.0-slim", id="suffix"),
    ],
)
def test_render(template: str, rendered: str) -> None:
    assert check_reference(render_image(template, "v1.0.0")) == rendered


@pytest.mark.parametrize(
    ("template", "message"),
    [
        pytest.param("app:{tag}", "unknown placeholder {tag}", id="unknown-placeholder"),
        pytest.param("app:{version", "unbalanced", id="unbalanced"),
        pytest.param("Ghcr.io/Retaia/Core:{version}", "not an image reference", id="uppercase"),
        pytest.param("app:{version}:x", "not an image reference", id="two-tags"),
        pytest.param("", "not an image reference", id="empty"),
        pytest.param("a b:{version}", "not an image reference", id="space"),
    ],
)
def test_bad_templates(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_template(template)


@pytest.mark.parametrize(
    ("ref", "repo"),
    [
        pytest.param("127.0.0.1:5000/rb2/core:v1", "127.0.0.1:5000/rb2/core", id="host-port"),
        pytest.param("ghcr.io/r/core@sha256:" + "a" * 64, "ghcr.io/r/core", id="digest"),
        pytest.param("postgres:16", "postgres", id="hub-short"),
        pytest.param("library/postgres:16", "library/postgres", id="hub-path"),
    ],
)
def test_repository(ref: str, repo: str) -> None:
    assert repository(ref) == repo


def test_registry_digest_picks_the_references_registry() -> None:
    digests = ["other.io/x/core@sha256:" + "b" * 64, "127.0.0.1:5000/rb2/core@sha256:" + "c" * 64]
    assert registry_digest("127.0.0.1:5000/rb2/core:v1", digests) == "sha256:" + "c" * 64
    assert registry_digest("relgate-rb2/core:v1", digests) is None


@pytest.mark.parametrize(
    ("raw", "inherited", "found"),
    [
        pytest.param(
            "${RETAIA_CORE_IMAGE:-reg/core:${RELGATE_VERSION}}",
            {"RETAIA_CORE_IMAGE": "reg/core:v1.0.2"},
            [("RETAIA_CORE_IMAGE", "reg/core:v1.0.2", "reg/core:v1.0.0")],
            id="exported-overrides-default",
        ),
        pytest.param(
            "${RETAIA_CORE_IMAGE-reg/core:$RELGATE_VERSION}",
            {"RETAIA_CORE_IMAGE": "x:1"},
            [("RETAIA_CORE_IMAGE", "x:1", "reg/core:v1.0.0")],
            id="bare-reference-in-default",
        ),
        pytest.param(
            "${RETAIA_CORE_IMAGE:-reg/core:${RELGATE_VERSION}}", {}, [], id="not-exported"
        ),
        pytest.param(
            "${RETAIA_CORE_IMAGE:-reg/core:${RELGATE_VERSION}}",
            {"RETAIA_CORE_IMAGE": ""},
            [],
            id="exported-empty-uses-default",
        ),
        pytest.param(
            "${REGISTRY}/core:${RELGATE_VERSION}",
            {"REGISTRY": "ghcr.io"},
            [],
            id="registry-variable-is-not-an-override",
        ),
        pytest.param(
            "${RETAIA_CORE_IMAGE:-reg/core:1}",
            {"RETAIA_CORE_IMAGE": "reg/core:2"},
            [],
            id="default-without-version",
        ),
        pytest.param(
            "$${RETAIA_CORE_IMAGE:-reg/core:${RELGATE_VERSION}}",
            {"RETAIA_CORE_IMAGE": "x"},
            [],
            id="escaped-dollar",
        ),
        pytest.param(
            "${A:-r/${B:-x}:${RELGATE_VERSION}}",
            {"A": "a:1"},
            [("A", "a:1", "r/x:v1.0.0")],
            id="nested-twice",
        ),
        pytest.param(
            "x ${A:-${RELGATE_VERSION}} ${C:-${RELGATE_VERSION}-b}",
            {"A": "1", "C": "2"},
            [("A", "1", "v1.0.0"), ("C", "2", "v1.0.0-b")],
            id="two-expansions",
        ),
        pytest.param("${A:-reg/core:${RELGATE_VERSION}", {"A": "a:1"}, [], id="never-closed"),
    ],
)
def test_overriding_variables(
    raw: str, inherited: dict[str, str], found: list[tuple[str, str, str]]
) -> None:
    got = overriding_variables(raw, VERSION_VAR, inherited)
    assert [(o.variable, o.value, o.default) for o in got] == found


def test_a_variable_relgate_sets_is_never_an_override() -> None:
    relgate = {**VERSION_VAR, "RETAIA_CORE_IMAGE": "reg/core:v1.0.0"}
    raw = "${RETAIA_CORE_IMAGE:-reg/core:${RELGATE_VERSION}}"
    assert overriding_variables(raw, relgate, {"RETAIA_CORE_IMAGE": "reg/core:v9"}) == []


CONFIG = """\
project: {name: retaia}
environments:
  prod:
    base_url: http://127.0.0.1:8080
    stack:
      driver: compose
      files: [compose.yml]
      images:
        core: "127.0.0.1:5000/retaia/core:{version}"
%s
"""


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        pytest.param('        ui: "127.0.0.1:5000/retaia/ui:v1.0.1"', 0, "ok", id="valid"),
        pytest.param('        ui: "retaia/ui:{release}"', 2, "unknown placeholder", id="unknown"),
        pytest.param('        ui: "Retaia/UI:{version}"', 2, "not an image reference", id="case"),
        pytest.param('        "-ui": "ui:{version}"', 2, "not a compose service name", id="name"),
    ],
)
def test_config_check_validates_image_templates(
    tmp_path: Path, extra: str, code: int, message: str
) -> None:
    path = tmp_path / "relgate.yml"
    path.write_text(textwrap.dedent(CONFIG % extra))
    out, err = io.StringIO(), io.StringIO()
    got = main(["--config", str(path), "config", "check"], env={}, stdout=out, stderr=err)
    assert got == code, err.getvalue()
    assert message in out.getvalue() + err.getvalue()
    if code == 2:
        assert "relgate.yml:" in err.getvalue()  # located: file:line
        assert "Traceback" not in err.getvalue()
