"""Undo and redo of label and class edits: QUndoCommand wrappers of the Qt-free edits.

``LabelEditor`` is the one way the app changes the labels and the class table. It owns the
``QUndoStack`` (shown by ``HistoryPanel``, a ``QUndoView``), the paint stroke in progress
(``saeviz.core.state.label_edits.StrokeAccumulator``) and the ``LabelStore`` it edits:

* ``push(edit)`` applies a ``label_edits`` edit and records it as one undo step;
* ``begin_stroke`` / ``add_to_stroke`` / ``commit_stroke`` / ``cancel_stroke`` paint live and
  record the whole stroke as one undo step (nothing when cancelled);
* changes to the store made elsewhere (revealing labels from the settings, loading a model
  with labels, a new dataset) cannot be undone across: the stack is cleared and
  ``externalChange`` is emitted.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QUndoView

from saeviz.core.state.label_edits import StrokeAccumulator
from saeviz.core.state.labels import LabelStore, follow_store

UNDO_LIMIT = 1000


class EditCommand(QUndoCommand):
    """One ``label_edits`` edit on the undo stack."""

    def __init__(self, editor: "LabelEditor", edit, applied: bool = False):
        super().__init__(edit.text)
        self.editor = editor
        self.edit = edit
        self._skip_first_redo = applied  # a stroke is painted live: pushing must not paint again

    def redo(self) -> None:
        if self._skip_first_redo:
            self._skip_first_redo = False
            return
        self.editor._run(self.edit.do)

    def undo(self) -> None:
        self.editor._run(self.edit.undo)


class LabelEditor(QObject):
    """Applies edits to the current ``LabelStore`` through an undo stack (module docstring)."""

    externalChange = Signal(bool)  # the store changed elsewhere; the history (clean before: arg) was cleared
    strokeActive = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.stack = QUndoStack(self)
        self.stack.setUndoLimit(UNDO_LIMIT)
        self._store: LabelStore | None = None
        self._stroke = StrokeAccumulator()
        self._internal = 0

    # -- the store ------------------------------------------------------------------------------------
    @property
    def store(self) -> LabelStore | None:
        return self._store

    def set_store(self, store: LabelStore | None) -> None:
        """Edit ``store`` from now on; the history of the previous one is dropped."""
        if self._stroke.active:
            self.cancel_stroke()
        self._store = follow_store(self._store, store, labels=self._store_changed, classes=self._store_changed)
        self.stack.clear()

    def _run(self, fn) -> None:
        self._internal += 1
        try:
            fn(self._store)
        finally:
            self._internal -= 1

    def _store_changed(self, *_args) -> None:
        if self._internal:
            return
        if self._stroke.active:  # someone replaced the labels under the brush: drop the stroke
            self._stroke.abandon()
            self.strokeActive.emit(False)
        was_clean = self.stack.isClean()
        self.stack.clear()
        self.externalChange.emit(was_clean)

    # -- edits ---------------------------------------------------------------------------------------
    def push(self, edit, applied: bool = False) -> bool:
        """Apply ``edit`` (unless ``applied``) and record it; False when ``edit`` is None."""
        if edit is None or self._store is None:
            return False
        if self._stroke.active:
            self.commit_stroke()
        self.stack.push(EditCommand(self, edit, applied))
        return True

    # -- strokes ------------------------------------------------------------------------------------------
    @property
    def stroke_active(self) -> bool:
        return self._stroke.active

    @property
    def stroke_value(self) -> int:
        """The label the stroke in progress paints (-1: erasing)."""
        return self._stroke.value

    def begin_stroke(self, value: int, text: str = "Paint") -> None:
        if self._store is None:
            return
        if self._stroke.active:
            self.commit_stroke()
        self._stroke.begin(self._store, value, text)
        self.strokeActive.emit(True)

    def add_to_stroke(self, indices):
        if not self._stroke.active:
            return None
        self._internal += 1
        try:
            return self._stroke.add(indices)
        finally:
            self._internal -= 1

    def commit_stroke(self) -> bool:
        """End the stroke as one undo step; False if it changed nothing (or none was active)."""
        if not self._stroke.active:
            return False
        edit = self._stroke.commit()
        self.strokeActive.emit(False)
        if edit is None:
            return False
        self.stack.push(EditCommand(self, edit, applied=True))
        return True

    def cancel_stroke(self) -> bool:
        if not self._stroke.active:
            return False
        self._internal += 1
        try:
            self._stroke.cancel()
        finally:
            self._internal -= 1
        self.strokeActive.emit(False)
        return True


class HistoryPanel(QUndoView):
    """The edit history: click an entry to go back to it."""

    def __init__(self, stack: QUndoStack, parent=None):
        super().__init__(stack, parent)
        self.setObjectName("labelHistory")
        self.setEmptyLabel("(as opened)")
        self.setToolTip("Every labeling step; click one to return to it")


__all__ = ["EditCommand", "LabelEditor", "HistoryPanel"]
