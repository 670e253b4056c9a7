"""relgate: make a release of a docker compose stack provably safe.

The package is deliberately light to import: the CLI starts fast because heavy libraries (docker,
httpx, PyGithub, jinja2) are imported inside the functions that need them.
"""

from relgate.__about__ import __version__

__all__ = ["__version__"]
