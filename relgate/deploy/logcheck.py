"""Log assertions: a service's recent logs must show a fresh line matching a pattern.

The runbook checks that ``ingest-cron`` polled (``docker compose logs --tail=200 ingest-cron``) by eye.
Here the newest line matching ``pattern`` must carry an engine timestamp no older than ``max_age``;
relgate re-reads the logs every second for up to ``max_age`` (a service that just started may not
have polled yet), printing progress every 5 s, and fails the deploy when no such line shows up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from relgate.config import LogAssertion
from relgate.results.deploy import LogAssertionRecord

__all__ = ["LogAssertionRecord", "LogLine", "assert_logs", "parse_timestamped"]

LogLine = tuple[float | None, str]
PROGRESS_S = 5.0
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d) ?(.*)$")


def parse_timestamped(text: str) -> list[LogLine]:
    """``compose logs --timestamps --no-log-prefix`` output as (epoch seconds, message) pairs."""
    out: list[LogLine] = []
    for raw in text.splitlines():
        m = _STAMP.match(raw.strip())
        if m is None:
            out.append((None, raw))
            continue
        frac = (m.group(2) or ".0")[:7]
        zone = "+00:00" if m.group(3) == "Z" else m.group(3)
        stamp = datetime.fromisoformat(f"{m.group(1)}{frac}{zone}").timestamp()
        out.append((stamp, m.group(4)))
    return out


def _newest_match(lines: list[LogLine], pattern: re.Pattern[str]) -> LogLine | None:
    for stamp, message in reversed(lines):
        if stamp is not None and pattern.search(message):
            return stamp, message
    return None


def assert_logs(  # noqa: PLR0917 - clocks passed in, as everywhere in deploy
    check: LogAssertion,
    read: Callable[[str, int], list[LogLine]],
    clock: Callable[[], float],
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Callable[[str], None],
) -> LogAssertionRecord:
    """Wait up to ``max_age`` for a fresh matching line; the record says what was seen."""
    pattern = re.compile(check.pattern)
    max_age = check.max_age.total_seconds()
    record = LogAssertionRecord(
        name=check.label, service=check.service, pattern=check.pattern, max_age_s=max_age, ok=False
    )
    start = monotonic()
    next_progress = start + PROGRESS_S
    while True:
        lines = read(check.service, check.tail)
        record.lines_read = len(lines)
        found = _newest_match(lines, pattern)
        now = clock()
        if found is not None:
            stamp, message = found
            record.matched_line, record.matched_age_s = message[-500:], round(now - (stamp or 0), 3)
            if record.matched_age_s <= max_age:
                record.ok = True
                break
        waited = monotonic() - start
        if waited >= max_age:
            break
        if monotonic() >= next_progress:
            progress(
                f"{check.label}: waiting for a line matching /{check.pattern}/ ({waited:.0f}s)"
            )
            next_progress += PROGRESS_S
        sleep(min(1.0, max_age - waited))
    record.waited_s = round(monotonic() - start, 3)
    if not record.ok:
        if record.matched_line is None:
            seen = f"no line matches in its last {record.lines_read} lines"
        else:
            seen = f"the newest match is {record.matched_age_s:.0f}s old: {record.matched_line!r}"
        record.reason = (
            f"{check.service}: no log line matching /{check.pattern}/ in the last "
            f"{max_age:g}s ({seen})"
        )
    return record
