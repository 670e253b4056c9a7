from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from relgate.__about__ import __version__
from relgate.cli import COMMANDS, main


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_version_from_the_installed_script() -> None:
    script = str(Path(sys.executable).with_name("relgate"))
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == f"relgate {__version__}"


@pytest.mark.parametrize("command", [c.replace("_", "-") for c in COMMANDS])
def test_every_command_has_help_with_examples_and_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        from relgate.cli import build_parser

        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "exit codes:" in text and "relgate" in text


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["smoke", "--smoke-pass", "x"], id="smoke-pass"),
        pytest.param(["release", "--github-token=ghp_x"], id="token-equals"),
        pytest.param(["deploy", "--password", "x"], id="password"),
        pytest.param(["--api-key", "k", "status"], id="global-position"),
    ],
)
def test_secrets_on_the_command_line_are_refused(argv: list[str]) -> None:
    code, out, err = run_cli(*argv)
    assert code == 2
    assert "never accepted on the command line" in err and "environment" in err
    assert "ghp_x" not in err + out


def test_no_command_prints_help_and_exits_2() -> None:
    code, out, _ = run_cli()
    assert code == 2 and "usage: relgate" in out


def test_usage_error_exit_code() -> None:
    assert main(["no-such-command"], env={}, stdout=io.StringIO(), stderr=io.StringIO()) == 2


def test_globals_accepted_after_the_command(tmp_path: object) -> None:
    code, out, _ = run_cli("config", "check", "--config", "/nonexistent/relgate.yml", "--json")
    assert code == 2 and '"exit_code": 2' in out and "file not found" in out


def test_cli_start_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from relgate.cli import main; "
        "rc = main(['config', 'schema'], env={}, stdout=open('/dev/null', 'w')); "
        "heavy = [m for m in ('docker', 'httpx', 'github', 'jinja2', 'requests') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


SECRET_VALUE = "hunter2xyz-Pa55"


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(
            ["smoke", "--base-url", f"http://admin:{SECRET_VALUE}@127.0.0.1:9"], id="spaced"
        ),
        pytest.param(["smoke", f"--base-url=https://admin:{SECRET_VALUE}@h.example"], id="equals"),
        pytest.param(
            ["smoke", "--base-url", f"https://ghp{SECRET_VALUE}0123456789@h.example"],
            id="token-as-user",
        ),
    ],
)
def test_url_credentials_on_argv_are_refused_naming_the_env_var(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(*argv)
    assert code == 2
    assert "--base-url: a URL with credentials" in err and "RELGATE_BASE_URL" in err
    assert SECRET_VALUE not in out + err + "".join(capsys.readouterr())


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["smoke", f"--token-env={SECRET_VALUE}"], id="unknown-flag-with-value"),
        pytest.param(["smoke", "--scenario", "s.yml", SECRET_VALUE], id="stray-positional"),
        pytest.param(["archive", "--format", SECRET_VALUE], id="invalid-choice"),
        pytest.param([SECRET_VALUE], id="invalid-command"),
        pytest.param(["lock", "release", "--wait-lock", SECRET_VALUE, "--nope"], id="mixed"),
    ],
)
def test_argparse_errors_never_echo_a_value(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(*argv)
    captured = capsys.readouterr()
    assert code == 2
    assert "error:" in captured.err + err
    assert SECRET_VALUE not in out + err + captured.out + captured.err


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("99999999999d", id="days"),
        pytest.param("1" * 400 + "s", id="400-digits"),
        pytest.param("1" * 400, id="400-digit-seconds"),
    ],
)
def test_overflowing_duration_flags_are_bad_input(value: str) -> None:
    """Before: OverflowError from timedelta, reported as 'internal error' with exit 3."""
    code, out, err = run_cli("lock", "recover", "--stale-after", value)
    assert code == 2, out + err
    assert "--stale-after" in err and "at most 366d" in err
    assert "internal error" not in out + err
