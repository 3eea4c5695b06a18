"""The labeling queue: the candidates of a round one at a time, as a cursor over the labels.

``LabelingQueue`` holds the candidates (sample indices, the most worth labeling first) and
where the user is in them. It keeps no labels and no history of its own: an item is
*assigned* when the ``LabelStore`` holds a label for it (whoever gave it), *skipped* when the
user passed it by and has not labeled it since, *pending* otherwise.

A label given through the queue is a ``QueueLabelEdit`` (``LabelingQueue.assignment``), an
edit like every other label change (``saeviz.core.state.label_edits``), meant for the same
undo history: applying it (``do``) sets the label and, when the cursor was on that item,
moves on to the next item not yet labeled; undoing it restores the label and brings the
cursor back to that item; applying it again moves on again. ``LabelingQueue.assign`` builds
and applies one at once, for use without an undo history.

``changed`` is emitted after the cursor moves, the items change, or a label of an item
changes (from the queue or from anywhere else).
"""
from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from saeviz.core.errors import DataError
from saeviz.core.state.label_edits import LabelEdit, label_edit
from saeviz.core.state.labels import UNLABELED, LabelStore


@dataclass(eq=False)
class QueueLabelEdit:
    """Sample ``sample`` labeled ``label`` through ``queue``; ``change`` is the label change
    (None when the sample had that label already: the step then only moves the cursor)."""

    queue: LabelingQueue
    sample: int
    label: int
    change: LabelEdit | None
    text: str

    @property
    def old(self) -> int:
        """The label the sample had before."""
        return self.label if self.change is None else int(self.change.old[0])

    def do(self, store: LabelStore) -> None:
        """Label the sample (if the answer changed a label) and move the queue on from it."""
        with self.queue._moving():
            if self.change is not None:
                self.change.do(store)
            self.queue._moved_on_from(self.sample)

    def undo(self, store: LabelStore) -> None:
        """Put the label back and return the queue to the sample."""
        with self.queue._moving():
            if self.change is not None:
                self.change.undo(store)
            self.queue._return_to(self.sample)


class LabelingQueue:
    """The candidates of a round, one at a time: label, skip, go back (module docstring).

    ``current`` is the sample to label (``None`` once past the last item). Labeling or
    skipping the current item moves on to the next item not yet labeled (labeling another
    item leaves ``current`` where it is); ``back`` steps to the previous item, whatever its
    state, so an answer can be reviewed or changed. ``progress`` is (items labeled, items).
    """

    changed = Signal()

    def __init__(self, candidates: Iterable[int] = (), store: LabelStore | None = None):
        if not isinstance(store, LabelStore):
            raise TypeError("LabelingQueue needs the LabelStore whose samples it walks through")
        self._store = store
        self._skipped: set[int] = set()
        self._quiet = 0
        self._set_items(candidates)
        store.labels_changed.connect(self._labels_changed)

    @property
    def store(self) -> LabelStore:
        """The label store whose samples the queue walks through."""
        return self._store

    # -- the list -----------------------------------------------------------------------
    def _set_items(self, candidates) -> None:
        idx = getattr(candidates, "indices", candidates)  # a ranking's Candidates, or indices
        items = np.asarray(idx if isinstance(idx, np.ndarray) else list(idx), dtype=np.int64).ravel()
        if np.unique(items).size != items.size:
            raise DataError("the queue's candidates contain a sample twice")
        if items.size and (items.min() < 0 or items.max() >= self._store.n_samples):
            raise DataError(f"queue sample out of range 0..{self._store.n_samples - 1}")
        self._items = items
        self._where = {int(s): p for p, s in enumerate(items)}
        self._pos = self._next_open(-1)

    def refresh(self, candidates: Iterable[int]) -> None:
        """Replace the items with a new ranking; labels and skips of samples stay as they are."""
        self._set_items(candidates)
        self.changed.emit()

    @property
    def items(self) -> tuple[int, ...]:
        """The samples of the round, in order."""
        return tuple(int(i) for i in self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def position(self) -> int:
        """Position of ``current`` in ``items`` (``len(self)`` when finished)."""
        return self._pos

    @property
    def current(self) -> int | None:
        """The sample to label (``None`` once past the last item)."""
        return int(self._items[self._pos]) if self._pos < len(self._items) else None

    @property
    def finished(self) -> bool:
        """True once past the last item."""
        return self._pos >= len(self._items)

    def _labeled(self) -> np.ndarray:
        return np.asarray(self._store.labels)[self._items] != UNLABELED

    def status(self, position: int) -> str:
        """``"assigned"``, ``"skipped"`` or ``"pending"`` for the item at ``position``."""
        if not 0 <= position < len(self._items):
            raise IndexError(f"position {position} outside the queue of {len(self._items)}")
        sample = int(self._items[position])
        if self._store.labels[sample] != UNLABELED:
            return "assigned"
        return "skipped" if sample in self._skipped else "pending"

    @property
    def progress(self) -> tuple[int, int]:
        """(items labeled, items)."""
        return int(self._labeled().sum()), len(self._items)

    def _next_open(self, pos: int) -> int:
        rest = np.flatnonzero(~self._labeled()[pos + 1:])
        return pos + 1 + int(rest[0]) if rest.size else len(self._items)

    # -- moving ------------------------------------------------------------------------
    def skip(self) -> int | None:
        """Leave the current item unlabeled and move on; returns the new ``current``."""
        if self.finished:
            raise IndexError("the queue is finished: nothing to skip")
        sample = int(self._items[self._pos])
        if self._store.labels[sample] == UNLABELED:
            self._skipped.add(sample)
        self._pos = self._next_open(self._pos)
        self.changed.emit()
        return self.current

    def back(self) -> int | None:
        """Step to the previous item (no-op at the first); returns the new ``current``."""
        if self._pos > 0:
            self._pos -= 1
            self.changed.emit()
        return self.current

    # -- labeling ----------------------------------------------------------------------
    def assignment(self, label: int, index: int | None = None, text: str | None = None) -> QueueLabelEdit:
        """The edit labeling the current item (or queue item ``index``) ``label``; not applied."""
        if index is None:
            if self.finished:
                raise IndexError("the queue is finished: nothing to assign")
            sample = int(self._items[self._pos])
        else:
            sample = int(index)
            if sample not in self._where:
                raise KeyError(f"sample {index} is not in the queue")
        label = int(label)
        if not 0 <= label < self._store.n_classes:
            raise DataError(f"class {label} is out of range: classes are 0..{self._store.n_classes - 1}")
        change = label_edit(self._store, [sample], label)
        if text is None:
            text = f"Queue: sample {sample} as {self._store.class_names[label]}"
        if change is not None:
            change.text = text
        return QueueLabelEdit(self, sample, label, change, text)

    def assign(self, label: int, index: int | None = None) -> QueueLabelEdit:
        """Label the current item (or queue item ``index``) at once; returns the applied edit."""
        edit = self.assignment(label, index)
        edit.do(self._store)
        return edit

    # -- what the edits do to the cursor ------------------------------------------------
    @contextmanager
    def _moving(self):
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1
        self.changed.emit()

    def _moved_on_from(self, sample: int) -> None:
        pos = self._where.get(sample)
        if pos is None:
            return
        if self._store.labels[sample] != UNLABELED:
            self._skipped.discard(sample)
        if pos == self._pos:
            self._pos = self._next_open(pos)

    def _return_to(self, sample: int) -> None:
        pos = self._where.get(sample)
        if pos is not None:
            self._pos = pos

    def _labels_changed(self, indices) -> None:
        if self._quiet or not len(self._items):
            return
        if np.isin(np.asarray(indices), self._items).any():
            self.changed.emit()


__all__ = ["LabelingQueue", "QueueLabelEdit"]
