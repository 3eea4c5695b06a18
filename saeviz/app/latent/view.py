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

2D draws every point with one pixmap-fragment call from pre-rendered symbols
(``latent_view_2d``); 3D is pyqtgraph's GL view (camera, controls, items) on a QOpenGLWindow
with point-sprite items (``latent_view_3d``), created when first shown and kept. The view
follows the points (refitting only when they leave it or shrink to under half of it) until
the user pans or zooms; ``auto_range()`` (or pyqtgraph's "A" button) follows again.
``export_image`` writes PNG (2D and 3D) or SVG (2D), legend included; ``QWidget.grab()``
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
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

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
from saeviz.app.latent.view_2d import LegendItem2D, PointCloudItem
from saeviz.core.display.geometry import (
    bounding_sphere,
    merge_spheres,
    pad_columns,
    points_in_polygon,
    segment_pairs,
)

PICK_RADIUS = 8.0  # px: how far from a point a click or hover still picks it
FOLLOW_FILL = 0.7  # refit the followed view when the points fill less than this of it
LINE_PEN = (128, 128, 128, 150)


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
        self._lines2d = pg.PlotCurveItem(pen=pg.mkPen(LINE_PEN, width=1), connect="pairs")
        self._cloud = PointCloudItem()
        self._highlight2d = PointCloudItem([HIGHLIGHT])
        self._anchors2d = PointCloudItem()
        self._selection2d = PointCloudItem([SELECTION])
        for z, item in enumerate((self._lines2d, self._cloud, self._highlight2d, self._anchors2d,
                                  self._selection2d)):
            item.setZValue(10 * (z + 1))
            self.plot_item.addItem(item)
        self._legend2d = LegendItem2D(self.view_box)
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
        if resized:
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
        self._push_style()

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
        if self._dims == 3 and self._gl is None:  # shown again after release_3d
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
        """(N, 2) pixel positions of the points in ``active_view()``; NaN where not visible."""
        if self._coords is None:
            return np.zeros((0, 2))
        if self._dims == 2:
            self.view_box.prepareForPaint()  # apply a pending range change to the transform
            t = self._cloud.deviceTransform(self._plot.viewportTransform())
            if t is None:
                return np.full((len(self._coords), 2), np.nan)
            return self._cloud.map_to_device(t)
        from saeviz.app.latent.view_3d import project_to_screen

        return project_to_screen(self._gl, pad_columns(self._coords, 3))

    def pick(self, pos, radius: float = PICK_RADIUS) -> int:
        """Index of the point nearest to widget position ``pos`` within ``radius`` px, or -1.

        A vectorised scan of the projected points (well under a millisecond at 60,000); a KD
        tree would need rebuilding every live frame and every pan, which costs more.
        """
        S = self.screen_positions()
        if len(S) == 0:
            return -1
        p = QtCore.QPointF(pos)
        with np.errstate(invalid="ignore"):
            d2 = (S[:, 0] - p.x()) ** 2 + (S[:, 1] - p.y()) ** 2
        d2 = np.where(np.isfinite(d2), d2, np.inf)
        i = int(np.argmin(d2))
        return i if d2[i] <= radius * radius else -1

    def indices_near(self, pos, radius: float) -> np.ndarray:
        """Indices of points within ``radius`` px of widget position ``pos`` (a brush)."""
        S = self.screen_positions()
        p = QtCore.QPointF(pos)
        with np.errstate(invalid="ignore"):
            d2 = (S[:, 0] - p.x()) ** 2 + (S[:, 1] - p.y()) ** 2
        return np.flatnonzero(d2 <= radius * radius)

    def indices_in_polygon(self, polygon) -> np.ndarray:
        """Indices of points inside a polygon of widget positions (a lasso)."""
        V = np.array([(v.x(), v.y()) if isinstance(v, (QtCore.QPointF, QtCore.QPoint)) else (v[0], v[1])
                      for v in polygon], dtype=np.float64).reshape(-1, 2)
        S = self.screen_positions()
        ok = np.isfinite(S).all(axis=1)
        mask = np.zeros(len(S), bool)
        mask[ok] = points_in_polygon(S[ok], V)
        return np.flatnonzero(mask)

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

    def _push_style(self) -> None:
        style = self._effective_style()
        if self._dims == 2:
            self._cloud.set_style(style.symbols, style.ids, style.order)
            self._legend2d.set_legend(style.legend)
        else:
            rgba, size = style.rgba, style.size * self._gl.devicePixelRatioF()
            if style.order is not None:  # draw order: labeled points last, on top
                rgba, size = rgba[style.order], size[style.order]
            self._points3d.set_style(rgba, size)
            self._update_legend_3d()
            if self._coords is not None and len(self._coords) == style.n:
                pos = pad_columns(self._coords, 3)  # positions follow the new draw order
                self._points3d.set_positions(pos if style.order is None else pos[style.order])

    def _push_positions(self) -> None:
        if self._coords is None:
            return
        if self._dims == 2:
            self._cloud.set_positions(self._coords[:, :2])
        else:
            pos = pad_columns(self._coords, 3)
            order = self._effective_style().order
            self._points3d.set_positions(pos if order is None else pos[order])
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
        if self._coords is None or len(self._coords) == 0:
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
            lines = np.zeros((0, k)) if self._lines is None else segment_pairs(*self._lines, k)
            if three:
                self._lines3d.set_segments(lines)
            else:
                self._lines2d.setData(lines[:, 0], lines[:, 1], connect="pairs")

    def _update_legend_3d(self) -> None:
        from saeviz.app.latent.view_3d import legend_image

        legend = self._effective_style().legend
        self._gl.legend_image = (legend_image(legend, self._legend_font, self._gl.devicePixelRatioF())
                                 if self._legend_visible else None)
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
