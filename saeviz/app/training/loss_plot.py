"""Loss curves: reconstruction and structural loss per epoch and, smoothed, per batch."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QVBoxLayout, QWidget
from scipy.signal import lfilter

from saeviz.app.common.live_label import LiveLabel
from saeviz.app.common.paint_cache import cache_plot_frame

RECON_COLOR = "#0072B2"
STRUCT_COLOR = "#D55E00"
_FLOOR = 1e-12  # losses are shown on a log axis


class _Series:
    """A growing float buffer (amortised appends, views without copies)."""

    def __init__(self, capacity: int = 1024):
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self.n = 0

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        need = self.n + len(x)
        if need > len(self._x):
            cap = max(need, 2 * len(self._x))
            self._x = np.resize(self._x, cap)
            self._y = np.resize(self._y, cap)
        self._x[self.n:need] = x
        self._y[self.n:need] = y
        self.n = need

    def clear(self) -> None:
        self.n = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[:self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[:self.n]


def ema(values: np.ndarray, alpha: float, start: float | None = None) -> np.ndarray:
    """Exponential moving average of ``values``, continuing from ``start`` when given."""
    values = np.asarray(values, float)
    if not len(values):
        return values.copy()
    prev = float(values[0]) if start is None else float(start)
    out, _ = lfilter([alpha], [1.0, alpha - 1.0], values, zi=[(1.0 - alpha) * prev])
    return out


class LogLossAxis(pg.AxisItem):
    """A log axis that labels 1, 2 and 5 of each decade: labels on all nine ticks of a decade
    pile on top of each other in a small panel (pyqtgraph spaces them as if they were even)."""

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        strings = super().logTickStrings(values, scale, spacing)
        leading = np.rint(10.0 ** (np.asarray(values, float) % 1.0)).astype(int)  # 1..10 in each decade
        return [s if d in (1, 2, 5, 10) else "" for s, d in zip(strings, leading)]


class LossPlot(QWidget):
    """Per-epoch losses (lines with markers) and smoothed per-batch losses (thin lines).

    The x axis counts epochs; batch ``b`` of ``n`` in epoch ``e`` sits at ``e - 1 + b / n``.
    """

    def __init__(self, parent: QWidget | None = None, smoothing: int = 20, max_hz: float = 2.0):
        super().__init__(parent)
        self._alpha = 2.0 / (smoothing + 1)
        self._history: list[dict] = []
        self._history_dirty = False
        self._batches_dirty = False
        # Curves are redrawn at most max_hz times a second, however often data arrive:
        # each redraw re-ranges the plot and re-samples all four curves.
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(int(1000 / max_hz))
        self._redraw.timeout.connect(self.flush)
        self._batch_recon = _Series()
        self._batch_struct = _Series()
        self._ema_recon: float | None = None
        self._ema_struct: float | None = None
        self._done_epochs: set[int] = set()
        self._live: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

        self.plot = pg.PlotWidget(background="w", axisItems={"left": LogLossAxis(orientation="left")})
        self.plot.setLogMode(y=True)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "loss (MSE)")
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.plot.setMouseEnabled(x=True, y=False)
        # The view range moves in steps (epochs up to 10, 20, 50, 100, ...; whole decades of
        # loss) rather than with every point: a new range re-lays the axes and the grid out,
        # which costs more than the curves. Panning by hand stops the stepping; the plot's
        # "A" button gives the range back to pyqtgraph's autorange.
        self._fitted: tuple | None = None
        self._follow = True
        vb = self.plot.getViewBox()
        vb.disableAutoRange()
        vb.sigRangeChangedManually.connect(self._stop_following)
        # one row at the top right: above the curves, whose decade the range rounds up to
        self.legend = self.plot.addLegend(offset=(-10, 4), brush=pg.mkBrush(255, 255, 255, 210),
                                          labelTextColor="#333333", colCount=2, verSpacing=-6)
        cache_plot_frame(self.plot.getPlotItem(), self.legend)

        def curve(color, width, name, symbol=None, alpha=255):
            c = pg.mkColor(color)
            c.setAlpha(alpha)
            item = pg.PlotDataItem(pen=pg.mkPen(c, width=width), name=name, symbol=symbol,
                                   symbolSize=5, symbolBrush=c, symbolPen=None)
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="peak")
            self.plot.addItem(item)
            return item

        # the thin per-batch lines share their colour with the epoch curves and have the
        # "per batch" box below; the legend names the two losses only (it covers less of a
        # small panel)
        self.batch_recon_item = curve(RECON_COLOR, 1, None, alpha=170)
        self.batch_struct_item = curve(STRUCT_COLOR, 1, None, alpha=170)
        self.recon_item = curve(RECON_COLOR, 2, "reconstruction", symbol="o")
        self.struct_item = curve(STRUCT_COLOR, 2, "structural", symbol="o")

        self.show_batches = QCheckBox("per batch")
        self.show_batches.setChecked(True)
        self.show_batches.toggled.connect(self._toggle_batches)
        self.summary = LiveLabel()
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.show_batches)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.plot, 1)
        lay.addLayout(row)

    # -- data -----------------------------------------------------------------------------
    def clear(self) -> None:
        self._batch_recon.clear()
        self._batch_struct.clear()
        self._ema_recon = self._ema_struct = None
        self._done_epochs.clear()
        self._live = None
        self._history = []
        self._history_dirty = self._batches_dirty = False
        self._fitted, self._follow = None, True
        self._redraw.stop()
        for item in (self.batch_recon_item, self.batch_struct_item, self.recon_item, self.struct_item):
            item.setData([], [])
        self.summary.setText("")

    def _schedule(self) -> None:
        if not self._redraw.isActive():
            self._redraw.start()

    def flush(self) -> None:
        """Draw what arrived since the last redraw now."""
        self._redraw.stop()
        drawn = self._history_dirty or self._batches_dirty
        if self._history_dirty:
            self._history_dirty = False
            self._draw_history()
        if self._batches_dirty:
            self._batches_dirty = False
            self._update_batches()
        if drawn:
            self._fit_range()

    def _stop_following(self, *_args) -> None:
        self._follow = False

    def _fit_range(self) -> None:
        """Show every point, the range moving in steps (see ``__init__``)."""
        vb = self.plot.getViewBox()
        if not self._follow or any(vb.autoRangeEnabled()):
            return
        xs, ys = [], []
        for item in (self.recon_item, self.struct_item, self.batch_recon_item, self.batch_struct_item):
            x, y = item.getOriginalDataset()
            if x is not None and len(x) and item.isVisible():
                xs.append(float(np.max(x)))
                y = np.asarray(y, float)
                y = y[np.isfinite(y) & (y > 0)]
                if len(y):
                    ys += [float(y.min()), float(y.max())]
        if not xs or not ys:
            return
        want = (_step_up(max(xs)), math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)) + 1e-9))
        if want != self._fitted:
            self._fitted = want
            vb.setRange(xRange=(0, want[0]), yRange=(want[1], want[2]), padding=0.02)

    @property
    def unit(self):
        """The unit of the RMSE in the summary (``units.Unit``; plain numbers by default)."""
        from saeviz.app.common.units import PLAIN

        return getattr(self, "_unit", PLAIN)

    def set_unit(self, unit) -> None:
        self._unit = unit
        self._history_dirty = True
        self._schedule()

    def set_history(self, history: list[dict]) -> None:
        """Per-epoch losses (``recon_loss``, ``struct_loss``, ``n_labeled`` per entry)."""
        self._history = list(history)
        self._history_dirty = True
        self._schedule()

    def _draw_history(self) -> None:
        history = self._history
        if not history:
            self.recon_item.setData([], [])
            self.struct_item.setData([], [])
            self.summary.setText("")
            return
        ep = np.array([h["epoch"] for h in history], float)
        rec = np.array([h["recon_loss"] for h in history], float)
        st = np.array([h["struct_loss"] if h.get("n_labeled", 1) else np.nan for h in history], float)
        self.recon_item.setData(ep, np.maximum(rec, _FLOOR))
        ok = np.isfinite(st)
        self.struct_item.setData(ep[ok], np.maximum(st[ok], _FLOOR))
        last = history[-1]
        text = f"epoch {last['epoch']}: reconstruction {last['recon_loss']:.4g}"
        if last.get("n_labeled", 1):
            text += f", structural {last['struct_loss']:.4g}"
        if last.get("rmse") is not None:
            text += f", RMSE {self.unit.format(last['rmse'])}"
        self.summary.setText(text)

    def add_epoch_batches(self, epoch: int, batch_losses) -> None:
        """Commit the batch losses of a completed epoch (1-based ``epoch``)."""
        if epoch in self._done_epochs or not len(batch_losses):
            return
        self._done_epochs.add(epoch)
        arr = np.asarray(batch_losses, float).reshape(-1, 2)
        x = epoch - 1 + (np.arange(len(arr)) + 1) / len(arr)
        r = ema(arr[:, 0], self._alpha, self._ema_recon)
        s = ema(arr[:, 1], self._alpha, self._ema_struct)
        self._ema_recon, self._ema_struct = float(r[-1]), float(s[-1])
        self._batch_recon.extend(x, r)
        self._batch_struct.extend(x, s)
        self._live = None
        self._batches_dirty = True
        self._schedule()

    def set_live(self, epoch: int, n_batches: int, batch_losses) -> None:
        """Batch losses of the running (0-based ``epoch`` completed) epoch so far."""
        if not len(batch_losses) or n_batches < 1:
            self._live = None
        else:
            arr = np.asarray(batch_losses, float).reshape(-1, 2)
            x = epoch + (np.arange(len(arr)) + 1) / n_batches
            self._live = (x, ema(arr[:, 0], self._alpha, self._ema_recon),
                          ema(arr[:, 1], self._alpha, self._ema_struct))
        self._batches_dirty = True
        self._schedule()

    def _update_batches(self) -> None:
        if not self.show_batches.isChecked():
            return
        for series, item, k in ((self._batch_recon, self.batch_recon_item, 1),
                                (self._batch_struct, self.batch_struct_item, 2)):
            x, y = series.x, series.y
            if self._live is not None:
                x = np.concatenate([x, self._live[0]])
                y = np.concatenate([y, self._live[k]])
            if k == 2 and len(y) and not np.any(y > 0):
                item.setData([], [])  # no labels (or gamma 0): nothing structural to show
                continue
            item.setData(x, np.maximum(y, _FLOOR))

    def _toggle_batches(self, on: bool) -> None:
        self.batch_recon_item.setVisible(on)
        self.batch_struct_item.setVisible(on)
        if on:
            self._update_batches()

    @property
    def n_batch_points(self) -> int:
        return self._batch_recon.n

    def epoch_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The plotted per-epoch reconstruction curve (x, y), for checks."""
        self.flush()
        x, y = self.recon_item.getOriginalDataset()
        return (np.asarray([] if x is None else x), np.asarray([] if y is None else y))


def _step_up(x: float) -> float:
    """The smallest of 1, 2, 5, 10, 20, 50, ... at or above ``x``."""
    decade = 10.0 ** math.floor(math.log10(max(x, 1.0)))
    for m in (1, 2, 5, 10):
        if m * decade >= x:
            return m * decade
    return 10 * decade


def format_loss(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.4g}"
