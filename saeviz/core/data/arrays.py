"""Datasets stored as NumPy ``.npz`` archives.

Recognised arrays:

``X`` (required)
    samples, real numbers: ``(N, D)`` vectors, ``(N, H, W)`` images, or ``(N, V, 3)`` mesh
    vertices when ``faces`` is present.
``y``
    ground-truth classes, integers >= 0, shape ``(N,)``.
``class_names``
    strings, one per class. Without them the classes are the distinct values of ``y``
    (named after them, e.g. ``"0"``, ``"20000"``) and ``y`` is renumbered ``0..K-1``.
``faces``
    ``(F, 3)`` integer vertex indices; makes the dataset a mesh dataset.
``train_idx``, ``test_idx``
    a fixed split (when only one is given, the other is its complement).
``kind``
    a string, ``"image"``, ``"mesh"`` or ``"vector"``, overriding the kind inferred from the
    shapes (``"vector"`` flattens each sample).

Other arrays are ignored. Each array header is read and checked (numeric dtype, size
consistent with the archive, within the memory budget of ``saeviz.core.io.budget``) before any
data are read; arrays of Python objects are refused, never unpickled.
"""
from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npformat

from saeviz.core.data.dataset import KINDS, Dataset, make_split
from saeviz.core.errors import DataError
from saeviz.core.io.budget import check_budget
from saeviz.core.io.fileio import read_into

MAX_NPZ_ARRAY_BYTES = 1 << 34  # 16 GiB per array, and never more than the memory budget
DISTANCE_COPIES = 4
_NPY_MAGIC = b"\x93NUMPY"
_CHUNK = 1 << 20

# key -> accepted dtype kinds (numpy's dtype.kind codes)
_KINDS_BY_KEY = {
    "X": "biuf",
    "y": "iu",
    "class_names": "US",
    "faces": "iu",
    "train_idx": "iu",
    "test_idx": "iu",
    "kind": "US",
}
_KIND_WORDS = {"biuf": "real numbers", "iu": "integers", "US": "strings"}


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, path: Path, allowed: str,
                 spent: int = 0, factor: float = 1.0) -> np.ndarray:
    """One array of the archive. ``spent``: bytes already read from it; ``factor``: memory the
    caller will need per byte of this array (copies), both counted against the budget."""
    where = f"{path}: array {key!r}"
    with zf.open(info) as f:
        try:
            version = npformat.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npformat.read_array_header_2_0(f)
            else:
                raise DataError(f"{where} uses .npy format version {version}, which is not supported")
        except ValueError as exc:
            raise DataError(f"{where} has a malformed .npy header ({exc})") from exc
        if dtype.hasobject:
            raise DataError(f"{where} holds Python objects (dtype {dtype}); they are refused because "
                            "reading them would run pickled code. Save numeric or string arrays")
        if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in allowed:
            raise DataError(f"{where} must hold {_KIND_WORDS[allowed]}, got dtype {dtype}")
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise DataError(f"{where} declares an invalid shape {shape}")
        payload = dtype.itemsize * math.prod(shape)
        check_budget(spent + int(payload * max(factor, 1.0)), path,
                     f"array {key!r}, which declares shape {shape} of {dtype}"
                     + (" (with the arrays read before it)" if spent else "") + ",")
        if payload > MAX_NPZ_ARRAY_BYTES:
            raise DataError(f"{where} declares shape {shape} ({payload:,} bytes), more than the "
                            f"limit of {MAX_NPZ_ARRAY_BYTES:,} bytes")
        header = f.tell()
        if header + payload != info.file_size:
            raise DataError(f"{where} declares shape {shape} ({payload:,} bytes) but the archive "
                            f"holds {max(info.file_size - header, 0):,} data bytes; the file is "
                            "truncated or corrupt")
        array = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
        _fill(f, array, where)
    array = array.T if fortran else array
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _fill(f: BinaryIO, array: np.ndarray, where: str) -> None:
    if read_into(f, array, _CHUNK) < array.nbytes:
        raise DataError(f"{where} is truncated")


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    # X: the array, its float32 copy and a finiteness mask per value (at most 4 + 4 + 1 bytes
    # per byte of an 8-bit array; counted as 3 bytes per byte read, refined below for X)
    return read_npz_arrays(path, _KINDS_BY_KEY, required=("X",), factors={"X": 3.0})


def read_npz_arrays(path, kinds: dict[str, str], required=(), factors: dict[str, float] | None = None
                    ) -> dict[str, np.ndarray]:
    """The arrays named in ``kinds`` (name -> accepted dtype kinds, e.g. ``"iu"``) of an
    ``.npz`` archive, each header checked (dtype, declared size against the archive entry)
    before any data is read; object arrays are refused, never unpickled. Missing ``required``
    arrays, corrupt archives and bad headers raise ``DataError`` naming the file.

    The declared sizes, summed over the arrays read (each times its ``factors`` entry, the
    memory the caller needs per byte of it, default 1), must fit the memory budget
    (``budget.memory_budget``); otherwise ``MemoryBudgetError`` is raised before the array
    that would exceed it is allocated. Decompression reads exactly the declared bytes."""
    factors = factors or {}
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if head == _NPY_MAGIC:
        raise DataError(f"{path}: is a single .npy array, not an .npz archive; "
                        "save it with numpy.savez(path, X=array)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename[:-4]: info for info in zf.infolist()
                       if info.filename.endswith(".npy")}
            missing = [key for key in required if key not in members]
            if missing:
                found = ", ".join(sorted(members)) or "no arrays"
                names = ", ".join(repr(k) for k in missing)
                raise DataError(f"{path}: no array named {names} (found: {found})")
            spent = 0
            for key, allowed in kinds.items():
                if key in members:
                    factor = factors.get(key, 1.0)
                    arrays[key] = _read_member(zf, members[key], key, path, allowed, spent, factor)
                    spent += int(arrays[key].nbytes * max(factor, 1.0))
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise DataError(f"{path}: not a readable .npz archive (corrupt or truncated: {exc})") from exc
    return arrays


def _strings(array: np.ndarray, path: Path, key: str) -> list[str]:
    if array.dtype.kind == "S":
        try:
            return [bytes(s).decode("utf-8") for s in array.ravel()]
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: {key!r} is not valid UTF-8 text") from exc
    return [str(s) for s in array.ravel()]


def _integers(array: np.ndarray, path: Path, key: str) -> np.ndarray:
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise DataError(f"{path}: {key!r} holds values too large to be indices or classes")
    return array.astype(np.int64)


def load_npz(path: str | os.PathLike, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """A dataset from an ``.npz`` archive (see the module documentation for its arrays).

    Without ``train_idx`` / ``test_idx`` the split is drawn with ``make_split`` from
    ``test_fraction`` and ``seed`` (stratified by ``y`` when present).
    """
    path = Path(path)
    a = _read_arrays(path)
    X = a["X"]
    if X.ndim < 2 or X.shape[0] == 0:
        raise DataError(f"{path}: X must have shape (N, ...) with N >= 1 samples and at least one "
                        f"feature, got {X.shape}")
    n = X.shape[0]

    faces = a.get("faces")
    if "kind" in a:
        names = _strings(a["kind"], path, "kind")
        if len(names) != 1 or names[0] not in KINDS:
            raise DataError(f"{path}: 'kind' must be one of {', '.join(KINDS)}")
        kind = names[0]
    elif faces is not None:
        kind = "mesh"
    elif X.ndim == 3:
        kind = "image"
    elif X.ndim == 2:
        kind = "vector"
    else:
        raise DataError(f"{path}: X has shape {X.shape}; expected (N, D) vectors, (N, H, W) images "
                        "or (N, V, 3) mesh vertices with 'faces' (or set 'kind' to 'vector')")
    if kind == "vector":
        X = X.reshape(n, -1)
    elif kind == "image" and X.ndim != 3:
        raise DataError(f"{path}: images need X of shape (N, H, W), got {X.shape}")
    elif kind == "mesh" and (X.ndim != 3 or X.shape[2] != 3):
        why = "'faces' is given, so X must be mesh vertices" if faces is not None else "meshes need X"
        raise DataError(f"{path}: {why} of shape (N, V, 3), got {X.shape}")
    if faces is not None:
        if kind != "mesh":
            raise DataError(f"{path}: 'faces' is given but the data are of kind {kind!r}, not mesh")
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise DataError(f"{path}: 'faces' must have shape (F, 3), got {faces.shape}")
        faces = _integers(faces, path, "faces")
        if faces.size and (faces.min() < 0 or faces.max() >= X.shape[1]):
            raise DataError(f"{path}: 'faces' holds vertex indices outside [0, {X.shape[1]})")

    with np.errstate(over="ignore", invalid="ignore"):  # reported just below
        X = X.astype(np.float32, copy=False)
    finite = np.isfinite(X.reshape(n, -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise DataError(f"{path}: X has NaN or infinite values in {len(bad)} samples "
                        f"(first at index {bad[0]}); values beyond float32's range count as infinite")

    class_names: tuple[str, ...] = ()
    if "class_names" in a:
        cn = a["class_names"]
        if cn.ndim != 1:
            raise DataError(f"{path}: 'class_names' must be a 1-D array of strings, got shape {cn.shape}")
        class_names = tuple(_strings(cn, path, "class_names"))
        if len(set(class_names)) != len(class_names):
            raise DataError(f"{path}: 'class_names' has repeated names")
        if any(not c.strip() for c in class_names):
            raise DataError(f"{path}: 'class_names' has an empty name")

    y = None
    if "y" in a:
        y = a["y"]
        if y.shape != (n,):
            raise DataError(f"{path}: 'y' must have shape ({n},) to match X, got {y.shape}")
        y = _integers(y, path, "y")
        if y.min() < 0:
            raise DataError(f"{path}: 'y' holds negative classes; ground truth must be >= 0 for "
                            "every sample (leave unknown samples out of the file)")
        if class_names and y.max() >= len(class_names):
            raise DataError(f"{path}: 'y' holds class {y.max()} but there are only "
                            f"{len(class_names)} class names")
        if not class_names:  # classes are the distinct values of y, never sized by them
            values, y = np.unique(y, return_inverse=True)
            y = y.reshape(-1).astype(np.int64)
            class_names = tuple(str(int(v)) for v in values)
    if class_names:
        k = len(class_names)
        # the K x K class distances, and the MDS working copies of them
        check_budget(8 * DISTANCE_COPIES * k * k, path, f"the class distances of {k:,} classes")

    train = _integers(a["train_idx"], path, "train_idx") if "train_idx" in a else None
    test = _integers(a["test_idx"], path, "test_idx") if "test_idx" in a else None
    for key, idx in (("train_idx", train), ("test_idx", test)):
        if idx is not None and idx.ndim != 1:
            raise DataError(f"{path}: {key!r} must be a 1-D array of indices, got shape {idx.shape}")
        if idx is not None and idx.size and (idx.min() < 0 or idx.max() >= n):
            raise DataError(f"{path}: {key!r} holds indices outside [0, {n})")
    if train is None and test is None:
        train, test = make_split(n, y, test_fraction=test_fraction, seed=seed)
    elif train is None:
        train = np.setdiff1d(np.arange(n), test)
    elif test is None:
        test = np.setdiff1d(np.arange(n), train)
    if train.size == 0 and test.size == 0:
        raise DataError(f"{path}: 'train_idx' and 'test_idx' are both empty")

    source = {"loader": "npz", "path": os.path.abspath(path),
              "test_fraction": float(test_fraction), "seed": int(seed)}
    try:
        return Dataset(name=path.stem, X=X, kind=kind, y=y, class_names=class_names,
                       train_idx=train, test_idx=test, faces=faces, source=source)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc


def save_npz(path: str | os.PathLike, dataset: Dataset) -> Path:
    """Write ``dataset`` as an ``.npz`` that ``load_npz`` reads back identically (atomically)."""
    from saeviz.core.io.fileio import atomic_path

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays = {"X": dataset.X, "train_idx": dataset.train_idx, "test_idx": dataset.test_idx,
              "kind": np.array([dataset.kind])}
    if dataset.y is not None:
        arrays["y"] = dataset.y
    if dataset.class_names:
        arrays["class_names"] = np.array(dataset.class_names)
    if dataset.faces is not None:
        arrays["faces"] = dataset.faces
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path


__all__ = ["load_npz", "save_npz", "read_npz_arrays", "MAX_NPZ_ARRAY_BYTES"]
