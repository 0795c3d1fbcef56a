"""The IDX file format of MNIST and Fashion-MNIST: a strict reader and a header check.

Introduced in lecture 05 (through :func:`vaelib.data.load_mnist`). The format (LeCun, Cortes &
Burges, "The MNIST database"): a magic number ``0x00 0x00 TYPE NDIM``, ``NDIM`` big-endian uint32
sizes, then exactly the values those sizes imply. :func:`read_idx` accounts for every byte;
:func:`idx_header_problem` checks a header against the shape a dataset file must have.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from vaelib._io import PathLike

__all__ = ["read_idx", "idx_header_problem", "GZIP_MAGIC", "IDX_DTYPES"]


GZIP_MAGIC = b"\x1f\x8b"
IDX_DTYPES = {  # IDX type code -> numpy dtype (IDX stores multi-byte values big-endian)
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array, checking every byte is accounted for.

    The IDX format (LeCun et al., "The MNIST database"): a magic number of four bytes
    ``0x00 0x00 TYPE NDIM``, then ``NDIM`` big-endian uint32 sizes ``d_1 ... d_NDIM``, then
    exactly ``d_1 * ... * d_NDIM`` values of the type (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), big-endian, in C order. A gzipped file is
    recognised by its first two bytes (0x1f 0x8b), not by its name.

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        A writable array of shape ``(d_1, ..., d_NDIM)`` in native byte order, e.g.
        ``(60000, 28, 28)`` uint8 for MNIST training images, ``(60000,)`` for its labels.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a corrupt or truncated gzip stream, a wrong magic number or type code, or a
            payload longer or shorter than the header says.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except EOFError as err:
            raise ValueError(
                f"{path} is a truncated gzip file ({err}). It was probably cut off while "
                f"downloading or copying: delete it and fetch it again."
            ) from err
        except (gzip.BadGzipFile, zlib.error, OSError) as err:
            raise ValueError(f"{path} is a corrupt gzip file ({err}). Delete it and fetch it again.") from err
    if len(raw) < 4:
        raise ValueError(
            f"{path} is not an IDX file: it holds only {len(raw)} byte(s), fewer than the "
            f"4-byte magic number. Delete it and fetch it again."
        )
    zeros, code, ndim = raw[:2], raw[2], raw[3]
    if zeros != b"\x00\x00" or code not in IDX_DTYPES or ndim == 0:
        codes = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(
            f"{path} is not an IDX file: its magic number is 0x{raw[:4].hex().upper()}, expected "
            f"0x0000TTNN with type code TT in ({codes}) and NN >= 1 dimensions (e.g. "
            f"0x00000803 for images, 0x00000801 for labels). Check that this is the right "
            f"file (not an HTML error page or another format), or fetch it again."
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(
            f"{path} is truncated inside its header: {ndim} dimension(s) need {header_len} "
            f"header bytes, the file holds {len(raw)}. Delete it and fetch it again."
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header_len
    if found != expected:
        what = (
            f"truncated: {expected - found} byte(s) missing"
            if found < expected
            else f"followed by {found - expected} trailing byte(s)"
        )
        raise ValueError(
            f"{path} has the wrong payload length ({what}): its header says shape {dims} of "
            f"{dtype.name} = {expected} bytes, the file holds {found}. Delete it and fetch it "
            f"again."
        )
    values = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return values.astype(dtype.newbyteorder("="), copy=True)  # (d_1, ..., d_NDIM), writable


def idx_header_problem(header: bytes, size: int, dims: tuple[int, ...]) -> str | None:
    """Whether an IDX uint8 file of ``size`` bytes starting with ``header`` has shape ``dims``."""
    magic = bytes([0, 0, 0x08, len(dims)])
    if header[:4] != magic:
        return f"magic number 0x{header[:4].hex().upper()}, expected 0x{magic.hex().upper()}"
    if len(header) < 4 + 4 * len(dims):
        return f"truncated inside its header ({size} bytes)"
    found = tuple(int(d) for d in np.frombuffer(header, dtype=">u4", count=len(dims), offset=4))
    if found != dims:
        return f"header dims {found}, expected {dims}"
    expected = 4 + 4 * len(dims) + int(np.prod(dims, dtype=np.int64))
    if size != expected:
        return f"size {size} bytes, its header implies {expected}"
    return None
