"""The weak supervision: sparse labels, classes and the class-distance matrix.

``LabelStore`` is the one owner of this state. Views and the trainer never keep their own
copy: they read ``snapshot()`` (copies, safe to hand to another thread) and listen to its
signals. Every change bumps ``version`` so a trainer knows when to rebuild its targets.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from saeviz.core.errors import DataError

UNLABELED = -1

# A qualitative palette (Okabe-Ito, then Tableau) readable on light and dark backgrounds.
DEFAULT_COLORS = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#76B7B2", "#EDC948", "#FF9DA7",
)


def default_color(i: int) -> str:
    """The ``i``-th default class colour (the palette repeats)."""
    return DEFAULT_COLORS[i % len(DEFAULT_COLORS)]


def equal_distances(k: int) -> np.ndarray:
    """The default class-distance matrix: 1 between classes, 0 on the diagonal."""
    return np.ones((k, k)) - np.eye(k)


def validate_distances(D, k: int | None = None) -> np.ndarray:
    """A K x K class-distance matrix, or a ``DataError`` naming what is wrong with it."""
    try:
        D = np.asarray(D, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"class distances are not numbers: {exc}") from None
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise DataError(f"class distances must be a square matrix, got shape {D.shape}")
    if k is not None and D.shape[0] != k:
        raise DataError(f"class distances are {D.shape[0]}x{D.shape[0]} but there are {k} classes")
    if not np.all(np.isfinite(D)):
        raise DataError("class distances contain NaN or infinite values")
    if np.any(D < 0):
        raise DataError("class distances must be non-negative")
    if np.any(np.diag(D) != 0):
        raise DataError("class distances must be zero on the diagonal")
    if not np.allclose(D, D.T, rtol=0, atol=1e-12):
        i, j = np.argwhere(~np.isclose(D, D.T, rtol=0, atol=1e-12))[0]
        raise DataError(f"class distances must be symmetric: d[{i},{j}]={D[i, j]:g} but d[{j},{i}]={D[j, i]:g}")
    return D.copy()


def validate_labels(labels, n: int, k: int) -> np.ndarray:
    """Integer labels in ``[-1, k)`` of length ``n``, or a ``DataError``."""
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise DataError(f"expected {n} labels, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise DataError("labels must be integers (class index, or -1 for unlabeled)")
    arr = arr.astype(np.int64)
    bad = (arr < UNLABELED) | (arr >= k)
    if np.any(bad):
        raise DataError(f"{int(bad.sum())} labels are out of range: classes are 0..{k - 1}, -1 is unlabeled")
    return arr


@dataclass(frozen=True)
class Supervision:
    """An immutable copy of the labels, classes and distances at one version.

    ``weights`` (optional, one per sample) scales the structural loss of each labeled sample
    (1: the paper's; self-training gives its pseudo-labels a smaller one); None is 1 for all.
    """

    labels: np.ndarray
    class_names: tuple[str, ...]
    colors: tuple[str, ...]
    distances: np.ndarray
    version: int
    weights: np.ndarray | None = None

    @property
    def labeled(self) -> np.ndarray:
        """The positions of the labeled samples."""
        return np.flatnonzero(self.labels >= 0)


class LabelStore:
    """Labels of N samples (-1 unlabeled), named coloured classes and their distances."""

    labels_changed = Signal(object)  # indices (np.ndarray) whose label changed
    classes_changed = Signal()       # names, colours or distances changed

    def __init__(self, n: int, class_names, colors=None, distances=None, labels=None):
        names = tuple(str(c) for c in class_names)
        if len(names) < 1:
            raise DataError("at least one class is needed")
        self._lock = threading.Lock()
        self._names = names
        self._colors = tuple(colors) if colors is not None else tuple(default_color(i) for i in range(len(names)))
        if len(self._colors) != len(names):
            raise DataError(f"{len(self._colors)} colours for {len(names)} classes")
        self._distances = validate_distances(equal_distances(len(names)) if distances is None else distances, len(names))
        self._labels = (np.full(n, UNLABELED, np.int64) if labels is None
                        else validate_labels(labels, n, len(names)))
        self._version = 0

    # -- reading ---------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        """The number of samples."""
        return len(self._labels)

    @property
    def labels(self) -> np.ndarray:
        """The label of each sample (-1: unlabeled), as a read-only view."""
        view = self._labels.view()
        view.flags.writeable = False
        return view

    @property
    def class_names(self) -> tuple[str, ...]:
        """The names of the classes, in order."""
        return self._names

    @property
    def colors(self) -> tuple[str, ...]:
        """The colour of each class."""
        return self._colors

    @property
    def distances(self) -> np.ndarray:
        """The target distances between the classes (k, k), a copy."""
        return self._distances.copy()

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        return len(self._names)

    @property
    def version(self) -> int:
        """A number that grows with every change of labels, classes or distances."""
        return self._version

    def counts(self) -> np.ndarray:
        """Labeled samples per class."""
        lab = self._labels[self._labels >= 0]
        return np.bincount(lab, minlength=self.n_classes)

    def snapshot(self) -> Supervision:
        """A consistent copy of the labels, classes, colours and distances, for another thread."""
        with self._lock:
            return Supervision(self._labels.copy(), self._names, self._colors,
                               self._distances.copy(), self._version)

    # -- writing ---------------------------------------------------------------------
    def assign(self, indices, values) -> np.ndarray:
        """Set labels of ``indices`` to ``values`` (scalar or array); returns the old labels."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_samples):
            raise DataError(f"sample index out of range 0..{self.n_samples - 1}")
        vals = np.asarray(values, dtype=np.int64)
        if vals.ndim:
            vals = np.broadcast_to(vals, idx.shape)
        if vals.size and idx.size and (vals.min() < UNLABELED or vals.max() >= self.n_classes):
            raise DataError(f"label out of range: classes are 0..{self.n_classes - 1}, -1 is unlabeled")
        with self._lock:
            old = self._labels[idx]  # a copy (fancy indexing)
            self._labels[idx] = vals
            self._version += 1
        self.labels_changed.emit(idx)
        return old

    def set_all(self, labels) -> None:
        """Replace every label at once (checked)."""
        arr = validate_labels(labels, self.n_samples, self.n_classes)
        with self._lock:
            self._labels[:] = arr
            self._version += 1
        self.labels_changed.emit(np.arange(self.n_samples))

    def set_distances(self, D) -> None:
        """Replace the target distances between the classes (checked)."""
        D = validate_distances(D, self.n_classes)
        with self._lock:
            self._distances = D
            self._version += 1
        self.classes_changed.emit()

    def set_classes(self, names, colors, distances, labels=None) -> None:
        """Replace the class table at once (add, delete, merge are built on this)."""
        names = tuple(str(c) for c in names)
        colors = tuple(colors)
        if not names or len(colors) != len(names):
            raise DataError("every class needs a name and a colour")
        D = validate_distances(distances, len(names))
        arr = validate_labels(self._labels if labels is None else labels, self.n_samples, len(names))
        with self._lock:
            self._names, self._colors, self._distances = names, colors, D
            self._labels[:] = arr
            self._version += 1
        self.classes_changed.emit()
        self.labels_changed.emit(np.arange(self.n_samples))


def follow_store(old: LabelStore | None, new: LabelStore | None, *, labels=None, classes=None) -> LabelStore | None:
    """Move the callbacks ``labels`` (on ``labels_changed``) and ``classes`` (on
    ``classes_changed``) from the store ``old`` to the store ``new``; either may be None.
    Returns ``new``, for ``self._store = follow_store(self._store, store, ...)``."""
    for store, attach in ((old, False), (new, True)):
        if store is None:
            continue
        for signal, slot in ((store.labels_changed, labels), (store.classes_changed, classes)):
            if slot is not None:
                (signal.connect if attach else signal.disconnect)(slot)
    return new
