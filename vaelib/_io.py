"""Atomic file writes: a file is either the old one or the complete new one, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` by calling ``write(f)`` on a temporary file in the same folder, then renaming.

    The temporary file is flushed to disk before the rename (``os.replace``, atomic on POSIX and
    Windows), and removed if ``write`` fails or is interrupted (Ctrl-C included). The new file
    keeps the permissions of the file it replaces, or gets the usual ones (``0o666 & ~umask``;
    ``mkstemp`` alone would make it private).

    Args:
        path: the file to write.
        write: writes the whole content to the binary file object it is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
