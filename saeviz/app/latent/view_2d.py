"""The 2D backend of the latent view: a fast point-cloud item for pyqtgraph and its legend.

``PointCloudItem`` draws N points with one ``QPainter.drawPixmapFragments`` call from an atlas
of pre-rendered symbols (one per distinct style, never one per point). A positions-only update
stores the arrays and marks the item dirty; the fragment table's symbol columns are filled
only when the style changes. A whole live frame at 60,000 points costs about 30 ms of CPU
(``python -m benchmarks.bench_view``); ``ScatterPlotItem.setData`` alone takes about 180 ms
there, because it rebuilds its record array and per-point style table on every call.

For export (PNG/SVG) the item paints vector markers instead, so SVGs contain real markers and
PNGs at any resolution stay sharp.

A cloud made with ``density=True`` (the latent view's points) copes with a million points:
above ``DENSITY_FROM`` points, each paint finds the points in the visible rectangle (a scan
of float32 columns, a few ms), draws them as markers when there are at most
``POINTS_LIMIT`` of them, and otherwise draws a density image, one cell per device pixel
with the class colours mixed by count (``saeviz.core.display.density``); the labeled points
(outlined, last in draw order) stay markers over it while at most ``FRONT_MARKERS`` of them
are in view, else they are a layer of the image drawn on top (opaque, three cells wide, up
to ``FRONT_LAYER`` of them; shaded by count, one cell each, above that). The image covers
the visible rectangle and a margin around it and is kept until the style changes, the view
pans past the margin or the zoom changes the cell size by more than a third; then, and when
the points move, the last image is drawn while a new one is made on a worker thread, so
panning a zoomed-out million-point view only draws an image. A new style (labels) makes it
at once, and so do exports; but when a paint tool has just drawn the points it relabels as
an opaque layer over the image (``show_layer``: a lasso over half a million points shows
in well under the time a new image takes), the old image stays under that layer while the
new one is made on the worker thread.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6 import QtCore, QtGui

from saeviz.app.latent.style import (
    UNLABELED_RGBA,
    Legend,
    Symbol,
    draw_symbol,
    legend_size,
    paint_legend,
)
from saeviz.core.display.density import DensityGrid, density_image, layer_image

_FAR = 1e9  # Qt's raster engine misbehaves with coordinates near the int range; clip to this
DENSITY_FROM = 100_000  # clouds of up to this many points are always drawn as markers
POINTS_LIMIT = 50_000  # visible points above which a larger cloud draws its density image
DENSITY_MARGIN = 0.5  # the density image covers the view and this fraction of it on every side
DENSITY_RESCALE = (0.75, 1.34)  # cell sizes (relative to a device pixel) an image is reused at
DENSITY_MAX_SIDE = 4096  # cells per side of a density image at most
FRONT_MARKERS = 5_000  # labeled points in view drawn as markers over a density image, at most
FRONT_LAYER = 50_000  # more labeled points than this are a shaded layer (one cell each), not an opaque one
VECTOR_LIMIT = 5_000  # exports of a large cloud paint up to this many vector markers, else pixmaps
LAYER_WAIT_MS = 1000  # a layer of relabeled points no restyle follows within this goes


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

    densityReady = QtCore.Signal()  # a worker made a density image (emitted from its thread)

    def __init__(self, symbols: list[Symbol] | None = None, density: bool = False):
        super().__init__()
        self._density = bool(density)
        self._x32 = self._y32 = None  # float32 draw-order copies, for density clouds
        self._ids_draw = None  # symbol ids in draw order (cached)
        self._common = None  # the most frequent symbol id
        self._version = 0  # bumped by every position or style change
        self._style_version = 0  # bumped by every style change (and change of count)
        self._visible_cache = None  # (key, draw-order indices of the visible points)
        self._image_cache: _DensityImage | None = None
        self._front = None  # (style version, number of outlined points ending the draw order)
        self._counts = None  # (style version, points per symbol id)
        self._layer: _Layer | None = None  # points just relabeled, drawn until the image shows them
        self._layer_timer = QtCore.QTimer(self)  # drops a layer no restyle followed
        self._layer_timer.setSingleShot(True)
        self._layer_timer.setInterval(LAYER_WAIT_MS)
        self._layer_timer.timeout.connect(self._drop_stale_layer)
        self._pending: _DensityRequest | None = None  # the image a worker is to make next
        self._ready: _DensityImage | None = None  # the image a worker made
        self._worker: threading.Thread | None = None
        self.densityReady.connect(self._take_ready)
        self.mode = "points"  # what the last paint drew: "points" or "density"
        self.drawn = 0  # points the last paint drew as markers
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
        resized = n != len(self._ids)
        self._layer = None  # drawn at the old positions
        if resized:
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
        if self._density and n > DENSITY_FROM:
            self._x32, self._y32 = x.astype(np.float32), y.astype(np.float32)
        else:
            self._x32 = self._y32 = None
        self._changed(style=resized)
        self.informViewBoundsChanged()
        self.update()

    def set_style(self, symbols: list[Symbol], ids: np.ndarray, order: np.ndarray | None) -> None:
        """Per-point symbol indices (into ``symbols``) and draw order; N must match."""
        order = None if order is None else np.asarray(order, np.int64)
        same_order = len(ids) == self.n and (
            (order is None and self._order is None)
            or (order is not None and self._order is not None and np.array_equal(order, self._order)))
        reorder = not same_order and len(ids) == self.n
        if reorder:  # the positions follow the new draw order: draw row k <- old draw row step[k]
            step = np.arange(self.n) if order is None else order
            if self._order is not None:
                old_row = np.empty(self.n, np.int64)
                old_row[self._order] = np.arange(self.n)
                step = old_row[step]
        if symbols != self._symbols:
            self._symbols = list(symbols)
            self._atlas = None
        self._ids = np.asarray(ids, np.int32)
        self._order = order
        self._frag_ready = False
        self._ids_draw = self._common = None
        if reorder:
            self._permute(step)
        self._changed()
        self.update()

    def _permute(self, step: np.ndarray) -> None:
        """Put draw row ``step[k]`` at row ``k``: the same points (bounds, count) in a new order."""
        self._x, self._y = self._x[step], self._y[step]
        if self._x32 is not None:
            self._x32, self._y32 = self._x32[step], self._y32[step]
        if self._bad is not None:
            self._bad = np.flatnonzero(~(np.isfinite(self._x) & np.isfinite(self._y)))

    def _changed(self, style: bool = True) -> None:
        """Positions (and with ``style`` the look of the points) changed: caches are stale. A
        density image of the same style stays, to be drawn until the new one is made."""
        self._version += 1
        self._visible_cache = None
        if style:
            self._style_version += 1
            if self._layer is None:  # else the last image stays under the layer until the new one
                self._image_cache = None

    def density_settled(self) -> bool:
        """False while the density image on screen shows older positions or labels than the
        points have (its successor is being made on a worker thread)."""
        image = self._image_cache
        return self.mode != "density" or (image is not None and image.version == self._version
                                          and image.style_version == self._style_version and self._layer is None)

    def show_layer(self, x: np.ndarray, y: np.ndarray, ids, palette: np.ndarray) -> bool:
        """Draw the points at (``x``, ``y``) (data coordinates) opaque in ``palette[ids]`` (RGB
        0..255; ``ids`` one per point or one for all) over the density image on screen, from
        the next paint on: points being relabeled, shown before the new labels' image is made
        (a brush adds to the layer at every step). The layer stays until an image of a newer
        style than the present one replaces it (made on a worker thread, the old image drawn
        under the layer meanwhile). False (and nothing drawn) unless the cloud shows a density
        image."""
        image = self._image_cache
        if self.mode != "density" or image is None or len(x) == 0:
            return False
        layer = self._layer
        if layer is None:
            rect, shape, rgba = image.rect, image.grid.shape, None
        else:  # one more brush step: onto the layer, in its own grid
            rect, shape, rgba = layer.rect, layer.rgba.shape[:2], layer.rgba
        rgba = layer_image(x, y, ids, palette, rect, shape, out=rgba)
        # the image of the cells painted (a lasso's part of the view), cheaper to draw
        alpha = rgba[..., 3]
        r = np.flatnonzero(alpha.any(axis=1))
        c = np.flatnonzero(alpha.any(axis=0))
        if not len(r):
            return False
        r0, r1, c0, c1 = int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1
        part = np.ascontiguousarray(rgba[r0:r1, c0:c1])
        qimage = QtGui.QImage(part.data, c1 - c0, r1 - r0, 4 * (c1 - c0),
                              QtGui.QImage.Format.Format_RGBA8888).copy()
        cw, ch = (rect[2] - rect[0]) / shape[1], (rect[3] - rect[1]) / shape[0]
        shown = (rect[0] + c0 * cw, rect[1] + r0 * ch, rect[0] + c1 * cw, rect[1] + r1 * ch)
        self._layer = _Layer(self._style_version, rect, rgba, shown, qimage)
        self._layer_timer.start()
        self.update()
        return True

    def _drop_stale_layer(self) -> None:
        """No new style came after the layer (nothing was relabeled after all): drop it."""
        if self._layer is not None and self._layer.style_version == self._style_version:
            self._layer = None
            self.update()

    def _install(self, image: _DensityImage) -> None:
        """Show ``image`` from now on; a layer of relabeled points it shows goes."""
        self._image_cache = image
        if self._layer is not None and image.style_version > self._layer.style_version:
            self._layer = None

    def ids_in_draw_order(self) -> np.ndarray:
        """The symbol id of every point in draw order."""
        if self._ids_draw is None or len(self._ids_draw) != len(self._ids):
            self._ids_draw = self._ids if self._order is None else self._ids[self._order]
        return self._ids_draw

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
        dpr = widget.devicePixelRatioF() if widget is not None else p.device().devicePixelRatioF()
        export = self._exportOpts is not False
        if self._x32 is None:  # few points: all of them, as markers
            self.mode, self.drawn = "points", n
            if export:
                self._paint_vector(p, t)
            else:
                self._paint_all(p, t, dpr)
            return
        rect = self._visible_rect()
        if rect is None:
            return
        image = self._image_cache
        if (image is not None and image.style_version == self._style_version
                and image.grid.count_in(rect) > 2 * POINTS_LIMIT):
            visible = None  # plainly too many to draw as markers: no need to find them
        else:
            visible = self._visible_indices(rect, t)
        if visible is not None and len(visible) <= POINTS_LIMIT:
            self.mode, self.drawn = "points", len(visible)
            self._paint_rows(p, t, dpr, visible, export)
            return
        # The outlined (labeled) points, last in draw order, stay markers over the density
        # image of the others while few of them are in view; else they are a layer of it.
        k = self._front_count()
        shown = self._front_in_rect(k, rect, t)
        markers = len(shown) <= FRONT_MARKERS
        front_mode = "markers" if markers else ("layer" if k <= FRONT_LAYER else "all")
        self.mode, self.drawn = "density", len(shown) if markers else 0
        self._paint_density(p, t, rect, 1.0 if export else dpr, front_mode, export)
        if markers:
            self._paint_rows(p, t, dpr, shown, export)

    def _paint_rows(self, p, t: QtGui.QTransform, dpr: float, rows: np.ndarray, export: bool) -> None:
        if export and len(rows) <= VECTOR_LIMIT:
            self._paint_vector(p, t, rows)
        else:
            self._paint_subset(p, t, dpr, rows)

    def _paint_all(self, p, t: QtGui.QTransform, dpr: float) -> None:
        n = self.n
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

    def _paint_subset(self, p, t: QtGui.QTransform, dpr: float, rows: np.ndarray) -> None:
        """Markers for the draw-order ``rows`` only (the visible points of a large cloud)."""
        m = len(rows)
        if m == 0:
            return
        atlas = self._atlas_for(dpr)
        x, y = self._x[rows], self._y[rows]
        f = np.empty((m, 10))
        f[:, 0] = t.m11() * x + t.m21() * y + t.dx()
        f[:, 1] = t.m12() * x + t.m22() * y + t.dy()
        f[:, 2:6] = atlas.rects[self.ids_in_draw_order()[rows]]
        f[:, 6:10] = (1.0 / atlas.dpr, 1.0 / atlas.dpr, 0.0, 1.0)
        p.save()
        p.resetTransform()
        ptr = shiboken6.wrapInstance(f.ctypes.data, QtGui.QPainter.PixmapFragment)
        p.drawPixmapFragments(ptr, m, atlas.pixmap)
        p.restore()

    def _visible_rect(self) -> tuple[float, float, float, float] | None:
        """The data rectangle the view shows (x0, y0, x1, y1)."""
        vb = self.getViewBox()
        if vb is None:
            return self._bounds and (self._bounds[0], self._bounds[2], self._bounds[1], self._bounds[3])
        r = vb.viewRect()
        return (r.left(), r.top(), r.right(), r.bottom())

    def _symbol_counts(self) -> np.ndarray:
        """Points per symbol id (for the most frequent symbol and the outlined count)."""
        if self._counts is None or self._counts[0] != self._style_version:
            self._counts = (self._style_version, np.bincount(self._ids, minlength=len(self._symbols)))
        return self._counts[1]

    def _front_count(self) -> int:
        """How many outlined (labeled) points end the draw order (0 when they do not all end
        it): the density image can draw them as a layer of their own."""
        if self._front is None or self._front[0] != self._style_version:
            outlined = np.array([s.outline is not None for s in self._symbols], bool)
            k = int(self._symbol_counts()[outlined].sum()) if outlined.any() else 0
            if k and not outlined[self.ids_in_draw_order()[self.n - k:]].all():
                k = 0
            self._front = (self._style_version, k)
        return self._front[1]

    def _front_in_rect(self, k: int, rect, t: QtGui.QTransform) -> np.ndarray:
        """Draw-order rows of the last ``k`` points whose markers reach into ``rect``, or when
        more than ``FRONT_MARKERS`` do, rows of that many and more (the count is what matters)."""
        n = self.n
        if k == 0:
            return np.zeros(0, np.int64)
        pad = self.pixelPadding()
        px, py = pad / max(abs(t.m11()), 1e-300), pad / max(abs(t.m22()), 1e-300)
        b = self._bounds
        if (k > FRONT_MARKERS and b is not None and rect[0] - px <= b[0] and b[1] <= rect[2] + px
                and rect[1] - py <= b[2] and b[3] <= rect[3] + py):
            return np.arange(n - k, n)  # every point is in view
        x, y = self._x[n - k:], self._y[n - k:]
        with np.errstate(invalid="ignore"):
            inside = (x >= rect[0] - px) & (x <= rect[2] + px) & (y >= rect[1] - py) & (y <= rect[3] + py)
        return np.flatnonzero(inside) + (n - k)

    def _visible_indices(self, rect, t: QtGui.QTransform) -> np.ndarray:
        """Draw-order indices of the points whose markers reach into ``rect``."""
        key = (self._version, rect, round(t.m11(), 9), round(t.m22(), 9))
        if self._visible_cache is not None and self._visible_cache[0] == key:
            return self._visible_cache[1]
        pad = self.pixelPadding()
        px, py = pad / max(abs(t.m11()), 1e-300), pad / max(abs(t.m22()), 1e-300)
        x, y = self._x32, self._y32
        mask = x >= np.float32(rect[0] - px)
        mask &= x <= np.float32(rect[2] + px)
        mask &= y >= np.float32(rect[1] - py)
        mask &= y <= np.float32(rect[3] + py)
        rows = np.flatnonzero(mask)
        self._visible_cache = (key, rows)
        return rows

    # -- the density image -----------------------------------------------------------------------
    def _paint_density(self, p, t: QtGui.QTransform, rect, dpr: float, front: str, export: bool) -> None:
        """Draw the density image for ``rect`` at one cell per device pixel.

        An image that covers the view at about the right cell size is drawn as it is. When the
        zoom or a pan leaves it, or the points move (a live frame), the last image is drawn while
        a new one is made on a worker thread (the item repaints when it is ready); a new style
        (new labels or colours) and exports make it at once.
        """
        if self._bounds is None:
            return
        # one cell per device pixel; coarser on views wider than DENSITY_MAX_SIDE pixels
        w, h = max(rect[2] - rect[0], 1e-300), max(rect[3] - rect[1], 1e-300)
        cw = max(1.0 / max(abs(t.m11()) * dpr, 1e-300), w / DENSITY_MAX_SIDE)
        ch = max(1.0 / max(abs(t.m22()) * dpr, 1e-300), h / DENSITY_MAX_SIDE)
        image = self._image_cache
        usable = image is not None and image.front == front and image.style_version == self._style_version
        bridged = image is not None and self._layer is not None  # new labels, shown by the layer
        if not (usable and image.version == self._version and self._image_fits(image, rect, cw, ch)):
            request = self._image_request(rect, cw, ch, front)
            if (usable or bridged) and not export:
                self._request_async(request)
            else:
                image = _make_density(request)
                if not export:
                    self._install(image)
        p.save()
        p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
        x0, y0, x1, y1 = image.rect
        p.drawImage(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0), image.qimage)
        layer = self._layer
        if layer is not None and not export:
            x0, y0, x1, y1 = layer.shown
            p.drawImage(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0), layer.qimage)
        p.restore()

    def _image_fits(self, image: _DensityImage, rect, cw: float, ch: float) -> bool:
        lo, hi = DENSITY_RESCALE
        if not (lo <= image.cell[0] / cw <= hi and lo <= image.cell[1] / ch <= hi):
            return False
        b = self._bounds
        want = (max(rect[0], b[0]), max(rect[1], b[2]), min(rect[2], b[1]), min(rect[3], b[3]))
        if want[2] < want[0] or want[3] < want[1]:  # the view shows none of the points
            return True
        x0, y0, x1, y1 = image.rect
        tx, ty = 0.5 * image.cell[0], 0.5 * image.cell[1]  # rounding at the edges
        return x0 <= want[0] + tx and y0 <= want[1] + ty and x1 >= want[2] - tx and y1 >= want[3] - ty

    def _image_request(self, rect, cw: float, ch: float, front: str) -> _DensityRequest:
        """What to aggregate: the view and a margin around it, within the points' bounds."""
        b = self._bounds
        w, h = rect[2] - rect[0], rect[3] - rect[1]
        # the margin shrinks on large views: the image stays within DENSITY_MAX_SIDE cells a side
        mx = max(0.0, min(DENSITY_MARGIN * w, (DENSITY_MAX_SIDE * cw - w) / 2))
        my = max(0.0, min(DENSITY_MARGIN * h, (DENSITY_MAX_SIDE * ch - h) / 2))
        x0, x1 = max(rect[0] - mx, b[0] - cw), min(rect[2] + mx, b[1] + cw)
        y0, y1 = max(rect[1] - my, b[2] - ch), min(rect[3] + my, b[3] + ch)
        if x1 <= x0 or y1 <= y0:  # nothing to show here
            x0, x1, y0, y1 = rect[0], rect[0] + cw, rect[1], rect[1] + ch
        cols = int(min(max(np.ceil((x1 - x0) / cw), 1), DENSITY_MAX_SIDE))
        rows = int(min(max(np.ceil((y1 - y0) / ch), 1), DENSITY_MAX_SIDE))
        ids = self.ids_in_draw_order()
        palette = np.array([s.fill if s.fill else UNLABELED_RGBA for s in self._symbols], np.float64)
        if self._common is None:
            self._common = int(np.argmax(self._symbol_counts()))
        n_front = self._front_count()
        return _DensityRequest(self._version, self._style_version, front, self._x32, self._y32, ids, palette,
                               self._common, (x0, y0, x0 + cols * cw, y0 + rows * ch), (rows, cols), (cw, ch),
                               n_front if front in ("layer", "all") else 0, n_front if front == "markers" else 0)

    def _request_async(self, request: _DensityRequest) -> None:
        self._pending = request  # the newest request wins; one worker at a time
        if self._worker is not None and self._worker.is_alive():
            return
        self._worker = threading.Thread(target=self._work, name="saeviz-density", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        while True:
            request, self._pending = self._pending, None
            if request is None:
                return
            image = _make_density(request)
            self._ready = image
            try:
                self.densityReady.emit()  # queued to the UI thread
            except RuntimeError:  # the item was deleted meanwhile
                return

    def _take_ready(self) -> None:
        image, self._ready = self._ready, None
        if image is None or image.style_version != self._style_version or not shiboken6.isValid(self):
            return
        shown = self._image_cache
        if shown is None or image.version >= shown.version or image.style_version > shown.style_version:
            self._install(image)
            self.update()

    def _paint_vector(self, p: QtGui.QPainter, t: QtGui.QTransform, rows: np.ndarray | None = None) -> None:
        scale = float(self._exportOpts.get("resolutionScale", 1.0)) if self._exportOpts else 1.0
        ids = self.ids_in_draw_order()
        X, Y = self._x, self._y
        if rows is not None:
            X, Y, ids = X[rows], Y[rows], ids[rows]
        x = t.m11() * X + t.m21() * Y + t.dx()
        y = t.m12() * X + t.m22() * Y + t.dy()
        p.resetTransform()
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        ok = np.isfinite(x) & np.isfinite(y)
        for i in np.flatnonzero(ok):
            draw_symbol(p, self._symbols[ids[i]], float(x[i]), float(y[i]), scale)


@dataclass(frozen=True)
class _DensityRequest:
    version: int
    style_version: int
    front: str  # "markers": the last n_markers points are left out; "layer", "all": n_layer on top
    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    palette: np.ndarray
    common: int
    rect: tuple[float, float, float, float]
    shape: tuple[int, int]
    cell: tuple[float, float]
    n_layer: int
    n_markers: int


@dataclass(frozen=True)
class _Layer:
    style_version: int  # the style it was drawn over: a newer style's image replaces it
    rect: tuple[float, float, float, float]  # of ``rgba``, the grid of the density image
    rgba: np.ndarray  # (rows, cols, 4) uint8, the cells painted
    shown: tuple[float, float, float, float]  # the part of ``rect`` with painted cells ...
    qimage: QtGui.QImage  # ... as an image


@dataclass(frozen=True)
class _DensityImage:
    version: int
    style_version: int
    front: str
    rect: tuple[float, float, float, float]
    cell: tuple[float, float]
    qimage: QtGui.QImage
    grid: DensityGrid


def _make_density(r: _DensityRequest) -> _DensityImage:
    """Aggregate and shade (Qt-free work but for the final QImage copy; any thread)."""
    m = len(r.x) - r.n_markers  # slices: no copies
    rgba, grid = density_image(r.x[:m], r.y[:m], r.ids[:m], r.palette, r.rect, r.shape, r.common, r.n_layer,
                               shaded_front=r.front == "all")
    rows, cols = r.shape
    qimage = QtGui.QImage(rgba.data, cols, rows, 4 * cols, QtGui.QImage.Format.Format_RGBA8888).copy()
    return _DensityImage(r.version, r.style_version, r.front, r.rect, r.cell, qimage, grid)


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
