"""Loading YAML input files (relgate.yml, smoke scenarios) with line numbers and hard limits.

PyYAML's composer gives every node a position, so instead of ``yaml.safe_load`` we compose the node
graph and build plain Python values ourselves, recording the line of every key and item. That lets
validation errors say ``relgate.yml:14 environments.staging.base_url: …``.

Hostile input is refused with a located message rather than exhausting the machine: files over
``MAX_BYTES``, non-UTF-8 bytes, documents that expand past ``MAX_NODES`` values through aliases
(the "billion laughs" bomb), nesting past ``MAX_DEPTH``, and duplicate keys (which YAML allows and
which silently drop a value).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from relgate.errors import ConfigError, Problem

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

__all__ = [
    "MAX_BYTES",
    "LoadedYaml",
    "interpolate",
    "load_yaml",
    "problems_from_validation",
    "validate_model",
]

MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound="BaseModel")


@dataclass
class LoadedYaml:
    """A parsed document, its source name and the line of every path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    env_refs: set[str] = field(default_factory=set)

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None


def _problem(file: str, line: int | None, message: str, field_: str = "") -> ConfigError:
    return ConfigError([Problem(file, line, field_, message)])


def load_yaml(path: str | Path, *, display: str | None = None) -> LoadedYaml:
    """Read and parse ``path``; raise :class:`ConfigError` with a located message on any problem."""
    name = display or str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise _problem(name, None, f"file is {size} bytes; the limit is {MAX_BYTES}")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise _problem(name, None, "file not found") from None
    except IsADirectoryError:
        raise _problem(name, None, "is a directory, not a YAML file") from None
    except PermissionError:
        raise _problem(name, None, "permission denied") from None
    return parse_yaml(raw, name)


def parse_yaml(raw: bytes, name: str) -> LoadedYaml:
    import yaml

    if len(raw) > MAX_BYTES:
        raise _problem(name, None, f"document is {len(raw)} bytes; the limit is {MAX_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _problem(name, line, f"not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    _refuse_control_characters(text, name)
    # libyaml's parser when present: an order of magnitude faster, same nodes and marks.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = mark.line + 1 if mark else None
        raise _problem(name, where, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise _problem(name, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    loaded = LoadedYaml(name, None)
    if node is None:
        loaded.data = {}
        return loaded
    builder = _Builder(loader, loaded)
    loaded.data = builder.build(node, (), 0)
    return loaded


# C0 controls but tab, LF and CR; DEL; C1 controls. YAML forbids them raw (PyYAML then says where
# only as a byte offset) and they have no business in a value either: a NUL truncates arguments
# passed to programs, an ESC rewrites a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _control_problem(char: str) -> str:
    names = {"\x00": "NUL", "\x1b": "ESC", "\x7f": "DEL"}
    code = f"U+{ord(char):04X}"
    return f"control character {code}{' (' + names[char] + ')' if char in names else ''}"


def _refuse_control_characters(text: str, name: str) -> None:
    found = _CONTROL.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        raise _problem(
            name, line, f"{_control_problem(found.group())} at column {column}: not allowed"
        )


class _Builder:
    def __init__(self, loader: Any, loaded: LoadedYaml) -> None:
        self.loader = loader
        self.loaded = loaded
        self.count = 0

    def build(self, node: Any, path: Path_, depth: int) -> Any:
        import yaml

        self.count += 1
        line = node.start_mark.line + 1
        if self.count > MAX_NODES:
            raise _problem(
                self.loaded.file,
                line,
                f"document expands to more than {MAX_NODES} values (alias bomb?)",
            )
        if depth > MAX_DEPTH:
            raise _problem(self.loaded.file, line, f"nesting deeper than {MAX_DEPTH} levels")
        self.loaded.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _problem(
                        self.loaded.file, key_node.start_mark.line + 1, "keys must be plain strings"
                    )
                try:
                    key = str(self.loader.construct_object(key_node))
                except (yaml.YAMLError, ValueError, OverflowError, TypeError) as exc:
                    raise _problem(
                        self.loaded.file,
                        key_node.start_mark.line + 1,
                        f"invalid key: {getattr(exc, 'problem', None) or exc}",
                    ) from None
                if _CONTROL.search(key):
                    raise _problem(
                        self.loaded.file,
                        key_node.start_mark.line + 1,
                        f"{_control_problem(_CONTROL.findall(key)[0])} in a key: not allowed",
                    )
                if key in out:
                    raise _problem(
                        self.loaded.file,
                        key_node.start_mark.line + 1,
                        f"duplicate key '{key}'",
                        ".".join(str(p) for p in path),
                    )
                self.loaded.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, (*path, key), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, (*path, i), depth + 1) for i, v in enumerate(node.value)]
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise _problem(
                self.loaded.file, line, f"invalid value: {getattr(exc, 'problem', None) or exc}"
            ) from None
        except (ValueError, OverflowError, TypeError) as exc:
            # PyYAML's own constructors (a timestamp like 2026-13-45, a huge float) raise these.
            raise _problem(self.loaded.file, line, f"invalid value: {exc}") from None
        if isinstance(value, str) and (bad := _CONTROL.search(value)):
            # Written as an escape ("\0", "\e") inside a double-quoted string.
            raise _problem(
                self.loaded.file,
                line,
                f"{_control_problem(bad.group())} in a value: not allowed",
                _dotted(path),
            )
        return value


_VAR = re.compile(r"\$(\$)|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$\{([^}]*)\}?")


def interpolate(loaded: LoadedYaml, env: Mapping[str, str]) -> list[Problem]:
    """Replace ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}`` and ``${VAR:?message}`` in
    every string of the document, in place. ``$$`` is a literal ``$``.

    Substitution happens once: a variable whose value contains ``${OTHER}`` is not expanded
    again, so values cannot recurse or smuggle in references. Returns every problem found (an
    unset variable becomes an empty string, so validation can still report the rest).
    """
    problems: list[Problem] = []

    def expand(text: str, path: Path_) -> str:
        def repl(m: re.Match[str]) -> str:
            if m.group(1):
                return "$"
            name, op, arg, bad = m.group(2), m.group(3), m.group(4), m.group(5)
            if name is None:
                problems.append(
                    Problem(
                        loaded.file,
                        loaded.line_of(path),
                        _dotted(path),
                        f"bad variable reference '${{{bad or ''}' (use ${{NAME}} or ${{NAME:-default}})",
                    )
                )
                return m.group(0)
            loaded.env_refs.add(name)
            value = env.get(name)
            if op in (":-", "-"):
                if value is None or (op == ":-" and value == ""):
                    return arg or ""
                return value
            if op in (":?", "?"):
                if value is None or (op == ":?" and value == ""):
                    problems.append(
                        Problem(
                            loaded.file,
                            loaded.line_of(path),
                            _dotted(path),
                            f"{name} is required: {arg or 'not set'}",
                        )
                    )
                    return ""
                return value
            if value is None:
                problems.append(
                    Problem(
                        loaded.file,
                        loaded.line_of(path),
                        _dotted(path),
                        f"environment variable {name} is not set (use ${{{name}:-default}} for a default)",
                    )
                )
                return ""
            return value

        return _VAR.sub(repl, text)

    def walk(obj: Any, path: Path_) -> Any:
        if isinstance(obj, str):
            return expand(obj, path) if "$" in obj else obj
        if isinstance(obj, dict):
            return {k: walk(v, (*path, k)) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v, (*path, i)) for i, v in enumerate(obj)]
        return obj

    loaded.data = walk(loaded.data, ())
    return problems


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean_message(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    kind = err.get("type")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx") or {}
        return f"unknown {ctx.get('discriminator', 'kind')} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    return msg


def problems_from_validation(
    exc: ValidationError, loaded: LoadedYaml, model: type[BaseModel] | None = None
) -> list[Problem]:
    """One :class:`Problem` per pydantic error, located in the YAML source."""
    problems = []
    for err in exc.errors():
        loc = err.get("loc", ())
        data: Any = loaded.data
        path: list[str | int] = []
        for i, part in enumerate(loc):
            if (isinstance(data, dict) and part in data) or (
                isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
            ):
                data = data[part]  # type: ignore[index]
                path.append(part)
            elif i == len(loc) - 1 and isinstance(part, str | int):
                path.append(part)  # a missing field: point at its parent's line
            # else: a union member or validator name pydantic puts in loc; not a data path
        message = _clean_message(err)
        if err.get("type") == "extra_forbidden" and model is not None and path:
            known = _known_keys(model, tuple(path[:-1]), loaded.data)
            close = difflib.get_close_matches(str(path[-1]), known, n=1)
            if close:
                message += f" (did you mean '{close[0]}'?)"
            elif known:
                message += f"; allowed here: {', '.join(sorted(known))}"
        problems.append(
            Problem(loaded.file, loaded.line_of(tuple(path)), _dotted(tuple(path)), message)
        )
    return problems


def _known_keys(model: type[BaseModel], path: Path_, data: Any) -> list[str]:
    """Field names (aliases) valid at ``path``, following dicts, lists and tagged unions."""
    import types
    import typing

    from pydantic import BaseModel as _BM

    def fields_of(cls: Any) -> list[str]:
        return [f.alias or n for n, f in cls.model_fields.items()]

    def unwrap(tp: Any, value: Any) -> Any:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            return unwrap(typing.get_args(tp)[0], value)
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            for member in members:
                m = unwrap(member, value)
                if isinstance(m, type) and issubclass(m, _BM) and isinstance(value, dict):
                    for fname, f in m.model_fields.items():
                        lit = typing.get_args(f.annotation)
                        if (
                            typing.get_origin(f.annotation) is typing.Literal
                            and value.get(fname) in lit
                        ):
                            return m
            return unwrap(members[0], value) if members else tp
        return tp

    current: Any = model
    value = data
    for part in path:
        current = unwrap(current, value)
        if isinstance(current, type) and issubclass(current, _BM):
            by_alias = {(f.alias or n): f for n, f in current.model_fields.items()}
            f = by_alias.get(str(part))
            if f is None:
                return []
            current = f.annotation
        else:
            args = typing.get_args(current)
            current = args[-1] if args else Any
        value = (
            value.get(part)
            if isinstance(value, dict)
            else (
                value[part]
                if isinstance(value, list) and isinstance(part, int) and part < len(value)
                else None
            )
        )
    current = unwrap(current, value)
    if isinstance(current, type) and issubclass(current, _BM):
        return fields_of(current)
    return []


def validate_model(model: type[M], loaded: LoadedYaml, earlier: list[Problem] | None = None) -> M:
    """Validate ``loaded.data`` against ``model``; raise :class:`ConfigError` listing every
    problem, including ``earlier`` ones (from interpolation), sorted by line."""
    from pydantic import ValidationError

    problems = list(earlier or [])
    try:
        result = model.model_validate(loaded.data)
    except ValidationError as exc:
        problems += problems_from_validation(exc, loaded, model)
    except (ArithmeticError, TypeError, RecursionError) as exc:
        # A validator that let a non-ValueError escape is a bug to fix (each known one is); the
        # input still gets an exit-2 message naming the file rather than "internal error".
        problems.append(Problem(loaded.file, None, "", f"invalid value ({type(exc).__name__})"))
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.field))
        raise ConfigError(problems)
    return result
