"""Parse GITHUB_OUTPUT / GITHUB_ENV files exactly as the Actions runner does.

Mirrors the runner's ``SetEnvFileCommand``/``SetOutputFileCommand``: each entry is either
``key=value`` on one line, or ``key<<DELIM``, value lines, and a line equal to ``DELIM``.
"""

from __future__ import annotations

from pathlib import Path


def parse_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc >= 0 and (eq < 0 or heredoc < eq):
            key, delim = line[:heredoc], line[heredoc + 2 :]
            if not key or not delim:
                raise ValueError(f"invalid heredoc line {line!r}")
            value: list[str] = []
            while True:
                if i >= len(lines):
                    raise ValueError(f"no closing delimiter {delim!r} for {key}")
                current = lines[i]
                i += 1
                if current == delim:
                    break
                value.append(current)
            out[key] = "\n".join(value)
        elif eq > 0:
            out[line[:eq]] = line[eq + 1 :]
        else:
            raise ValueError(f"invalid line {line!r}")
    return out
