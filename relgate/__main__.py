"""``python -m relgate``: the same as the ``relgate`` command."""

from relgate._entry import run

run()
