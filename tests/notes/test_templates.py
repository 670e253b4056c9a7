"""User templates: errors name template-file:line and exit 2; strict mode finds placeholders."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from relgate.cli import main
from relgate.notes.render import default_templates_dir
from tests.notes.conftest import GitRepo, write_config


def notes_with_template(
    tmp_path: Path, repo: GitRepo, env: dict[str, str], template: str, *extra: str
) -> tuple[int, str]:
    repo.commit("chore: init")
    repo.tag("v0.1.0")
    repo.commit("feat: something")
    (tmp_path / "notes.md.j2").write_text(template, encoding="utf-8")
    write_config(tmp_path, '  template: notes.md.j2\n  placeholders: ["DRAFT-ONLY"]')
    err = io.StringIO()
    code = main(
        [
            "--config",
            str(tmp_path / "relgate.yml"),
            "--run-dir",
            str(tmp_path / "run"),
            "notes",
            "--version",
            "v0.2.0",
            *extra,
        ],
        env=env,
        stdout=io.StringIO(),
        stderr=err,
    )
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("template", "line", "message"),
    [
        pytest.param("# {{ tag }}\n\nok\n{{ no_such_thing }}\n", 4, "undefined", id="undefined"),
        pytest.param("# {{ tag }}\n{{ ci.nope }}\n", 2, "undefined", id="undefined-attribute"),
        pytest.param(
            "# x\n{% for c in commits %}\n{{ c.sha }}\n", 3, "syntax error", id="unclosed-for"
        ),
        pytest.param(
            "{{ tag }}\n\n{{ commits[0].__class__.__mro__ }}\n", 3, "sandboxed", id="sandbox-dunder"
        ),
        pytest.param(
            "{{ tag }}\n{{ version.__class__.__subclasses__() }}\n", 2, "", id="sandbox-call"
        ),
        pytest.param(
            "{{ tag }}\n{% set _ = commits.append(1) %}\n", 2, "sandboxed", id="sandbox-mutation"
        ),
        pytest.param("# {{ tag }}\nCI run: <CI_RUN_ID>\n", 2, "placeholder", id="ci-run-id"),
        pytest.param("Date: <YYYY-MM-DD>\n", 1, "placeholder", id="date"),
        pytest.param("{{ tag }}\n\nContact: [Admin Email]\n", 3, "placeholder", id="admin-email"),
        pytest.param("{{ tag }}\nTODO: write the summary\n", 2, "placeholder", id="todo"),
        pytest.param("{{ tag }}\nstatus DRAFT-ONLY\n", 2, "placeholder", id="configured-pattern"),
    ],
)
def test_template_problems_name_file_and_line(
    tmp_path: Path,
    repo: GitRepo,
    clean_env: dict[str, str],
    template: str,
    line: int,
    message: str,
) -> None:
    code, err = notes_with_template(tmp_path, repo, clean_env, template)
    assert code == 2, err
    assert f"notes.md.j2:{line}" in err
    assert message in err


def test_every_placeholder_is_listed(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    code, err = notes_with_template(
        tmp_path, repo, clean_env, "{{ tag }}\nrun <CI_RUN_ID>\ndate <YYYY-MM-DD>\n[Admin Email]\n"
    )
    assert code == 2
    for line, text in ((2, "<CI_RUN_ID>"), (3, "<YYYY-MM-DD>"), (4, "[Admin Email]")):
        assert f"notes.md.j2:{line} placeholder: '{text}'" in err


def test_no_strict_lets_placeholders_through(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    code, err = notes_with_template(
        tmp_path, repo, clean_env, "{{ tag }} <CI_RUN_ID>\n", "--no-strict"
    )
    assert code == 0, err


def test_user_template_can_include_its_neighbours(
    tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]
) -> None:
    (tmp_path / "part.j2").write_text("{% for c in commits %}* {{ c.description }}\n{% endfor %}")
    out = tmp_path / "out.md"
    code, err = notes_with_template(
        tmp_path, repo, clean_env, "# {{ tag }}\n{% include 'part.j2' %}", "--output", str(out)
    )
    assert code == 0, err
    assert out.read_text() == "# v0.2.0\n* something\n"


def test_missing_template_file(tmp_path: Path, repo: GitRepo, clean_env: dict[str, str]) -> None:
    repo.commit("init")
    write_config(tmp_path, "  template: nowhere.j2")
    err = io.StringIO()
    code = main(
        [
            "--config",
            str(tmp_path / "relgate.yml"),
            "--run-dir",
            str(tmp_path / "r"),
            "notes",
            "--version",
            "v1.0.0",
        ],
        env=clean_env,
        stdout=io.StringIO(),
        stderr=err,
    )
    assert code == 2 and "nowhere.j2" in err.getvalue() and "not found" in err.getvalue()


def test_default_templates_are_shipped() -> None:
    names = {p.name for p in default_templates_dir().iterdir()}
    assert {"release-notes.md.j2", "tag-message.txt.j2", "job-summary.md.j2"} <= names
