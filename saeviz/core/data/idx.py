"""A strict reader for IDX files (the MNIST / Fashion-MNIST format) and an MNIST folder loader.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values in big-endian C order.
The reader checks the header, computes the payload size it implies and compares it with
the real size of the file (after decompression for gzip files) *before* allocating the
array, so a corrupt or hostile header can neither crash the reader nor make it reserve
memory it does not need.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from saeviz.core.data.dataset import Dataset
from saeviz.core.data.digits import decompose
from saeviz.core.errors import DataError
from saeviz.core.io.budget import check_budget
from saeviz.core.io.fileio import read_into

# type code -> big-endian numpy dtype
IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
MAX_IDX_BYTES = 1 << 32  # 4 GiB of payload; far above any IDX dataset in use
_MAX_NDIM = 8
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def _read_exact(f: BinaryIO, n: int, path: Path, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise DataError(f"{path}: truncated IDX file ({what} ends after {len(data)} of {n} bytes)")
    return data


def _parse_header(f: BinaryIO, path: Path, max_bytes: int) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """(dtype, shape, header size, payload size) from the header at the start of ``f``."""
    magic = _read_exact(f, 4, path, "header")
    if magic[0] != 0 or magic[1] != 0:
        raise DataError(f"{path}: not an IDX file (magic number {magic.hex()} does not start "
                        "with two zero bytes)")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X} "
                        f"(expected one of {', '.join(f'0x{c:02X}' for c in IDX_DTYPES)})")
    if not 1 <= ndim <= _MAX_NDIM:
        raise DataError(f"{path}: IDX header declares {ndim} dimensions (expected 1 to {_MAX_NDIM})")
    shape = tuple(int(d) for d in np.frombuffer(_read_exact(f, 4 * ndim, path, "header"), dtype=">u4"))
    dtype = np.dtype(IDX_DTYPES[code])
    payload = dtype.itemsize * math.prod(shape)
    if payload > max_bytes:
        raise DataError(f"{path}: IDX header claims shape {shape} ({payload:,} bytes), more than the "
                        f"limit of {max_bytes:,} bytes; the file is corrupt or not an IDX file")
    check_budget(payload, path, f"the IDX data of shape {shape}")
    return dtype, shape, 4 + 4 * ndim, payload


def _fill(f: BinaryIO, buf: np.ndarray, path: Path) -> None:
    got = read_into(f, buf, _CHUNK)
    if got < buf.nbytes:
        raise DataError(f"{path}: truncated IDX file (the data ends after {got:,} of {buf.nbytes:,} bytes)")


def _size_mismatch(path: Path, shape: tuple[int, ...], expected: int, actual: int, exact: bool) -> DataError:
    if actual < expected:
        return DataError(f"{path}: truncated IDX file: the header declares shape {shape}, "
                         f"i.e. {expected:,} data bytes, but the file holds {actual:,}")
    more = f"{actual - expected:,}" if exact else "at least one"
    return DataError(f"{path}: the IDX header declares shape {shape} ({expected:,} data bytes) "
                     f"but {more} extra bytes follow the data")


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed (detected from its content), as a native-endian array.

    Raises ``DataError`` naming the file when it is missing, is not an IDX file, declares
    an absurd size (more than ``max_bytes`` of data), or is truncated or followed by extra bytes.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if compressed:
                array = _read_gzip(path, max_bytes)
            else:
                array = _read_raw(raw, path, max_bytes)
    except DataError:
        raise
    except EOFError as exc:
        raise DataError(f"{path}: truncated gzip data ({exc})") from exc
    except (OSError, zlib.error) as exc:  # missing file, unreadable file, gzip CRC/length errors
        raise DataError(f"{path}: cannot read IDX file: {exc}") from exc
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def idx_header(path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape an IDX file (raw or gzip) declares, reading only its header."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            f = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            dtype, shape, _, _ = _parse_header(f, path, MAX_IDX_BYTES)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read IDX file: {exc}") from exc
    return dtype, shape


def _read_raw(f: BinaryIO, path: Path, max_bytes: int) -> np.ndarray:
    dtype, shape, header, payload = _parse_header(f, path, max_bytes)
    actual = os.fstat(f.fileno()).st_size - header
    if actual != payload:
        raise _size_mismatch(path, shape, payload, actual, exact=True)
    buf = np.empty(shape, dtype=dtype)
    _fill(f, buf, path)
    return buf


def _read_gzip(path: Path, max_bytes: int) -> np.ndarray:
    # First pass: measure the decompressed payload without keeping it (constant memory,
    # stops one byte past the declared size). Second pass: read into the allocated array.
    with gzip.open(path, "rb") as f:
        dtype, shape, header, payload = _parse_header(f, path, max_bytes)
        actual = 0
        while actual <= payload:
            chunk = f.read(min(_CHUNK, payload + 1 - actual))
            if not chunk:
                break
            actual += len(chunk)
    if actual != payload:
        raise _size_mismatch(path, shape, payload, actual, exact=False)
    buf = np.empty(shape, dtype=dtype)
    with gzip.open(path, "rb") as f:
        f.read(header)
        _fill(f, buf, path)
    return buf


# ---------------------------------------------------------------------------------------------
# MNIST-style folders

_PARTS = {
    "train images": ("train", "images", "idx3"),
    "train labels": ("train", "labels", "idx1"),
    "test images": ("t10k", "images", "idx3"),
    "test labels": ("t10k", "labels", "idx1"),
}
VARIANTS = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}


def _candidates(prefix: str, what: str, idx: str) -> list[str]:
    # The original distribution uses "train-images-idx3-ubyte"; some mirrors use
    # "train-images.idx3-ubyte". Raw files are preferred to their .gz copies.
    stems = [f"{prefix}-{what}-{idx}-ubyte", f"{prefix}-{what}.{idx}-ubyte"]
    return stems + [s + ".gz" for s in stems]


def find_idx_files(folder: str | os.PathLike) -> dict[str, Path | None]:
    """The four MNIST-style IDX files in ``folder`` (``None`` for those not found)."""
    folder = Path(folder)
    found: dict[str, Path | None] = {}
    for part, (prefix, what, idx) in _PARTS.items():
        found[part] = next((folder / n for n in _candidates(prefix, what, idx) if (folder / n).is_file()), None)
    return found


def load_mnist_folder(folder: str | os.PathLike, variant: str = "mnist",
                      decomposition: str | None = None) -> Dataset:
    """MNIST or Fashion-MNIST from a folder holding the four IDX files (raw or ``.gz``).

    Images are scaled to [0, 1]; the files' own train/test split becomes ``train_idx`` /
    ``test_idx`` (train samples first). ``decomposition`` is ``None`` (the ten classes),
    ``"abc"`` (MNIST) or ``"seasons"`` (Fashion-MNIST), see ``DECOMPOSITIONS``.
    """
    folder = Path(folder)
    if variant not in VARIANTS:
        raise DataError(f"unknown IDX variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (or it does not exist)")
    files = find_idx_files(folder)
    missing = [part for part, p in files.items() if p is None]
    if missing:
        expected = ", ".join(_candidates(*_PARTS[part])[0] + "[.gz]" for part in missing)
        raise DataError(f"{folder}: missing IDX files: {expected}")

    # the four arrays and the float32 images, from the declared shapes, before reading any
    need = 0
    for part, p in files.items():
        dtype, shape = idx_header(p)
        need += dtype.itemsize * math.prod(shape) * (5 if "images" in part else 1)
    check_budget(need, folder, "the IDX files and their float32 images")
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in ("train", "test"):
        img_path, lab_path = files[f"{split} images"], files[f"{split} labels"]
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3:
            raise DataError(f"{img_path}: expected images of shape (N, H, W), got {images.shape}")
        if images.dtype != np.uint8:
            raise DataError(f"{img_path}: expected unsigned bytes (type 0x08), got {images.dtype}")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{lab_path}: expected a 1-D array of integer labels, got {labels.dtype} {labels.shape}")
        if len(labels) != len(images):
            raise DataError(f"{lab_path}: {len(labels)} labels for {len(images)} images in {img_path.name}")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise DataError(f"{lab_path}: labels must lie in 0..9, found {labels.min()}..{labels.max()}")
        parts[split] = images, labels
    (tr_img, tr_lab), (te_img, te_lab) = parts["train"], parts["test"]
    if tr_img.shape[1:] != te_img.shape[1:]:
        raise DataError(f"{folder}: train images are {tr_img.shape[1:]} but test images are {te_img.shape[1:]}")

    n_train, n_test = len(tr_img), len(te_img)
    X = np.empty((n_train + n_test, *tr_img.shape[1:]), dtype=np.float32)
    np.divide(tr_img, np.float32(255), out=X[:n_train])
    np.divide(te_img, np.float32(255), out=X[n_train:])
    y, class_names = decompose(np.concatenate([tr_lab, te_lab]).astype(np.int64), decomposition, variant)
    name = VARIANTS[variant] + (f" ({decomposition})" if decomposition else "")
    source = {"loader": "idx", "path": os.path.abspath(folder), "variant": variant,
              "decomposition": decomposition}
    return Dataset(name=name, X=X, kind="image", y=y, class_names=class_names,
                   train_idx=np.arange(n_train), test_idx=np.arange(n_train, n_train + n_test),
                   source=source)


__all__ = ["read_idx", "load_mnist_folder", "find_idx_files", "IDX_DTYPES", "MAX_IDX_BYTES",
           "VARIANTS"]
