"""Durable, atomic file replacement for state kept outside the run directory.

The last-known-good record, backup sidecars and release manifests live on the deploy host and must
survive a crash of the machine, not only of the process: unlike the run directory's writer
(:class:`relgate.run.Run`), these writes fsync the file and its folder before returning.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "write_all"]


def write_all(fh: IO[bytes], data: bytes) -> None:
    fh.write(data)


def atomic_write(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o644,
    write: Callable[[IO[bytes], bytes], None] = write_all,
) -> Path:
    """Replace ``path`` with ``data``: readers see the old or the new file, never a mix.

    ``mode`` is applied before the rename (mkstemp creates files 0600); ``write`` is a seam for
    tests that simulate a crash half-way through.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); best effort where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
