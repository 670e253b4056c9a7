"""What the compose stack should run, and whether it does: per-service images, read from the engine.

Before ``up``: the reference each selected service will run is known from ``compose config`` (with
relgate's variables, and ``stack.images`` applied in an override file). An exported variable that
overrides an image relgate sets (``${RETAIA_CORE_IMAGE:-…:${RELGATE_VERSION}}`` with
``RETAIA_CORE_IMAGE`` exported) is a configuration conflict: refused before anything changes.

After ``up``: each running container's image reference and image ID are read from the engine and
compared with what was asked for; a stale tag or an override that slipped through fails the deploy
with one line naming the service, both references and the fix. The record then holds what ran —
reference, image ID and registry digest — never what was merely requested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from relgate.deploy.models import ServiceImage
from relgate.errors import ConfigError, Problem
from relgate.images import overriding_variables, registry_digest, render_image

__all__ = [
    "check_overrides",
    "expected_images",
    "images_override_text",
    "mismatches",
    "running_image",
]

SERVICE_LABEL = "com.docker.compose.service"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"


def images_override_text(images: Mapping[str, str], version: str) -> str:
    """The override file that runs each service of ``stack.images`` at its rendered reference."""
    import json

    lines = ["# written by relgate: stack.images rendered for " + version, "services:"]
    for service, template in sorted(images.items()):
        ref = render_image(template, version)
        lines += [f"  {json.dumps(service)}:", f"    image: {json.dumps(ref)}"]
    return "\n".join(lines) + "\n"


def _raw_images(files: Sequence[Path]) -> dict[str, tuple[str, str]]:
    """service -> (raw image text before interpolation, file) across the compose files, the last
    file that sets it winning (as compose merges them)."""
    out: dict[str, tuple[str, str]] = {}
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue  # `compose config` already reported (or will report) what is wrong with it
        services = doc.get("services") if isinstance(doc, dict) else None
        for name, spec in (services or {}).items():
            if isinstance(spec, dict) and isinstance(spec.get("image"), str):
                out[str(name)] = (spec["image"], str(path))
    return out


def check_overrides(
    files: Sequence[Path],
    services: Sequence[str],
    *,
    managed: Mapping[str, str],
    relgate_vars: Mapping[str, str],
    inherited: Mapping[str, str],
    version: str,
) -> None:
    """Refuse (ConfigError, exit 2) when an exported variable overrides an image relgate sets.

    Services in ``managed`` (``stack.images``) are immune: the override file wins over any variable.
    """
    problems = []
    raw = _raw_images(files)
    for service in services:
        if service in managed or service not in raw:
            continue
        text, path = raw[service]
        for o in overriding_variables(text, relgate_vars, inherited):
            problems.append(
                Problem(
                    path,
                    None,
                    f"services.{service}.image",
                    f"{service}: the exported variable {o.variable}={o.value} overrides the image "
                    f"relgate sets for {version} ({o.default}); unset {o.variable}, or give "
                    f"{service} its reference in stack.images of relgate.yml",
                )
            )
    if problems:
        raise ConfigError(problems)


def expected_images(config: Mapping[str, Any], services: Sequence[str]) -> dict[str, str]:
    """service -> image reference as ``compose config`` resolved it (services with an image)."""
    defined = config.get("services", {})
    return {s: str(defined[s]["image"]) for s in services if (defined.get(s) or {}).get("image")}


def running_image(api: Any, container: Mapping[str, Any]) -> ServiceImage:
    """What one running container runs, read from the engine: the reference it was created from,
    its image ID, and the registry digest when the image came from a registry."""
    info = api.inspect_container(container["Id"])
    ref = str((info.get("Config") or {}).get("Image") or container.get("Image") or "")
    image_id = str(info.get("Image") or container.get("ImageID") or "")
    import docker.errors

    try:
        digests = list(api.inspect_image(image_id).get("RepoDigests") or [])
    except docker.errors.APIError:  # removed since (not found): the ID is still the truth
        digests = []
    labels = container.get("Labels") or {}
    return ServiceImage(
        image=ref,
        image_id=image_id,
        repo_digests=digests,
        registry_digest=registry_digest(ref, digests),
        config_hash=labels.get(CONFIG_HASH_LABEL),
    )


def mismatches(
    api: Any,
    running: Mapping[str, ServiceImage],
    expected: Mapping[str, str],
    *,
    version: str,
) -> list[str]:
    """One line per service whose running image is not the one asked for."""
    import docker.errors

    lines = []
    for service, want in sorted(expected.items()):
        got = running.get(service)
        if got is None:
            continue  # not running at all: the health gate says so, with its cause
        try:
            want_id = str(api.inspect_image(want).get("Id") or "")
        except docker.errors.APIError:  # not on the host under that name
            want_id = ""
        if got.image == want and (not want_id or want_id == got.image_id):
            continue
        if got.image == want:
            why = (
                f"the tag {want} now names {want_id[:19]}, the container runs {got.image_id[:19]}"
                " (the tag moved during the deploy?)"
            )
        else:
            why = f"it runs {got.image} ({got.image_id[:19]})"
        lines.append(
            f"{service}: {version} asks for {want}, but {why}: look for a variable exported in "
            "the deploy environment or a tag pushed meanwhile, and pin the reference in "
            "stack.images of relgate.yml"
        )
    return lines
