"""``relgate smoke``: run the HTTP smoke scenario against the environment."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from relgate.cli import command_parser
from relgate.cli._app import App

if TYPE_CHECKING:
    from relgate.config import RelgateConfig

EXAMPLES = """\
  relgate smoke
  relgate smoke --scenario smoke.yml --base-url https://staging.example.com
  relgate smoke --check smoke.yml
  SMOKE_PASS=demo-password relgate smoke --scenario relgate/demo/smoke.yml \\
      --base-url http://127.0.0.1:8000
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub, common, "smoke", "run the HTTP smoke scenario against the environment", EXAMPLES
    )
    parser.add_argument(
        "--scenario", metavar="FILE", help="scenario YAML (default: smoke.scenario in relgate.yml)"
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="target (default: $RELGATE_BASE_URL, else the scenario's base_url, else the "
        "environment's base_url); a URL with credentials only through RELGATE_BASE_URL",
    )
    parser.add_argument(
        "--version",
        metavar="VERSION",
        help="the version deployed ({{ run.version }}, expect_version; default $RELGATE_VERSION)",
    )
    parser.add_argument(
        "--check",
        metavar="FILE",
        help="only validate FILE statically (keys, references, JSONPaths); send nothing",
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    if args.check:
        from relgate.smoke.stage import check

        loaded = check(Path(args.check))
        steps = len(loaded.scenario.steps)
        app.reporter.ok(f"{args.check}: scenario '{loaded.scenario.name}' is valid ({steps} steps)")
        app.emit({"scenario": args.check, "name": loaded.scenario.name, "steps": steps})
        return 0
    from relgate.smoke.stage import smoke

    config = _config(app, args)
    environment = app.env_name
    if config is not None:
        environment, _ = config.environment(environment)
    run = app.open_run(config, environment)
    result = smoke(
        config,
        run,
        environment=environment or "default",
        scenario=Path(args.scenario) if args.scenario else None,
        # RELGATE_BASE_URL: the way to pass a target that carries credentials (never argv).
        base_url=args.base_url or app.env.get("RELGATE_BASE_URL") or None,
        version=app.version(args.version),
    )
    app.emit(result)
    return result.exit_code


def _config(app: App, args: argparse.Namespace) -> RelgateConfig | None:
    """relgate.yml is optional when the scenario and the target are given on the command line."""
    explicit = getattr(args, "config", None) or app.env.get("RELGATE_CONFIG")
    if not explicit and args.scenario and not Path(app.config_path).exists():
        return None
    return app.config()
