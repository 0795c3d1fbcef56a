"""Atomic file writes: a file is either the old one or the complete new one, never half-written.

Also: :class:`WriteError`, the error every failed write of vaelib raises (an ``OSError`` whose
message names the path, what failed and the fix), and :func:`remove_stale_temporaries`, which
clears the temporary files that a killed process left behind.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Callable, Union

__all__ = [
    "PathLike",
    "atomic_write",
    "WriteError",
    "write_error",
    "remove_stale_temporaries",
    "STALE_TEMP_S",
    "TEMP_PATTERN",
]

PathLike = Union[str, "os.PathLike[str]"]  # a path argument: a str or a pathlib.Path

# vaelib's temporary files: ".NAME.XXXXXXXX.tmp" (atomic_write) and ".NAME.XXXXXXXX.part"
# (downloads), where XXXXXXXX is tempfile.mkstemp's 8 random characters.
TEMP_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.(tmp|part)$")
# A temporary file untouched this long is stale: a live download writes at least every read
# timeout (30 s), and a live atomic_write finishes within seconds.
STALE_TEMP_S = 300.0

_FIXES = {
    errno.ENOSPC: "the disk is full: free some space (or point VAELIB_DATA / VAELIB_CACHE_DIR at a disk "
    "with room) and try again",
    errno.EDQUOT: "the disk quota is exceeded: free some space (or point VAELIB_DATA / VAELIB_CACHE_DIR "
    "at a disk with room) and try again",
    errno.EROFS: "the file system is read-only: set VAELIB_CACHE_DIR (or VAELIB_DATA) to a writable "
    "directory, or write somewhere else",
    errno.EACCES: "permission denied: make the directory writable, or set VAELIB_CACHE_DIR (or "
    "VAELIB_DATA) to a directory you can write to",
    errno.EPERM: "operation not permitted: make the directory writable, or set VAELIB_CACHE_DIR (or "
    "VAELIB_DATA) to a directory you can write to",
    errno.EFBIG: "the file is larger than this file system or your file-size limit (ulimit -f) allows: "
    "raise the limit or use another disk (set VAELIB_CACHE_DIR / VAELIB_DATA)",
}


class WriteError(OSError):
    """A failed write, with the path, what failed and the fix in its message (``errno`` kept)."""


def write_error(path: str | Path, action: str, err: OSError) -> WriteError:
    """The :class:`WriteError` for ``err`` raised while doing ``action`` on ``path``.

    Example message: ``could not write /c/mnist/x.gz (No space left on device): the disk is full:
    free some space ... Nothing was left half-written.``
    """
    if isinstance(err, WriteError):
        return err
    fix = _FIXES.get(err.errno, "check that the directory exists and is writable, and that the disk has room")
    reason = err.strerror or str(err) or type(err).__name__
    message = f"could not {action} {path} ({reason}): {fix}. Nothing was left half-written."
    out = WriteError(err.errno, message)
    out.filename = str(path)
    return out


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` by calling ``write(f)`` on a temporary file in the same folder, then renaming.

    The temporary file (``.NAME.XXXXXXXX.tmp``) is flushed to disk before the rename
    (``os.replace``, atomic on POSIX and Windows), and removed if ``write`` fails or is
    interrupted (Ctrl-C included). The new file keeps the permissions of the file it replaces,
    or gets the usual ones (``0o666 & ~umask``; ``mkstemp`` alone would make it private).

    Args:
        path: the file to write.
        write: writes the whole content to the binary file object it is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        WriteError: (an ``OSError``) the folder is missing, read-only or not writable, the disk
            is full, or the file too large; the message names ``path`` and the fix, and the old
            file (if any) is left as it was.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise write_error(path, "create a temporary file next to", err) from err
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(path, "write", err) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(directory: str | Path, *, older_than: float = STALE_TEMP_S) -> list[Path]:
    """Delete vaelib's temporary files in ``directory`` not modified for ``older_than`` seconds.

    Only names of vaelib's own pattern (:data:`TEMP_PATTERN`: ``.NAME.XXXXXXXX.tmp`` and
    ``.NAME.XXXXXXXX.part``) directly in ``directory`` are considered; every other file, and a
    temporary file still being written (younger than ``older_than``), is left alone. Files that
    cannot be removed are skipped silently (another process may have just removed them).

    Returns:
        The files removed, sorted.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    now = time.time()
    removed = []
    for entry in directory.iterdir():
        if not TEMP_PATTERN.match(entry.name):
            continue
        try:
            if entry.is_file() and not entry.is_symlink() and now - entry.stat().st_mtime > older_than:
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue
    return sorted(removed)
