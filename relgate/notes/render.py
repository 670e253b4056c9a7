"""Rendering notes, tag messages and job summaries from Jinja templates, safely and strictly.

* Templates run in Jinja's ``ImmutableSandboxedEnvironment``: a user template (``notes.template``)
  cannot reach Python internals (``__class__``, ``__globals__``…) nor change the context.
* ``StrictUndefined``: a misspelt variable is an error, not an empty string in published notes.
* Every template problem — syntax error, undefined variable, sandbox violation, leftover
  placeholder — is a :class:`ConfigError` naming ``template-file:line`` (exit 2).
* Strict mode scans the output for placeholders a human was supposed to fill in (``<CI_RUN_ID>``,
  ``<YYYY-MM-DD>``, ``[Admin Email]``, ``TODO``…), the failure the seed runbook guards by hand.

Default templates ship inside the wheel (``relgate/_templates``) and are read from the repository's
``templates/`` in a source checkout.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from relgate.errors import ConfigError, Problem

__all__ = [
    "DEFAULT_PLACEHOLDERS",
    "Placeholder",
    "TemplateRef",
    "default_templates_dir",
    "find_placeholders",
    "render",
    "resolve_template",
]

# What a hand-filled runbook template leaves behind when someone forgets a field.
DEFAULT_PLACEHOLDERS: tuple[str, ...] = (
    r"<[A-Z][A-Z0-9_-]*>",  # <CI_RUN_ID>, <COMMIT_SHA>, <YYYY-MM-DD>
    r"\[[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)+\](?![(\[:])",  # [Admin Email] (not a link label)
    r"\[(?:TBD|TODO|FIXME|XXX)\]",
    # Words, written literal-first ("TODO" then "not after a letter"): re scans for a literal
    # prefix quickly, while r"\b(?:TODO|…)\b" tries every position of a 2 MB output.
    r"TODO(?<!\wTODO)\b",
    r"TBD(?<!\wTBD)\b",
    r"FIXME(?<!\wFIXME)\b",
    r"\{\{[^}\n]*\}\}|\{%[^%\n]*%\}",  # template syntax that survived (rendered twice?)
)


@dataclass(frozen=True)
class TemplateRef:
    """A template to render: its directory (for includes), its file name and how to name it."""

    directory: Path
    name: str
    display: str


@dataclass(frozen=True)
class Placeholder:
    text: str
    line: int  # 1-based line in the rendered output


def default_templates_dir() -> Path:
    """The shipped templates: ``relgate/_templates`` when installed, ``templates/`` in a checkout."""
    try:
        shipped = importlib.resources.files("relgate") / "_templates"
        if shipped.is_dir():
            return Path(str(shipped))
    except (ModuleNotFoundError, OSError):  # pragma: no cover - defensive
        pass
    return Path(__file__).resolve().parents[2] / "templates"


def resolve_template(user_path: Path | None, default_name: str, field: str) -> TemplateRef:
    if user_path is None:
        directory = default_templates_dir()
        return TemplateRef(directory, default_name, f"(built-in) {default_name}")
    if not user_path.is_file():
        raise ConfigError([Problem(str(user_path), None, field, "template file not found")])
    return TemplateRef(user_path.parent, user_path.name, str(user_path))


def _environment(directory: Path) -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined

    env = _sandbox_class()(
        loader=FileSystemLoader(str(directory)),
        undefined=StrictUndefined,
        autoescape=False,  # markdown, not HTML; untrusted text is escaped in the context instead
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = _md_filter
    return env


@functools.cache
def _sandbox_class() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from relgate.notes.context import CIInfo, CommitView, Group, NotesContext

    # relgate's own view classes expose only data under public names; the generic check (is it a
    # function, a frame, a code object…) costs more than the render itself on 20,000 commits.
    trusted = frozenset({CommitView, Group, CIInfo, NotesContext})

    class Sandbox(ImmutableSandboxedEnvironment):
        def getattr(self, obj: Any, attribute: str) -> Any:
            if type(obj) in trusted and not attribute.startswith("_") and attribute != "to_json":
                try:
                    return getattr(obj, attribute)
                except AttributeError:
                    pass
            return super().getattr(obj, attribute)

    return Sandbox


def _md_filter(value: object) -> str:
    from relgate.notes.markdown import escape_markdown

    return escape_markdown(str(value))


def render(
    ref: TemplateRef,
    variables: Mapping[str, Any],
    *,
    strict: bool = False,
    placeholders: Sequence[str] = (),
    scrub: Callable[[Sequence[re.Pattern[str]]], Mapping[str, Any]] | None = None,
) -> str:
    """Render ``ref`` with ``variables``; raise ConfigError with template-file:line problems.

    ``scrub`` returns the variables with placeholder-like text removed from untrusted values (commit
    subjects saying "remove TODO"): in strict mode, a hit in the output is only reported if it is
    still there when the template is rendered with scrubbed variables — i.e. if the template, not a
    committer, put it there.
    """
    from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError

    env = _environment(ref.directory)
    try:
        template = env.get_template(ref.name)
        text: str = template.render(**variables)
    except TemplateSyntaxError as exc:
        raise ConfigError(
            [Problem(_display(ref, exc.filename), exc.lineno, "", f"syntax error: {exc.message}")]
        ) from exc
    except TemplateNotFound as exc:
        raise ConfigError(
            [Problem(ref.display, None, "", f"template not found: {exc.name}")]
        ) from exc
    except (TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
        file, line = _template_frame(exc.__traceback__, ref)
        raise ConfigError([Problem(file, line, "", _explain(exc))]) from exc
    if strict:
        patterns = compile_placeholders(placeholders)
        hits = find_placeholders(text, patterns)
        if hits and scrub is not None:
            hits = find_placeholders(template.render(**scrub(patterns)), patterns)
        if hits:
            raise ConfigError(_placeholder_problems(ref, hits))
    return text


def compile_placeholders(extra: Iterable[str]) -> list[re.Pattern[str]]:
    patterns = []
    problems = []
    for source in (*DEFAULT_PLACEHOLDERS, *extra):
        try:
            patterns.append(re.compile(source))
        except re.error as exc:
            problems.append(
                Problem("relgate.yml", None, "notes.placeholders", f"{source!r}: {exc}")
            )
    if problems:
        raise ConfigError(problems)
    return patterns


def find_placeholders(text: str, patterns: Sequence[re.Pattern[str]]) -> list[Placeholder]:
    """Every match of any pattern with its 1-based line (one pass per pattern over the text)."""
    hits: list[Placeholder] = []
    for pattern in patterns:
        for m in pattern.finditer(text):
            if "\n" in m.group(0):
                continue  # placeholders live on one line
            hits.append(Placeholder(m.group(0), text.count("\n", 0, m.start()) + 1))
    hits.sort(key=lambda h: h.line)
    return hits


def _placeholder_problems(ref: TemplateRef, hits: Sequence[Placeholder]) -> list[Problem]:
    source = _source_lines(ref)
    problems = []
    for hit in hits:
        where = next((n for n, line in enumerate(source, 1) if hit.text in line), None)
        problems.append(
            Problem(
                ref.display,
                where,
                "placeholder",
                f"{hit.text!r} left in the rendered output (output line {hit.line}); fill it in, "
                "or drop it from the template",
            )
        )
    return problems


def _source_lines(ref: TemplateRef) -> list[str]:
    try:
        return (ref.directory / ref.name).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def _display(ref: TemplateRef, filename: str | None) -> str:
    if not filename:
        return ref.display
    if Path(filename).name == ref.name and ref.display.startswith("(built-in)"):
        return ref.display
    return filename


def _template_frame(tb: TracebackType | None, ref: TemplateRef) -> tuple[str, int | None]:
    """The innermost frame of a template file (Jinja rewrites tracebacks to point at them)."""
    found: tuple[str, int | None] = (ref.display, None)
    root = str(ref.directory)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".j2", ".jinja", ".md", ".txt")) or filename.startswith(root):
            found = (_display(ref, filename), tb.tb_lineno)
        tb = tb.tb_next
    return found


def _explain(exc: BaseException) -> str:
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    if isinstance(exc, UndefinedError):
        return f"undefined: {exc.message} (see relgate notes --context-json for what exists)"
    if isinstance(exc, SecurityError):
        return f"not allowed in a sandboxed template: {exc}"
    return f"{type(exc).__name__}: {exc}"
