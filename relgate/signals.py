"""SIGTERM and SIGINT routed to a handler for the length of a block (the archive, a rollback that
finishes first), then given back as they were.

Only the main thread can set handlers; elsewhere the block runs with the signals as they are. A
signal the parent ignores (nohup, a background job, some CI runners) stays ignored: relgate does
not start answering a Ctrl-C its parent chose to ignore.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["routed"]

Handler = Callable[[int, FrameType | None], None]


@contextmanager
def routed(handler: Handler) -> Iterator[None]:
    """SIGTERM and SIGINT go to ``handler`` inside the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        s: signal.signal(s, handler)
        for s in (signal.SIGTERM, signal.SIGINT)
        if signal.getsignal(s) != signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
