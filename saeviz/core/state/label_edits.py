"""Edits of the weak supervision as commands, Qt-free.

Every change a user makes to the labels or the class table is an *edit* with ``do(store)``
and ``undo(store)``. An edit stores what changed, not copies of the whole state:

* ``LabelEdit``: the sample indices, their old labels and the new label (one value for a
  paint stroke, or one per index for an import or a reveal).
* ``ClassTableEdit``: the class table (names, colours, distances) before and after, and the
  labels it moved (merging or deleting classes renumbers them).

A paint stroke is gathered by a ``StrokeAccumulator``: ``begin`` it with the class to paint,
``add`` the indices the brush sweeps at each pointer move (applied at once, so the user sees
the paint), then ``commit`` it into *one* ``LabelEdit`` (one undo step) or ``cancel`` it (the
old labels come back). Everything is vectorised: a stroke over tens of thousands of points is
a few numpy operations.

The ``*_edit`` functions build class-table edits from the current store (add, rename,
recolour, merge, delete, regroup, set distances); they validate their input and raise
``DataError`` with a message for the user. None of them changes the store: call ``do``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from saeviz.core.errors import DataError
from saeviz.core.state.labels import (
    UNLABELED,
    LabelStore,
    default_color,
    validate_distances,
)

_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class Edit(Protocol):
    """What an undo stack holds."""

    text: str

    def do(self, store: LabelStore) -> None:
        """Apply the edit to ``store``."""

    def undo(self, store: LabelStore) -> None:
        """Put ``store`` back as it was before ``do``."""


# -- label edits ----------------------------------------------------------------------------------
@dataclass(eq=False)
class LabelEdit:
    """Set ``indices`` to ``new`` (a scalar or one value per index); ``old`` restores them."""

    indices: np.ndarray
    old: np.ndarray
    new: int | np.ndarray
    text: str = "Label"

    def do(self, store: LabelStore) -> None:
        """Set the new labels in ``store``."""
        store.assign(self.indices, self.new)

    def undo(self, store: LabelStore) -> None:
        """Set the old labels back in ``store``."""
        store.assign(self.indices, self.old)

    @property
    def n_changed(self) -> int:
        """The number of samples whose label the edit changes."""
        return len(self.indices)

    @property
    def new_values(self) -> np.ndarray:
        """The new label of every index (an array even when ``new`` is one value)."""
        return np.broadcast_to(np.asarray(self.new, np.int64), self.indices.shape)


def _check_indices(indices, n: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise DataError(f"sample indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise DataError(f"sample index out of range 0..{n - 1}")
    return idx


def _check_value(value, k: int) -> int:
    value = int(value)
    if not UNLABELED <= value < k:
        raise DataError(f"label {value} is out of range: classes are 0..{k - 1}, -1 is unlabeled")
    return value


def _distinct(idx: np.ndarray, n: int) -> np.ndarray:
    """The distinct indices of ``idx`` (all in 0..n-1), ascending. Large selections (a lasso
    over half a million points) go through a bitmap: ``np.unique`` sorts or hashes them."""
    if len(idx) < 4096:
        return np.unique(idx)
    if bool((idx[1:] > idx[:-1]).all()):  # already ascending and distinct (a lasso's hits)
        return idx
    seen = np.zeros(n, bool)
    seen[idx] = True
    return np.flatnonzero(seen)


def label_edit(store: LabelStore, indices, values, text: str = "Label",
               keep_labels: bool = False) -> LabelEdit | None:
    """An edit setting ``indices`` to ``values`` (scalar or per index), or None if nothing changes.

    Repeated indices keep their last value. Only samples whose label really changes are
    stored, so undoing restores exactly what was there. With ``keep_labels`` only unlabeled
    samples take a value: labeled ones keep theirs (a paint stroke over protected labels).
    """
    idx = _check_indices(indices, store.n_samples)
    scalar = np.ndim(values) == 0
    if scalar:
        value = _check_value(values, store.n_classes)
        idx = _distinct(idx, store.n_samples)
        vals = None
    else:
        vals = np.asarray(values)
        if vals.shape != idx.shape:
            raise DataError(f"{len(idx)} indices but {vals.size} labels")
        if vals.size and not np.issubdtype(vals.dtype, np.integer):
            raise DataError(f"labels must be integers, got dtype {vals.dtype}")
        vals = vals.astype(np.int64, copy=False)
        if vals.size and (vals.min() < UNLABELED or vals.max() >= store.n_classes):
            raise DataError(f"labels out of range: classes are 0..{store.n_classes - 1}, -1 is unlabeled")
        # keep the last occurrence of each index
        rev_unique, rev_pos = np.unique(idx[::-1], return_index=True)
        keep = len(idx) - 1 - rev_pos
        idx, vals = rev_unique, vals[keep]
    old = np.asarray(store.labels)[idx]
    changed = old != (value if scalar else vals)
    if keep_labels:
        changed &= old == UNLABELED
    if not changed.any():
        return None
    idx, old = idx[changed], old[changed].copy()
    new = value if scalar else vals[changed].copy()
    return LabelEdit(idx, old, new, text)


def _whole_labels(store: LabelStore, labels) -> np.ndarray:
    """``labels`` as int64, checked to hold one integer per sample of ``store``."""
    arr = np.asarray(labels)
    if arr.shape != (store.n_samples,):
        raise DataError(f"expected {store.n_samples} labels, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"labels must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def replace_labels_edit(store: LabelStore, labels, text: str = "Replace labels") -> LabelEdit | None:
    """An edit making the whole label array equal to ``labels`` (storing only the differences)."""
    arr = _whole_labels(store, labels)
    current = np.asarray(store.labels)
    idx = np.flatnonzero(arr != current)
    if idx.size == 0:
        return None
    return label_edit(store, idx, arr[idx], text)


# -- strokes ------------------------------------------------------------------------------------------
class StrokeAccumulator:
    """Gathers one paint stroke into one ``LabelEdit`` (see the module docstring).

    ``add`` labels the newly swept samples at once; a sample is recorded the first time the
    stroke reaches it, with the label it had before the stroke, so ``cancel`` and the
    resulting edit's ``undo`` restore exactly the labels before the stroke.
    """

    def __init__(self) -> None:
        self._store: LabelStore | None = None
        self._value = UNLABELED
        self._text = ""
        self._touched: np.ndarray | None = None
        self._idx: list[np.ndarray] = []
        self._old: list[np.ndarray] = []

    @property
    def active(self) -> bool:
        """True between ``begin`` and ``commit`` or ``cancel``."""
        return self._store is not None

    @property
    def value(self) -> int:
        """The label the stroke paints."""
        return self._value

    @property
    def store(self) -> LabelStore | None:
        """The label store of the stroke in progress (``None`` when none is)."""
        return self._store

    def begin(self, store: LabelStore, value: int, text: str = "Paint") -> None:
        """Start a stroke that paints ``value`` into ``store``, named ``text`` in the undo history."""
        if self.active:
            raise RuntimeError("a stroke is already in progress: commit or cancel it first")
        self._value = _check_value(value, store.n_classes)
        self._store = store
        self._text = text
        self._touched = np.zeros(store.n_samples, bool)
        self._idx, self._old = [], []

    def add(self, indices) -> np.ndarray:
        """Paint ``indices``; returns those whose label changed now."""
        store = self._require()
        idx = _check_indices(indices, store.n_samples)
        if idx.size == 0:
            return idx
        idx = idx[~self._touched[idx]]
        if idx.size == 0:
            return idx
        idx = np.unique(idx)
        self._touched[idx] = True
        old = np.asarray(store.labels)[idx]
        changed = old != self._value
        idx, old = idx[changed], old[changed]
        if idx.size:
            self._idx.append(idx)
            self._old.append(old.copy())
            store.assign(idx, self._value)
        return idx

    @property
    def n_changed(self) -> int:
        """The number of samples the stroke has relabeled so far."""
        return int(sum(len(i) for i in self._idx))

    def commit(self) -> LabelEdit | None:
        """End the stroke: the edit it made (already applied), or None if nothing changed."""
        self._require()
        edit = None
        if self._idx:
            idx = np.concatenate(self._idx)
            old = np.concatenate(self._old)
            order = np.argsort(idx, kind="stable")
            edit = LabelEdit(idx[order], old[order], self._value, self._text)
        self._reset()
        return edit

    def cancel(self) -> None:
        """End the stroke and put back the labels it changed."""
        store = self._require()
        if self._idx:
            store.assign(np.concatenate(self._idx), np.concatenate(self._old))
        self._reset()

    def abandon(self) -> None:
        """End the stroke without an edit and without restoring (the labels were replaced)."""
        self._reset()

    def _require(self) -> LabelStore:
        if self._store is None:
            raise RuntimeError("no stroke in progress: call begin() first")
        return self._store

    def _reset(self) -> None:
        self._store = None
        self._touched = None
        self._idx, self._old = [], []


# -- the class table ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ClassTable:
    """Names, colours and the K x K distance matrix of the classes."""

    names: tuple[str, ...]
    colors: tuple[str, ...]
    distances: np.ndarray

    @classmethod
    def of(cls, store: LabelStore) -> "ClassTable":
        """The class table of ``store`` now."""
        return cls(tuple(store.class_names), tuple(store.colors), store.distances)

    @property
    def k(self) -> int:
        """The number of classes."""
        return len(self.names)

    def same_as(self, other: "ClassTable") -> bool:
        """True when ``other`` has the same names, colours and distances."""
        return (self.names == other.names and self.colors == other.colors
                and self.distances.shape == other.distances.shape
                and bool(np.array_equal(self.distances, other.distances)))


@dataclass(eq=False)
class ClassTableEdit:
    """Replace the class table ``old`` by ``new``; labels at ``indices`` go ``old_labels`` -> ``new_labels``."""

    old: ClassTable
    new: ClassTable
    indices: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    old_labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    new_labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    text: str = "Edit classes"

    def do(self, store: LabelStore) -> None:
        """Set the new class table, and the labels it moves, in ``store``."""
        self._apply(store, self.new, self.new_labels)

    def undo(self, store: LabelStore) -> None:
        """Set the old class table and labels back in ``store``."""
        self._apply(store, self.old, self.old_labels)

    def _apply(self, store: LabelStore, table: ClassTable, values: np.ndarray) -> None:
        only_distances = (table.names == tuple(store.class_names) and table.colors == tuple(store.colors)
                          and len(self.indices) == 0)
        if only_distances:
            store.set_distances(table.distances)
            return
        labels = np.array(store.labels, copy=True)
        labels[self.indices] = values
        store.set_classes(table.names, table.colors, table.distances, labels)

    @property
    def n_changed(self) -> int:
        """The number of samples whose label the edit changes."""
        return len(self.indices)


def check_class_name(name, others: Sequence[str] = ()) -> str:
    """A stripped, non-empty class name that differs from ``others``."""
    text = str(name).strip()
    if not text:
        raise DataError("a class needs a name")
    if "\n" in text or "\r" in text:
        raise DataError("a class name must fit on one line")
    if text in others:
        raise DataError(f"there is already a class named {text!r}")
    return text


def check_color(color) -> str:
    """``color`` as upper-case ``#RRGGBB``, or a ``DataError`` when it is not written that way."""
    text = str(color).strip()
    if not _HEX_COLOR.match(text):
        raise DataError(f"colours are written #RRGGBB, got {color!r}")
    return text.upper()


def _check_class(store: LabelStore, k, what: str = "class") -> int:
    k = int(k)
    if not 0 <= k < store.n_classes:
        raise DataError(f"there is no {what} {k}: classes are 0..{store.n_classes - 1}")
    return k


def class_table_edit(store: LabelStore, names, colors, distances, remap=None,
                     text: str = "Edit classes") -> ClassTableEdit | None:
    """The general class-table edit: the new table and ``remap[old class] -> new class (or -1)``.

    ``remap`` is None when the classes keep their numbers. Returns None if nothing changes.
    """
    old = ClassTable.of(store)
    names = tuple(str(n) for n in names)
    colors = tuple(str(c) for c in colors)
    if not names:
        raise DataError("at least one class is needed")
    if len(colors) != len(names):
        raise DataError(f"{len(colors)} colours for {len(names)} classes")
    if len(set(names)) != len(names):
        raise DataError("class names must differ from each other")
    if not all(c.strip() for c in colors):
        raise DataError("every class needs a colour")
    D = validate_distances(distances, len(names))
    new = ClassTable(names, colors, D)
    labels = np.asarray(store.labels)
    if remap is None:
        if len(names) != old.k:
            raise DataError("changing the number of classes needs a mapping of the old classes")
        idx = np.empty(0, np.int64)
        old_vals = new_vals = idx
    else:
        table = np.asarray(remap, dtype=np.int64)
        if table.shape != (old.k,):
            raise DataError(f"the class mapping needs {old.k} entries, got {table.shape}")
        if table.size and (table.min() < UNLABELED or table.max() >= len(names)):
            raise DataError(f"the class mapping must point into -1..{len(names) - 1}")
        labeled = np.flatnonzero(labels >= 0)
        mapped = table[labels[labeled]]
        moved = mapped != labels[labeled]
        idx = labeled[moved]
        old_vals = labels[idx].copy()
        new_vals = mapped[moved]
    if idx.size == 0 and new.same_as(old):
        return None
    return ClassTableEdit(old, new, idx, old_vals, new_vals, text)


def replace_supervision_edit(store: LabelStore, names, colors, distances, labels,
                             text: str = "Replace labels and classes") -> ClassTableEdit | None:
    """An edit making the class table and every label equal to the given ones (e.g. a recovery)."""
    names = tuple(str(n) for n in names)
    arr = _whole_labels(store, labels)
    if arr.size and (arr.min() < UNLABELED or arr.max() >= len(names)):
        raise DataError(f"labels out of range: classes are 0..{len(names) - 1}, -1 is unlabeled")
    colors = tuple(str(c) for c in colors)
    if not names or len(colors) != len(names) or len(set(names)) != len(names):
        raise DataError("every class needs its own name and a colour")
    new = ClassTable(names, colors, validate_distances(distances, len(names)))
    old = ClassTable.of(store)
    current = np.asarray(store.labels)
    idx = np.flatnonzero(current != arr)
    if idx.size == 0 and new.same_as(old):
        return None
    return ClassTableEdit(old, new, idx, current[idx].copy(), arr[idx].copy(), text)


def _mean_distance(D: np.ndarray) -> float:
    k = len(D)
    if k < 2:
        return 1.0
    off = D[~np.eye(k, dtype=bool)]
    value = float(off.mean())
    return value if value > 0 else 1.0


def unused_color(colors: Sequence[str]) -> str:
    """The first default class colour not among ``colors`` (a repeated one when all are used)."""
    used = {c.upper() for c in colors}
    for i in range(64):
        c = default_color(i).upper()
        if c not in used:
            return c
    return default_color(len(colors)).upper()


def add_class_edit(store: LabelStore, name: str | None = None, color: str | None = None,
                   distance: float | None = None) -> ClassTableEdit:
    """A new class (no samples yet) at ``distance`` from every other class (default: their mean)."""
    old = ClassTable.of(store)
    if name is None:
        i = old.k + 1
        while f"class {i}" in old.names:
            i += 1
        name = f"class {i}"
    name = check_class_name(name, old.names)
    color = check_color(color) if color is not None else unused_color(old.colors)
    dist = _mean_distance(old.distances) if distance is None else float(distance)
    if not np.isfinite(dist) or dist < 0:
        raise DataError("the distance to the other classes must be a non-negative number")
    k = old.k
    D = np.full((k + 1, k + 1), dist)
    D[:k, :k] = old.distances
    D[k, k] = 0.0
    return class_table_edit(store, old.names + (name,), old.colors + (color,), D,
                            remap=np.arange(k), text=f"Add class {name!r}")


def rename_class_edit(store: LabelStore, k: int, name: str) -> ClassTableEdit | None:
    """An edit giving class ``k`` the name ``name`` (checked, unique); ``None`` when nothing changes."""
    k = _check_class(store, k)
    old = ClassTable.of(store)
    name = check_class_name(name, old.names[:k] + old.names[k + 1:])
    names = list(old.names)
    names[k] = name
    return class_table_edit(store, names, old.colors, old.distances,
                            text=f"Rename {old.names[k]!r} to {name!r}")


def recolor_class_edit(store: LabelStore, k: int, color: str) -> ClassTableEdit | None:
    """An edit giving class ``k`` the colour ``color`` (``#RRGGBB``); ``None`` when nothing changes."""
    k = _check_class(store, k)
    old = ClassTable.of(store)
    colors = list(old.colors)
    colors[k] = check_color(color)
    return class_table_edit(store, old.names, colors, old.distances, text=f"Recolour {old.names[k]!r}")


def set_distances_edit(store: LabelStore, distances, text: str = "Set class distances") -> ClassTableEdit | None:
    """An edit setting the class-distance matrix to ``distances``; ``None`` when nothing changes."""
    old = ClassTable.of(store)
    return class_table_edit(store, old.names, old.colors, distances, text=text)


def _remove_classes(store: LabelStore, removed: Sequence[int], moved_to: dict[int, int]) -> tuple:
    """Table and remap after removing ``removed``; their samples go to ``moved_to`` (or -1)."""
    old = ClassTable.of(store)
    keep = [i for i in range(old.k) if i not in set(removed)]
    if not keep:
        raise DataError("at least one class must remain")
    new_index = np.full(old.k, UNLABELED, np.int64)
    new_index[keep] = np.arange(len(keep))
    remap = new_index.copy()
    for src, dst in moved_to.items():
        remap[src] = UNLABELED if dst < 0 else new_index[dst]
    names = [old.names[i] for i in keep]
    colors = [old.colors[i] for i in keep]
    D = old.distances[np.ix_(keep, keep)]
    return names, colors, D, remap


def merge_classes_edit(store: LabelStore, sources: Sequence[int], target: int) -> ClassTableEdit:
    """Move the samples of ``sources`` into ``target`` and remove the source classes."""
    target = _check_class(store, target, "target class")
    srcs = sorted({_check_class(store, s) for s in sources} - {target})
    if not srcs:
        raise DataError("choose at least one other class to merge into the target")
    names, colors, D, remap = _remove_classes(store, srcs, {s: target for s in srcs})
    gone = ", ".join(repr(store.class_names[s]) for s in srcs)
    return class_table_edit(store, names, colors, D, remap,
                            text=f"Merge {gone} into {store.class_names[target]!r}")


def delete_class_edit(store: LabelStore, k: int, move_to: int | None = None) -> ClassTableEdit:
    """Remove class ``k``; its samples become unlabeled, or move to class ``move_to``."""
    k = _check_class(store, k)
    dst = UNLABELED
    if move_to is not None and int(move_to) >= 0:
        dst = _check_class(store, move_to, "class to move the labels to")
        if dst == k:
            raise DataError("the labels cannot move to the class being deleted")
    names, colors, D, remap = _remove_classes(store, [k], {k: dst})
    what = "unlabel its samples" if dst < 0 else f"move its samples to {store.class_names[dst]!r}"
    return class_table_edit(store, names, colors, D, remap,
                            text=f"Delete class {store.class_names[k]!r} ({what})")


def regroup_edit(store: LabelStore, names: Sequence[str], groups: Sequence[Sequence[int]] | None,
                 distances=None, colors: Sequence[str] | None = None,
                 text: str = "Set up classes") -> ClassTableEdit | None:
    """A new class set: ``groups[j]`` lists the current classes gathered into new class j.

    Current classes in no group lose their labels; ``groups=None`` unlabels every sample.
    Distances default to equal ones, colours to the palette.
    """
    k_old = store.n_classes
    remap = np.full(k_old, UNLABELED, np.int64)
    if groups is not None:
        if len(groups) != len(names):
            raise DataError(f"{len(groups)} groups for {len(names)} classes")
        seen: set[int] = set()
        for j, members in enumerate(groups):
            for m in members:
                m = _check_class(store, m)
                if m in seen:
                    raise DataError(f"class {store.class_names[m]!r} is in two groups")
                seen.add(m)
                remap[m] = j
    k = len(names)
    if distances is None:
        distances = np.ones((k, k)) - np.eye(k)
    if colors is None:
        colors = [default_color(i) for i in range(k)]
    names = [check_class_name(n) for n in names]
    return class_table_edit(store, names, colors, distances, remap, text=text)


__all__ = [
    "Edit", "LabelEdit", "label_edit", "replace_labels_edit", "StrokeAccumulator", "ClassTable",
    "ClassTableEdit", "class_table_edit", "add_class_edit", "rename_class_edit", "recolor_class_edit",
    "set_distances_edit", "merge_classes_edit", "delete_class_edit", "regroup_edit", "replace_supervision_edit",
    "check_class_name", "check_color", "unused_color",
]
