"""Labeling rounds: what the newly labeled samples changed once they have trained in.

A round starts when the labels change and ends with the first ranking made after the new
labels trained for at least one full epoch: an epoch that was already running when the labels
changed does not count (the trainer reads the labels at the start of each epoch). The round then
compares the last ranking before the change with that one (``compare_rounds``): predictions
that flipped among the training samples, the classes that gained or lost predictions, the
held-out error before and after and, on the test split, how many held-out samples went from
wrong to right (fixed) or right to wrong (broken).

``RoundTracker`` is the bookkeeping, without widgets; ``RoundsPanel`` shows the rounds.
"""
from __future__ import annotations

from dataclasses import dataclass

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

from saeviz.app.guided.candidates import GuidedController, GuidedResult, swatch
from saeviz.core.method.ranking import RoundComparison, compare_rounds


@dataclass(frozen=True)
class Round:
    """One closed round: the rankings before and after the labels changed, compared."""

    number: int
    epoch_before: int
    epoch_after: int
    new_labels: int                  # samples whose label differs between the two rankings
    comparison: RoundComparison      # over the training samples
    class_names: tuple[str, ...]
    class_colors: tuple[str, ...]
    heldout_before: float | None = None
    heldout_after: float | None = None
    heldout_source: str = ""
    fixed: int | None = None
    broken: int | None = None


@dataclass(frozen=True)
class PendingChange:
    version: int        # the labels' version after the latest change
    need_epoch: int     # a ranking of a model with this many epochs closes the round


class RoundTracker:
    """Turns label changes and rankings into rounds (see the module docstring)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.base: GuidedResult | None = None
        self.pending: PendingChange | None = None
        self.rounds: list[Round] = []

    def labels_changed(self, version: int, completed_epochs: int, training: bool) -> None:
        """The labels changed at ``version`` with ``completed_epochs`` epochs done; while
        ``training``, the running epoch started with the old labels."""
        need = int(completed_epochs) + (2 if training else 1)
        if self.pending is not None:
            need = max(need, self.pending.need_epoch)
        self.pending = PendingChange(int(version), need)

    def add(self, result: GuidedResult) -> Round | None:
        """A new ranking; returns the round it closes, if any."""
        req = result.request
        base = self.base
        if base is not None and (req.n != base.request.n or req.epoch < base.request.epoch):
            self.reset()  # another dataset or a model trained afresh
            base = None
        pending = self.pending
        if pending is None:
            self.base = result
            return None
        if req.label_version < pending.version or req.epoch < pending.need_epoch:
            return None  # the new labels have not trained in yet
        self.pending = None
        self.base = result
        if base is None:
            return None
        changed = int(np.count_nonzero(np.asarray(base.request.labels) != np.asarray(req.labels)))
        if changed == 0:
            return None  # the labels came back to what they were
        rnd = self._compare(base, result, changed)
        self.rounds.append(rnd)
        return rnd

    def _compare(self, before: GuidedResult, after: GuidedResult, changed: int) -> Round:
        cmp = compare_rounds(before.scores, after.scores)
        hb, ha = before.heldout, after.heldout
        err_b = hb.error if hb is not None and hb.n else None
        err_a = ha.error if ha is not None and ha.n else None
        fixed = broken = None
        source = ha.describe() if ha is not None else ""
        if (hb is not None and ha is not None and hb.source == ha.source == "test"
                and hb.scores is not None and ha.scores is not None and np.array_equal(hb.index, ha.index)):
            test_cmp = compare_rounds(hb.scores, ha.scores, heldout_truth=ha.truth)
            err_b, err_a = test_cmp.heldout_error_before, test_cmp.heldout_error_after
            fixed, broken = test_cmp.fixed, test_cmp.broken
        req = after.request
        return Round(number=len(self.rounds) + 1, epoch_before=before.request.epoch, epoch_after=req.epoch,
                     new_labels=changed, comparison=cmp, class_names=tuple(req.class_names),
                     class_colors=tuple(req.class_colors), heldout_before=err_b, heldout_after=err_a,
                     heldout_source=source, fixed=fixed, broken=broken)


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
        if self._store is not None:
            self._store.labels_changed.disconnect(self._labels_changed)
            self._store.classes_changed.disconnect(self._labels_changed)
        self._store = store
        if store is not None:
            store.labels_changed.connect(self._labels_changed)
            store.classes_changed.connect(self._labels_changed)
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
            self.status.setText(f"{len(rounds)} round{'s' if len(rounds) != 1 else ''}. Label samples "
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
