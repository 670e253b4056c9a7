"""Image references: per-service templates, Docker's reference grammar, and who chose an image.

Pure functions, shared by the config models (validation at ``config check``) and the compose driver
(what to run, and whether what runs is what was asked for).

Two ways an image gets its version:

* ``stack.images`` (per service): a template such as ``registry.example/app/core:{version}``, rendered
  by relgate and applied in an override file, so nothing in the environment can change it;
* the compose file's own interpolation of the version variable (``image: app:${RELGATE_VERSION}``).
  There an exported variable can silently win — ``${RETAIA_CORE_IMAGE:-…:${RELGATE_VERSION}}`` with
  ``RETAIA_CORE_IMAGE`` exported ignores the version relgate sets. :func:`overriding_variables`
  finds those before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

__all__ = [
    "Override",
    "check_reference",
    "check_template",
    "overriding_variables",
    "registry_digest",
    "render_image",
    "repository",
]

# Docker's reference grammar (distribution/reference), without the normalisation of short names.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SAMPLE_VERSION = "1.0.0"


def render_image(template: str, version: str) -> str:
    """``template`` with ``{version}`` replaced; any other ``{…}`` is an error."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) != "version":
            raise ValueError(f"unknown placeholder {{{m.group(1)}}} (only {{version}} is known)")
        return version

    rendered = _PLACEHOLDER.sub(sub, template)
    if "{" in rendered or "}" in rendered:
        raise ValueError(f"unbalanced braces in {template!r}")
    return rendered


def check_reference(ref: str) -> str:
    """``ref`` if it is a valid image reference (name[:tag][@digest]); ValueError otherwise."""
    m = _REFERENCE.match(ref)
    if m is None or len(m.group("path")) > 255:
        raise ValueError(
            f"{ref!r} is not an image reference (expected [registry/]name[:tag][@sha256:…], "
            "lowercase name)"
        )
    return ref


def check_template(template: str) -> str:
    """Validate a per-service template as ``config check`` does: placeholders, then the grammar
    of the reference it renders for a sample version."""
    check_reference(render_image(template, _SAMPLE_VERSION))
    return template


def repository(ref: str) -> str:
    """``registry/name`` of a reference (no tag, no digest)."""
    m = _REFERENCE.match(ref)
    if m is None:
        return ref.split("@", 1)[0].rsplit(":", 1)[0] if "/" in ref else ref
    domain = m.group("domain")
    # "name/x" with no dot, colon or "localhost" in the first part is a Docker Hub path, not a host
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        return f"{domain}/{m.group('path')}"
    return f"{domain}/{m.group('path')}" if domain else m.group("path")


def registry_digest(ref: str, repo_digests: Collection[str]) -> str | None:
    """The ``sha256:…`` digest under which the registry of ``ref`` knows the image, if pulled or
    pushed from there (an entry of the image's RepoDigests), else None (built or loaded locally)."""
    want = repository(ref)
    for entry in repo_digests:
        name, _, digest = entry.partition("@")
        if name == want and digest:
            return digest
    return None


@dataclass(frozen=True)
class Override:
    """``${variable:-default}`` where ``variable`` comes from the environment and wins over a
    default that uses a variable relgate sets."""

    variable: str
    value: str
    default: str


def overriding_variables(
    raw: str, relgate_vars: Mapping[str, str], inherited: Mapping[str, str]
) -> list[Override]:
    """The inherited (exported, not relgate-set) variables that override, in the raw compose text
    ``raw``, a default depending on a variable relgate sets.

    ``relgate_vars`` are the variables relgate sets for the deploy (version variable, environment
    variables); ``inherited`` is the environment relgate itself was started with.
    """
    found: list[Override] = []
    for name, op, default in _expansions(raw):
        if name in relgate_vars or name not in inherited:
            continue
        value = inherited[name]
        if op.startswith(":") and value == "":
            continue  # ${X:-d} with X empty uses the default
        if any(var in relgate_vars for var, _, _ in _expansions(default)) or any(
            var in relgate_vars for var in _bare_refs(default)
        ):
            found.append(Override(name, value, _interpolate(default, relgate_vars)))
    return found


def _bare_refs(text: str) -> list[str]:
    return re.findall(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)", text)


def _expansions(text: str) -> list[tuple[str, str, str]]:
    """``(name, operator, argument)`` for each ``${…}`` in ``text`` (nested braces matched)."""
    out: list[tuple[str, str, str]] = []
    i = 0
    while (start := text.find("${", i)) != -1:
        if start > 0 and text[start - 1] == "$":  # "$${" is a literal "$" then "{"
            i = start + 2
            continue
        j = _after_braces(text, start)
        body = text[start + 2 : j - 1]
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$", body, re.DOTALL)
        if m:
            out.append((m.group(1), m.group(2) or "", m.group(3) or ""))
        i = j
    return out


def _after_braces(text: str, start: int) -> int:
    """The index just past the ``}`` that closes the ``${`` at ``start`` (nested ``${…}`` counted;
    the end of ``text`` when it never closes)."""
    depth, j = 1, start + 2
    while j < len(text) and depth:
        if text.startswith("${", j):
            depth, j = depth + 1, j + 2
            continue
        depth -= text[j] == "}"
        j += 1
    return j


def _interpolate(text: str, values: Mapping[str, str]) -> str:
    """Enough of compose's interpolation to show what a default would have been."""
    result, i = "", 0
    for name, op, arg in _expansions(text):
        start = text.find("${", i)
        j = _after_braces(text, start)
        value = values.get(name)
        if value is None or (op.startswith(":") and value == ""):
            value = _interpolate(arg, values) if op in {"-", ":-"} else ""
        result += _bare(text[i:start], values) + value
        i = j
    return result + _bare(text[i:], values)


def _bare(text: str, values: Mapping[str, str]) -> str:
    return re.sub(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)", lambda m: values.get(m.group(1), ""), text)
