"""Verified downloads: a file from the first mirror that serves it with the published SHA-256.

Introduced in lecture 05 (full MNIST and Fashion-MNIST, see :mod:`vaelib.data`). The bytes stream
into a temporary file next to the destination while their SHA-256 is computed; only a complete,
verified file is renamed into place, so no partial file is ever left behind. Network failures
become ``ConnectionError`` (the next mirror is tried); disk failures become
:class:`~vaelib._io.WriteError`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from vaelib._io import PathLike, WriteError, remove_stale_temporaries, write_error

__all__ = ["fetch_file", "sha256_of", "DOWNLOAD_TIMEOUT_S"]


DOWNLOAD_TIMEOUT_S = 30.0  # per network operation (connect, each read), not for the whole file
_CHUNK_BYTES = 1 << 16


class _ChecksumMismatch(Exception):
    def __init__(self, url: str, got: str, n_bytes: int):
        super().__init__(url)
        self.url, self.got, self.n_bytes = url, got, n_bytes


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_file(
    filename: str,
    mirrors: tuple[str, ...] | list[str],
    sha256: str,
    dest_dir: PathLike,
    *,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """Download ``filename`` from the first mirror that serves it with the right SHA-256.

    The bytes go to a temporary file in ``dest_dir`` (``.FILENAME.*.part``) while their SHA-256
    is computed; only a complete, verified file is renamed to ``dest_dir/filename``
    (``os.replace``, atomic on one file system). On any error, KeyboardInterrupt included, the
    temporary file is removed, so ``dest_dir`` never holds a partial file.

    Args:
        filename: the file's name on the mirrors and on disk.
        mirrors: base URLs; the file's URL is ``base + filename``. Tried in order.
        sha256: the expected SHA-256, 64 hex digits.
        dest_dir: where the file goes (created if needed).
        timeout: seconds allowed for connecting and for each read.
        progress: show a tqdm progress bar.

    Returns:
        ``dest_dir / filename``. An existing file with the right SHA-256 is kept, not fetched.

    Raises:
        ValueError: a mirror served bytes with a different SHA-256 and no mirror served the
            right ones (says expected and received hashes).
        ConnectionError: no mirror could be reached or none completed the transfer (lists
            each mirror and why).
        WriteError: (an OSError, ``errno`` kept) ``dest_dir`` could not be created or written
            (disk full, read-only, permission, file too large); names the path and the fix.

    Before downloading, stale temporary files of vaelib's pattern in ``dest_dir`` are removed
    (:func:`vaelib._io.remove_stale_temporaries`).
    """
    if not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower()):
        raise ValueError(f"sha256 must be 64 hexadecimal digits; got {sha256!r}.")
    sha256 = sha256.lower()
    if isinstance(mirrors, str):
        raise TypeError(
            f"mirrors must be a list of base URLs; got the string {mirrors!r}. Wrap it in a list: [{mirrors!r}]."
        )
    if not mirrors:
        raise ValueError("mirrors must list at least one base URL; got none.")
    dest_dir = Path(dest_dir)
    dest = dest_dir / filename
    if dest.is_file() and sha256_of(dest) == sha256:
        return dest
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(dest_dir, "create the download directory", err) from err
    remove_stale_temporaries(dest_dir)  # left by a killed download or write

    failures: list[str] = []
    mismatches: list[_ChecksumMismatch] = []
    for base in mirrors:
        url = base if base.endswith("/") else base + "/"
        url += filename
        try:
            _fetch_once(url, dest, sha256, timeout=timeout, progress=progress)
            return dest
        except _ChecksumMismatch as bad:
            mismatches.append(bad)
            failures.append(f"  {url}: SHA-256 mismatch, got {bad.got}")
        except urllib.error.HTTPError as err:
            failures.append(f"  {url}: HTTP error {err.code} {err.reason}")
        except urllib.error.URLError as err:
            failures.append(f"  {url}: {err.reason}")
        except (http.client.HTTPException, TimeoutError, ConnectionError) as err:
            failures.append(f"  {url}: {type(err).__name__}: {err}")

    tried = "\n".join(failures)
    if mismatches:
        first = mismatches[0]
        raise ValueError(
            f"SHA-256 mismatch for {filename}: expected {sha256}, got {first.got} "
            f"({first.n_bytes} bytes from {first.url}). The mirror served different bytes (a "
            f"changed file, a proxy's error page or a corrupted transfer); nothing was saved. "
            f"Try again later, or download {filename} yourself, check that its SHA-256 is "
            f"{sha256}, and put it in {dest_dir}. Mirrors tried:\n{tried}"
        )
    raise ConnectionError(
        f"could not download {filename}: no mirror could be reached or completed the transfer "
        f"(no network?). Nothing was saved in {dest_dir}. Mirrors tried:\n{tried}"
    )


def _read_chunk(response) -> bytes:
    """The next chunk of ``response``; a failed read is a ConnectionError (the mirror's fault, not the disk's)."""
    try:
        return response.read(_CHUNK_BYTES)
    except (ConnectionError, TimeoutError):
        raise
    except OSError as err:
        raise ConnectionError(f"reading the response failed ({err})") from err


def _fetch_once(url: str, dest: Path, sha256: str, *, timeout: float, progress: bool) -> None:
    """One attempt: stream ``url`` into a temporary file, verify it, rename it to ``dest``.

    Network errors come out as ConnectionError / TimeoutError / HTTPException (the next mirror
    is tried); any other OSError is the disk's and becomes a :class:`WriteError`.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = getattr(response, "length", None)  # Content-Length, None if not sent
        try:
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        except OSError as err:
            raise write_error(dest, "create a temporary file next to", err) from err
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            received = 0
            with (
                os.fdopen(fd, "wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=dest.name,
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                while chunk := _read_chunk(response):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            if total is not None and received != total:
                raise ConnectionError(f"transfer cut off after {received} of {total} bytes")
            got = digest.hexdigest()
            if got != sha256:
                raise _ChecksumMismatch(url, got, received)
            os.chmod(tmp, 0o644)  # mkstemp makes it private (0600); a dataset file need not be
            os.replace(tmp, dest)
        except BaseException as err:
            tmp.unlink(missing_ok=True)
            if isinstance(err, OSError) and not isinstance(err, (ConnectionError, TimeoutError, WriteError)):
                raise write_error(dest, "write", err) from err
            raise
