"""A signal the parent ignores stays ignored while relgate holds signals (the archive, a rollback
finishing first): a suite or a deploy started with nohup or in the background must not start
answering SIGINT half-way through."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from relgate.deploy.back import finish_first
from relgate.gate_guard import signals_held


@contextmanager
def _disposition(signum: int, handler: Any) -> Iterator[None]:
    old = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, old)


HOLDERS: list[Any] = [
    pytest.param(lambda: signals_held(), id="archive"),
    pytest.param(lambda: finish_first(lambda name: None), id="rollback"),
]


@pytest.mark.parametrize("holder", HOLDERS)
def test_an_ignored_sigint_stays_ignored(holder: Callable[[], AbstractContextManager[Any]]) -> None:
    with _disposition(signal.SIGINT, signal.SIG_IGN):
        with holder() as held:
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)  # ignored: nothing remembered, nothing raised
            assert not held.signal
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


@pytest.mark.parametrize("holder", HOLDERS)
def test_a_default_sigint_is_held_and_given_back(
    holder: Callable[[], AbstractContextManager[Any]],
) -> None:
    with _disposition(signal.SIGINT, signal.default_int_handler):
        with holder() as held:
            assert signal.getsignal(signal.SIGINT) != signal.default_int_handler
            os.kill(os.getpid(), signal.SIGINT)
            assert held.signal
        assert signal.getsignal(signal.SIGINT) == signal.default_int_handler
