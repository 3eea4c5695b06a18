"""Widgets that show one sample: a grayscale image, a vector as curves, mesh vertices from
the front, each beside its reconstruction; used by the inspector, the labeling queue and the
morph panel."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from saeviz.core.display.density import density_image
from saeviz.core.display.thumbnails import gray8


def gray_image(a: np.ndarray, lo: float, hi: float) -> QImage:
    """An 8-bit grayscale QImage of the 2-D array ``a`` mapped from [lo, hi]."""
    u8 = gray8(a, lo, hi)
    h, w = u8.shape
    return QImage(u8.data, w, h, w, QImage.Format_Grayscale8).copy()


class ImagePane(QLabel):
    """A grayscale image scaled up with square pixels."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(96, 96)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setStyleSheet("background: #202020; color: #bbbbbb")
        self._title = title
        self._image: QImage | None = None
        self.setText(title)

    def set_array(self, a: np.ndarray | None, lo: float = 0.0, hi: float = 1.0) -> None:
        self._image = None if a is None else gray_image(a, lo, hi)
        self._rescale()

    def has_image(self) -> bool:
        return self._image is not None

    def _rescale(self) -> None:
        if self._image is None:
            self.setPixmap(QPixmap())
            self.setText(self._title)
            return
        size = self.contentsRect().size()
        pix = QPixmap.fromImage(self._image).scaled(size, Qt.KeepAspectRatio, Qt.FastTransformation)
        self.setPixmap(pix)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()

    # A QLabel's size hint is its pixmap's size: a picture scaled to the pane would keep the
    # pane (and the panel around it) at least that large, so that it never shrinks with its
    # dock. The pane asks for a fixed size and the picture follows the pane.
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(160, 160)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return self.minimumSize()


class _PlotPane(pg.PlotWidget):
    """A plot that asks for the room of an image pane, not pyqtgraph's 640 x 480: the
    inspector's stacked views take their largest page's size hint, and a scrolled panel
    would grow to it whatever its dock's size."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(320, 160)


class CurvePane(_PlotPane):
    """A vector sample and its reconstruction as curves over the feature index."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="w")
        self.setMinimumHeight(120)
        self.addLegend(offset=(-5, 5))
        self.original = self.plot([], [], pen=pg.mkPen("#333333", width=1), name="sample")
        self.reconstruction = self.plot([], [], pen=pg.mkPen("#D55E00", width=1), name="reconstruction")
        for item in (self.original, self.reconstruction):
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="peak")

    def set_arrays(self, x: np.ndarray | None, r: np.ndarray | None) -> None:
        self.original.setData([] if x is None else np.ravel(x))
        self.reconstruction.setData([] if r is None else np.ravel(r))


class MeshPane(_PlotPane):
    """Mesh vertices seen from the front (x, y): the sample and its reconstruction, drawn as one
    density image (``saeviz.core.display.density``: a cell per 2x2 screen pixels, the two colours
    mixed where both fall). A scatter item of 2 x 13,718 markers took about 130 ms per update,
    and the inspector updates after every epoch while a model trains."""

    COLOURS = ((60, 60, 60, 255), (213, 94, 0, 255))
    MAX_SIDE = 400  # cells of the image's longer side at most
    CELL_PX = 2  # screen pixels of a cell (at the pane's height): a vertex shows as a 2x2 dot

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="w")
        self.setAspectLocked(True)
        self.setMinimumHeight(120)
        legend = self.addLegend(offset=(-5, 5))
        for name, rgba in zip(("sample", "reconstruction"), self.COLOURS):
            legend.addItem(pg.ScatterPlotItem(size=7, pen=None, brush=pg.mkBrush(*rgba)), name)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.image)
        self.shown: tuple[int, int] = (0, 0)  # vertices drawn: sample, reconstruction

    def set_arrays(self, x: np.ndarray | None, r: np.ndarray | None) -> None:
        parts = [np.zeros((0, 2)) if v is None else np.asarray(v, np.float64).reshape(-1, 3)[:, :2] for v in (x, r)]
        self.shown = (len(parts[0]), len(parts[1]))
        xy = np.concatenate(parts)
        ok = np.isfinite(xy).all(axis=1)
        xy, ids = xy[ok], np.repeat([0, 1], self.shown)[ok]
        if not len(xy):
            self.image.clear()
            return
        # a cell per CELL_PX screen pixels of the pane's height (at most MAX_SIDE), a cell of margin
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-9))
        cell = span / min(self.MAX_SIDE, max(self.viewport().height(), 120) / self.CELL_PX)
        lo = lo - cell
        shape = (int(np.ceil((hi[1] - lo[1]) / cell)) + 1, int(np.ceil((hi[0] - lo[0]) / cell)) + 1)
        rect = (lo[0], lo[1], lo[0] + shape[1] * cell, lo[1] + shape[0] * cell)
        rgba, _ = density_image(xy[:, 0], xy[:, 1], ids, np.array(self.COLOURS, np.float64), rect, shape,
                                alpha_floor=0.6)
        self.image.setImage(rgba, levels=(0, 255))
        self.image.setRect(QRectF(rect[0], rect[1], rect[2] - rect[0], rect[3] - rect[1]))
