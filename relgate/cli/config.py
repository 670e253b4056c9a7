"""``relgate config check|schema``: validate relgate.yml; print its JSON Schema."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from relgate.cli import command_parser
from relgate.cli._app import App

if TYPE_CHECKING:
    from relgate.config import RelgateConfig

EXAMPLES = """\
  relgate config check
  relgate --config deploy/relgate.yml config check
  relgate config schema > schema/relgate.schema.json
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub, common, "config", "validate relgate.yml or print its JSON Schema", EXAMPLES
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        parents=[common],
        help="validate relgate.yml: one file:line field message per problem, exit 2",
    )
    check.set_defaults(handler=handle_check)
    schema = actions.add_parser(
        "schema", parents=[common], help="print the JSON Schema of relgate.yml"
    )
    schema.set_defaults(handler=handle_schema)


def handle_check(app: App, args: argparse.Namespace) -> int:
    config = app.config()
    _check_swarm_stacks(app, config)
    envs = ", ".join(
        f"{name} ({env.stack.driver}, {env.base_url})" for name, env in config.environments.items()
    )
    app.reporter.ok(f"{app.config_path}: ok: project {config.project.name}; environments: {envs}")
    app.emit(
        {
            "file": app.config_path,
            "valid": True,
            "digest": config.digest,
            "project": config.project.name,
            "environments": sorted(config.environments),
            "secrets": config.secret_names(),
        }
    )
    return 0


def handle_schema(app: App, args: argparse.Namespace) -> int:
    from relgate.config import schema_text

    app.stdout.write(schema_text())
    return 0


def _check_swarm_stacks(app: App, config: RelgateConfig) -> None:
    """Swarm stacks: compose features ``docker stack deploy`` refuses are located errors (exit 2);
    a monitor window too short for the healthcheck is a warning."""
    from relgate.config import SwarmStack
    from relgate.deploy.swarm_spec import stack_problems
    from relgate.errors import ConfigError

    refused = []
    for env in config.environments.values():
        if isinstance(env.stack, SwarmStack):
            errors, warnings = stack_problems([config.resolve_path(f) for f in env.stack.files])
            refused += errors
            for line in warnings:
                app.reporter.warning(f"swarm: {line}")
    if refused:
        raise ConfigError(refused)
