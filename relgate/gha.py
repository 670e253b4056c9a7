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

Everything a reporter prints or writes goes through the secret registry *before* it is encoded:
the encoders here (:func:`format_command`, :func:`append_file_command`, summary cells) take only
:class:`~relgate.secrets.Redacted` text, and a :class:`Summary` keeps its parts raw until
:meth:`Summary.markdown` renders them with the registry (escaping HTML first would hide
``Pa55&amp;word`` from a redaction that looks for ``Pa55&word``). The final write is redacted
again, as a second net.
"""

from __future__ import annotations

import html
import os
import secrets as _random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from relgate.actions_context import ActionsContext
from relgate.secrets import Redacted, SecretRegistry

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

# The longest a wait may stay silent, with a margin under the 5 s promise for a loaded runner.
HEARTBEAT_S = 4.0


def in_actions(env: Mapping[str, str]) -> bool:
    return ActionsContext.from_env(env).in_actions


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_data(value: Redacted) -> str:
    """Escape a command's message: ``%``, CR and LF (the runner decodes these)."""
    return _escape_data(value)


def escape_property(value: Redacted) -> str:
    """Escape a command property: like :func:`escape_data`, plus ``:`` and ``,``."""
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


Property = Redacted | int | None


def format_command(name: str, properties: Mapping[str, Property] | None, message: Redacted) -> str:
    """``::name k=v,…::message``; properties and message are redacted text (or numbers)."""
    props = ",".join(
        f"{k}={escape_property(v) if isinstance(v, str) else v}"
        for k, v in (properties or {}).items()
        if v is not None
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def _mask_command(value: str) -> str:
    # The one command that must carry a raw value: the runner needs it to mask it.
    return f"::add-mask::{_escape_data(value)}"


def append_file_command(
    path: str | Path, key: str, value: Redacted, *, delimiter: str | None = None
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


def _cell(value: Redacted) -> str:
    text = html.escape(value, quote=False)
    return text.replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


_Part = Callable[[SecretRegistry], str]


@dataclass
class Summary:
    """A markdown job-summary builder: chain calls, then :meth:`markdown` or :meth:`text`.

    Parts are kept raw and rendered by :meth:`markdown` with the secret registry: every text
    argument is redacted, then escaped (HTML and table syntax). :meth:`raw` is the only door for
    trusted markdown such as relgate's own rendered templates (still redacted).
    """

    _md: list[_Part] = field(default_factory=list)
    _txt: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> Summary:
        self._md.append(lambda s: f"{'#' * level} {_cell(s.redact(text))}\n")
        self._txt.append(f"\n{text}\n" + ("=" if level <= 2 else "-") * len(text))
        return self

    def paragraph(self, text: str, *, strong: bool = False, echo: bool = True) -> Summary:
        """A paragraph (bold with ``strong``); ``echo=False`` leaves it out of the terminal text,
        for a line the terminal shows elsewhere (the gate's verdict, printed last)."""
        mark = "**" if strong else ""
        self._md.append(lambda s: f"{mark}{_cell(s.redact(text))}{mark}\n")
        if echo:
            self._txt.append(text)
        return self

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Summary:
        def render(s: SecretRegistry) -> str:
            lines = ["| " + " | ".join(_cell(s.redact(h)) for h in header) + " |"]
            lines.append("|" + "|".join(" --- " for _ in header) + "|")
            for row in rows:
                lines.append("| " + " | ".join(_cell(s.redact(str(c))) for c in row) + " |")
            return "\n".join(lines) + "\n"

        self._md.append(render)
        cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
        widths = [max(len(r[i]) if i < len(r) else 0 for r in cells) for i in range(len(header))]
        for n, row in enumerate(cells):
            self._txt.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)))
            if n == 0:
                self._txt.append("  ".join("-" * w for w in widths))
        return self

    def details(self, label: str, body: str, *, code: bool = True) -> Summary:
        def render(s: SecretRegistry) -> str:
            clean = s.redact(body)
            inner = (
                f"\n\n```text\n{clean.replace('```', '` ``')}\n```\n\n"
                if code
                else f"\n\n{clean}\n\n"
            )
            return f"<details><summary>{_cell(s.redact(label))}</summary>{inner}</details>\n"

        self._md.append(render)
        self._txt.append(f"{label}:\n" + "\n".join("  " + line for line in body.splitlines()))
        return self

    def bullets(self, items: Sequence[str]) -> Summary:
        listed = list(items)
        self._md.append(lambda s: "".join(f"- {_cell(s.redact(i))}\n" for i in listed))
        self._txt.extend(f"  - {i}" for i in items)
        return self

    def mermaid(self, source: str, text: str) -> Summary:
        """A Mermaid diagram in the summary; ``text`` is what a terminal shows instead."""
        self._md.append(lambda s: f"```mermaid\n{s.redact(source)}\n```\n")
        self._txt.append(text)
        return self

    def raw(self, markdown: str, text: str | None = None) -> Summary:
        self._md.append(lambda s: s.redact(markdown))
        self._txt.append(markdown if text is None else text)
        return self

    def markdown(self, secrets: SecretRegistry) -> str:
        """The summary as markdown: each part redacted with ``secrets``, then escaped."""
        return "\n".join(part(secrets) for part in self._md).rstrip() + "\n"

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
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        # Outside Actions, errors and warnings go to stderr (when given) like any CLI's.
        self.err_stream = err_stream
        self.env = dict(os.environ if env is None else env)
        self.secrets = secrets if secrets is not None else SecretRegistry()
        self.context = ActionsContext.from_env(self.env)
        self.actions = self.context.in_actions
        self.outputs: dict[str, str] = {}
        self.exported: dict[str, str] = {}
        # Outside Actions the summary goes to a file the caller chooses (the run directory).
        self.summary_path = (
            Path(self.context.step_summary)
            if self.actions and self.context.step_summary
            else (Path(summary_path) if summary_path else None)
        )
        self.debug_enabled = self.context.runner_debug or bool(self.env.get("RELGATE_DEBUG"))
        self.color = (
            not self.actions
            and "NO_COLOR" not in self.env
            and hasattr(self.stream, "isatty")
            and self.stream.isatty()
        )
        self._progress_open = False
        # A heartbeat thread writes too: one lock keeps lines whole, and the time of the last
        # write tells the heartbeat when the log has been silent long enough to speak.
        self._io_lock = threading.RLock()
        self.monotonic = monotonic
        self.heartbeat_s = _heartbeat_interval(self.env)
        self._last_write = self.monotonic()
        if self.actions:
            self.secrets.on_register(self._add_mask)

    # -- low level -------------------------------------------------------------------------
    def _write(self, line: str, stream: TextIO | None = None) -> None:
        with self._io_lock:
            self._end_progress()
            target = stream or self.stream
            target.write(self.secrets.redact(line) + "\n")
            target.flush()
            self._last_write = self.monotonic()

    def _paint(self, text: str, style: str) -> str:
        return f"\033[{_COLORS[style]}m{text}\033[0m" if self.color else text

    def _add_mask(self, value: str) -> None:
        # Masks are written raw on purpose: the runner needs the value to hide it.
        with self._io_lock:
            for line in value.splitlines() or [value]:
                if line.strip():
                    self._end_progress()
                    self.stream.write(_mask_command(line) + "\n")
            self.stream.flush()

    # -- logging ---------------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        self._write(text)

    def ok(self, text: str) -> None:
        self._write(self._paint(text, "ok"))

    def debug(self, text: str) -> None:
        if self.actions:
            self._write(format_command("debug", None, self.secrets.redact(text)))
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
            redact = self.secrets.redact
            props: dict[str, Property] = {
                "title": redact(title) if title is not None else None,
                "file": redact(file) if file is not None else None,
                "line": line,
                "endLine": end_line,
                "col": col,
            }
            self._write(format_command(level, props, redact(message)))
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
            self._write(format_command("group", None, self.secrets.redact(title)))
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
            with self._io_lock:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self._progress_open = True
                self._last_write = self.monotonic()
        else:
            self._write(text)

    @contextmanager
    def waiting(self, what: str, *, every_s: float | None = None) -> Iterator[None]:
        """Never silent while waiting: whenever nothing was written for ``every_s`` seconds during
        the block, say what is awaited and for how long (in place on a TTY, a line elsewhere).

        A long ``compose up``, an image pull or a health wait otherwise leaves the log silent for
        tens of seconds, and a silent job looks hung to the person watching it.
        """
        every_s = every_s if every_s is not None else self.heartbeat_s
        started = self.monotonic()
        stop = threading.Event()

        def beat() -> None:
            tick = min(0.25, every_s / 4)
            while not stop.wait(tick):
                now = self.monotonic()
                if now - self._last_write >= every_s:
                    self.progress(f"… {what}: still waiting ({now - started:.0f}s)")

        thread = threading.Thread(target=beat, name=f"heartbeat: {what}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _end_progress(self) -> None:
        with self._io_lock:
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
        path = self.context.output_file if self.actions else None
        if path:
            append_file_command(path, name, text)

    def export_env(self, name: str, value: str) -> None:
        text = self.secrets.redact(value)
        self.exported[name] = text
        path = self.context.env_file if self.actions else None
        if path:
            append_file_command(path, name, text)

    # -- summary ---------------------------------------------------------------------------
    def write_summary(self, summary: Summary, *, echo: bool = True) -> None:
        """Append to the job summary (Actions) or the run's summary file, and show it on a TTY."""
        # Rendered from redacted parts, then redacted whole again (the second net).
        markdown = self.secrets.redact(summary.markdown(self.secrets))
        if self.summary_path is not None:
            self.summary_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.summary_path, "a", encoding="utf-8") as fh:
                fh.write(markdown + "\n")
        if echo and not self.actions:
            for text_line in summary.text().splitlines():
                self._write(text_line)


def _heartbeat_interval(env: Mapping[str, str]) -> float:
    """HEARTBEAT_S, or RELGATE_HEARTBEAT_S (seconds, 0.05 to 3600) for a benchmark's baseline."""
    try:
        value = float(env.get("RELGATE_HEARTBEAT_S", HEARTBEAT_S))
    except ValueError:
        return HEARTBEAT_S
    return value if 0.05 <= value <= 3600 else HEARTBEAT_S


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
