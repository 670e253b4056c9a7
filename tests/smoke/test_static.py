"""Static validation: every problem is found before any request, located as file:line field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relgate.errors import ConfigError
from relgate.smoke.scenario import load_scenario, scenario_json_schema

SCHEMA = Path(__file__).parents[2] / "schema" / "scenario.schema.json"

BASE = """\
version: 1
name: t
secrets: [SMOKE_PASS]
vars:
  user: prof1
steps:
  - name: login
    request:
      method: POST
      url: /api/login/
      json: {username: "{{ user }}", password: "{{ secrets.SMOKE_PASS }}"}
    capture:
      csrf: {cookie: csrftoken}
  - name: list
    request:
      url: /api/exams/
      headers: {X-CSRFToken: "{{ csrf }}"}
    expect:
      status: 200
      json:
        - {path: $.results, length: {gt: 0}}
"""


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    path = tmp_path / "s.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_scenario(path, env=env)
    for problem in err.value.problems:  # relative names keep the expectations readable
        object.__setattr__(problem, "file", Path(problem.file).name)
    return err.value


def test_base_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text(BASE)
    loaded = load_scenario(path, env={"SMOKE_PASS": "x"})
    assert loaded.needs[1] == {"csrf"} and loaded.captured_by == {"csrf": 0}


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        pytest.param(
            "      url: /api/login/\n",
            "      url: /api/login/\n      uri: /x\n",
            "s.yml:11 steps[0].request.uri",
            "unknown key",
            id="unknown-key",
        ),
        pytest.param(
            "      json: {username",
            "      form: {a: b}\n      json: {username",
            "s.yml:8 steps[0].request",
            "json and form cannot be used together",
            id="json-and-form",
        ),
        pytest.param(
            "name: t\n",
            "name: t\ndeadline: soon\n",
            "s.yml:3 deadline",
            "is not a duration",
            id="bad-duration",
        ),
        pytest.param(
            '"{{ csrf }}"',
            '"{{ csrff }}"',
            "s.yml:17 steps[1].request.headers.X-CSRFToken",
            "'csrff' is not a var nor captured by an earlier step",
            id="undefined-capture",
        ),
        pytest.param(
            "{{ secrets.SMOKE_PASS }}",
            "{{ secrets.OTHER }}",
            "s.yml:11 steps[0].request.json.password",
            "secret 'OTHER' is not declared",
            id="undeclared-secret",
        ),
        pytest.param(
            '"{{ user }}"',
            '"{{ user"',
            "s.yml:11 steps[0].request.json.username",
            "invalid template",
            id="unclosed-template",
        ),
        pytest.param(
            "{path: $.results,",
            '{path: "$.results[?",',
            "s.yml:21 steps[1].expect.json[0].path",
            "invalid JSONPath",
            id="bad-jsonpath",
        ),
        pytest.param(
            "    capture:\n      csrf",
            "    retry: {attempts: 3}\n    capture:\n      csrf",
            "s.yml:12 steps[0].retry",
            "POST is not idempotent",
            id="post-retry-needs-unsafe",
        ),
        pytest.param(
            "  - name: list\n",
            "  - name: login\n",
            "s.yml:14 steps[1].name",
            "two steps are named 'login'",
            id="duplicate-step",
        ),
        pytest.param(
            "{path: $.results, length: {gt: 0}}",
            "{path: $.results, matches: '('}",
            "s.yml:21 steps[1].expect.json[0].matches",
            "invalid regular expression",
            id="bad-regex",
        ),
        pytest.param(
            "{path: $.results, length: {gt: 0}}",
            "{path: $.results}",
            "s.yml:21 steps[1].expect.json[0]",
            "needs at least one operator",
            id="no-operator",
        ),
        pytest.param(
            "      csrf: {cookie: csrftoken}",
            "      csrf: {cookie: csrftoken, header: X}",
            "s.yml:13 steps[0].capture.csrf",
            "exactly one of",
            id="two-capture-sources",
        ),
        pytest.param(
            "      status: 200",
            "      status: 2xy",
            "s.yml:19 steps[1].expect.status",
            "a status is a code",
            id="bad-status",
        ),
        pytest.param(
            "{{ user }}",
            "{{ env.NOPE_NOT_SET }}",
            "s.yml:11 steps[0].request.json.username",
            "environment variable NOPE_NOT_SET is not set",
            id="env-unset",
        ),
    ],
)
def test_static_problem_is_located(
    tmp_path: Path, old: str, new: str, where: str, message: str
) -> None:
    assert old in BASE
    error = _load(tmp_path, BASE.replace(old, new, 1), env={"SMOKE_PASS": "x"})
    lines = error.lines()
    assert any(line.startswith(where) and message in line for line in lines), lines
    assert error.exit_code == 2


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = BASE.replace('"{{ csrf }}"', '"{{ nope }}"').replace(
        "{{ secrets.SMOKE_PASS }}", "{{ secrets.X }}"
    )
    assert len(_load(tmp_path, text, env={"SMOKE_PASS": "x"}).lines()) == 2


def test_capture_of_a_later_step_is_not_visible_earlier(tmp_path: Path) -> None:
    text = BASE.replace("url: /api/login/", "url: /api/login/{{ later }}").replace(
        "        - {path: $.results, length: {gt: 0}}",
        "        - {path: $.results, length: {gt: 0}}\n    capture:\n      later: {json: $.x}",
    )
    (line,) = _load(tmp_path, text, env={"SMOKE_PASS": "x"}).lines()
    assert "'later' is not a var nor captured by an earlier step" in line


def test_missing_secret_value_is_located(tmp_path: Path) -> None:
    (line,) = _load(tmp_path, BASE, env={}).lines()
    assert line.startswith("s.yml:3 secrets[0]") and "SMOKE_PASS is not set" in line


def test_invalid_yaml_is_located(tmp_path: Path) -> None:
    (line,) = _load(tmp_path, BASE + "  - name: [unclosed\n").lines()
    assert line.startswith("s.yml:") and "invalid YAML" in line


def test_json_schema_file_is_current() -> None:
    current = json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n"
    assert SCHEMA.read_text() == current, "regenerate it: python -m relgate.smoke.scenario"


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(Path(__file__).parents[2] / "relgate/demo/smoke.yml", id="demo"),
        pytest.param(Path(__file__).parents[2] / "examples/korrigo.smoke.yml", id="korrigo"),
    ],
)
def test_shipped_scenarios_validate_against_the_json_schema(scenario: Path) -> None:
    import jsonschema
    import yaml

    jsonschema.validate(yaml.safe_load(scenario.read_text()), json.loads(SCHEMA.read_text()))
    load_scenario(scenario)
