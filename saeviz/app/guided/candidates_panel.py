"""The candidates dock: settings, a status line and the ranked list of guided labeling.

``CandidatesPanel`` lists the candidates of a ``GuidedController``, most worth labeling first,
each with a thumbnail, the two classes the model hesitates between and the margin; clicking a
row selects the sample. ``CandidateModel`` holds the rows, ``ClassPairDelegate`` draws the two
classes with their colours; ``gray_pixmap`` makes the thumbnails' pixmaps.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QSignalBlocker,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.guided.candidates import (
    MAX_K,
    STRATEGY_TEXT,
    STRATEGY_TIPS,
    GuidedController,
)
from saeviz.core.method.ranking import STRATEGIES, Candidates

THUMB = 48                   # thumbnail edge in pixels (images: the nearest whole multiple)
SIZE_ROWS = 12               # rows the table's column widths are measured on


def gray_pixmap(a: np.ndarray, edge: int) -> QPixmap:
    """An 8-bit array as a pixmap whose longer side is about ``edge`` pixels (square pixels,
    scaled up by a whole factor; larger pictures are scaled down smoothly)."""
    a = np.ascontiguousarray(a, np.uint8)
    h, w = a.shape
    img = QImage(a.data, w, h, w, QImage.Format_Grayscale8).copy()
    side = max(h, w)
    if side <= edge:
        f = max(1, round(edge / side))
        return QPixmap.fromImage(img.scaled(w * f, h * f, Qt.KeepAspectRatio, Qt.FastTransformation))
    return QPixmap.fromImage(img.scaled(edge, edge, Qt.KeepAspectRatio, Qt.SmoothTransformation))


COLUMNS = ("#", "sample", "classes", "margin", "conf.", "score")
SCORE_COLUMN = 5
CLASSES_ROLE = Qt.UserRole + 1  # ((name, colour), (name, colour)) of the predicted and runner-up class


class ClassPairDelegate(QStyledItemDelegate):
    """Draws the predicted class over the runner-up ("or ..."), each with its colour swatch."""

    def paint(self, painter, option, index) -> None:
        pair = index.data(CLASSES_ROLE)
        if not pair:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(option.state & QStyle.State_Selected)
        pal = option.palette
        fm = option.fontMetrics
        line = fm.height()
        r = option.rect.adjusted(4, 0, -2, 0)
        top = r.center().y() - line
        box = max(6, fm.ascent() - 3)
        painter.save()
        for i, (name, color) in enumerate(pair):
            y = top + i * line
            painter.fillRect(r.left(), y + (line - box) // 2, box, box, QColor(color))
            text = name if i == 0 else f"or {name}"
            pen = pal.highlightedText().color() if selected else (
                pal.text().color() if i == 0 else pal.placeholderText().color())
            painter.setPen(pen)
            tr = r.adjusted(box + 5, 0, 0, 0)
            painter.drawText(tr.left(), y, tr.width(), line, int(Qt.AlignLeft | Qt.AlignVCenter),
                             fm.elidedText(text, Qt.ElideRight, tr.width()))
        painter.restore()

    def sizeHint(self, option, index):  # noqa: N802 - Qt override
        pair = index.data(CLASSES_ROLE)
        if not pair:
            return super().sizeHint(option, index)
        fm = option.fontMetrics
        width = max(fm.horizontalAdvance(pair[0][0]), fm.horizontalAdvance(f"or {pair[1][0]}"))
        return QSize(width + fm.ascent() + 12, 2 * fm.height() + 4)


class CandidateModel(QAbstractTableModel):
    """The shown candidates as table rows (rank, thumbnail and index, two classes, numbers)."""

    def __init__(self, controller: GuidedController, parent: QObject | None = None):
        super().__init__(parent)
        self.controller = controller
        self._c: Candidates | None = None
        self._thumbs: tuple = ()
        self._pixmaps: dict[int, QPixmap] = {}
        self._names: tuple[str, ...] = ()
        self._colors: tuple[str, ...] = ()
        self._index_of = None
        self.thumb_edge = THUMB

    def reload(self) -> None:
        """Show the controller's current candidates (thumbnails become pixmaps when drawn)."""
        self.beginResetModel()
        ctl = self.controller
        self._c = ctl.candidates
        self._thumbs = ctl.thumbnails
        self._pixmaps = {}
        res = ctl.result
        self._names = res.request.class_names if res is not None else ()
        self._colors = res.request.class_colors if res is not None else ()
        self._index_of = ctl.session.dataset_index if ctl.session.dataset is not None else None
        self.endResetModel()

    @property
    def indices(self) -> np.ndarray:
        """Positions (in the training split) of the shown candidates, in row order."""
        return np.zeros(0, np.int64) if self._c is None else np.asarray(self._c.indices)

    def row_of(self, position: int) -> int:
        """The row showing the sample at ``position``, or -1."""
        hits = np.flatnonzero(self.indices == position)
        return int(hits[0]) if hits.size else -1

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if (parent.isValid() or self._c is None) else len(self._c)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802 - Qt override
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole:
            return ("rank (most worth labeling first)", "the sample and its index in the dataset",
                    "the class the classifier predicts, over the runner-up",
                    "best minus second-best SVM score: small means undecided",
                    "normalised confidence of the predicted class (0 to 1)",
                    "the strategy's score")[section]
        return None

    def _name(self, k: int) -> str:
        return self._names[k] if 0 <= k < len(self._names) else str(k)

    def _color(self, k: int) -> str:
        return self._colors[k] if 0 <= k < len(self._colors) else "#808080"

    def data(self, index, role=Qt.DisplayRole):
        c = self._c
        if c is None or not index.isValid():
            return None
        r, col = index.row(), index.column()
        pos = int(c.indices[r])
        if role == Qt.DisplayRole:
            if col == 0:
                return str(r + 1)
            if col == 1:
                return str(self._index_of(pos)) if self._index_of is not None else str(pos)
            if col == 2:
                return f"{self._name(int(c.best[r]))} or {self._name(int(c.second[r]))}"
            if col == 3:
                return f"{float(c.margin[r]):.3f}"
            if col == 4:
                return f"{float(c.confidence[r]):.2f}"
            if col == 5:
                return f"{float(c.scores[r]):.3f}"
        elif role == CLASSES_ROLE and col == 2:
            b, s2 = int(c.best[r]), int(c.second[r])
            return ((self._name(b), self._color(b)), (self._name(s2), self._color(s2)))
        elif role == Qt.DecorationRole:
            if col == 1 and r < len(self._thumbs):
                pix = self._pixmaps.get(r)
                if pix is None:
                    pix = self._pixmaps[r] = gray_pixmap(self._thumbs[r], self.thumb_edge)
                return pix
        elif role == Qt.TextAlignmentRole:
            if col in (0, 3, 4, 5):
                return int(Qt.AlignRight | Qt.AlignVCenter)
            return int(Qt.AlignLeft | Qt.AlignVCenter)
        elif role == Qt.ToolTipRole:
            return (f"training sample {pos}: {self._name(int(c.best[r]))} or {self._name(int(c.second[r]))}, "
                    f"margin {float(c.margin[r]):.4g}, confidence {float(c.confidence[r]):.3f}")
        elif role == Qt.UserRole:
            return pos
        return None


class CandidatesPanel(QWidget):
    """The candidates dock: settings, a status line and the ranked list."""

    def __init__(self, controller: GuidedController, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("candidatesPanel")
        self.controller = controller
        self.session = controller.session

        self.k_spin = QSpinBox()
        self.k_spin.setObjectName("candidatesK")
        self.k_spin.setRange(1, MAX_K)
        self.k_spin.setValue(controller.k)
        self.k_spin.setToolTip("How many candidates to list")
        self.k_spin.setKeyboardTracking(False)
        self.strategy_combo = QComboBox()
        self.strategy_combo.setObjectName("candidatesStrategy")
        for key in STRATEGIES:
            self.strategy_combo.addItem(STRATEGY_TEXT[key], key)
            self.strategy_combo.setItemData(self.strategy_combo.count() - 1, STRATEGY_TIPS[key], Qt.ToolTipRole)
        self.strategy_combo.setCurrentIndex(self.strategy_combo.findData(controller.strategy))
        self.refresh_button = QToolButton()
        self.refresh_button.setObjectName("candidatesRefresh")
        self.refresh_button.setText("Refresh")
        self.refresh_button.setIcon(QIcon.fromTheme("view-refresh"))
        self.refresh_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.refresh_button.setToolTip("Rank again from the latest model and labels")
        self.highlight_check = QCheckBox("ring in view")
        self.highlight_check.setObjectName("candidatesHighlight")
        self.highlight_check.setChecked(controller.highlight_enabled)
        self.highlight_check.setToolTip("Draw a ring around the candidates in the latent view")

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Top"))
        bar.addWidget(self.k_spin)
        bar.addWidget(QLabel("by"))
        bar.addWidget(self.strategy_combo, 1)
        bar.addWidget(self.refresh_button)
        self.status = QLabel()
        self.status.setObjectName("candidatesStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #555555")
        status_row = QHBoxLayout()
        status_row.setContentsMargins(0, 0, 0, 0)
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.highlight_check, 0, Qt.AlignTop)

        self.model = CandidateModel(controller, self)
        self.table = QTableView()
        self.table.setObjectName("candidatesTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.table.verticalHeader().hide()
        self.table.setIconSize(QSize(THUMB + 8, THUMB + 8))
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        head = self.table.horizontalHeader()
        head.setHighlightSections(False)
        head.setSectionResizeMode(QHeaderView.ResizeToContents)
        # Column widths from the first rows only: measuring every row calls the model (and makes
        # every thumbnail) on each new ranking, a stall of the UI thread at 100 rows.
        head.setResizeContentsPrecision(SIZE_ROWS)
        head.setStretchLastSection(True)
        self.table.setItemDelegateForColumn(2, ClassPairDelegate(self.table))
        self.table.setColumnHidden(SCORE_COLUMN, controller.strategy == "margin")

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)
        lay.addLayout(bar)
        lay.addLayout(status_row)
        lay.addWidget(self.table, 1)

        self.k_spin.valueChanged.connect(controller.set_k)
        self.strategy_combo.currentIndexChanged.connect(
            lambda _i: controller.set_strategy(self.strategy_combo.currentData()))
        self.refresh_button.clicked.connect(controller.refresh)
        self.highlight_check.toggled.connect(controller.set_highlight_enabled)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.table.clicked.connect(self._clicked)
        controller.candidatesChanged.connect(self._reload)
        controller.busyChanged.connect(self._busy)
        controller.message.connect(self._message)
        self.session.selection_changed.connect(self._selection_changed)
        self._message_text = ""
        self._reload()

    # -- settings from outside (menus, saved settings) ------------------------------------------
    def sync_settings(self) -> None:
        """Show the controller's number of candidates, strategy and ring setting."""
        ctl = self.controller
        with QSignalBlocker(self.k_spin):
            self.k_spin.setValue(ctl.k)
        with QSignalBlocker(self.strategy_combo):
            self.strategy_combo.setCurrentIndex(self.strategy_combo.findData(ctl.strategy))
        with QSignalBlocker(self.highlight_check):
            self.highlight_check.setChecked(ctl.highlight_enabled)
        self.table.setColumnHidden(SCORE_COLUMN, ctl.strategy == "margin")

    # -- reactions ------------------------------------------------------------------------------------
    def _reload(self) -> None:
        self.sync_settings()
        res = self.controller.result
        kind = res.request.kind if res is not None else "image"
        edge = THUMB
        if res is not None and kind == "image" and res.thumbnails:
            side = max(res.thumbnails[0].shape)
            edge = side * max(1, round(THUMB / side)) if side <= THUMB else THUMB
        self.model.thumb_edge = edge
        self.table.setIconSize(QSize(edge, edge))
        self.table.verticalHeader().setDefaultSectionSize(edge + 6)
        self.model.reload()
        self._selection_changed(self.session.selected)
        self._update_status()

    def _update_status(self) -> None:
        ctl = self.controller
        res, c = ctl.result, ctl.candidates
        if res is None or c is None:
            self.status.setText(self._message_text or "Candidates appear after the first epoch.")
            return
        busy = " · ranking…" if ctl.busy else ""
        labeled = len(res.candidates) - len(c)
        extra = f", {labeled} labeled since" if labeled else ""
        self.status.setText(f"epoch {res.epoch} · {len(c)} of {res.candidates.n_pool:,} unlabeled{extra}{busy}")

    def _busy(self, _on: bool) -> None:
        self._update_status()

    def _message(self, text: str) -> None:
        self._message_text = text
        self._update_status()

    def _position_at(self, row: int) -> int:
        idx = self.model.indices
        return int(idx[row]) if 0 <= row < len(idx) else -1

    def _row_changed(self, current, _previous) -> None:
        pos = self._position_at(current.row())
        if pos >= 0:
            self.session.select(pos)

    def _clicked(self, index) -> None:
        pos = self._position_at(index.row())
        if pos >= 0:
            self.session.select(pos)

    def _selection_changed(self, pos: int) -> None:
        row = self.model.row_of(pos) if pos >= 0 else -1
        sel = self.table.selectionModel()
        with QSignalBlocker(sel):
            if row < 0:
                sel.clearSelection()
            else:
                self.table.selectRow(row)
                self.table.scrollTo(self.model.index(row, 0))
        self.table.viewport().update()

    def select_row(self, row: int) -> None:
        """Select the sample of ``row`` (what a click does)."""
        self.table.selectRow(row)

    @property
    def shown_indices(self) -> np.ndarray:
        """Positions of the listed candidates, in row order."""
        return self.model.indices


__all__ = ["CLASSES_ROLE", "COLUMNS", "SCORE_COLUMN", "CandidateModel", "CandidatesPanel", "ClassPairDelegate",
           "gray_pixmap"]
