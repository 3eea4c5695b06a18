"""Reading and writing labels: CSV ``index,label`` and NPZ, with errors naming file and line.

Files identify samples by their *dataset index* (what users see and what ``export_codes``
writes), not by their position in the training split; ``position_of`` converts. A label is a
class number (``-1`` or an empty cell: unlabeled) or, in CSV, a class name.

CSV: a header row naming an ``index`` and a ``label`` column (other columns are ignored, so
a table written by *Export codes* can be read back), or no header and exactly two columns.
NPZ: integer arrays ``index`` and ``label`` of equal length and, optionally, a string array
``class_names``; when present, labels are matched to the current classes by name. NPZ files
are read with ``allow_pickle=False``: object arrays are refused, never unpickled.
"""
from __future__ import annotations

import csv
import io
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from saeviz.core.errors import DataError
from saeviz.core.io.budget import check_budget
from saeviz.core.io.fileio import atomic_path
from saeviz.core.state.labels import UNLABELED

SUFFIXES = (".csv", ".npz")
MAX_CSV_BYTES = 512 * 1024 * 1024
CSV_BYTES_FACTOR = 12  # memory per byte of a label CSV at most: 3 int64 per row of >= 4 bytes, and copies
MAX_INDEX = 1 << 62


@dataclass(frozen=True)
class LabelFile:
    """Labels read from a file: ``labels[i]`` for training position ``positions[i]``."""

    path: Path
    positions: np.ndarray
    labels: np.ndarray

    @property
    def n_labeled(self) -> int:
        """The number of labeled samples."""
        return int(np.count_nonzero(self.labels >= 0))

    def as_array(self, n: int, base: np.ndarray | None = None) -> np.ndarray:
        """All ``n`` labels: ``base`` (default: unlabeled) with this file's labels written over."""
        out = np.full(n, UNLABELED, np.int64) if base is None else np.array(base, np.int64, copy=True)
        out[self.positions] = self.labels
        return out


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: labels are read and written as .csv or .npz, not {suffix or 'a file without extension'}")
    return suffix


# -- writing --------------------------------------------------------------------------------------------
def write_labels(path, labels, *, index=None, class_names: Sequence[str] | None = None,
                 include_unlabeled: bool = False) -> Path:
    """Write labels atomically. ``labels`` per training position; ``index`` their dataset indices
    (default ``0..n-1``). Unlabeled samples are left out unless ``include_unlabeled``."""
    path = Path(path)
    suffix = _suffix(path)
    lab = np.asarray(labels, np.int64)
    idx = np.arange(len(lab), dtype=np.int64) if index is None else np.asarray(index, np.int64)
    if idx.shape != lab.shape:
        raise DataError(f"{len(idx)} indices for {len(lab)} labels")
    if not include_unlabeled:
        keep = lab >= 0
        idx, lab = idx[keep], lab[keep]
    with atomic_path(path) as tmp:
        if suffix == ".npz":
            arrays = {"index": idx, "label": lab}
            if class_names is not None:
                arrays["class_names"] = np.array([str(c) for c in class_names], dtype=np.str_)
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        else:
            buf = io.StringIO()
            buf.write("index,label\n")
            if len(idx):
                np.savetxt(buf, np.column_stack([idx, lab]), fmt="%d", delimiter=",")
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(buf.getvalue())
    return path


# -- reading --------------------------------------------------------------------------------------------
def read_labels(path, *, class_names: Sequence[str], n_dataset: int,
                position_of: np.ndarray | None = None) -> LabelFile:
    """Read and validate a label file against the current classes and dataset.

    ``n_dataset`` is the number of samples in the dataset; ``position_of[index]`` the training
    position of dataset sample ``index`` (-1 for test samples), identity when None.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if suffix == ".npz":
        index, labels, lines = _read_npz(path, class_names)
    else:
        index, labels, lines = _read_csv(path, class_names)
    return _to_positions(path, index, labels, lines, n_dataset, position_of)


def _to_positions(path: Path, index: np.ndarray, labels: np.ndarray, lines: np.ndarray | None,
                  n_dataset: int, position_of) -> LabelFile:
    def where(i: int) -> str:
        return f"{path}, line {int(lines[i])}" if lines is not None else f"{path}, entry {i}"

    bad = np.flatnonzero((index < 0) | (index >= n_dataset))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{where(i)}: sample {int(index[i])} does not exist "
                        f"(the dataset has samples 0..{n_dataset - 1})")
    if position_of is None:
        positions = index.copy()
    else:
        position_of = np.asarray(position_of, np.int64)
        positions = position_of[index]
        bad = np.flatnonzero(positions < 0)
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{where(i)}: sample {int(index[i])} belongs to the test split, "
                            "which is not labeled (only training samples take labels)")
    # duplicates: allowed when they agree
    order = np.argsort(positions, kind="stable")
    sp, sl = positions[order], labels[order]
    dup = np.flatnonzero((sp[1:] == sp[:-1]) & (sl[1:] != sl[:-1]))
    if dup.size:
        a, b = order[dup[0]], order[dup[0] + 1]
        first = f"line {int(lines[a])}" if lines is not None else f"entry {int(a)}"
        raise DataError(f"{where(int(b))}: sample {int(index[b])} has label {int(labels[b])} here "
                        f"but {int(labels[a])} on {first}")
    keep = np.ones(len(sp), bool)
    keep[1:] = sp[1:] != sp[:-1]
    return LabelFile(path, sp[keep].copy(), sl[keep].copy())


def _parse_int(text: str) -> int | None:
    text = text.strip()
    if not text or len(text) > 40:  # longer numbers are out of range anyway
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_csv(path: Path, class_names: Sequence[str]):
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise DataError(f"{path}: the file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
    check_budget(CSV_BYTES_FACTOR * size, path, "reading the labels")
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return _parse_csv(path, fh, class_names)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def _parse_csv(path: Path, fh, class_names: Sequence[str]):
    """Rows streamed from ``fh`` into typed arrays (8 bytes per value, not Python lists)."""
    names = [str(n) for n in class_names]
    by_name = {n: i for i, n in enumerate(names)}
    by_folded = {}
    for i, n in enumerate(names):
        by_folded.setdefault(n.casefold(), i)
    k = len(names)
    first = next((ln for ln in fh if ln.strip()), "")
    fh.seek(0)
    delimiter = next((d for d in (",", ";", "\t") if d in first), ",")
    reader = csv.reader(fh, delimiter=delimiter)
    index_col = label_col = None
    width = None
    idx_out = array("q")
    lab_out = array("q")
    line_out = array("q")
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if index_col is None:
                header = [c.strip().casefold() for c in row]
                if "index" in header and "label" in header:
                    index_col, label_col = header.index("index"), header.index("label")
                    width = len(row)
                    continue
                if _parse_int(row[0]) is None:
                    raise DataError(f"{path}, line {line}: expected the header 'index,label' "
                                    f"or a sample index, got {row[0].strip()!r}")
                if len(row) != 2:
                    raise DataError(f"{path}, line {line}: expected two columns 'index,label' "
                                    f"(without a header), got {len(row)}")
                index_col, label_col, width = 0, 1, 2
            if len(row) != width:
                raise DataError(f"{path}, line {line}: expected {width} columns, got {len(row)}")
            idx = _parse_int(row[index_col])
            if idx is None:
                raise DataError(f"{path}, line {line}: the index {row[index_col].strip()[:40]!r} is not a whole number")
            if not -MAX_INDEX <= idx <= MAX_INDEX:
                raise DataError(f"{path}, line {line}: the index {row[index_col].strip()[:40]} is out of "
                                "range (no dataset has that many samples)")
            cell = row[label_col].strip()
            lab = _parse_int(cell)
            if cell == "":
                lab = UNLABELED
            elif lab is None:
                lab = by_name.get(cell, by_folded.get(cell.casefold()))
                if lab is None:
                    shown = ", ".join(repr(n) for n in names[:6]) + (", …" if k > 6 else "")
                    raise DataError(f"{path}, line {line}: unknown class {cell!r} (classes: {shown})")
            elif not UNLABELED <= lab < k:
                raise DataError(f"{path}, line {line}: label {lab} is out of range: classes are "
                                f"0..{k - 1}, -1 means unlabeled")
            idx_out.append(idx)
            lab_out.append(lab)
            line_out.append(line)
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: not valid CSV: {exc}") from None
    if index_col is None:
        raise DataError(f"{path}: the file is empty")
    return (np.frombuffer(idx_out, np.int64), np.frombuffer(lab_out, np.int64),
            np.frombuffer(line_out, np.int64))


def _read_npz(path: Path, class_names: Sequence[str]):
    from saeviz.core.data.arrays import read_npz_arrays

    data = read_npz_arrays(path, {"index": "iu", "label": "iu", "class_names": "US"},
                           required=("index", "label"))
    index, labels = data["index"], data["label"]
    file_names = data.get("class_names")
    for name, arr in (("index", index), ("label", labels)):
        if arr.ndim != 1:
            raise DataError(f"{path}: array '{name}' must be one-dimensional, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise DataError(f"{path}: array '{name}' must hold integers, got dtype {arr.dtype}")
    if index.shape != labels.shape:
        raise DataError(f"{path}: 'index' has {len(index)} entries but 'label' has {len(labels)}")
    index = index.astype(np.int64)
    labels = labels.astype(np.int64)
    names = [str(n) for n in class_names]
    k = len(names)
    if file_names is not None:
        if file_names.ndim != 1 or (file_names.size and file_names.dtype.kind not in "US"):
            raise DataError(f"{path}: 'class_names' must be a one-dimensional array of strings")
        fnames = [str(n) for n in file_names.tolist()]
        bad = np.flatnonzero((labels < UNLABELED) | (labels >= len(fnames)))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{path}, entry {i}: label {int(labels[i])} is out of range for the file's "
                            f"{len(fnames)} classes")
        lookup = np.full(len(fnames) + 1, UNLABELED, np.int64)  # last slot: -1 stays -1
        for j, n in enumerate(fnames):
            if n not in names:
                if np.any(labels == j):
                    raise DataError(f"{path}: class {n!r} of the file is not among the current classes "
                                    f"({', '.join(repr(c) for c in names[:6])}{', …' if k > 6 else ''})")
                continue
            lookup[j] = names.index(n)
        labels = lookup[labels]
    else:
        bad = np.flatnonzero((labels < UNLABELED) | (labels >= k))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{path}, entry {i}: label {int(labels[i])} is out of range: classes are "
                            f"0..{k - 1}, -1 means unlabeled")
    return index, labels, None


# -- class distances ------------------------------------------------------------------------------------
def read_distances(path, k: int) -> np.ndarray:
    """A K x K class-distance matrix from a ``.npy`` array or a CSV table (comma-separated).

    The ``.npy`` header (shape, dtype) is checked against ``k``, the file size and the memory
    budget before any value is read; the CSV's size against the budget. Errors name the file.
    """
    from numpy.lib import format as npformat

    from saeviz.core.state.labels import validate_distances

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    size = path.stat().st_size
    try:
        if path.suffix.lower() == ".npy":
            with open(path, "rb") as fh:
                try:
                    version = npformat.read_magic(fh)
                    if version not in ((1, 0), (2, 0)):
                        raise ValueError(f"format version {version} is not supported")
                    read_header = (npformat.read_array_header_1_0 if version == (1, 0)
                                   else npformat.read_array_header_2_0)
                    shape, fortran, dtype = read_header(fh)
                except ValueError as exc:
                    raise DataError(f"{path}: not a .npy array ({exc})") from None
                if dtype.hasobject or dtype.kind not in "iuf" or dtype.fields is not None:
                    raise DataError(f"{path}: class distances must be numbers, got dtype {dtype}")
                if shape != (k, k):
                    raise DataError(f"{path}: class distances must be a {k}x{k} matrix for {k} classes, "
                                    f"the file declares shape {shape}")
                payload = dtype.itemsize * k * k
                if fh.tell() + payload != size:
                    raise DataError(f"{path}: the file declares {payload:,} data bytes but holds "
                                    f"{max(size - fh.tell(), 0):,}; it is truncated or corrupt")
                check_budget(payload, path, f"class distances of shape {shape}")
                D = np.fromfile(fh, dtype=dtype, count=k * k).reshape((k, k), order="F" if fortran else "C")
        else:
            check_budget(CSV_BYTES_FACTOR * size, path, "reading the class distances")
            D = np.loadtxt(path, delimiter=",", ndmin=2)
    except DataError:
        raise
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the class distances: {exc}") from None
    try:
        return validate_distances(D, k)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


__all__ = ["LabelFile", "read_labels", "write_labels", "read_distances", "SUFFIXES"]
