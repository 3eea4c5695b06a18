"""Widgets that show one sample: a grayscale image, a vector as curves, mesh vertices from
the front, each beside its reconstruction; used by the inspector, the labeling queue and the
morph panel."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

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


class CurvePane(pg.PlotWidget):
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


class MeshPane(pg.PlotWidget):
    """Mesh vertices seen from the front (x, y): the sample and its reconstruction."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="w")
        self.setAspectLocked(True)
        self.setMinimumHeight(120)
        self.addLegend(offset=(-5, 5))
        self.original = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(60, 60, 60, 120), name="sample")
        self.reconstruction = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(213, 94, 0, 120),
                                                 name="reconstruction")
        self.addItem(self.original)
        self.addItem(self.reconstruction)

    def set_arrays(self, x: np.ndarray | None, r: np.ndarray | None) -> None:
        for item, v in ((self.original, x), (self.reconstruction, r)):
            if v is None:
                item.setData([], [])
            else:
                v = np.asarray(v).reshape(-1, 3)
                item.setData(v[:, 0], v[:, 1])
