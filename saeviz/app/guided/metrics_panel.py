"""How good and how honest the latent classifier is: held-out error, confidences, calibration.

Three plots, fed by the guided controller's rankings (computed off the UI thread):

* the SVM error on held-out samples over the epochs (one point per ranked epoch; dashed lines
  mark the epochs after which labels were added, as in the paper's Fig. 10);
* the histogram of the normalised confidence of every scored sample (Fig. 9);
* the reliability diagram: the fraction of held-out predictions that were right (their
  precision) against the confidence, per bin, beside the diagonal of a perfectly calibrated
  score (Fig. 8), with the expected calibration error (ECE). "predicted class" pairs each
  sample's predicted class with its confidence; "every class" pairs each class score with
  whether the sample belongs to that class (the paper's per-class view).

The summary line follows every result; the plots are drawn while the panel shows (behind
another tab they wait, and draw the newest result when the panel comes to the front).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.live_gate import LiveGate
from saeviz.app.common.paint_cache import cache_plot_frame
from saeviz.app.guided.candidates import GuidedController, GuidedResult

ERROR_COLOR = "#0072B2"
HIST_COLOR = "#56B4E9"
RELI_COLOR = "#E69F00"
KIND_TEXT = (("top_label", "predicted class"), ("per_class", "every class"))


def epoch_step(span: float, ticks: int = 8) -> float:
    """A whole tick step (1, 2, 5, 10, 20, ...) giving at most about ``ticks`` ticks over ``span``."""
    step = 1.0
    while span / step > ticks:
        for f in (2.0, 2.5, 2.0):
            step *= f
            if span / step <= ticks:
                break
    return step


def _plot(title: str, x: str, y: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setMinimumSize(120, 80)
    w.setMenuEnabled(False)
    item = w.getPlotItem()
    item.setTitle(title, size="9pt", color="#333333")
    item.setLabel("bottom", x, color="#333333")
    item.setLabel("left", y, color="#333333")
    item.showGrid(x=True, y=True, alpha=0.2)
    for side in ("bottom", "left"):
        item.getAxis(side).enableAutoSIPrefix(False)
    w.setMouseEnabled(x=False, y=False)
    cache_plot_frame(item)
    return w


class MetricsPanel(QWidget):
    """Held-out error over epochs, confidence histogram and reliability diagram."""

    def __init__(self, controller: GuidedController, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("metricsPanel")
        self.controller = controller
        self.result: GuidedResult | None = None
        self.errors: dict[int, float] = {}    # epoch -> held-out error of its newest ranking
        self.sources: dict[int, str] = {}
        self.marks: list[int] = []

        self.summary = QLabel()
        self.summary.setObjectName("metricsSummary")
        self.summary.setWordWrap(True)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("reliabilityKind")
        for key, text in KIND_TEXT:
            self.kind_combo.addItem(text, key)
        self.kind_combo.setToolTip("Reliability of the predicted class's confidence, or of every class score "
                                   "(whether the sample belongs to that class)")

        self.error_plot = _plot("held-out SVM error", "epoch", "error (%)")
        self.error_curve = self.error_plot.plot([], [], pen=pg.mkPen(ERROR_COLOR, width=2), symbol="o",
                                                symbolSize=5, symbolBrush=ERROR_COLOR, symbolPen=None)
        self._mark_lines: list[pg.InfiniteLine] = []

        self.hist_plot = _plot("all samples", "confidence", "samples")
        self.hist_bars = pg.BarGraphItem(x=[], height=[], width=0.05, brush=HIST_COLOR, pen=pg.mkPen("#3b8dbf"))
        self.hist_plot.addItem(self.hist_bars)
        self.hist_plot.setXRange(0, 1, padding=0.02)

        self.reli_plot = _plot("held-out reliability", "confidence", "precision")
        diag = pg.PlotDataItem([0, 1], [0, 1], pen=pg.mkPen("#999999", width=1, style=Qt.DashLine))
        self.reli_plot.addItem(diag)
        self.reli_bars = pg.BarGraphItem(x=[], height=[], width=0.1, brush=pg.mkBrush(230, 159, 0, 110),
                                         pen=pg.mkPen(RELI_COLOR))
        self.reli_plot.addItem(self.reli_bars)
        self.reli_curve = self.reli_plot.plot([], [], pen=pg.mkPen("#a86f00", width=2), symbol="o",
                                              symbolSize=5, symbolBrush="#a86f00", symbolPen=None)
        self.reli_plot.setXRange(0, 1, padding=0.02)
        self.reli_plot.setYRange(0, 1, padding=0.02)

        head = QHBoxLayout()  # under the summary, which takes the panel's width (a narrow dock)
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(QLabel("reliability of"))
        head.addWidget(self.kind_combo)
        head.addStretch(1)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        grid.addWidget(self.error_plot, 0, 0, 1, 2)
        grid.addWidget(self.hist_plot, 1, 0)
        grid.addWidget(self.reli_plot, 1, 1)
        grid.setRowStretch(0, 2)
        grid.setRowStretch(1, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)
        lay.addWidget(self.summary)
        lay.addLayout(head)
        lay.addLayout(grid, 1)

        self.kind_combo.currentIndexChanged.connect(lambda _i: self._draw_reliability())
        # the plots follow the results while they show: behind another tab they wait
        self._plots_gate = LiveGate(self, self._draw_plots, lambda: controller.session.training)
        controller.resultApplied.connect(self.add_result)
        controller.cleared.connect(self.clear)
        self.clear()

    # -- data -----------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.kind_combo.currentData()

    def clear(self) -> None:
        self._plots_gate.cancel()
        self.result = None
        self.errors = {}
        self.sources = {}
        self.marks = []
        self.error_curve.setData([], [])
        self.hist_bars.setOpts(x=[], height=[])
        self.reli_bars.setOpts(x=[], height=[])
        self.reli_curve.setData([], [])
        self._draw_marks()
        self.summary.setText("The classifier's numbers appear after the first epoch.")

    def add_result(self, result: GuidedResult) -> None:
        epoch = result.epoch
        if self.errors and epoch < max(self.errors):
            self.errors = {e: v for e, v in self.errors.items() if e <= epoch}  # trained afresh
            self.marks = [m for m in self.marks if m < epoch]
        self.result = result
        h = result.heldout
        if h is not None and h.n:
            self.errors[epoch] = h.error
            self.sources[epoch] = h.describe()
        self._update_summary()
        self._plots_gate.request()

    def _draw_plots(self) -> None:
        if self.result is None:
            return
        self._draw_errors()
        self._draw_histogram()
        self._draw_reliability()

    def set_marks(self, epochs) -> None:
        """Epochs after which labels were added (drawn as dashed vertical lines)."""
        self.marks = sorted({int(e) for e in epochs})
        self._draw_marks()

    @property
    def histogram_counts(self) -> np.ndarray:
        return np.zeros(0, np.int64) if self.result is None else np.asarray(self.result.histogram.counts)

    @property
    def reliability(self):
        res = self.result
        return None if res is None else res.reliability.get(self.kind)

    @property
    def ece(self) -> float:
        rd = self.reliability
        return float("nan") if rd is None else float(rd.ece)

    def error_points(self) -> tuple[np.ndarray, np.ndarray]:
        epochs = np.array(sorted(self.errors), np.float64)
        return epochs, np.array([self.errors[int(e)] for e in epochs], np.float64)

    # -- drawing -----------------------------------------------------------------------------------------
    def _draw_errors(self) -> None:
        x, y = self.error_points()
        self.error_curve.setData(x, 100.0 * y)
        if len(x):
            lo, hi = float(x.min()), float(x.max())
            self.error_plot.setXRange(lo - 0.5, max(hi, lo + 1) + 0.5, padding=0)
            step = epoch_step(hi - lo)
            self.error_plot.getPlotItem().getAxis("bottom").setTickSpacing(step, step)
            top = float(np.max(100.0 * y))
            self.error_plot.setYRange(0, max(1.0, top * 1.15), padding=0)

    def _draw_marks(self) -> None:
        for line in self._mark_lines:
            self.error_plot.removeItem(line)
        self._mark_lines = []
        for e in self.marks:
            line = pg.InfiniteLine(pos=e, angle=90, pen=pg.mkPen("#D55E00", width=1, style=Qt.DashLine))
            line.setToolTip(f"labels added after epoch {e}")
            self.error_plot.addItem(line)
            self._mark_lines.append(line)

    def _draw_histogram(self) -> None:
        hist = self.result.histogram
        edges = np.asarray(hist.edges)
        centers = 0.5 * (edges[:-1] + edges[1:])
        self.hist_bars.setOpts(x=centers, height=np.asarray(hist.counts, float), width=float(edges[1] - edges[0]))
        top = float(np.max(hist.counts)) if len(hist.counts) else 1.0
        self.hist_plot.setYRange(0, max(1.0, top * 1.08), padding=0)

    def _draw_reliability(self) -> None:
        rd = self.reliability
        item = self.reli_plot.getPlotItem()
        if rd is None:
            self.reli_bars.setOpts(x=[], height=[])
            self.reli_curve.setData([], [])
            item.setTitle("held-out reliability", size="9pt", color="#333333")
            return
        filled = np.asarray(rd.counts) > 0
        centers = rd.centers
        acc = np.nan_to_num(np.asarray(rd.accuracy, float))
        self.reli_bars.setOpts(x=centers[filled], height=acc[filled], width=float(rd.edges[1] - rd.edges[0]))
        self.reli_curve.setData(np.asarray(rd.confidence)[filled], acc[filled])
        item.setTitle(f"reliability · ECE {rd.ece:.3f}", size="9pt", color="#333333")
        self._update_summary()

    def _update_summary(self) -> None:
        res = self.result
        if res is None:
            return
        parts = [f"epoch {res.epoch}"]
        h = res.heldout
        if h is not None and h.n:
            parts.append(f"held-out error {100 * h.error:.1f}% ({h.describe()})")
            rd = self.reliability
            if rd is not None:
                parts.append(f"ECE {rd.ece:.3f}")
        else:
            parts.append("no held-out samples yet: label a few more samples of each class")
        parts.append(f"{len(res.scores):,} samples scored")
        self.summary.setText(" · ".join(parts))


__all__ = ["MetricsPanel"]
