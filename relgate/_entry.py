"""The console-script entry point, kept free of imports so ``relgate --version`` starts as fast
as a bare interpreter; everything else loads the CLI."""

from __future__ import annotations

import sys


def run() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:
        from relgate.__about__ import __version__

        sys.stdout.write(f"relgate {__version__}\n")
        sys.exit(0)
    from relgate.cli import main

    sys.exit(main(argv))
