from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from relgate.cli import main
from relgate.config import load_config
from relgate.errors import ConfigError
from relgate.secrets import SecretRegistry

GOOD = """\
project:
  name: korrigo
  repository: acme/korrigo
secrets:
  - SMOKE_PASS
  - name: METRICS_TOKEN
    generate: true
environments:
  staging:
    base_url: https://staging.example.com
    stack:
      driver: compose
      files: [infra/docker/docker-compose.staging.yml]
      services: [backend, nginx]
  local:
    base_url: http://127.0.0.1:8080
    stack:
      driver: process
      command: [python, -m, app]
deploy:
  timeout: 90s
  health:
    url: /api/health/
smoke:
  scenario: smoke.yml
"""


def run_cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env=env or {}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str | bytes, name: str = "relgate.yml") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_good_config_loads_and_registers_secrets(tmp_path: Path) -> None:
    secrets = SecretRegistry()
    cfg = load_config(write(tmp_path, GOOD), env={"SMOKE_PASS": "pw-123456"}, secrets=secrets)
    assert cfg.environments["staging"].stack.driver == "compose"
    assert cfg.deploy.timeout.total_seconds() == 90
    assert secrets.redact("pw-123456") == "***"
    assert cfg.resolve_path("smoke.yml") == tmp_path / "smoke.yml"
    assert len(cfg.digest) == 64


# Each case: a mistake, and the exact "file:line field: message" start the user must see.
MISTAKES = [
    pytest.param(
        ("  repository: acme/korrigo", "  repositry: acme/korrigo"),
        "relgate.yml:3 project.repositry: unknown key (did you mean 'repository'?)",
        id="typo-key",
    ),
    pytest.param(
        ("base_url: https://staging.example.com", "base_url: http://staging.example.com"),
        "relgate.yml:10 environments.staging.base_url: must be https:// (loopback may use http://)",
        id="http-non-loopback",
    ),
    pytest.param(
        ("driver: compose", "driver: composer"),
        "relgate.yml:11 environments.staging.stack: unknown 'driver' 'composer'",
        id="unknown-driver",
    ),
    pytest.param(
        ("  timeout: 90s", "  timeout: forever"),
        "relgate.yml:21 deploy.timeout: 'forever' is not a duration",
        id="bad-duration",
    ),
    pytest.param(
        ("      command: [python, -m, app]", "      command: []"),
        "relgate.yml:19 environments.local.stack.command: List should have at least 1 item",
        id="empty-command",
    ),
    pytest.param(
        ("  name: korrigo\n", "  title: korrigo\n"),
        "relgate.yml:2 project.title: unknown key",
        id="missing-required-and-extra",
    ),
    pytest.param(
        ("  - SMOKE_PASS", "  - SMOKE-PASS"),
        "relgate.yml:5 secrets[0].name: 'SMOKE-PASS' is not an environment variable name",
        id="bad-secret-name",
    ),
    pytest.param(
        ("    url: /api/health/", "    url: ${HEALTH_URL}"),
        "relgate.yml:23 deploy.health.url: environment variable HEALTH_URL is not set",
        id="unset-variable",
    ),
    pytest.param(
        ("  scenario: smoke.yml", "  scenario: [a, b]"),
        "relgate.yml:25 smoke.scenario: Input should be a valid string",
        id="wrong-type",
    ),
    pytest.param(
        ("deploy:\n", "deploy:\n  timeout: 1s\n"),
        "relgate.yml:22 deploy: duplicate key 'timeout'",
        id="duplicate-key",
    ),
    pytest.param(
        ("      files: [infra", "      files: [infra\n\t"),
        "relgate.yml:14: invalid YAML",
        id="tab-invalid-yaml",
    ),
    pytest.param(
        ("  staging:", "  stag ing:"),
        "relgate.yml:8 environments: environment name 'stag ing'",
        id="bad-environment-name",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), MISTAKES)
def test_config_check_reports_located_problems(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    old, new = edit
    assert old in GOOD, old
    path = write(tmp_path, GOOD.replace(old, new, 1))
    code, out, err = run_cli("--config", str(path), "config", "check")
    assert code == 2
    assert "Traceback" not in err + out
    lines = [line.removeprefix("error: ") for line in err.splitlines()]
    shown = [line.replace(str(path), "relgate.yml") for line in lines]
    assert any(line.startswith(expected) for line in shown), shown


def test_several_problems_are_all_listed_in_line_order(tmp_path: Path) -> None:
    text = GOOD.replace("  repository: acme/korrigo", "  repositry: x").replace("90s", "soon")
    code, _, err = run_cli("--config", str(write(tmp_path, text)), "config", "check")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2 and ":3 " in lines[0] and ":21 " in lines[1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", "required field is missing", id="empty-file"),
        pytest.param(b"- just\n- a list\n", "top level must be a mapping", id="scalar-top"),
        pytest.param(b"project:\n  name: caf\xe9\n", "relgate.yml:2: not valid UTF-8", id="latin1"),
        pytest.param(
            b"a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
            "alias bomb",
            id="billion-laughs",
        ),
        pytest.param(
            b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 80)),
            "nesting deeper",
            id="deep-nesting",
        ),
        pytest.param(
            b"project: {name: x}\n!!python/object:os.system x: 1\n", "invalid", id="python-tag"
        ),
    ],
)
def test_hostile_files_get_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    code, _, err = run_cli("--config", str(write(tmp_path, content)), "config", "check")
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err


def test_enormous_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "relgate.yml"
    with open(path, "wb") as fh:
        fh.write(b"# " + b"x" * (3 * 1024 * 1024) + b"\n")
    code, _, err = run_cli("--config", str(path), "config", "check")
    assert code == 2 and "the limit is" in err


def test_missing_file(tmp_path: Path) -> None:
    code, _, err = run_cli("--config", str(tmp_path / "nope.yml"), "config", "check")
    assert code == 2 and "nope.yml: file not found" in err


def test_interpolation_is_single_pass_and_defaults_work(tmp_path: Path) -> None:
    text = (
        GOOD.replace("  timeout: 90s", "  timeout: ${TIMEOUT:-45s}")
        .replace("name: korrigo", "name: ${NAME}")
        .replace("  scenario: smoke.yml", "  scenario: $${literal}")
    )
    cfg = load_config(write(tmp_path, text), env={"NAME": "${TIMEOUT}", "TIMEOUT": ""})
    assert cfg.project.name == "${TIMEOUT}"  # not expanded again: no recursion
    assert cfg.deploy.timeout.total_seconds() == 45  # ':-' also covers the empty value
    assert cfg.smoke.scenario == "${literal}"


def test_required_variable_message(tmp_path: Path) -> None:
    text = GOOD.replace("name: korrigo", "name: ${NAME:?set the project name}")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert "NAME is required: set the project name" in str(info.value)


def test_config_check_json(tmp_path: Path) -> None:
    code, out, _ = run_cli("--json", "--config", str(write(tmp_path, GOOD)), "config", "check")
    assert code == 0
    doc = json.loads(out)
    assert doc["valid"] is True and doc["environments"] == ["local", "staging"]
    assert "SMOKE_PASS" in doc["secrets"] and "GITHUB_TOKEN" in doc["secrets"]


def test_config_errors_as_json(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("90s", "soon"))
    code, out, _ = run_cli("--json", "--config", str(path), "config", "check")
    doc = json.loads(out)
    assert code == 2 and doc["exit_code"] == 2 and doc["kind"] == "ConfigError"
    assert "deploy.timeout" in doc["error"]


def test_schema_file_is_current() -> None:
    shipped = Path(__file__).parents[2] / "schema" / "relgate.schema.json"
    code, out, _ = run_cli("config", "schema")
    assert code == 0
    assert shipped.read_text() == out, "run: relgate config schema > schema/relgate.schema.json"


def test_schema_accepts_good_and_rejects_typo() -> None:
    import jsonschema
    import yaml

    from relgate.config import json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors(yaml.safe_load(GOOD))) == []
    bad = yaml.safe_load(GOOD.replace("repository:", "repositry:"))
    assert list(validator.iter_errors(bad))


def test_readme_example_config_is_valid(tmp_path: Path) -> None:
    # The README's example relgate.yml must stay loadable (guard against doc rot).
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("```yaml", 1)[1].split("```", 1)[0]
    cfg = load_config(write(tmp_path, textwrap.dedent(block)), env={})
    assert "staging" in cfg.environments


@pytest.mark.parametrize(
    ("api_url", "ok"),
    [
        pytest.param("https://ghe.example.com/api/v3", True, id="https"),
        pytest.param("http://127.0.0.1:8080/api/v3", True, id="loopback-http"),
        pytest.param("http://ghe.example.com/api/v3", False, id="http"),
        pytest.param("https://bot:pw-123456@ghe.example.com/api/v3", False, id="credentials"),
    ],
)
def test_github_api_url_must_be_https_where_the_token_travels(
    tmp_path: Path, api_url: str, ok: bool
) -> None:
    path = tmp_path / "relgate.yml"
    path.write_text(
        "project: {name: shop}\n"
        "environments: {staging: {base_url: 'https://s.example.com'}}\n"
        f"github: {{api_url: '{api_url}'}}\n"
    )
    if ok:
        assert load_config(path, env={}).github.api_url == api_url
    else:
        with pytest.raises(ConfigError) as info:
            load_config(path, env={})
        assert f"{path}:3 github.api_url" in str(info.value)
        assert "pw-123456" not in str(info.value)


def test_github_api_url_from_the_runner_must_be_https_too(tmp_path: Path) -> None:
    from relgate.errors import BadInputError
    from relgate.github.client import GitHubClient

    path = tmp_path / "relgate.yml"
    path.write_text(
        "project: {name: shop, repository: acme/shop}\n"
        "environments: {staging: {base_url: 'https://s.example.com'}}\n"
    )
    config = load_config(path, env={})
    env = {"GITHUB_TOKEN": "ghs_x", "GITHUB_API_URL": "http://ghe.example.com/api/v3"}
    with pytest.raises(BadInputError, match="GITHUB_API_URL: must be https://"):
        GitHubClient.from_env(config, env)


def test_credentials_in_config_urls_are_registered(tmp_path: Path) -> None:
    path = tmp_path / "relgate.yml"
    path.write_text(
        "project: {name: shop}\nenvironments: {staging: {base_url: '${STAGING_URL}'}}\n"
    )
    secrets = SecretRegistry()
    load_config(path, env={"STAGING_URL": "https://u:Pa55-w0rd@s.example.com"}, secrets=secrets)
    assert secrets.redact("login Pa55-w0rd") == "login ***"


@pytest.mark.parametrize(
    ("section", "said"),
    [
        ("preflight:\n  checks:\n", "release check names must be unique: audit, lint"),
        ("ops:\n  checks:\n", "ops check names must be unique: audit, lint"),
    ],
    ids=["release-checks", "ops-checks"],
)
def test_check_names_must_be_unique(tmp_path: Path, section: str, said: str) -> None:
    checks = "".join(
        f'    - {{name: {n}, command: ["true"]}}\n'
        for n in ("lint", "audit", "lint", "audit", "ok")
    )
    text = GOOD.replace("project:", section + checks + "project:", 1)
    with pytest.raises(ConfigError, match=said):
        load_config(write(tmp_path, text), env={"SMOKE_PASS": "pw-123456"})
