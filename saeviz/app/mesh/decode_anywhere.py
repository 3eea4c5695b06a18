"""Decoding arbitrary points of the latent view, and markers for latent points in it.

``LatentMarkers`` draws latent codes that are not samples into a ``LatentView``: class
centers (large outlined crosses in their class colours), a moving code (a diamond) and the
line of a path. The codes are mapped through the view's current linear projection
(``projection()`` returns a ``LiveProjection`` or None); a light timer re-projects them
while markers are shown, so they follow the points when the projection is refitted. With a
non-linear projection (t-SNE, UMAP) arbitrary codes have no place in the view and the
markers are hidden.

``DecodeAnywhere`` turns a Ctrl+click, or a Ctrl+drag, in empty space of the 2D latent view
into a code through the projection's inverse, with the components the view does not show
taken from the mean of the labeled codes (``saeviz.core.method.morph.inverse_at``). The code is
decoded off the UI thread (a drag coalesces: one decode runs, the newest position waits) and
shown live, in the mesh viewport for meshes or as an image or curve in the panel, with the
nearest real samples (by distance between codes) listed; double-clicking one selects it.
A Ctrl+press on a point is left to the view (it picks the point); in 3D the view's own
controls keep Ctrl.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.tasks import TaskRunner
from saeviz.core.display.decoding import DecodeContext, DecodedPoint, decode_point
from saeviz.core.errors import SaevizError
from saeviz.core.method.morph import inverse_at, labeled_mean

MARKER_Z = 70.0  # above the latent view's own items
CENTER_SIZE = 20
MOVING_SIZE = 16
REPROJECT_MS = 100
NEAREST = 5  # nearest samples listed for a decoded point


def _rgba(color, alpha: int = 255) -> tuple[int, int, int, int]:
    c = pg.mkColor(color)
    return c.red(), c.green(), c.blue(), alpha


def _set_points(item, xy: np.ndarray | None, **style) -> None:
    """Show the points ``xy`` (N, 2+) in ``item``; an item without points is hidden, so that
    the view's every repaint skips it (an empty pyqtgraph item still costs its paint)."""
    if xy is None or not len(xy):
        item.setData([], [])
        item.setVisible(False)
        return
    item.setData(xy[:, 0], xy[:, 1], **style)
    item.setVisible(True)


class LatentMarkers(QObject):
    """Class centers, a moving code and a path line drawn over a ``LatentView``."""

    def __init__(self, view, projection: Callable[[], object], parent: QObject | None = None):
        super().__init__(parent if parent is not None else view)
        self.view = view
        self.projection = projection
        self._centers: np.ndarray | None = None
        self._center_colors: list = []
        self._moving: np.ndarray | None = None
        self._path: tuple[np.ndarray, np.ndarray] | None = None
        self._seen: tuple = ()
        self.coords: dict[str, np.ndarray] = {}  # what is drawn, in view coordinates (tests)

        self._centers2d = pg.ScatterPlotItem(pxMode=True, symbol="+", size=CENTER_SIZE)
        self._moving2d = pg.ScatterPlotItem(pxMode=True, symbol="d", size=MOVING_SIZE,
                                            pen=pg.mkPen("#111111", width=2), brush=pg.mkBrush("#ffffff"))
        self._path2d = pg.PlotCurveItem(pen=pg.mkPen((60, 60, 60, 200), width=2, style=QtCore.Qt.DashLine))
        for z, item in enumerate((self._path2d, self._centers2d, self._moving2d)):
            item.setZValue(MARKER_Z + z)
            view.plot_item.addItem(item)
            item.setVisible(False)  # until it has points
        self._gl_items = None
        self._timer = QTimer(self)
        self._timer.setInterval(REPROJECT_MS)
        self._timer.timeout.connect(self._maybe_reproject)
        if hasattr(view, "dimensionsChanged"):
            view.dimensionsChanged.connect(lambda _d: self.refresh())

    # -- state ------------------------------------------------------------------------------
    def set_centers(self, centers: np.ndarray | None, colors=None) -> None:
        """Class centers (K, d) (rows of NaN are skipped) in ``colors``; None clears."""
        if centers is None:
            self._centers, self._center_colors = None, []
        else:
            C = np.asarray(centers, np.float64)
            colors = list(colors) if colors is not None else ["#808080"] * len(C)
            ok = np.isfinite(C).all(axis=1)
            self._centers = C[ok]
            self._center_colors = [c for c, good in zip(colors, ok) if good]
        self.refresh()

    def set_moving(self, code: np.ndarray | None) -> None:
        self._moving = None if code is None else np.asarray(code, np.float64).reshape(1, -1)
        self.refresh()

    def set_path(self, start: np.ndarray | None, end: np.ndarray | None = None) -> None:
        """A straight path from code ``start`` to code ``end``; None clears."""
        self._path = None if start is None or end is None else (
            np.asarray(start, np.float64), np.asarray(end, np.float64))
        self.refresh()

    def clear(self) -> None:
        self._centers, self._center_colors, self._moving, self._path = None, [], None, None
        self.refresh()

    @property
    def active(self) -> bool:
        return self._centers is not None or self._moving is not None or self._path is not None

    # -- drawing --------------------------------------------------------------------------------
    def _live(self):
        live = self.projection() if self.projection is not None else None
        if live is None or getattr(getattr(live, "projector", live), "components", None) is None:
            return None
        return live

    def _project(self, live, Z: np.ndarray) -> np.ndarray | None:
        d = live.projector.components.shape[1] if hasattr(live, "projector") else live.components.shape[1]
        if Z.shape[1] != d:
            return None  # codes of another model than the projection's
        return np.asarray(live.transform(Z), np.float64)

    def refresh(self) -> None:
        """Re-project and redraw every marker now."""
        live = self._live()
        self.coords = {}
        if live is not None:
            if self._centers is not None and len(self._centers):
                c = self._project(live, self._centers)
                if c is not None:
                    self.coords["centers"] = c
            if self._moving is not None:
                m = self._project(live, self._moving)
                if m is not None:
                    self.coords["moving"] = m
            if self._path is not None:
                p = self._project(live, np.stack(self._path))
                if p is not None:
                    self.coords["path"] = p
        self._draw()
        self._seen = (id(live), id(getattr(live, "coords", None)))
        if self.active and not self._timer.isActive():
            self._timer.start()
        elif not self.active:
            self._timer.stop()

    def _maybe_reproject(self) -> None:
        live = self._live()
        if (id(live), id(getattr(live, "coords", None))) != self._seen:
            self.refresh()

    def _draw(self) -> None:
        three = self.view.dimensions() == 3
        c = self.coords.get("centers")
        m = self.coords.get("moving")
        p = self.coords.get("path")
        if three:
            for item in (self._centers2d, self._moving2d, self._path2d):
                _set_points(item, None)
            self._draw_3d(c, m, p)
            return
        if self._gl_items is not None:
            self._draw_3d(None, None, None)
        if c is not None:
            brushes = [pg.mkBrush(*_rgba(col)) for col in self._center_colors]
            pens = [pg.mkPen("#111111", width=1.5)] * len(c)
            _set_points(self._centers2d, c, brush=brushes, pen=pens, symbol="+", size=CENTER_SIZE)
        else:
            _set_points(self._centers2d, None)
        _set_points(self._moving2d, m)
        _set_points(self._path2d, p)

    def _draw_3d(self, c, m, p) -> None:
        gl = self.view.gl_view
        if gl is None:
            return
        if self._gl_items is None:
            self._gl_items = (self.view.add_segments_3d((0.25, 0.25, 0.25, 0.8), 100),
                              self.view.add_points_3d("diamond", 101), self.view.add_points_3d("ring", 102))
        seg, centers, moving = self._gl_items
        dpr = gl.devicePixelRatioF()

        def pad(a):
            if a is None:
                return np.zeros((0, 3), np.float32)
            out = np.zeros((len(a), 3), np.float32)
            out[:, :min(3, a.shape[1])] = a[:, :3]
            return out

        seg.set_segments(pad(p))
        cc = pad(c)
        centers.set_positions(cc)
        centers.set_style(np.array([_rgba(col) for col in self._center_colors][:len(cc)], np.float32).reshape(-1, 4) / 255,
                          np.full(len(cc), CENTER_SIZE * dpr, np.float32))
        mm = pad(m)
        moving.set_positions(mm)
        moving.set_style(np.tile(np.array([0.05, 0.05, 0.05, 1.0], np.float32), (len(mm), 1)),
                         np.full(len(mm), MOVING_SIZE * dpr, np.float32))


class DecodeAnywhere(QWidget):
    """Ctrl+click / Ctrl+drag in the latent view decodes that place (see the module docs)."""

    decoded = Signal(object)  # DecodedPoint, on the UI thread

    def __init__(self, session, view, projection: Callable[[], object], mesh_view=None,
                 markers: LatentMarkers | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        from saeviz.app.common.sample_panes import CurvePane, ImagePane

        self.session = session
        self.view = view
        self.projection = projection
        self.mesh_view = mesh_view
        self.markers = markers if markers is not None else LatentMarkers(view, projection, self)
        self.runner = TaskRunner(self, max_threads=1)
        self._ctx = DecodeContext()
        self._dragging = False
        self.last: DecodedPoint | None = None

        self.enabled_check = QCheckBox("Decode on Ctrl+click / drag")
        self.enabled_check.setObjectName("decodeAnywhereCheck")
        self.enabled_check.setToolTip("Ctrl+click or Ctrl+drag in empty space of the 2D latent view decodes "
                                      "that point (linear projections: PCA, LDA, latent axes)")
        self.enabled_check.setChecked(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #666666")
        self.image = ImagePane("decoded point")
        self.curve = CurvePane()
        self.mesh_note = QLabel("The decoded mesh is shown in the mesh viewport.")
        self.mesh_note.setWordWrap(True)
        self.display = QStackedWidget()
        for w in (self.image, self.curve, self.mesh_note):
            self.display.addWidget(w)
        self.nearest_list = QListWidget()
        self.nearest_list.setObjectName("nearestList")
        self.nearest_list.setToolTip("The samples whose codes are nearest; double-click one to select it")
        self.nearest_list.itemDoubleClicked.connect(self._nearest_picked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.enabled_check)
        lay.addWidget(self.display, 1)
        lay.addWidget(QLabel("Nearest samples"))
        lay.addWidget(self.nearest_list)
        lay.addWidget(self.status)

        view.plot_widget.viewport().installEventFilter(self)
        self.enabled_check.toggled.connect(self._enabled_toggled)
        session.dataset_changed.connect(self._dataset_changed)
        self._dataset_changed()

    # -- reactions -------------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        self.runner.invalidate()
        self.last = None
        self.nearest_list.clear()
        self.markers.set_moving(None)
        ds = self.session.dataset
        kind = ds.kind if ds is not None else "image"
        self.display.setCurrentIndex({"image": 0, "vector": 1, "mesh": 2}[kind])
        self.image.set_array(None)
        self.curve.set_arrays(None, None)
        if ds is not None and kind == "image":
            sample = self.session.X[: min(len(self.session.X), 2000)]
            self._range = (float(sample.min()), float(sample.max()))

    def _enabled_toggled(self, on: bool) -> None:
        if not on:
            self._dragging = False
            self.markers.set_moving(None)

    # -- the pointer ----------------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        et = event.type()
        if et == QtCore.QEvent.Type.MouseButtonPress:
            if (event.button() == QtCore.Qt.MouseButton.LeftButton
                    and event.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier
                    and self.enabled_check.isChecked() and self.view.dimensions() == 2
                    and self.view.pick(event.position()) < 0 and self._ready(report=True)):
                self._dragging = True
                self.decode_at_widget(event.position())
                return True
        elif et == QtCore.QEvent.Type.MouseMove and self._dragging:
            if event.buttons() & QtCore.Qt.MouseButton.LeftButton:
                self.decode_at_widget(event.position())
            return True
        elif et == QtCore.QEvent.Type.MouseButtonRelease and self._dragging:
            self._dragging = False
            return True
        return False

    def _ready(self, report: bool = False) -> bool:
        s = self.session
        why = None
        if s.model is None or s.codes is None:
            why = "Train or load a model first."
        elif self.projection() is None:
            why = "Decoding a point of the view needs a linear projection (PCA, LDA or latent axes)."
        if why and report:
            self.status.setText(why)
        return why is None

    def code_at(self, coords) -> np.ndarray:
        """The code at view coordinates ``coords`` (2,), unseen components at the labeled mean."""
        s = self.session
        labels = np.asarray(s.labels.labels) if s.labels is not None else np.full(len(s.codes), -1)
        reference = labeled_mean(s.codes, labels)
        return inverse_at(self.projection(), np.asarray(coords, np.float64), reference)

    def decode_at_widget(self, pos) -> None:
        data = self.view.data_position(pos)
        if data is not None:
            self.decode_at(data)

    def decode_at(self, coords) -> None:
        """Decode the place ``coords`` (view coordinates) of the latent view."""
        if not self._ready(report=True):
            return
        try:
            code = self.code_at(coords)
        except SaevizError as exc:  # e.g. the projection belongs to codes of another model
            self.status.setText(f"Cannot decode here: {exc}")
            return
        if len(code) != int(self.session.model.latent_dim):
            self.status.setText("The view shows codes of another model; train an epoch first.")
            return
        self.markers.set_moving(code)
        s = self.session
        self.runner.submit("decode", decode_point, self._ctx, s.model, code,
                           np.asarray(s.codes), NEAREST, on_result=self._decoded,
                           on_error=lambda exc: self.status.setText(f"Cannot decode: {exc}"))
        self.status.setText(f"decoding ({coords[0]:.3g}, {coords[1]:.3g})…")

    def _decoded(self, point: DecodedPoint) -> None:
        s = self.session
        if s.model is None or s.dataset is None:
            return
        self.last = point
        kind = s.dataset.kind
        if kind == "mesh" and self.mesh_view is not None:
            self.mesh_view.set_morph(point.sample)
            self.mesh_view.set_mode("morph")
        elif kind == "image":
            lo, hi = getattr(self, "_range", (0.0, 1.0))
            self.image.set_array(point.sample, lo, hi)
        else:
            self.curve.set_arrays(None, point.sample)
        self._list_nearest(point)
        self.status.setText(f"decoded in {1000 * point.seconds:.1f} ms")
        self.decoded.emit(point)

    def _list_nearest(self, point: DecodedPoint) -> None:
        s = self.session
        names = s.labels.class_names if s.labels is not None else ()
        self.nearest_list.clear()
        for pos, dist in zip(point.nearest, point.distances):
            pos = int(pos)
            lab = int(s.labels.labels[pos]) if s.labels is not None else -1
            what = names[lab] if 0 <= lab < len(names) else "unlabeled"
            if s.has_ground_truth and lab < 0:
                what += f" (truth: {names[int(s.y[pos])]})"
            item = QListWidgetItem(f"sample {s.dataset_index(pos)} · {what} · distance {dist:.3g}")
            item.setData(QtCore.Qt.UserRole, pos)
            self.nearest_list.addItem(item)

    def _nearest_picked(self, item: QListWidgetItem) -> None:
        pos = item.data(QtCore.Qt.UserRole)
        if pos is not None and 0 <= int(pos) < self.session.n_samples:
            self.session.select(int(pos))

    def shutdown(self) -> None:
        self.runner.shutdown()


__all__ = ["LatentMarkers", "DecodeAnywhere"]
