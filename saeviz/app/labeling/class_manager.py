"""The class manager: add, rename, recolour, merge and delete classes, with label counts.

Every change goes through the ``LabelEditor`` as a class-table edit (one undo step). The
table shows each class's colour, its number key (1-9 pick the class to paint), its name
(double-click to rename) and how many samples carry it; clicking a row makes it the class
the paint tools use. Deleting a class asks what happens to its labels: unlabel them, or
move them to another class. Adding, merging and deleting are locked while training runs
(the running epoch's class targets are numbered by the current classes); renaming,
recolouring and painting are not.

``ClassPalette`` is the compact version for the tool bar: one button per class.
"""
from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.undo import LabelEditor
from saeviz.app.labeling.paint_tools import PaintTools
from saeviz.core.errors import DataError
from saeviz.core.state.label_edits import (
    add_class_edit,
    delete_class_edit,
    merge_classes_edit,
    recolor_class_edit,
    rename_class_edit,
)
from saeviz.core.state.labels import follow_store

SWATCH, NAME, COUNT = range(3)


def swatch_icon(color: str, size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(color))
    return QIcon(pix)


class DeleteClassDialog(QDialog):
    """Asks what happens to the labels of the class being deleted."""

    def __init__(self, names, counts, k: int, parent=None):
        super().__init__(parent)
        self.setObjectName("deleteClassDialog")
        self.setWindowTitle("Delete class")
        self.k = k
        n = int(counts[k])
        text = QLabel(f"Delete the class <b>{_html(names[k])}</b>? "
                      f"{n:,} sample{'s carry' if n != 1 else ' carries'} its label.")
        text.setWordWrap(True)
        self.unlabel = QRadioButton("Unlabel them")
        self.move = QRadioButton("Move them to")
        self.target = QComboBox()
        for j, name in enumerate(names):
            if j != k:
                self.target.addItem(swatch_icon_for(parent, j), name, j)
        self.unlabel.setChecked(True)
        self.target.setEnabled(False)
        self.move.toggled.connect(self.target.setEnabled)
        group = QButtonGroup(self)
        group.addButton(self.unlabel)
        group.addButton(self.move)
        row = QHBoxLayout()
        row.addWidget(self.move)
        row.addWidget(self.target, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Delete")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(self.unlabel)
        lay.addLayout(row)
        lay.addWidget(buttons)

    def move_to(self) -> int | None:
        return int(self.target.currentData()) if self.move.isChecked() else None


class MergeClassesDialog(QDialog):
    """Chooses the class that the selected classes are merged into."""

    def __init__(self, names, selected, parent=None):
        super().__init__(parent)
        self.setObjectName("mergeClassesDialog")
        self.setWindowTitle("Merge classes")
        self.selected = list(selected)
        listed = ", ".join(_html(names[i]) for i in self.selected)
        text = QLabel(f"Merge {listed} into one class. Their labels move to the class kept; "
                      "the others are removed.")
        text.setWordWrap(True)
        self.target = QComboBox()
        for j in self.selected:
            self.target.addItem(swatch_icon_for(parent, j), names[j], j)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Merge")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        row = QHBoxLayout()
        row.addWidget(QLabel("Keep"))
        row.addWidget(self.target, 1)
        lay.addLayout(row)
        lay.addWidget(buttons)

    def target_class(self) -> int:
        return int(self.target.currentData())


def swatch_icon_for(manager, k: int) -> QIcon:
    store = getattr(manager, "store", None)
    if store is None or not 0 <= k < store.n_classes:
        return QIcon()
    return swatch_icon(store.colors[k])


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ClassManager(QWidget):
    """Table of classes with counts; buttons to add, recolour, merge and delete."""

    message = Signal(str)

    def __init__(self, editor: LabelEditor, paint: PaintTools, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("classManager")
        self.editor = editor
        self.paint = paint
        self._store = None
        self._locked = False
        self.dialog: QDialog | None = None

        self.table = QTableWidget(0, 3)
        self.table.setObjectName("classTable")
        self.table.setHorizontalHeaderLabels(["", "Class", "Labels"])
        self.table.verticalHeader().setVisible(False)
        self.table.setMinimumHeight(110)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(SWATCH, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(NAME, QHeaderView.Stretch)
        hh.setSectionResizeMode(COUNT, QHeaderView.ResizeToContents)
        self.table.setToolTip("Click: paint this class (keys 1-9). Double-click the name to rename, "
                              "the colour to recolour. Select several rows to merge them.")
        self.total = QLabel()
        self.total.setObjectName("labelTotal")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020")
        self.error.hide()

        self.add_button = QPushButton("Add")
        self.color_button = QPushButton("Colour…")
        self.merge_button = QPushButton("Merge…")
        self.delete_button = QPushButton("Delete…")
        self.add_button.setToolTip("Add a class (no samples yet)")
        self.color_button.setToolTip("Choose the colour of the selected class")
        self.merge_button.setToolTip("Merge the selected classes into one")
        self.delete_button.setToolTip("Delete the selected class; you choose what happens to its labels")
        buttons = QHBoxLayout()
        for b in (self.add_button, self.color_button, self.merge_button, self.delete_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.total)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.error)

        self._counts_timer = QTimer(self)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(0)
        self._counts_timer.timeout.connect(self._refresh_counts)

        self.add_button.clicked.connect(lambda: self.add_class())  # not add_class(name=checked)
        self.color_button.clicked.connect(self._color_clicked)
        self.merge_button.clicked.connect(self._merge_clicked)
        self.delete_button.clicked.connect(self._delete_clicked)
        self.table.itemChanged.connect(self._item_changed)
        self.table.cellClicked.connect(self._cell_clicked)
        self.table.cellDoubleClicked.connect(self._cell_double_clicked)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        paint.currentClassChanged.connect(self._current_changed)

    # -- binding --------------------------------------------------------------------------------------
    @property
    def store(self):
        return self._store

    def set_store(self, store) -> None:
        self._store = follow_store(self._store, store, labels=self._labels_changed, classes=self.refresh)
        self.refresh()

    def set_structure_locked(self, locked: bool) -> None:
        """While training: no adding, merging or deleting classes."""
        self._locked = bool(locked)
        self._update_buttons()

    # -- display --------------------------------------------------------------------------------------
    def refresh(self) -> None:
        store = self._store
        t = self.table
        with QSignalBlocker(t):
            if store is None:
                t.setRowCount(0)
                self.total.setText("")
                return
            k = store.n_classes
            t.setRowCount(k)
            for i in range(k):
                # reuse items: this may run inside the table's own itemChanged signal
                sw, name, count = (t.item(i, c) for c in (SWATCH, NAME, COUNT))
                if sw is None:
                    sw, name, count = QTableWidgetItem(), QTableWidgetItem(), QTableWidgetItem()
                    count.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                    t.setItem(i, SWATCH, sw)
                    t.setItem(i, NAME, name)
                    t.setItem(i, COUNT, count)
                sw.setIcon(swatch_icon(store.colors[i]))
                sw.setText(str(i + 1) if i < 9 else "")
                sw.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable)
                sw.setToolTip(f"{store.colors[i]} — double-click to change" + (f"; key {i + 1}" if i < 9 else ""))
                name.setText(store.class_names[i])
                name.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsEditable)
                name.setToolTip(store.class_names[i])
                count.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable)
        if self.paint.current_class >= store.n_classes:
            self.paint.set_current_class(store.n_classes - 1)
        self._refresh_counts()
        self._current_changed(self.paint.current_class)
        self._update_buttons()

    def _labels_changed(self, *_args) -> None:
        if not self._counts_timer.isActive():
            self._counts_timer.start()

    def _refresh_counts(self) -> None:
        store = self._store
        if store is None or self.table.rowCount() != store.n_classes:
            return
        counts = store.counts()
        with QSignalBlocker(self.table):
            for i, c in enumerate(counts):
                item = self.table.item(i, COUNT)
                if item is not None:
                    item.setText(f"{int(c):,}")
        total = int(counts.sum())
        self.total.setText(f"{total:,} of {store.n_samples:,} samples labeled")

    def counts_shown(self) -> list[int]:
        return [int(self.table.item(i, COUNT).text().replace(",", "")) for i in range(self.table.rowCount())]

    def _current_changed(self, k: int) -> None:
        t = self.table
        with QSignalBlocker(t):
            for i in range(t.rowCount()):
                item = t.item(i, NAME)
                if item is None:
                    continue
                font = item.font()
                font.setBold(i == k)
                item.setFont(font)

    def selected_classes(self) -> list[int]:
        return sorted({ix.row() for ix in self.table.selectionModel().selectedRows()})

    def _update_buttons(self) -> None:
        sel = self.selected_classes()
        has = self._store is not None
        self.add_button.setEnabled(has and not self._locked)
        self.color_button.setEnabled(has and len(sel) == 1)
        self.merge_button.setEnabled(has and not self._locked and len(sel) >= 2)
        self.delete_button.setEnabled(has and not self._locked and len(sel) == 1
                                      and self._store.n_classes > 1)
        tip = "Locked while training: stop training to change the classes" if self._locked else ""
        for b in (self.add_button, self.merge_button, self.delete_button):
            b.setStatusTip(tip)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))
        if text:
            self.message.emit(text)

    # -- actions ------------------------------------------------------------------------------------------
    def _push(self, make) -> bool:
        try:
            edit = make()
        except DataError as exc:
            self.show_error(str(exc))
            self.refresh()
            return False
        self.show_error("")
        return self.editor.push(edit)

    def add_class(self, name: str | None = None, color: str | None = None) -> bool:
        if self._store is None or self._locked:
            return False
        ok = self._push(lambda: add_class_edit(self._store, name, color))
        if ok:
            self.paint.set_current_class(self._store.n_classes - 1)
        return ok

    def rename_class(self, k: int, name: str) -> bool:
        return self._push(lambda: rename_class_edit(self._store, k, name))

    def recolor_class(self, k: int, color: str) -> bool:
        return self._push(lambda: recolor_class_edit(self._store, k, color))

    def merge_classes(self, sources, target: int) -> bool:
        if self._locked:
            return False
        ok = self._push(lambda: merge_classes_edit(self._store, sources, target))
        if ok:
            self.paint.set_current_class(min(self.paint.current_class, self._store.n_classes - 1))
        return ok

    def delete_class(self, k: int, move_to: int | None = None) -> bool:
        if self._locked:
            return False
        ok = self._push(lambda: delete_class_edit(self._store, k, move_to))
        if ok and self.paint.current_class >= self._store.n_classes:
            self.paint.set_current_class(self._store.n_classes - 1)
        return ok

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == NAME and self._store is not None:
            k = item.row()
            if item.text() != self._store.class_names[k]:
                self.rename_class(k, item.text())

    def _cell_clicked(self, row: int, _col: int) -> None:
        self.paint.set_current_class(row)

    def _cell_double_clicked(self, row: int, col: int) -> None:
        if col == SWATCH:
            self.choose_color(row)

    def _color_clicked(self) -> None:
        sel = self.selected_classes()
        if len(sel) == 1:
            self.choose_color(sel[0])

    def choose_color(self, k: int) -> None:
        dlg = QColorDialog(QColor(self._store.colors[k]), self)
        dlg.setObjectName("classColorDialog")
        dlg.setWindowTitle(f"Colour of {self._store.class_names[k]}")
        dlg.colorSelected.connect(lambda c, k=k: self.recolor_class(k, c.name()))
        self._open(dlg)

    def _merge_clicked(self) -> None:
        sel = self.selected_classes()
        if len(sel) < 2:
            return
        dlg = MergeClassesDialog(self._store.class_names, sel, self)
        dlg.accepted.connect(lambda: self.merge_classes(dlg.selected, dlg.target_class()))
        self._open(dlg)

    def _delete_clicked(self) -> None:
        sel = self.selected_classes()
        if len(sel) != 1:
            return
        k = sel[0]
        counts = self._store.counts()
        if counts[k] == 0:
            self.delete_class(k)
            return
        dlg = DeleteClassDialog(self._store.class_names, counts, k, self)
        dlg.accepted.connect(lambda: self.delete_class(dlg.k, dlg.move_to()))
        self._open(dlg)

    def _open(self, dlg: QDialog) -> None:
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dlg
        dlg.open()


class ClassPalette(QWidget):
    """One button per class (1-9 as keys): the class the tools paint."""

    def __init__(self, paint: PaintTools, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("classPalette")
        self.paint = paint
        self._store = None
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._group.idClicked.connect(paint.set_current_class)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(2, 0, 2, 0)
        self._layout.setSpacing(1)
        self.buttons: list[QToolButton] = []
        self._counts_timer = QTimer(self)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(0)
        self._counts_timer.timeout.connect(self._refresh_counts)
        paint.currentClassChanged.connect(self._current_changed)

    def set_store(self, store) -> None:
        self._store = follow_store(self._store, store, labels=self._labels_changed, classes=self.refresh)
        self.refresh()

    def _labels_changed(self, *_args) -> None:
        if not self._counts_timer.isActive():
            self._counts_timer.start()

    def _refresh_counts(self) -> None:
        store = self._store
        if store is None or len(self.buttons) != store.n_classes:
            return
        for i, (b, c) in enumerate(zip(self.buttons, store.counts())):
            b.setText(f"{i + 1}: {int(c):,}" if i < 9 else f"{int(c):,}")

    def refresh(self) -> None:
        for b in self.buttons:
            self._group.removeButton(b)
            b.deleteLater()
        self.buttons = []
        store = self._store
        if store is None:
            return
        for i, (name, color) in enumerate(zip(store.class_names, store.colors)):
            b = QToolButton(self)
            b.setCheckable(True)
            b.setAutoRaise(True)
            b.setIcon(swatch_icon(color, 16))
            b.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
            b.setToolTip(f"Paint {name}" + (f" (key {i + 1})" if i < 9 else "") + "; the number of its labels")
            self._group.addButton(b, i)
            self._layout.addWidget(b)
            self.buttons.append(b)
        self._refresh_counts()
        self._current_changed(self.paint.current_class)

    def _current_changed(self, k: int) -> None:
        if 0 <= k < len(self.buttons):
            self.buttons[k].setChecked(True)


__all__ = ["ClassManager", "ClassPalette", "DeleteClassDialog", "MergeClassesDialog", "swatch_icon"]
