"""Labeling rounds in the window: what the newly labeled samples changed once they trained in.

When a round starts and closes and what it compares is ``saeviz.core.state.rounds``
(``RoundTracker``). ``RoundsController`` feeds a tracker from the label store and the guided
controller; ``RoundsPanel`` shows the closed rounds and the classes each one moved.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.icons import swatch
from saeviz.app.common.wording import counted
from saeviz.app.guided.candidates import GuidedController, GuidedResult
from saeviz.core.state.labels import follow_store
from saeviz.core.state.rounds import PendingChange, Round, RoundTracker


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


class RoundsController(QObject):
    """Feeds a ``RoundTracker`` from the label store and the guided controller."""

    changed = Signal()

    def __init__(self, guided: GuidedController, parent: QObject | None = None):
        super().__init__(parent if parent is not None else guided)
        self.guided = guided
        self.session = guided.session
        self.tracker = RoundTracker()
        self._store = None
        self.session.dataset_changed.connect(self._dataset_changed)
        guided.resultApplied.connect(self._result)
        guided.cleared.connect(self._reset)
        self._dataset_changed()

    @property
    def rounds(self) -> list[Round]:
        return self.tracker.rounds

    @property
    def pending(self) -> PendingChange | None:
        return self.tracker.pending

    def _dataset_changed(self) -> None:
        store = self.session.labels
        self._store = follow_store(self._store, store, labels=self._labels_changed, classes=self._labels_changed)
        self._reset()

    def _reset(self) -> None:
        self.tracker.reset()
        self.changed.emit()

    def _labels_changed(self, *_args) -> None:
        s = self.session
        if s.labels is None:
            return
        self.tracker.labels_changed(s.labels.version, self.guided.completed_epochs(), s.training)
        self.changed.emit()

    def _result(self, result: GuidedResult) -> None:
        self.tracker.add(result)
        self.changed.emit()


ROUND_COLUMNS = ("round", "epochs", "new labels", "flipped", "held-out error", "fixed / broken")


class RoundsPanel(QWidget):
    """The closed rounds (newest first) and, for the selected one, the classes it moved."""

    def __init__(self, controller: RoundsController, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("roundsPanel")
        self.controller = controller
        self.status = QLabel()
        self.status.setObjectName("roundsStatus")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(ROUND_COLUMNS))
        self.table.setObjectName("roundsTable")
        self.table.setHorizontalHeaderLabels(ROUND_COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.detail = QTableWidget(0, 4)
        self.detail.setObjectName("roundClasses")
        self.detail.setHorizontalHeaderLabels(("class", "gained", "lost", "net"))
        self.detail.verticalHeader().hide()
        self.detail.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.detail.setSelectionMode(QAbstractItemView.NoSelection)
        self.detail.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.detail.horizontalHeader().setStretchLastSection(True)
        self.summary = QLabel()
        self.summary.setObjectName("roundSummary")
        self.summary.setWordWrap(True)
        lower = QWidget()
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.summary)
        ll.addWidget(self.detail, 1)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        controller.changed.connect(self.refresh_view)
        self.table.currentCellChanged.connect(lambda *_a: self._show_detail())
        self.refresh_view()

    def _item(self, text: str, align=Qt.AlignRight | Qt.AlignVCenter) -> QTableWidgetItem:
        it = QTableWidgetItem(text)
        it.setTextAlignment(align)
        return it

    def refresh_view(self) -> None:
        ctl = self.controller
        rounds = list(reversed(ctl.rounds))
        pending = ctl.pending
        if pending is not None:
            self.status.setText(f"Labels changed: this round closes with the ranking after epoch "
                                f"{pending.need_epoch}.")
        elif rounds:
            self.status.setText(f"{counted(len(rounds), 'round')}. Label samples "
                                "(e.g. with the queue) and train to start the next.")
        else:
            self.status.setText("A round starts when labels change and closes once they have trained "
                                "for an epoch.")
        current = self.table.currentRow()
        self.table.setRowCount(len(rounds))
        for r, rnd in enumerate(rounds):
            err = f"{_pct(rnd.heldout_before)} → {_pct(rnd.heldout_after)}"
            fb = "–" if rnd.fixed is None else f"{rnd.fixed} / {rnd.broken}"
            cells = (str(rnd.number), f"{rnd.epoch_before} → {rnd.epoch_after}", f"{rnd.new_labels:,}",
                     f"{rnd.comparison.n_flipped:,}", err, fb)
            for c, text in enumerate(cells):
                item = self._item(text)
                if c == 4 and rnd.heldout_source:
                    item.setToolTip(f"held-out: {rnd.heldout_source}")
                self.table.setItem(r, c, item)
        if rounds:
            self.table.setCurrentCell(0 if current < 0 or current >= len(rounds) else current, 0)
        self._show_detail()

    def selected_round(self) -> Round | None:
        rounds = list(reversed(self.controller.rounds))
        r = self.table.currentRow()
        return rounds[r] if 0 <= r < len(rounds) else (rounds[0] if rounds else None)

    def _show_detail(self) -> None:
        rnd = self.selected_round()
        if rnd is None:
            self.summary.setText("")
            self.detail.setRowCount(0)
            return
        cmp = rnd.comparison
        parts = [f"Round {rnd.number}: {rnd.new_labels:,} new labels, {cmp.n_flipped:,} of "
                 f"{cmp.n_samples:,} predictions flipped."]
        if rnd.heldout_after is not None:
            parts.append(f"Held-out error {_pct(rnd.heldout_before)} → {_pct(rnd.heldout_after)}"
                         + (f" ({rnd.heldout_source})" if rnd.heldout_source else "") + ".")
        if rnd.fixed is not None:
            parts.append(f"{rnd.fixed} held-out samples fixed, {rnd.broken} broken.")
        self.summary.setText(" ".join(parts))
        classes = np.asarray(cmp.classes)
        self.detail.setRowCount(len(classes))
        for r, k in enumerate(classes):
            k = int(k)
            name = rnd.class_names[k] if 0 <= k < len(rnd.class_names) else str(k)
            item = QTableWidgetItem(name)
            if 0 <= k < len(rnd.class_colors):
                item.setIcon(swatch(rnd.class_colors[k]))
            self.detail.setItem(r, 0, item)
            g, lo = int(cmp.gained[r]), int(cmp.lost[r])
            self.detail.setItem(r, 1, self._item(f"+{g}" if g else "0"))
            self.detail.setItem(r, 2, self._item(f"−{lo}" if lo else "0"))
            self.detail.setItem(r, 3, self._item(f"{g - lo:+d}" if g != lo else "0"))


__all__ = ["Round", "RoundTracker", "RoundsController", "RoundsPanel", "PendingChange"]
