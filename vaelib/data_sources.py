"""Where the full datasets come from: their published files, the search order, checks and repair.

Introduced in lecture 05 (through :func:`vaelib.data.load_mnist` ``("full")`` and
:func:`vaelib.data.load_fashion_mnist`); the resolution order, the checks of found files and
their repair are described in the docstring of :mod:`vaelib.data`.

Sources: LeCun, Cortes & Burges, "The MNIST database"; Xiao, Rasul & Vollgraf 2017,
"Fashion-MNIST", arXiv:1708.07747. The SHA-256 values below are the published ones
(TensorFlow Datasets' ``url_checksums/mnist.txt`` and ``fashion_mnist.txt``).
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from vaelib._io import PathLike
from vaelib.download import fetch_file, sha256_of
from vaelib.idx import GZIP_MAGIC, idx_header_problem

__all__ = [
    "RemoteFile",
    "DatasetSpec",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "SYSTEM_DATA_DIR",
    "DamagedFileError",
    "cache_dir",
    "dataset_spec",
    "dataset_files",
    "check_dataset_file",
]


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


def dataset_spec(name: str) -> DatasetSpec:
    """The description of dataset ``name`` (a key of :data:`DATASETS`)."""
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
    spec = dataset_spec(name)
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
    if head == GZIP_MAGIC:
        if sha256_of(path) == spec.files[role].sha256:
            return None
        try:
            raw = gzip.decompress(path.read_bytes())
        except EOFError:
            return "truncated gzip stream"
        except (gzip.BadGzipFile, zlib.error, OSError) as err:
            return f"corrupt gzip stream ({err})"
        return idx_header_problem(raw[: 4 + 4 * len(dims)], len(raw), dims)
    with path.open("rb") as f:
        header = f.read(4 + 4 * len(dims))
    return idx_header_problem(header, path.stat().st_size, dims)


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
