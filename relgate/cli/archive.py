"""``relgate archive``: pack the run directory into a verifiable evidence bundle (always run it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from relgate.cli import command_parser
from relgate.cli._app import App

if TYPE_CHECKING:
    from relgate.config import RelgateConfig

EXAMPLES = """\
  relgate archive
  relgate --run-dir .relgate/runs/20260121T104207Z-a1b2c3 archive
  relgate archive --format tar.gz --output-dir dist/
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "archive",
        "pack the run directory into a verifiable evidence bundle (always run it)",
        EXAMPLES,
        description=(
            "Pack the run directory into one bundle: meta.json, every result (a stage that never "
            "ran is recorded as not_run), logs and artifacts, manifest.json with the sha256 of "
            "every file, and the bundle digest (sha256 of the manifest). A known secret value "
            "found in a file is redacted before packing (a placeholder if it cannot be), and "
            "reported by file, line and secret name."
        ),
    )
    parser.add_argument(
        "--format",
        choices=("tar.zst", "tar.gz"),
        default=None,
        help="bundle format (default: archive.format in relgate.yml, else tar.zst)",
    )
    parser.add_argument("--output-dir", metavar="DIR", help="where the bundle goes")
    parser.set_defaults(handler=handle)


def optional_config(app: App) -> RelgateConfig | None:
    """relgate.yml when there is one: archive must work even where the config is gone."""
    explicit = getattr(app.args, "config", None) or app.env.get("RELGATE_CONFIG")
    if explicit or Path(app.config_path).is_file():
        return app.config()
    return None


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.evidence.archive import archive

    config = optional_config(app)
    environment = app.env_name
    if config is not None:
        environment, _ = config.environment(environment)
    run = app.open_run(config, environment)
    meta = run.read_meta()
    run.environment = run.environment or meta.environment
    run.version = run.version or meta.version
    output = Path(args.output_dir) if args.output_dir else None
    result = archive(config, run, output_dir=output, fmt=args.format)
    app.emit(result)
    return result.exit_code
