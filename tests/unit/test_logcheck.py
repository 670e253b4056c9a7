"""Log assertions: timestamp parsing and the wait, with a clock the test drives."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relgate.config import LogAssertion
from relgate.deploy.logcheck import LogLine, assert_logs, parse_timestamped

T0 = 1_800_000_000.0


def test_parse_compose_timestamps() -> None:
    text = (
        "2027-01-15T08:00:00.123456789Z ingest poll: scanned /srv/inbox\n"
        "2027-01-15T08:00:01+01:00 other\n"
        "no stamp here\n"
    )
    (a, b, c) = parse_timestamped(text)
    assert a[1] == "ingest poll: scanned /srv/inbox"
    assert a[0] is not None and b[0] is not None
    assert round(a[0] - b[0], 3) == round(3600 - 0.876544, 3)
    assert c == (None, "no stamp here")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def sleep(self, s: float) -> None:
        self.now += s


@pytest.mark.parametrize(
    ("lines_at", "ok", "reason"),
    [
        pytest.param({0: [(T0 - 2, "ingest poll: scanned")]}, True, "", id="fresh-at-once"),
        pytest.param(
            {0: [(T0 - 1, "ingest-cron started")], 3: [(T0 + 2.5, "ingest poll: scanned")]},
            True, "", id="appears-while-waiting",
        ),
        pytest.param(
            {0: [(T0 - 60, "ingest poll: scanned"), (T0 - 1, "scheduler disabled")]},
            False, "the newest match is 65s old", id="stale-match",
        ),
        pytest.param(
            {0: [(T0, "ingest-cron started")]}, False, "no line matches in its last 1 lines",
            id="never-polls",
        ),
        pytest.param({0: [(None, "ingest poll: scanned")]}, False, "no line matches", id="no-stamp"),
    ],
)  # fmt: skip
def test_assert_logs(lines_at: dict[int, list[LogLine]], ok: bool, reason: str) -> None:
    clock = Clock()
    shown: list[str] = []

    def read(service: str, tail: int) -> list[LogLine]:
        assert (service, tail) == ("ingest-cron", 200)
        elapsed = clock.now - T0
        return [line for at, lines in sorted(lines_at.items()) if at <= elapsed for line in lines]

    check = LogAssertion(
        service="ingest-cron", pattern=r"poll: scanned", max_age=timedelta(seconds=5)
    )
    record = assert_logs(
        check, read, lambda: clock.now, lambda: clock.now, clock.sleep, shown.append
    )
    assert record.ok is ok
    assert reason in record.reason
    if not ok:
        assert record.reason.startswith("ingest-cron: no log line matching /poll: scanned/")
        assert record.waited_s >= 5
