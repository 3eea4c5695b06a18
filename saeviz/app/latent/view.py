"""The central latent-space view: a 2D pyqtgraph plot and a 3D OpenGL view of the codes.

``LatentView`` shows display coordinates computed elsewhere (``saeviz.core.display.projection``); it
owns no data. Its owner pushes state in with setters and listens to its signals::

    view.set_points(coords)                      # every live frame: positions only, fast
    view.set_style(labels, colors, mode="label") # when labels / predictions / values change
    view.set_anchors(anchor_coords, colors)      # MDS class targets, projected the same way
    view.set_target_lines(coords[labeled], target_coords)
    view.pointClicked.connect(session.select)    # the owner decides what a click means ...
    session.selected.connect(view.set_selection) # ... and pushes the selection back

A typical live frame: ``coords = live.update(codes, labels)`` (a ``LiveProjection``), then
``view.set_points(coords)``, ``view.set_anchors(live.transform(class_targets), colors)``.
Only what a setter names is redrawn: ``set_points`` moves the points, the selection and the
highlight rings; styles, anchors and lines change only through their own setters.

2D draws the points with one pixmap-fragment call from pre-rendered symbols
(``latent_view_2d``); in clouds of over ``DENSITY_FROM`` points, when more than
``POINTS_LIMIT`` of them are in view, a density image of them instead (class colours mixed
by count, one cell per device pixel, labeled points on top); zoomed in, points again. 3D is
pyqtgraph's GL view (camera, controls, items) on a QOpenGLWindow with point-sprite items
(``latent_view_3d``), created when first shown and kept; it draws at most ``MAX_POINTS_3D``
points (a fixed random sample, labeled and unlabeled alike, noted in the corner) and the
overlays. The view follows the points (refitting only when they leave it or shrink to under
half of it) until the user pans or zooms; ``auto_range()`` (or pyqtgraph's "A" button)
follows again. ``export_image`` writes PNG (2D and 3D) or SVG (2D), legend included; ``QWidget.grab()``
cannot capture the 3D window, use ``export_image`` for pictures.

Mouse handling lives in one place, ``LatentView._handle_pointer``, fed by an event filter on
the 2D viewport and on the 3D window. A paint tool (brush, lasso) hooks in with
``view.set_tool(tool)``: the tool gets every press / move / release first as a
``PointerEvent`` (pixel position in ``active_view()``, 2D data position, buttons, modifiers)
and returns True to consume it, which also stops pyqtgraph from panning or the 3D camera
from rotating. Unconsumed events fall through to the default behaviour: click to pick
(``pointClicked``), hover (``pointHovered`` + tooltip from ``tooltip_provider``), and the
views' own pan / zoom / rotate. Tools find points with ``indices_near(pos, radius)`` and
``indices_in_polygon(vertices)`` (pixels, so the same tool works in 2D and 3D) and may draw
their own feedback into ``view_box`` in 2D. ``set_tool(None)`` restores the default; a tool
with ``attach(view)`` / ``detach(view)`` methods is told when it is installed and removed.

In 2D these queries run in data coordinates on a ``PointIndex`` (the pixel polygon or disc is
mapped back through the view's transform): a scan of float32 columns at first, a bucket grid
built on a worker thread at the first query after the points moved. ``screen_positions`` is
kept per transform (and camera), so a brush stroke projects the points once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from saeviz.app.common.paint_cache import cache_plot_frame
from saeviz.app.latent.style import (
    ANCHOR_SIZE,
    HIGHLIGHT,
    HIGHLIGHT_RGBA,
    HIGHLIGHT_SIZE,
    SELECTION,
    SELECTION_RGBA,
    SELECTION_SIZE,
    PointStyle,
    anchor_symbol,
    compute_style,
    default_style,
    to_rgba,
)
from saeviz.app.latent.view_2d import (
    DENSITY_FROM,
    POINTS_LIMIT,
    LegendItem2D,
    PointCloudItem,
)
from saeviz.core.display.geometry import (
    bounding_sphere,
    merge_spheres,
    pad_columns,
    points_in_polygon,
    segment_pairs,
)
from saeviz.core.display.spatial_index import PointIndex

PICK_RADIUS = 8.0  # px: how far from a point a click or hover still picks it
FOLLOW_FILL = 0.7  # refit the followed view when the points fill less than this of it
LINE_PEN = (128, 128, 128, 150)
# At most this many target lines are drawn (an even sample of the labeled points in index
# order): more are a grey haze, and cost: 20,000 long lines took 160 ms to draw per paint.
MAX_TARGET_LINES = 2_000
MAX_POINTS_3D = 100_000  # the 3D view draws a fixed random sample of larger clouds
GRID_INDEX_MIN = 100_000  # from this many points, queries use a bucket grid built off the UI thread

__all__ = ["DENSITY_FROM", "MAX_POINTS_3D", "POINTS_LIMIT", "LatentView", "PointerEvent", "PointerTool"]


@dataclass(frozen=True)
class PointerEvent:
    """A mouse event as a tool sees it."""

    kind: str  # "press" | "move" | "release"
    pos: QtCore.QPointF  # widget pixels in the active view (same space as screen_positions())
    data_pos: tuple[float, float] | None  # 2D view (data) coordinates; None in 3D
    button: QtCore.Qt.MouseButton
    buttons: QtCore.Qt.MouseButton
    modifiers: QtCore.Qt.KeyboardModifier
    dimensions: int


class PointerTool(Protocol):
    """What ``LatentView.set_tool`` accepts; each method returns True to consume the event."""

    def press(self, event: PointerEvent) -> bool: ...

    def move(self, event: PointerEvent) -> bool: ...

    def release(self, event: PointerEvent) -> bool: ...


class _PointerRouter(QtCore.QObject):
    """Event filter forwarding mouse events of both views to ``LatentView._handle_pointer``."""

    _KINDS = {
        QtCore.QEvent.Type.MouseButtonPress: "press",
        QtCore.QEvent.Type.MouseButtonDblClick: "press",
        QtCore.QEvent.Type.MouseMove: "move",
        QtCore.QEvent.Type.MouseButtonRelease: "release",
    }

    def __init__(self, view: "LatentView"):
        super().__init__(view)
        self._view = view

    def eventFilter(self, obj, event):
        kind = self._KINDS.get(event.type())
        if kind is not None:
            return self._view._handle_pointer(kind, event)
        if event.type() == QtCore.QEvent.Type.Leave:
            self._view._set_hover(-1)
        elif event.type() == QtCore.QEvent.Type.Wheel:
            self._view._follow = False
        return False



def drawn_lines(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The target lines that are drawn: all of them up to ``MAX_TARGET_LINES``, else an even
    sample (every k-th, the same ones from frame to frame while the labels stay)."""
    if len(src) <= MAX_TARGET_LINES:
        return src, dst
    rows = np.arange(0, len(src), int(np.ceil(len(src) / MAX_TARGET_LINES)))
    return src[rows], dst[rows]


def over_background(rgba) -> tuple[int, int, int, int]:
    """The opaque colour that ``rgba`` (0..255) gives painted over pyqtgraph's background."""
    bg = pg.mkColor(pg.getConfigOption("background"))
    a = rgba[3] / 255.0
    return tuple(int(round(a * c + (1 - a) * b)) for c, b in zip(rgba[:3], (bg.red(), bg.green(), bg.blue()))) + (255,)

class LatentView(QtWidgets.QWidget):
    """2D/3D scatter view of latent codes with labels, predictions, anchors and selection."""

    pointClicked = QtCore.Signal(int)
    pointHovered = QtCore.Signal(int)  # -1 when the pointer leaves the points
    dimensionsChanged = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        #: ``callable(index) -> str`` giving the hover tooltip (index, label, prediction, ...).
        self.tooltip_provider: Callable[[int], str] | None = None

        self._coords: np.ndarray | None = None
        self._style: PointStyle = default_style(0)
        self._default_style: PointStyle = self._style
        self._style_mode = "label"
        self._selected: int | None = None
        self._highlight = np.zeros(0, np.int64)
        self._anchors: np.ndarray | None = None
        self._anchor_rgba: list = []
        self._lines: tuple[np.ndarray, np.ndarray] | None = None
        self._dims = 2
        self._tool = None
        self._press_pos: QtCore.QPointF | None = None
        self._hover = -1
        self._follow = True  # refit the view to the points (until the user pans or zooms)
        self._fitted_sphere = None  # 3D: the (centre, radius) the camera was last fitted to
        self._cloud_sphere = None  # 3D: bounding sphere of the current points
        self._legend_visible = True
        self._axis_labels: list[str] | None = None  # the titles last set on the 2D axes
        self._index: PointIndex | None = None  # 2D positions for picking and the paint tools
        self._screen_cache = None  # (key, (N, 2) screen positions)
        self._sample3d: np.ndarray | None = None  # indices the 3D view draws (None: all)
        self._sample_cache = None  # (camera key, screen positions of the 3D sample, coords)

        self._stack = QtWidgets.QStackedWidget(self)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)
        self._router = _PointerRouter(self)

        self._plot = pg.PlotWidget()
        self._stack.addWidget(self._plot)
        self.plot_item: pg.PlotItem = self._plot.getPlotItem()
        self.view_box: pg.ViewBox = self.plot_item.getViewBox()
        self.view_box.setAspectLocked(True)  # projections are isotropic: keep distances true
        self.view_box.disableAutoRange()  # replaced by _follow_points (calmer, no per-frame relayout)
        self.view_box.sigRangeChangedManually.connect(self._stop_following)
        # Opaque, in the colour LINE_PEN gives over the background: Qt's raster engine draws
        # translucent lines about five times slower. The lines lie under the points.
        self._lines2d = pg.PlotCurveItem(pen=pg.mkPen(over_background(LINE_PEN), width=1), connect="pairs")
        self._cloud = PointCloudItem(density=True)
        self._highlight2d = PointCloudItem([HIGHLIGHT])
        self._anchors2d = PointCloudItem()
        self._selection2d = PointCloudItem([SELECTION])
        for z, item in enumerate((self._lines2d, self._cloud, self._highlight2d, self._anchors2d,
                                  self._selection2d)):
            item.setZValue(10 * (z + 1))
            self.plot_item.addItem(item)
        self._legend2d = LegendItem2D(self.view_box)
        cache_plot_frame(self.plot_item, self._legend2d)
        self._plot.viewport().installEventFilter(self._router)
        self._plot.viewport().setMouseTracking(True)

        self._gl = None  # the one 3D view (GLView3D), created on first use and kept for our lifetime
        self._gl_container: QtWidgets.QWidget | None = None
        self._legend_font = QtGui.QFont(self.font())
        self._legend_font.setPointSizeF(max(self._legend_font.pointSizeF() - 1, 7))

    # ------------------------------------------------------------------ public API: data
    def set_points(self, coords: np.ndarray) -> None:
        """Positions of the N points, (N, 2) or (N, 3); the live-frame path (style is kept).

        2D shows the first two columns; 3D pads 2-column coordinates with z = 0.
        """
        Y = np.array(coords, dtype=np.float64, copy=True)
        if Y.ndim != 2 or Y.shape[1] not in (2, 3):
            raise ValueError(f"points must be an (N, 2) or (N, 3) array, got shape {Y.shape}")
        resized = self._coords is None or len(Y) != len(self._coords)
        self._coords = Y
        self._index = None  # made again at the next query
        self._screen_cache = None
        if resized:
            self._sample3d = sample_3d(len(Y))
            n = len(Y)
            if self._selected is not None and self._selected >= n:
                self._selected = None
            self._highlight = self._highlight[self._highlight < n]
            self._hover = -1
            self._fitted_sphere = None
            self._push_style()
        self._push_positions()
        if resized and self._follow:
            self._follow_points(force=True)

    def points(self) -> np.ndarray | None:
        """A copy of the current coordinates."""
        return None if self._coords is None else self._coords.copy()

    def set_style(self, labels: np.ndarray, colors: Sequence[str], mode: str = "label",
                  values: np.ndarray | None = None, predicted: np.ndarray | None = None,
                  names: Sequence[str] | None = None) -> None:
        """How points look.

        ``labels`` (N,) class index or -1 (unlabeled); ``colors`` one colour per class.
        ``mode``: "label" (unlabeled grey, labeled in their class colour with a larger outlined
        marker), "prediction" (unlabeled in their ``predicted`` class colour, labeled as in
        "label"), "confidence" (``values`` in [0, 1], viridis) or "error" (``values`` >= 0,
        inferno, scaled to the 99th percentile). Labeled points keep their outlined marker in
        every mode. ``names`` label the legend (default "class i").
        """
        self._style = compute_style(labels, colors, mode, values, predicted, names)
        self._style_mode = mode
        self._push_style()

    def show_new_labels(self, indices, labels, colors: Sequence) -> bool:
        """Show that the points ``indices`` get class ``labels`` (scalar or per index; ``colors``
        one per class) in the next frame, before the view is restyled: a zoomed-out million
        points take a new density image to restyle, made on a worker thread while an opaque
        layer of these points in their class colours stands in for it. True when the layer is
        drawn (2D, a density image on screen, colours by label)."""
        if self._dims != 2 or self._coords is None or self._style_mode not in ("label", "prediction"):
            return False
        idx = np.asarray(indices, np.int64)
        values = np.asarray(labels, np.int64)  # one per point, or one for all
        if idx.size == 0 or values.min() < 0 or values.max() >= len(colors) or values.shape not in ((), idx.shape):
            return False
        palette = np.array([to_rgba(c)[:3] for c in colors], np.float64)
        index = self._point_index()  # float32 columns in index order: a cheap gather
        x, y = (index.x32, index.y32) if index is not None else (self._coords[:, 0], self._coords[:, 1])
        return self._cloud.show_layer(x[idx], y[idx], values if values.ndim else int(values), palette)

    def set_selection(self, index: int | None) -> None:
        """Mark one point (or none); the mark follows the point through frames and projections."""
        if index is not None:
            index = int(index)
            n = 0 if self._coords is None else len(self._coords)
            if not 0 <= index < n:
                raise IndexError(f"cannot select point {index}: there are {n} points")
        self._selected = index
        self._push_overlays("selection")

    def selected(self) -> int | None:
        return self._selected

    def set_highlight(self, indices) -> None:
        """Draw a ring around these points (e.g. guided-labeling candidates); None clears."""
        idx = np.zeros(0, np.int64) if indices is None else np.unique(np.asarray(indices, dtype=np.int64))
        n = 0 if self._coords is None else len(self._coords)
        if idx.size and (idx[0] < 0 or idx[-1] >= n):
            raise IndexError(f"highlight indices must be in 0..{n - 1}")
        self._highlight = idx
        self._push_overlays("highlight")

    def highlighted(self) -> np.ndarray:
        return self._highlight.copy()

    def set_anchors(self, points: np.ndarray | None, colors: Sequence[str] | None = None) -> None:
        """Class targets as large star (2D) / diamond (3D) markers; rows of NaN are hidden."""
        if points is None:
            self._anchors, self._anchor_rgba = None, []
        else:
            A = np.array(points, dtype=np.float64, copy=True)
            if A.ndim != 2 or A.shape[1] not in (2, 3):
                raise ValueError(f"anchors must be a (K, 2) or (K, 3) array, got shape {A.shape}")
            colors = list(colors) if colors is not None else ["#808080"] * len(A)
            if len(colors) != len(A):
                raise ValueError(f"{len(A)} anchors but {len(colors)} colours")
            self._anchors, self._anchor_rgba = A, [to_rgba(c, 255) for c in colors]
        self._push_overlays("anchors")
        self._follow_points()

    def set_target_lines(self, src: np.ndarray | None, dst: np.ndarray | None = None) -> None:
        """Thin lines from ``src[i]`` to ``dst[i]`` (labeled points to their targets); None clears."""
        if src is None:
            self._lines = None
        else:
            segment_pairs(src, dst, 2)  # validate now, not at the next frame
            self._lines = (np.array(src, dtype=np.float64), np.array(dst, dtype=np.float64))
        self._push_overlays("lines")
        self._follow_points()

    def set_legend_visible(self, visible: bool) -> None:
        """Show or hide the legend (top-right corner; it is part of exported images)."""
        self._legend_visible = bool(visible)
        self._legend2d.setVisible(self._legend_visible)
        if self._gl is not None:
            self._update_legend_3d()

    def set_stale(self, stale: bool) -> None:
        """Dim the 2D plot while what it shows is being replaced (a slow projection runs)."""
        self._stale = bool(stale)
        for item in (self._lines2d, self._cloud, self._highlight2d, self._anchors2d, self._selection2d):
            item.setOpacity(0.3 if stale else 1.0)

    def is_stale(self) -> bool:
        return getattr(self, "_stale", False)

    def set_axis_labels(self, labels: Sequence[str]) -> None:
        """Axis titles of the 2D plot (e.g. ``projector.axis_labels()``)."""
        labels = (list(labels) + ["", ""])[:2]
        if labels == self._axis_labels:
            return  # a new title redraws the axis (about 4 ms each): not on every live frame
        self._axis_labels = labels
        self.plot_item.setLabel("bottom", labels[0])
        self.plot_item.setLabel("left", labels[1])

    # ------------------------------------------------------------------ public API: view
    def dimensions(self) -> int:
        return self._dims

    def set_dimensions(self, dims: int) -> None:
        """Show the 2D plot or the 3D view (created on first use, then kept)."""
        if dims not in (2, 3):
            raise ValueError(f"the view shows 2 or 3 dimensions, got {dims}")
        if dims == self._dims:
            return
        if dims == 3:
            self._ensure_gl()
        self._dims = dims
        self._hover = -1
        self._stack.setCurrentWidget(self._plot if dims == 2 else self._gl_container)
        self._push_style()
        self._push_positions()
        self._push_overlays()
        self._follow_points(force=self._follow)
        self.dimensionsChanged.emit(dims)

    def release_3d(self) -> None:
        """Delete the 3D view (its window, container and GL context) now, e.g. when the window
        that shows it closes; it is made again if this view is shown again in 3D. Items other
        code added to ``gl_view`` go with it."""
        if self._gl is None:
            return
        from saeviz.app.latent.view_3d import release

        container = self._gl_container
        self._gl = self._gl_container = None
        if self._dims == 3:
            self._stack.setCurrentWidget(self._plot)
        release(container)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._3d_released():  # shown again
            self._dims = 2
            self.set_dimensions(3)

    def auto_range(self) -> None:
        """Fit the view to the points and follow them again after the user panned or zoomed."""
        self._follow = True
        self._follow_points(force=True)

    def set_tool(self, tool: PointerTool | None) -> None:
        """Install a pointer tool that sees mouse events first (see the module docstring)."""
        if self._tool is not None and hasattr(self._tool, "detach"):
            self._tool.detach(self)
        self._tool = tool
        self._press_pos = None
        if tool is not None and hasattr(tool, "attach"):
            tool.attach(self)

    def tool(self) -> PointerTool | None:
        return self._tool

    def active_view(self) -> QtWidgets.QWidget:
        """The widget receiving mouse events: the 2D viewport or the 3D GL widget."""
        return self._plot.viewport() if self._dims == 2 else self._gl_container

    @property
    def plot_widget(self) -> pg.PlotWidget:
        """The 2D ``PlotWidget`` (a QGraphicsView: ``mapFromScene`` gives viewport pixels)."""
        return self._plot

    @property
    def gl_view(self):
        """The 3D view, a pyqtgraph ``GLViewMixin`` on a QOpenGLWindow (None until first shown).

        It has GLViewWidget's camera API (``setCameraPosition``, ``opts``, ``addItem``) and
        receives the 3D mouse events; ``active_view()`` is the widget that contains it.
        """
        return self._gl

    # -- overlays other panels draw on the view -------------------------------------------------------
    def add_points_3d(self, shape: str, depth: float):
        """A point-sprite item ("disc", "ring", "diamond") drawn over the 3D view at ``depth``
        (``set_positions``, ``set_style``), or None while there is no 3D view; it goes with
        the 3D view (``release_3d``). 2D overlays go into ``plot_item``."""
        if self._gl is None:
            return None
        from saeviz.app.latent.view_3d import GLPoints

        item = GLPoints(shape)
        item.setDepthValue(depth)
        self._gl.addItem(item)
        return item

    def add_segments_3d(self, color, depth: float):
        """A line-segment item (``set_segments``) drawn over the 3D view, or None (see
        ``add_points_3d``)."""
        if self._gl is None:
            return None
        from saeviz.app.latent.view_3d import GLSegments

        item = GLSegments(tuple(color))
        item.setDepthValue(depth)
        self._gl.addItem(item)
        return item

    def camera_matrix_3d(self) -> np.ndarray:
        """The 3D view's projection times view matrix (4x4): scene to clip coordinates."""
        from saeviz.app.latent.view_3d import view_projection

        return view_projection(self._gl)

    def export_image(self, path, width: int | None = None) -> Path:
        """Save the current view: PNG (2D and 3D) or SVG (2D only), legend included."""
        path = Path(path)
        suffix = path.suffix.lower()
        raster = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
        if suffix not in raster + (".svg",):
            raise ValueError(f"cannot export {suffix or 'a file without extension'}: use .png or .svg")
        if self._dims == 3:
            if suffix == ".svg":
                raise ValueError("SVG export is available in 2D only; save the 3D view as PNG")
            image = self._gl.render_image()
            if not image.save(str(path)):
                raise OSError(f"could not write {path}")
            return path
        if suffix == ".svg":
            self._export_svg(path)
        else:
            import pyqtgraph.exporters as exporters

            exporter = exporters.ImageExporter(self.plot_item)
            if width is not None:
                exporter.parameters()["width"] = int(width)
            exporter.export(str(path))
        if not path.exists():
            raise OSError(f"could not write {path}")
        return path

    def _export_svg(self, path: Path) -> None:
        """Render the plot with Qt's SVG generator.

        pyqtgraph 0.14's SVGExporter rewrites path data and fails on the closed paths that
        current Qt emits for every ViewBox (pyqtgraph issue #3495); Qt's own output is valid.
        Items are put in pyqtgraph's export mode so the point cloud paints vector markers.

        The axes paint through a cached ``QPicture``, which Qt scales on replay by the ratio of
        the target's resolution to the one it was recorded at (96 dpi); the generator's
        default of 72 dpi drew the axes at three quarters of their size, off the data. The
        generator therefore gets the picture's resolution (as pyqtgraph's own SVGExporter
        sets the screen's), and the page is the plot's size in pixels.
        """
        from PySide6.QtSvg import QSvgGenerator

        scene = self.plot_item.scene()
        source = self.plot_item.sceneBoundingRect()
        target = QtCore.QRectF(0, 0, source.width(), source.height())
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setResolution(QtGui.QPicture().logicalDpiX())
        generator.setSize(target.size().toSize())
        generator.setViewBox(target)
        generator.setTitle("saeviz latent view")
        painter = QtGui.QPainter()
        items = [it for it in scene.items() if hasattr(it, "setExportMode")]
        if not painter.begin(generator):
            raise OSError(f"could not write {path}")
        try:
            for it in items:
                it.setExportMode(True, {"painter": painter, "antialias": True})
            painter.fillRect(target, pg.mkBrush(pg.getConfigOption("background")))
            scene.render(painter, target, source)
        finally:
            painter.end()
            for it in items:
                it.setExportMode(False)

    # ------------------------------------------------------------------ picking (tools use these)
    def screen_positions(self) -> np.ndarray:
        """(N, 2) pixel positions of the points in ``active_view()``; NaN where not visible.

        Kept until the points, the 2D transform or the 3D camera change (do not modify it).
        """
        if self._coords is None:
            return np.zeros((0, 2))
        if self._dims == 2:
            t = self._transform_2d()
            if t is None:
                return np.full((len(self._coords), 2), np.nan)
            key = (2, t.m11(), t.m12(), t.m21(), t.m22(), t.dx(), t.dy())
        else:
            key = (3, self.camera_matrix_3d().tobytes(), self._gl.width(), self._gl.height())
        cache = self._screen_cache
        if cache is not None and cache[0] == key:
            return cache[1]
        if self._dims == 2:
            S = self._cloud.map_to_device(t)
        else:
            from saeviz.app.latent.view_3d import project_to_screen

            S = project_to_screen(self._gl, pad_columns(self._coords, 3))
        S.flags.writeable = False
        self._screen_cache = (key, S)
        return S

    def _sample_on_screen(self) -> np.ndarray:
        """Pixel positions of the points the 3D view draws (its sample), kept per camera."""
        from saeviz.app.latent.view_3d import project_to_screen

        key = (self.camera_matrix_3d().tobytes(), self._gl.width(), self._gl.height(), id(self._sample3d))
        cache = self._sample_cache
        if cache is None or cache[0] != key or cache[2] is not self._coords:
            cache = (key, project_to_screen(self._gl, pad_columns(self._coords[self._sample3d], 3)), self._coords)
            self._sample_cache = cache
        return cache[1]

    def _transform_2d(self) -> QtGui.QTransform | None:
        """Data coordinates to viewport pixels of the 2D plot (None before it is laid out)."""
        self.view_box.prepareForPaint()  # apply a pending range change to the transform
        return self._cloud.deviceTransform(self._plot.viewportTransform())

    def _point_index(self) -> PointIndex | None:
        """The 2D index of the current points; its bucket grid is built on a worker thread."""
        if self._coords is None or len(self._coords) == 0:
            return None
        if self._index is None:
            b = self._cloud.dataBounds(0) + self._cloud.dataBounds(1)  # x0, x1, y0, y1
            self._index = PointIndex(self._coords[:, :2], None if b[0] is None else (b[0], b[2], b[1], b[3]))
            if len(self._coords) >= GRID_INDEX_MIN:
                threading.Thread(target=self._index.build_grid, name="saeviz-point-index",
                                 daemon=True).start()
        return self._index

    def _to_data(self, t: QtGui.QTransform):
        """For an axis-aligned 2D transform: (map pixels to data, px per data unit in x, in y)."""
        if abs(t.m12()) > 1e-12 or abs(t.m21()) > 1e-12 or t.m11() == 0 or t.m22() == 0:
            return None
        m11, m22, dx, dy = t.m11(), t.m22(), t.dx(), t.dy()

        def to_data(P: np.ndarray) -> np.ndarray:
            return np.column_stack([(P[:, 0] - dx) / m11, (P[:, 1] - dy) / m22])

        return to_data, abs(m11), abs(m22)

    def _data_query(self):
        """(index, map pixels to data, sx, sy) for a 2D query in data coordinates, or None."""
        if self._dims != 2:
            return None
        t = self._transform_2d()
        index = self._point_index()
        if t is None or index is None:
            return None
        mapping = self._to_data(t)
        return None if mapping is None else (index, *mapping)

    def pick(self, pos, radius: float = PICK_RADIUS) -> int:
        """Index of the point nearest to widget position ``pos`` within ``radius`` px, or -1.

        2D looks in the point index around ``pos``; 3D among the points it draws.
        """
        p = QtCore.QPointF(pos)
        query = self._data_query()
        if query is not None:
            index, to_data, sx, sy = query
            (dx, dy), = to_data(np.array([[p.x(), p.y()]]))
            return index.nearest(dx, dy, radius, sx, sy)
        rows = self._sample3d if self._dims == 3 and self._sample3d is not None else None
        T = self.screen_positions() if rows is None else self._sample_on_screen()
        if len(T) == 0:
            return -1
        with np.errstate(invalid="ignore"):
            d2 = (T[:, 0] - p.x()) ** 2 + (T[:, 1] - p.y()) ** 2
        d2 = np.where(np.isfinite(d2), d2, np.inf)
        i = int(np.argmin(d2))
        if d2[i] > radius * radius:
            return -1
        return i if rows is None else int(rows[i])

    def indices_near(self, pos, radius: float) -> np.ndarray:
        """Indices of points within ``radius`` px of widget position ``pos`` (a brush)."""
        p = QtCore.QPointF(pos)
        query = self._data_query()
        if query is not None:
            index, to_data, sx, sy = query
            (dx, dy), = to_data(np.array([[p.x(), p.y()]]))
            return index.near(dx, dy, radius, sx, sy)
        S = self.screen_positions()
        with np.errstate(invalid="ignore"):
            d2 = (S[:, 0] - p.x()) ** 2 + (S[:, 1] - p.y()) ** 2
        return np.flatnonzero(d2 <= radius * radius)

    def indices_in_polygon(self, polygon) -> np.ndarray:
        """Indices (ascending) of points inside a polygon of widget positions (a lasso)."""
        V = np.array([(v.x(), v.y()) if isinstance(v, (QtCore.QPointF, QtCore.QPoint)) else (v[0], v[1])
                      for v in polygon], dtype=np.float64).reshape(-1, 2)
        query = self._data_query()
        if query is not None:
            index, to_data, _sx, _sy = query
            return index.in_polygon(to_data(V))
        S = self.screen_positions()
        ok = np.isfinite(S).all(axis=1)
        mask = np.zeros(len(S), bool)
        mask[ok] = points_in_polygon(S[ok], V)
        return np.flatnonzero(mask)

    def drawing_mode(self) -> str:
        """What the 2D view drew last: "points" (markers) or "density" (an image of counts)."""
        return self._cloud.mode

    def shown_in_3d(self) -> int:
        """How many points the 3D view draws (all, or ``MAX_POINTS_3D`` of a larger cloud)."""
        n = 0 if self._coords is None else len(self._coords)
        return n if self._sample3d is None else len(self._sample3d)

    def data_position(self, pos) -> tuple[float, float] | None:
        """2D view (data) coordinates of widget position ``pos``; None in 3D."""
        if self._dims != 2:
            return None
        p = self.view_box.mapSceneToView(self._plot.mapToScene(QtCore.QPointF(pos).toPoint()))
        return (p.x(), p.y())

    # ------------------------------------------------------------------ mouse: the one place
    def _handle_pointer(self, kind: str, event: QtGui.QMouseEvent) -> bool:
        pos = event.position()
        if self._tool is not None:
            pe = PointerEvent(kind, pos, self.data_position(pos), event.button(), event.buttons(),
                              event.modifiers(), self._dims)
            if getattr(self._tool, kind)(pe):
                self._press_pos = None
                return True
        left = QtCore.Qt.MouseButton.LeftButton
        if kind == "press":
            plain_left = event.button() == left and event.modifiers() == QtCore.Qt.KeyboardModifier.NoModifier
            self._press_pos = pos if event.button() == left else None
            if self._dims == 3 and not plain_left:
                self._follow = False  # the user pans the 3D camera
        elif kind == "move":
            if event.buttons() == QtCore.Qt.MouseButton.NoButton:
                self._hover_at(pos, event.globalPosition())
            elif self._press_pos is not None and (
                    (pos - self._press_pos).manhattanLength() > QtWidgets.QApplication.startDragDistance()):
                self._press_pos = None
        elif kind == "release":
            if event.button() == left and self._press_pos is not None:
                self._press_pos = None
                index = self.pick(pos)
                if index >= 0:
                    self.pointClicked.emit(index)
        return False

    def _hover_at(self, pos: QtCore.QPointF, global_pos: QtCore.QPointF) -> None:
        index = self.pick(pos)
        if index != self._hover:
            self._set_hover(index)
            if index >= 0 and self.tooltip_provider is not None:
                QtWidgets.QToolTip.showText(global_pos.toPoint(), self.tooltip_provider(index), self.active_view())

    def _set_hover(self, index: int) -> None:
        if index == self._hover:
            return
        self._hover = index
        if index < 0:
            QtWidgets.QToolTip.hideText()
        self.pointHovered.emit(index)

    # ------------------------------------------------------------------ pushing state to views
    def _effective_style(self) -> PointStyle:
        n = 0 if self._coords is None else len(self._coords)
        if self._style.n == n:
            return self._style
        if self._default_style.n != n:
            self._default_style = default_style(n)
        return self._default_style

    def _3d_released(self) -> bool:
        """In 3D with the 3D view released (``release_3d``): nothing to push now, all of it is
        pushed when the view is shown again."""
        return self._dims == 3 and self._gl is None

    def _push_style(self) -> None:
        if self._3d_released():
            return
        style = self._effective_style()
        if self._dims == 2:
            self._cloud.set_style(style.symbols, style.ids, style.order)
            self._legend2d.set_legend(style.legend)
        else:
            rows = self._rows_3d(style)
            # draw order (labeled points last, on top), sample of a big cloud
            rgba, size = style.rgba_at(rows), style.size_at(rows) * self._gl.devicePixelRatioF()
            self._points3d.set_style(rgba, size)
            self._update_legend_3d()
            if self._coords is not None and len(self._coords) == style.n:
                self._points3d.set_positions(self._positions_3d(rows))  # they follow the new order

    def _rows_3d(self, style: PointStyle | None = None) -> np.ndarray | None:
        """The points the 3D view draws, in draw order (None: all, in index order)."""
        style = self._effective_style() if style is None else style
        sample = self._sample3d
        if sample is None:
            return style.order
        if style.order is None:
            return sample
        keep = np.zeros(style.n, bool)
        keep[sample] = True
        return style.order[keep[style.order]]

    def _positions_3d(self, rows: np.ndarray | None) -> np.ndarray:
        """(M, 3) float32 positions of ``rows`` (all points when None)."""
        C = self._coords if rows is None else self._coords[rows]
        pos = np.zeros((len(C), 3), np.float32)
        pos[:, :min(3, C.shape[1])] = C[:, :3]
        return pos

    def _push_positions(self) -> None:
        if self._3d_released():
            return
        if self._coords is None:
            return
        if self._dims == 2:
            self._cloud.set_positions(self._coords[:, :2])
        else:
            pos = self._positions_3d(self._rows_3d())
            self._points3d.set_positions(pos)
            self._cloud_sphere = bounding_sphere(pos)
        self._push_overlays("selection", "highlight")  # anchors and lines come with their setters
        self._follow_points()

    def _stop_following(self, *args) -> None:
        self._follow = False

    def _follow_points(self, force: bool = False) -> None:
        """Keep the points in view without chasing every frame.

        Live frames move the points a little each time; refitting on every frame makes the axes
        jitter and costs a relayout per frame. The view is refitted only when points (anchors,
        target ends) leave it or fill less than ``FOLLOW_FILL`` of it, or when ``force`` is set
        (first points, auto_range).
        """
        if self._coords is None or len(self._coords) == 0 or self._3d_released():
            return
        if self._dims == 2:
            if any(self.view_box.autoRangeEnabled()):  # pyqtgraph's "A" button: follow again
                self.view_box.disableAutoRange()
                self._follow, force = True, True
            if not (self._follow or force):
                return
            extent = self._extent_2d()
            if extent is None:
                return
            x0, x1, y0, y1 = extent
            (vx0, vx1), (vy0, vy1) = self.view_box.viewRange()
            inside = x0 >= vx0 and x1 <= vx1 and y0 >= vy0 and y1 <= vy1
            large = (x1 - x0) >= FOLLOW_FILL * (vx1 - vx0) or (y1 - y0) >= FOLLOW_FILL * (vy1 - vy0)
            if force or not (inside and large):
                self.view_box.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.05)
        else:
            if not (self._follow or force):
                return
            from saeviz.app.latent.view_3d import fit_camera

            sphere = self._cloud_sphere
            if self._anchors is not None and len(self._anchors):
                sphere = merge_spheres(sphere, bounding_sphere(pad_columns(self._anchors, 3)))
            if sphere is None:
                return
            center, radius = sphere
            old = self._fitted_sphere
            if (force or old is None or np.linalg.norm(center - old[0]) + radius > old[1]
                    or radius < FOLLOW_FILL * old[1]):
                fit_camera(self._gl, center, radius)
                self._fitted_sphere = (center, radius)

    def _extent_2d(self) -> tuple[float, float, float, float] | None:
        """Bounds of the points, anchors and target ends in 2D."""
        boxes = [self._cloud.dataBounds(0) + self._cloud.dataBounds(1)]
        for extra in (self._anchors, None if self._lines is None else self._lines[1]):
            if extra is not None and len(extra):
                e = extra[:, :2][np.isfinite(extra[:, :2]).all(axis=1)]
                if len(e):
                    boxes.append((e[:, 0].min(), e[:, 0].max(), e[:, 1].min(), e[:, 1].max()))
        boxes = [b for b in boxes if b[0] is not None]
        if not boxes:
            return None
        b = np.array(boxes, dtype=np.float64)
        return b[:, 0].min(), b[:, 1].max(), b[:, 2].min(), b[:, 3].max()

    _OVERLAYS = ("selection", "highlight", "anchors", "lines")

    def _push_overlays(self, *parts: str) -> None:
        """Send overlay positions to the active view: the named ``parts``, or all of them."""
        if self._3d_released():
            return
        parts = parts or self._OVERLAYS
        k, C = self._dims, self._coords
        three = k == 3
        dpr = self._gl.devicePixelRatioF() if three else 1.0

        def rgba(color, m):
            return np.tile(np.array(color, np.float32) / 255, (m, 1))

        if "selection" in parts:
            sel = (np.zeros((0, k)) if C is None or self._selected is None
                   else pad_columns(C[[self._selected]], k))
            if three:
                self._selection3d.set_positions(sel)
                self._selection3d.set_style(rgba(SELECTION_RGBA, len(sel)),
                                            np.full(len(sel), SELECTION_SIZE * dpr, np.float32))
            else:
                self._selection2d.set_positions(sel)
        if "highlight" in parts:
            hl = np.zeros((0, k)) if C is None else pad_columns(C[self._highlight], k)
            if three:
                self._highlight3d.set_positions(hl)
                self._highlight3d.set_style(rgba(HIGHLIGHT_RGBA, len(hl)),
                                            np.full(len(hl), HIGHLIGHT_SIZE * dpr, np.float32))
            else:
                self._highlight2d.set_positions(hl)
        if "anchors" in parts:
            anchors = np.zeros((0, k)) if self._anchors is None else pad_columns(self._anchors, k)
            if three:
                self._anchors3d.set_positions(anchors)
                self._anchors3d.set_style(np.array(self._anchor_rgba, np.float32).reshape(-1, 4) / 255,
                                          np.full(len(anchors), ANCHOR_SIZE * dpr, np.float32))
            else:
                symbols = [anchor_symbol(c) for c in self._anchor_rgba]
                if symbols != self._anchors2d.symbols or len(anchors) != self._anchors2d.n:
                    self._anchors2d.set_style(symbols, np.arange(len(symbols), dtype=np.int32), None)
                self._anchors2d.set_positions(anchors)
        if "lines" in parts:
            lines = np.zeros((0, k)) if self._lines is None else segment_pairs(*drawn_lines(*self._lines), k)
            if three:
                self._lines3d.set_segments(lines)
            else:
                self._lines2d.setData(lines[:, 0], lines[:, 1], connect="pairs")

    def _update_legend_3d(self) -> None:
        if self._3d_released():
            return
        from saeviz.app.latent.view_3d import legend_image

        legend = self._effective_style().legend
        self._gl.legend_image = (legend_image(legend, self._legend_font, self._gl.devicePixelRatioF())
                                 if self._legend_visible else None)
        n = 0 if self._coords is None else len(self._coords)
        self._gl.notice = (f"showing {self.shown_in_3d():,} of {n:,} points (a random sample)"
                           if self._sample3d is not None else "")
        self._gl.update()

    def _ensure_gl(self) -> None:
        if self._gl is not None:
            return
        try:
            from saeviz.app.latent.view_3d import GLPoints, GLSegments, GLView3D, embed
        except ImportError as exc:  # PyOpenGL missing
            raise RuntimeError(f"the 3D view needs PyOpenGL: {exc}") from exc
        gl = GLView3D()
        container = embed(gl, self._stack)
        container.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        container.setMinimumSize(50, 50)
        self._lines3d = GLSegments(tuple(c / 255 for c in LINE_PEN))
        self._points3d = GLPoints("disc")
        self._highlight3d = GLPoints("ring")
        self._anchors3d = GLPoints("diamond")
        self._selection3d = GLPoints("ring")
        for depth, item in enumerate((self._lines3d, self._points3d, self._highlight3d, self._anchors3d,
                                      self._selection3d)):
            item.setDepthValue(depth)
            gl.addItem(item)
        gl.installEventFilter(self._router)
        self._stack.addWidget(container)
        self._gl, self._gl_container = gl, container


def sample_3d(n: int, limit: int = MAX_POINTS_3D) -> np.ndarray | None:
    """The indices (ascending) the 3D view draws of ``n`` points: all (None) up to ``limit``,
    else a fixed random sample of ``limit`` (the same for every frame of ``n`` points)."""
    if n <= limit:
        return None
    return np.sort(np.random.default_rng(n).choice(n, limit, replace=False))
