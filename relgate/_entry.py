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
    _skip_unused_imports()
    from relgate.cli import main

    sys.exit(main(argv))


def _skip_unused_imports() -> None:
    """Optional modules that ``import httpx`` loads when they happen to be installed and that a
    relgate process never uses: httpx's own command line (click, rich, pygments) and anyio
    (async only; httpcore imports it for its async primitives, and anyio's lazy-import map
    tokenizes its own source). A ``None`` entry makes their import fail, which both libraries
    handle as "not installed". About 50 ms of CPU per run: a smoke run is dominated by startup
    (bench/smoke_bench.py). The console script only: importing relgate as a library changes
    nothing."""
    for name in ("httpx._main", "anyio"):
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]
