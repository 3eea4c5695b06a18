"""The 2D backend of the latent view: a fast point-cloud item for pyqtgraph and its legend.

``PointCloudItem`` draws N points with one ``QPainter.drawPixmapFragments`` call from an atlas
of pre-rendered symbols (one per distinct style, never one per point). A positions-only update
stores the arrays and marks the item dirty; the fragment table's symbol columns are filled
only when the style changes. A whole live frame at 60,000 points costs about 30 ms of CPU
(``python -m benchmarks.bench_view``); ``ScatterPlotItem.setData`` alone takes about 180 ms
there, because it rebuilds its record array and per-point style table on every call.

For export (PNG/SVG) the item paints vector markers instead, so SVGs contain real markers and
PNGs at any resolution stay sharp.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6 import QtCore, QtGui

from saeviz.app.latent.style import (
    Legend,
    Symbol,
    draw_symbol,
    legend_size,
    paint_legend,
)

_FAR = 1e9  # Qt's raster engine misbehaves with coordinates near the int range; clip to this


class SymbolAtlas:
    """Symbols pre-rendered side by side into one pixmap at a device pixel ratio."""

    def __init__(self, symbols: list[Symbol], dpr: float = 1.0):
        self.symbols = list(symbols)
        self.dpr = float(dpr)
        cells = [int(np.ceil(s.extent * dpr)) for s in self.symbols] or [1]
        height = max(cells)
        self.rects = np.zeros((len(cells), 4), np.float64)  # sx, sy, sw, sh in device px
        image = QtGui.QImage(sum(cells), height, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(QtCore.Qt.GlobalColor.transparent)
        p = QtGui.QPainter(image)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        x = 0
        for i, (sym, c) in enumerate(zip(self.symbols, cells)):
            draw_symbol(p, sym, x + c / 2.0, c / 2.0, scale=self.dpr)
            self.rects[i] = (x, 0, c, c)
            x += c
        p.end()
        self.pixmap = QtGui.QPixmap.fromImage(image)
        self.max_extent = max((s.extent for s in self.symbols), default=0.0)


class PointCloudItem(pg.GraphicsObject):
    """Many points in data coordinates drawn with pixel-sized symbols (pxMode).

    Symbol 0 is the default: points get it when their count changes until the next style.
    """

    def __init__(self, symbols: list[Symbol] | None = None):
        super().__init__()
        self._x = np.zeros(0)
        self._y = np.zeros(0)
        self._bad = None  # draw-order rows with non-finite positions
        self._bounds = None
        self._symbols = list(symbols) if symbols else []
        self._ids = np.zeros(0, np.int32)
        self._order = None
        self._atlas: SymbolAtlas | None = None
        self._frag = np.zeros((0, 10))
        self._frag_ready = False
        self.paint_count = 0  # paints so far: lets tests and benchmarks wait for a frame

    # ------------------------------------------------------------------ data
    @property
    def n(self) -> int:
        return len(self._x)

    @property
    def symbols(self) -> list[Symbol]:
        return list(self._symbols)

    def positions(self) -> np.ndarray:
        """(N, 2) positions in original (not draw) order."""
        xy = np.empty((self.n, 2))
        if self._order is None:
            xy[:, 0], xy[:, 1] = self._x, self._y
        else:
            xy[self._order, 0], xy[self._order, 1] = self._x, self._y
        return xy

    def set_positions(self, xy: np.ndarray) -> None:
        """Move the points; keeps the style if the count is unchanged (the live-frame path)."""
        xy = np.asarray(xy, dtype=np.float64)
        n = len(xy)
        if n != len(self._ids):
            self._ids = np.zeros(n, np.int32)
            self._order = None
            self._frag_ready = False
        if self._order is None:
            x, y = xy[:, 0].copy(), xy[:, 1].copy()
        else:
            x, y = xy[self._order, 0], xy[self._order, 1]
        finite = np.isfinite(x) & np.isfinite(y)
        if finite.all():
            self._bad = None
            self._bounds = (x.min(), x.max(), y.min(), y.max()) if n else None
        else:
            self._bad = np.flatnonzero(~finite)
            x[~finite] = np.nan
            y[~finite] = np.nan
            self._bounds = ((np.nanmin(x), np.nanmax(x), np.nanmin(y), np.nanmax(y))
                            if finite.any() else None)
        self.prepareGeometryChange()
        self._x, self._y = x, y
        self.informViewBoundsChanged()
        self.update()

    def set_style(self, symbols: list[Symbol], ids: np.ndarray, order: np.ndarray | None) -> None:
        """Per-point symbol indices (into ``symbols``) and draw order; N must match."""
        xy = self.positions()
        if symbols != self._symbols:
            self._symbols = list(symbols)
            self._atlas = None
        self._ids = np.asarray(ids, np.int32)
        self._order = None if order is None else np.asarray(order, np.int64)
        self._frag_ready = False
        if len(xy) == len(self._ids):
            self.set_positions(xy)
        else:
            self.update()

    # ------------------------------------------------------------------ geometry
    def dataBounds(self, ax, frac=1.0, orthoRange=None):
        if self._bounds is None:
            return (None, None)
        return self._bounds[0:2] if ax == 0 else self._bounds[2:4]

    def pixelPadding(self):
        return max((s.extent for s in self._symbols), default=0.0) / 2.0

    def boundingRect(self):
        if self._bounds is None:
            return QtCore.QRectF()
        x0, x1, y0, y1 = self._bounds
        pad = self.pixelPadding()
        px, py = self.pixelVectors()
        padx = pad * px.length() if px is not None else 0.0
        pady = pad * py.length() if py is not None else 0.0
        return QtCore.QRectF(x0 - padx, y0 - pady, (x1 - x0) + 2 * padx, (y1 - y0) + 2 * pady)

    def viewTransformChanged(self):
        self.prepareGeometryChange()
        super().viewTransformChanged()

    def map_to_device(self, transform: QtGui.QTransform) -> np.ndarray:
        """(N, 2) device positions of the points in original order (NaN where not finite)."""
        dev = np.empty((self.n, 2))
        sx = transform.m11() * self._x + transform.m21() * self._y + transform.dx()
        sy = transform.m12() * self._x + transform.m22() * self._y + transform.dy()
        if self._order is None:
            dev[:, 0], dev[:, 1] = sx, sy
        else:
            dev[self._order, 0], dev[self._order, 1] = sx, sy
        return dev

    # ------------------------------------------------------------------ painting
    def setExportMode(self, export, opts=None):
        super().setExportMode(export, opts)
        self.update()

    def _atlas_for(self, dpr: float) -> SymbolAtlas:
        if self._atlas is None or self._atlas.dpr != dpr:
            self._atlas = SymbolAtlas(self._symbols, dpr)
            self._frag_ready = False
        return self._atlas

    def _fragments(self, atlas: SymbolAtlas) -> np.ndarray:
        n = self.n
        if self._frag.shape[0] != n:
            self._frag = np.empty((n, 10))
            self._frag_ready = False
        if not self._frag_ready:
            ids = self._ids if self._order is None else self._ids[self._order]
            self._frag[:, 2:6] = atlas.rects[ids]
            self._frag[:, 6:10] = (1.0 / atlas.dpr, 1.0 / atlas.dpr, 0.0, 1.0)
            self._frag_ready = True
        return self._frag

    def paint(self, p, option, widget=None):
        n = self.n
        if n == 0 or not self._symbols or len(self._ids) != n:
            return
        self.paint_count += 1
        t = p.transform()
        if self._exportOpts is not False:
            self._paint_vector(p, t)
            return
        dpr = widget.devicePixelRatioF() if widget is not None else p.device().devicePixelRatioF()
        atlas = self._atlas_for(dpr)
        f = self._fragments(atlas)
        np.add(t.m11() * self._x, t.m21() * self._y, out=f[:, 0])
        f[:, 0] += t.dx()
        np.add(t.m12() * self._x, t.m22() * self._y, out=f[:, 1])
        f[:, 1] += t.dy()
        np.clip(f[:, 0:2], -_FAR, _FAR, out=f[:, 0:2])
        if self._bad is not None:
            f[self._bad, 0:2] = -_FAR
        p.resetTransform()
        ptr = shiboken6.wrapInstance(f.ctypes.data, QtGui.QPainter.PixmapFragment)
        p.drawPixmapFragments(ptr, n, atlas.pixmap)

    def _paint_vector(self, p: QtGui.QPainter, t: QtGui.QTransform) -> None:
        scale = float(self._exportOpts.get("resolutionScale", 1.0)) if self._exportOpts else 1.0
        x = t.m11() * self._x + t.m21() * self._y + t.dx()
        y = t.m12() * self._x + t.m22() * self._y + t.dy()
        ids = self._ids if self._order is None else self._ids[self._order]
        p.resetTransform()
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        ok = np.isfinite(x) & np.isfinite(y)
        for i in np.flatnonzero(ok):
            draw_symbol(p, self._symbols[ids[i]], float(x[i]), float(y[i]), scale)


class LegendItem2D(pg.GraphicsObject):
    """The legend as a scene item in the ViewBox's top-right corner (so exports include it)."""

    def __init__(self, view_box: pg.ViewBox):
        super().__init__()
        self.setParentItem(view_box)
        self.setZValue(1000)
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.legend = Legend()
        self._font = QtGui.QFont()
        self._font.setPointSizeF(max(self._font.pointSizeF() - 1, 7))
        view_box.sigResized.connect(self._place)

    def set_legend(self, legend: Legend) -> None:
        self.prepareGeometryChange()
        self.legend = legend
        self._place()
        self.update()

    def _place(self, *args) -> None:
        vb = self.parentItem()
        if vb is None:
            return
        size = legend_size(self.legend, self._font)
        self.setPos(vb.width() - size.width() - 8, 8)

    def boundingRect(self):
        size = legend_size(self.legend, self._font)
        return QtCore.QRectF(QtCore.QPointF(0, 0), size)

    def paint(self, p, option, widget=None):
        paint_legend(p, self.legend, QtCore.QPointF(0, 0), self._font)
