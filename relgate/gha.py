"""GitHub Actions workflow commands and the job summary, with a plain-terminal fallback.

This is the only module that knows the workflow-command syntax. Three layers, as in
``@actions/core``:

* :func:`escape_data`, :func:`escape_property`, :func:`format_command` build ``::name k=v::msg``
  lines (internal; subject to change);
* :func:`append_file_command` writes ``GITHUB_OUTPUT`` / ``GITHUB_ENV`` entries, always in the
  heredoc form with a random delimiter that is refused if the value contains it;
* :class:`Reporter` is the friendly API the rest of relgate uses: outputs, env, masks, groups,
  annotations, debug lines, progress and the step summary. Outside Actions the same calls print a
  readable terminal report (colour only on a TTY, never with ``NO_COLOR``).

Everything a reporter prints or writes goes through the secret registry first.
"""

from __future__ import annotations

import html
import os
import secrets as _random
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from relgate.secrets import SecretRegistry

__all__ = [
    "Reporter",
    "Summary",
    "append_file_command",
    "escape_data",
    "escape_property",
    "format_command",
    "in_actions",
]

Level = Literal["debug", "notice", "warning", "error"]


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def escape_data(value: str) -> str:
    """Escape a command's message: ``%``, CR and LF (the runner decodes these)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a command property: like :func:`escape_data`, plus ``:`` and ``,``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_command(name: str, properties: Mapping[str, object] | None, message: str) -> str:
    props = ",".join(
        f"{k}={escape_property(str(v))}" for k, v in (properties or {}).items() if v is not None
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def append_file_command(
    path: str | Path, key: str, value: str, *, delimiter: str | None = None
) -> None:
    """Append ``key`` = ``value`` to an environment file (GITHUB_OUTPUT, GITHUB_ENV).

    The heredoc form is used for every value: a one-line ``key=value`` cannot carry newlines, and a
    fixed delimiter (``EOF``) would let a value that contains a line ``EOF`` end the entry early and
    inject further outputs. The random delimiter is checked against the value anyway.
    """
    if not key or "\n" in key or "=" in key:
        raise ValueError(f"invalid name for a workflow output or variable: {key!r}")
    delimiter = delimiter or f"ghadelimiter_{_random.token_hex(16)}"
    if delimiter in key or delimiter in value:
        raise ValueError(f"value of {key} contains the delimiter; refusing to write it")
    with open(path, "a", encoding="utf-8", newline="\n") as fh:
        fh.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")


def _cell(value: object) -> str:
    text = html.escape(str(value), quote=False)
    return text.replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


@dataclass
class Summary:
    """A markdown job-summary builder: chain calls, then :meth:`markdown` or :meth:`text`.

    Every text argument is escaped (HTML and table syntax); :meth:`raw` is the only door for
    trusted markdown such as relgate's own rendered templates.
    """

    _md: list[str] = field(default_factory=list)
    _txt: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> Summary:
        self._md.append(f"{'#' * level} {_cell(text)}\n")
        self._txt.append(f"\n{text}\n" + ("=" if level <= 2 else "-") * len(text))
        return self

    def paragraph(self, text: str) -> Summary:
        self._md.append(f"{_cell(text)}\n")
        self._txt.append(text)
        return self

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Summary:
        self._md.append("| " + " | ".join(_cell(h) for h in header) + " |")
        self._md.append("|" + "|".join(" --- " for _ in header) + "|")
        for row in rows:
            self._md.append("| " + " | ".join(_cell(c) for c in row) + " |")
        self._md.append("")
        cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
        widths = [max(len(r[i]) if i < len(r) else 0 for r in cells) for i in range(len(header))]
        for n, row in enumerate(cells):
            self._txt.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)))
            if n == 0:
                self._txt.append("  ".join("-" * w for w in widths))
        return self

    def details(self, label: str, body: str, *, code: bool = True) -> Summary:
        inner = (
            f"\n\n```text\n{body.replace('```', '` ``')}\n```\n\n" if code else f"\n\n{body}\n\n"
        )
        self._md.append(f"<details><summary>{_cell(label)}</summary>{inner}</details>\n")
        self._txt.append(f"{label}:\n" + "\n".join("  " + line for line in body.splitlines()))
        return self

    def bullets(self, items: Sequence[str]) -> Summary:
        self._md.extend(f"- {_cell(i)}" for i in items)
        self._md.append("")
        self._txt.extend(f"  - {i}" for i in items)
        return self

    def mermaid(self, source: str, text: str) -> Summary:
        """A Mermaid diagram in the summary; ``text`` is what a terminal shows instead."""
        self._md.append(f"```mermaid\n{source}\n```\n")
        self._txt.append(text)
        return self

    def raw(self, markdown: str, text: str | None = None) -> Summary:
        self._md.append(markdown)
        self._txt.append(markdown if text is None else text)
        return self

    def markdown(self) -> str:
        return "\n".join(self._md).rstrip() + "\n"

    def text(self) -> str:
        return "\n".join(self._txt).strip("\n") + "\n"


_COLORS = {"error": "31", "warning": "33", "notice": "36", "debug": "2", "ok": "32", "bold": "1"}


class Reporter:
    """What a stage says: to the Actions runner when in Actions, else to a terminal.

    ``stream`` receives log lines and workflow commands; ``env`` is the process environment (passed
    in, so tests need no monkeypatching); ``secrets`` redacts everything on the way out.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        env: Mapping[str, str] | None = None,
        secrets: SecretRegistry | None = None,
        *,
        summary_path: str | Path | None = None,
        err_stream: TextIO | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        # Outside Actions, errors and warnings go to stderr (when given) like any CLI's.
        self.err_stream = err_stream
        self.env = dict(os.environ if env is None else env)
        self.secrets = secrets if secrets is not None else SecretRegistry()
        self.actions = in_actions(self.env)
        self.outputs: dict[str, str] = {}
        self.exported: dict[str, str] = {}
        # Outside Actions the summary goes to a file the caller chooses (the run directory).
        self.summary_path = (
            Path(self.env["GITHUB_STEP_SUMMARY"])
            if self.actions and self.env.get("GITHUB_STEP_SUMMARY")
            else (Path(summary_path) if summary_path else None)
        )
        self.debug_enabled = self.env.get("RUNNER_DEBUG") == "1" or bool(
            self.env.get("RELGATE_DEBUG")
        )
        self.color = (
            not self.actions
            and "NO_COLOR" not in self.env
            and hasattr(self.stream, "isatty")
            and self.stream.isatty()
        )
        self._progress_open = False
        if self.actions:
            self.secrets.on_register(self._add_mask)

    # -- low level -------------------------------------------------------------------------
    def _write(self, line: str, stream: TextIO | None = None) -> None:
        self._end_progress()
        target = stream or self.stream
        target.write(self.secrets.redact(line) + "\n")
        target.flush()

    def _paint(self, text: str, style: str) -> str:
        return f"\033[{_COLORS[style]}m{text}\033[0m" if self.color else text

    def _add_mask(self, value: str) -> None:
        # Masks are written raw on purpose: the runner needs the value to hide it.
        for line in value.splitlines() or [value]:
            if line.strip():
                self._end_progress()
                self.stream.write(format_command("add-mask", None, line) + "\n")
        self.stream.flush()

    # -- logging ---------------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        self._write(text)

    def ok(self, text: str) -> None:
        self._write(self._paint(text, "ok"))

    def debug(self, text: str) -> None:
        if self.actions:
            self._write(format_command("debug", None, text))
        elif self.debug_enabled:
            self._write(self._paint(f"debug: {text}", "debug"))

    def annotate(
        self,
        level: Literal["notice", "warning", "error"],
        message: str,
        *,
        title: str | None = None,
        file: str | None = None,
        line: int | None = None,
        end_line: int | None = None,
        col: int | None = None,
    ) -> None:
        if self.actions:
            props = {
                "title": title,
                "file": file,
                "line": line,
                "endLine": end_line,
                "col": col,
            }
            self._write(format_command(level, props, self.secrets.redact(message)))
            return
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        head = f"{level}: {where}{title + ': ' if title else ''}"
        stream = self.err_stream if level != "notice" else None
        self._write(self._paint(head, level) + message, stream)

    def notice(self, message: str, **kw: object) -> None:
        self.annotate("notice", message, **kw)  # type: ignore[arg-type]

    def warning(self, message: str, **kw: object) -> None:
        self.annotate("warning", message, **kw)  # type: ignore[arg-type]

    def error(self, message: str, **kw: object) -> None:
        self.annotate("error", message, **kw)  # type: ignore[arg-type]

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.actions:
            self._write(format_command("group", None, title))
        else:
            self._write(self._paint(f"▶ {title}", "bold"))
        try:
            yield
        finally:
            if self.actions:
                self._write("::endgroup::")

    def progress(self, text: str) -> None:
        """A live status line: rewritten in place on a TTY, printed as a line elsewhere."""
        text = self.secrets.redact(text)
        if self.color:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._progress_open = True
        else:
            self._write(text)

    def _end_progress(self) -> None:
        if self._progress_open:
            self.stream.write("\n")
            self._progress_open = False

    # -- outputs, env, masks -----------------------------------------------------------------
    def mask(self, value: str, name: str = "secret") -> None:
        """Register a secret: masked by the runner in Actions, redacted everywhere by relgate."""
        self.secrets.register(value, name)

    def set_output(self, name: str, value: object) -> None:
        text = self.secrets.redact(_as_text(value))
        self.outputs[name] = text
        path = self.env.get("GITHUB_OUTPUT") if self.actions else None
        if path:
            append_file_command(path, name, text)

    def export_env(self, name: str, value: str) -> None:
        text = self.secrets.redact(value)
        self.exported[name] = text
        path = self.env.get("GITHUB_ENV") if self.actions else None
        if path:
            append_file_command(path, name, text)

    # -- summary ---------------------------------------------------------------------------
    def write_summary(self, summary: Summary, *, echo: bool = True) -> None:
        """Append to the job summary (Actions) or the run's summary file, and show it on a TTY."""
        markdown = self.secrets.redact(summary.markdown())
        if self.summary_path is not None:
            self.summary_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.summary_path, "a", encoding="utf-8") as fh:
                fh.write(markdown + "\n")
        if echo and not self.actions:
            for text_line in summary.text().splitlines():
                self._write(text_line)


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
