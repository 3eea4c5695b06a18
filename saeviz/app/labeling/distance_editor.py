"""The class-distance editor: a K x K table, presets and a live preview of the class layout.

The table is a draft of the distance matrix. Each edited cell is checked as it is typed (a
non-negative number) and, when committed, the whole draft is checked (symmetric, zero
diagonal, non-negative); a valid draft becomes the store's distances through the
``LabelEditor`` (one undo step), an invalid one stays in the table, marked, with a message
saying what is wrong. "Keep symmetric" (on by default) mirrors each edit across the diagonal.

Presets: equal distances, and the paper's decompositions (MNIST A=(0,1,9), B=(4,6,8),
C=(2,3,5,7); Fashion-MNIST summer / winter / all-year) with the paper's distance of 1
between classes, plus a seasons variant with all-year fashion between summer and winter. A
preset whose classes differ from the current ones offers to set them up: grouping the ten
digit or clothing classes (labels move to their group), or replacing the classes.

The preview shows where MDS puts the class targets for these distances
(``saeviz.core.method.class_layout``, with the training's MDS settings, weighted by the label
counts, in the latent dimension, shown in its two principal directions), the achieved
distances and the stress; the presets live there too. For K classes it is a K-point
problem: a few milliseconds at most for twenty classes (``python -m benchmarks.bench_labeling``);
``last_preview_ms`` tells.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.undo import LabelEditor
from saeviz.app.common.wording import counted
from saeviz.core.data.digits import BASE_CLASSES, DECOMPOSITIONS
from saeviz.core.errors import DataError
from saeviz.core.method.class_layout import PRESETS, Layout, Preset, class_layout
from saeviz.core.method.config import MDSConfig
from saeviz.core.state.label_edits import regroup_edit, set_distances_edit
from saeviz.core.state.labels import equal_distances, follow_store

ERROR_BG = QColor(255, 205, 205)
DIAGONAL_BG = QColor(235, 235, 235)
MAX_PAIR_LABELS = 6  # pairs get a distance label up to this many classes


# -- the widget ------------------------------------------------------------------------------------------------
class _CellDelegate(QStyledItemDelegate):
    """A line edit that checks the number as it is typed."""

    def __init__(self, editor_widget: "DistanceEditor"):
        super().__init__(editor_widget)
        self.owner = editor_widget

    def createEditor(self, parent, option, index):  # noqa: N802 - Qt override
        line = QLineEdit(parent)
        line.setObjectName("distanceCellEditor")
        line.textEdited.connect(lambda text, r=index.row(), c=index.column(): self.owner.check_typing(r, c, text))
        return line


class DistanceEditor(QWidget):
    """Edit the class-distance matrix with validation, presets and an MDS preview."""

    message = Signal(str)

    def __init__(self, editor: LabelEditor, latent_dim: Callable[[], int] | None = None,
                 mds_config: Callable[[], MDSConfig] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("distanceEditor")
        self.editor = editor
        self.latent_dim = latent_dim or (lambda: 2)
        self.mds_config = mds_config or MDSConfig
        self._store = None
        self._draft: np.ndarray | None = None
        self._bad: set[tuple[int, int]] = set()
        self._locked = False
        self.last_preview_ms = 0.0
        self.layout_result: Layout | None = None
        self.box: QMessageBox | None = None

        self.table = QTableWidget()
        self.table.setObjectName("distanceEditorTable")
        self.table.setItemDelegate(_CellDelegate(self))
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed
                                   | QAbstractItemView.AnyKeyPressed)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.setMinimumHeight(90)
        self.symmetric = QCheckBox("Keep symmetric")
        self.symmetric.setChecked(True)
        self.symmetric.setToolTip("Mirror each edit across the diagonal")
        self.status = QLabel()
        self.status.setObjectName("distanceMessage")
        self.status.setWordWrap(True)
        self.presets = QComboBox()
        self.presets.setObjectName("distancePresets")
        for p in PRESETS:
            self.presets.addItem(p.text, p.key)
        self.apply_preset_button = QPushButton("Apply")
        self.apply_preset_button.setToolTip("Use the chosen preset (it may offer to set up its classes)")

        self.plot = pg.PlotWidget()
        self.plot.setObjectName("distancePreview")
        self.plot.setMinimumHeight(150)
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMouseEnabled(False, False)
        self.plot.getViewBox().setAspectLocked(True)
        self._pairs = pg.PlotCurveItem(pen=pg.mkPen((150, 150, 150), width=1), connect="pairs")
        self._points = pg.ScatterPlotItem(size=14, pen=pg.mkPen((40, 40, 40), width=1))
        self.plot.addItem(self._pairs)
        self.plot.addItem(self._points)
        self._texts: list[pg.TextItem] = []
        self.preview_info = QLabel()
        self.preview_info.setObjectName("previewInfo")
        self.preview_info.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.presets, 1)
        top.addWidget(self.apply_preset_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.symmetric)
        lay.addWidget(self.status)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.preview_info)

        self.table.itemChanged.connect(self._item_changed)
        self.apply_preset_button.clicked.connect(lambda: self.apply_preset(self.presets.currentData()))

    # -- binding -----------------------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self._store = follow_store(self._store, store, classes=self.refresh)
        self.refresh()

    def set_structure_locked(self, locked: bool) -> None:
        """While training, presets that change the classes are refused (distances still apply)."""
        self._locked = bool(locked)

    def refresh(self) -> None:
        """Show the store's distances (dropping any invalid draft) and update the preview."""
        store = self._store
        t = self.table
        self._bad.clear()
        with QSignalBlocker(t):
            if store is None:
                t.setRowCount(0)
                t.setColumnCount(0)
                self._draft = None
                return
            D = store.distances
            self._draft = D.copy()
            k = store.n_classes
            t.setRowCount(k)
            t.setColumnCount(k)
            short = [n if len(n) <= 12 else n[:11] + "…" for n in store.class_names]
            t.setHorizontalHeaderLabels(short)
            t.setVerticalHeaderLabels(short)
            for i in range(k):
                for j in range(k):
                    item = t.item(i, j)  # reuse items: this may run inside the table's own signal
                    if item is None:
                        item = QTableWidgetItem()
                        item.setTextAlignment(Qt.AlignCenter)
                        t.setItem(i, j, item)
                    item.setText(f"{D[i, j]:g}")
                    if i == j:
                        item.setFlags(Qt.ItemIsEnabled)
                        item.setBackground(QBrush(DIAGONAL_BG))
                    else:
                        item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsEditable)
                        item.setBackground(QBrush())
                header = t.verticalHeaderItem(i)
                if header is not None:
                    header.setForeground(QColor(store.colors[i]))
                    header.setToolTip(store.class_names[i])
        self._set_status("")
        self.update_preview()

    # -- checking ------------------------------------------------------------------------------------------------
    def _name(self, i: int) -> str:
        return self._store.class_names[i] if self._store is not None else str(i)

    def _cell_problem(self, i: int, j: int, text: str) -> str | None:
        try:
            value = float(text.strip())
        except ValueError:
            return f"d({self._name(i)}, {self._name(j)}): {text.strip()!r} is not a number"
        if not np.isfinite(value):
            return f"d({self._name(i)}, {self._name(j)}) must be a finite number"
        if value < 0:
            return f"d({self._name(i)}, {self._name(j)}) = {value:g}: distances must be non-negative"
        return None

    def check_typing(self, i: int, j: int, text: str) -> None:
        """Live check while a cell is being edited."""
        problem = self._cell_problem(i, j, text) if text.strip() else None
        self._set_status(problem or "", error=bool(problem))

    def _draft_problem(self, D: np.ndarray) -> str | None:
        k = len(D)
        for i in range(k):
            for j in range(i + 1, k):
                if abs(D[i, j] - D[j, i]) > 1e-12:
                    return (f"distances must be symmetric: d({self._name(i)}, {self._name(j)}) = {D[i, j]:g} "
                            f"but d({self._name(j)}, {self._name(i)}) = {D[j, i]:g}")
        return None

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._store is None or self._draft is None:
            return
        i, j = item.row(), item.column()
        problem = self._cell_problem(i, j, item.text())
        if problem is not None:
            self._bad.add((i, j))
            self._mark(i, j, True)
            self._set_status(problem + " — not applied", error=True)
            return
        value = float(item.text())
        self._bad.discard((i, j))
        self._mark(i, j, False)
        self._draft[i, j] = value
        if self.symmetric.isChecked():
            self._draft[j, i] = value
            self._bad.discard((j, i))
            with QSignalBlocker(self.table):
                other = self.table.item(j, i)
                if other is not None:
                    other.setText(f"{value:g}")
            self._mark(j, i, False)
        self.try_apply()

    def try_apply(self) -> bool:
        """Apply the draft if it is valid; otherwise say why not."""
        if self._bad:
            i, j = sorted(self._bad)[0]
            self._set_status(self._cell_problem(i, j, self.table.item(i, j).text()) + " — not applied", error=True)
            return False
        problem = self._draft_problem(self._draft)
        if problem is not None:
            self._set_status(problem + " — not applied", error=True)
            return False
        try:
            edit = set_distances_edit(self._store, self._draft)
        except DataError as exc:
            self._set_status(f"{exc} — not applied", error=True)
            return False
        if edit is None:
            self._set_status("")
            return True
        self.editor.push(edit)  # refresh() follows through classes_changed
        return True

    def _mark(self, i: int, j: int, bad: bool) -> None:
        item = self.table.item(i, j)
        if item is None:
            return
        with QSignalBlocker(self.table):
            item.setBackground(QBrush(ERROR_BG) if bad else QBrush())

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020" if error else "")
        if error:
            self.message.emit(text)

    def status_text(self) -> str:
        return self.status.text()

    # -- presets ---------------------------------------------------------------------------------------------------
    def apply_preset(self, key: str) -> None:
        preset = next((p for p in PRESETS if p.key == key), None)
        store = self._store
        if preset is None or store is None:
            return
        if preset.names is None:
            self._push_distances(equal_distances(store.n_classes), preset)
            return
        k = len(preset.names)
        D = preset.distances if preset.distances is not None else equal_distances(k)
        if tuple(store.class_names) == preset.names:
            self._push_distances(D, preset)
            return
        if self._locked:
            self._set_status(f"“{preset.text}” needs other classes: stop training to set them up", error=True)
            return
        dec = DECOMPOSITIONS[preset.decomposition]
        base = BASE_CLASSES[dec.base]
        n_labeled = int(store.counts().sum())
        groups_text = "; ".join(f"{name}" for name in preset.names)
        if tuple(store.class_names) == base:
            groups = [list(g) for _n, g in dec.groups]
            text = (f"“{preset.text}” uses the classes {groups_text}. Group the current "
                    f"{len(base)} classes into them? The {n_labeled:,} labels move to their group.")
        else:
            groups = None
            text = (f"“{preset.text}” uses the classes {groups_text}, which are not the current ones. "
                    f"Replace the current {store.n_classes} classes by them? "
                    f"The {n_labeled:,} labels are removed (Undo brings them back).")
        box = QMessageBox(QMessageBox.Question, "Set up the classes", text,
                          QMessageBox.Ok | QMessageBox.Cancel, self)
        box.setObjectName("presetBox")
        box.button(QMessageBox.Ok).setText("Set up classes")
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.accepted.connect(lambda: self._set_up(preset, groups, D))
        box.finished.connect(lambda _r: setattr(self, "box", None))
        self.box = box
        box.open()

    def _set_up(self, preset: Preset, groups, D) -> None:
        try:
            edit = regroup_edit(self._store, preset.names, groups, D, text=f"Set up classes: {preset.text}")
        except DataError as exc:
            self._set_status(str(exc), error=True)
            return
        self.editor.push(edit)

    def _push_distances(self, D, preset: Preset) -> None:
        try:
            edit = set_distances_edit(self._store, D, text=f"Distances: {preset.text}")
        except DataError as exc:
            self._set_status(str(exc), error=True)
            return
        if edit is None:
            self._set_status("the distances already are this preset's")
        else:
            self.editor.push(edit)

    # -- preview -----------------------------------------------------------------------------------------------------
    def update_preview(self) -> None:
        store = self._store
        for t in self._texts:
            self.plot.removeItem(t)
        self._texts = []
        if store is None:
            self._points.setData([], [])
            self._pairs.setData([], [])
            return
        D = store.distances
        t0 = time.perf_counter()
        mds = self.mds_config()
        lay = class_layout(D, store.counts(), self.latent_dim(), max_iter=mds.max_iter, eps=mds.eps)
        self.last_preview_ms = (time.perf_counter() - t0) * 1000
        self.layout_result = lay
        P = lay.plane
        k = len(P)
        brushes = [pg.mkBrush(c) for c in store.colors]
        self._points.setData(P[:, 0], P[:, 1], brush=brushes)
        iu, ju = np.triu_indices(k, 1)
        seg = np.empty((2 * len(iu), 2))
        seg[0::2], seg[1::2] = P[iu], P[ju]
        self._pairs.setData(seg[:, 0], seg[:, 1], connect="pairs")
        for i in range(k):
            text = pg.TextItem(store.class_names[i][:14], color=(30, 30, 30), anchor=(0.5, 1.3))
            text.setPos(P[i, 0], P[i, 1])
            self.plot.addItem(text)
            self._texts.append(text)
        if k <= MAX_PAIR_LABELS:
            for i, j in zip(iu, ju):
                text = pg.TextItem(f"{lay.achieved[i, j]:.2g}", color=(110, 110, 110), anchor=(0.5, 0.5))
                mid = (P[i] + P[j]) / 2
                text.setPos(mid[0], mid[1])
                self.plot.addItem(text)
                self._texts.append(text)
        self.plot.getViewBox().autoRange(padding=0.25)
        with QSignalBlocker(self.table):
            for i in range(k):
                for j in range(k):
                    item = self.table.item(i, j)
                    if item is not None and i != j:
                        item.setToolTip(f"wanted {D[i, j]:g}, MDS achieves {lay.achieved[i, j]:.3g}")
        err = np.abs(lay.achieved - D)
        worst = np.unravel_index(np.argmax(err), err.shape) if k > 1 else (0, 0)
        dim = lay.positions.shape[1]
        parts = [f"MDS in {counted(dim, 'dimension')}: stress {lay.stress:.3g} "
                 f"(normalised {100 * lay.normalized_stress:.1f}%)"]
        if k > 1 and err[worst] > 1e-3 * max(float(D.max()), 1e-12):
            i, j = worst
            parts.append(f"largest mismatch d({self._name(i)}, {self._name(j)}): wanted {D[i, j]:g}, "
                         f"achieved {lay.achieved[i, j]:.3g}")
        elif k > 1:
            parts.append("every distance is achieved")
        self.preview_info.setText("; ".join(parts))
        self.preview_info.setToolTip(f"computed in {self.last_preview_ms:.2f} ms")


__all__ = ["DistanceEditor", "PRESETS", "Preset", "class_layout", "Layout"]
