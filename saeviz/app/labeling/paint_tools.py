"""Paint tools for the latent view: click, brush, lasso, rectangle and eraser.

A tool is installed with ``LatentView.set_tool`` and sees every press / move / release first
(see ``saeviz.app.latent.view``). Tools work in screen pixels, so they behave the same in the
2D plot and the 3D view; they find points with the view's ``pick``, ``screen_positions`` and
``indices_in_polygon`` and change labels only through the ``LabelEditor`` (``undo.py``):

* click: label the point under the pointer (Shift: unlabel it);
* brush: label every point the brush circle passes over while dragging, including the gaps
  between two pointer events (the swept area is the union of capsules between them);
* lasso / rectangle: label the points inside the drawn outline when the button is released;
* eraser: the brush, unlabeling.

Brush, lasso and rectangle give a class to unlabeled points only while "Paint unlabeled only"
(``protect_action``, U; on by default) is checked, so a stroke never turns another class's
labels over; unchecked they relabel everything they pass over. A click always labels the
point it hits. Shift with any tool unlabels instead of labeling; Ctrl lets the press through to the view
(pan in 2D, pan/rotate controls in 3D). A brush stroke is painted live and is one undo step;
Escape during a stroke or a lasso cancels it and restores the labels. The brush circle and
the lasso / rectangle outline are overlay items: a path in the 2D plot's scene, line
segments in the 3D view.
"""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from saeviz.app.common.undo import LabelEditor
from saeviz.core.state.label_edits import label_edit
from saeviz.core.state.labels import UNLABELED

TOOLS = ("navigate", "click", "brush", "lasso", "rectangle", "eraser")
MIN_RADIUS, MAX_RADIUS, DEFAULT_RADIUS = 2.0, 400.0, 24.0
LASSO_STEP = 2.0  # px between recorded lasso vertices
CIRCLE_SEGMENTS = 64


def capsule_hits(S: np.ndarray, a, b, radius: float) -> np.ndarray:
    """Indices of points ``S`` (N, 2; NaN: hidden) within ``radius`` of the segment a-b."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    r = float(radius)
    lo = np.minimum(a, b) - r
    hi = np.maximum(a, b) + r
    with np.errstate(invalid="ignore"):
        box = (S[:, 0] >= lo[0]) & (S[:, 0] <= hi[0]) & (S[:, 1] >= lo[1]) & (S[:, 1] <= hi[1])
    cand = np.flatnonzero(box)
    if cand.size == 0:
        return cand
    P = S[cand]
    ab = b - a
    L2 = float(ab @ ab)
    if L2 > 0:
        t = np.clip(((P - a) @ ab) / L2, 0.0, 1.0)
        near = a + t[:, None] * ab
    else:
        near = a
    d2 = ((P - near) ** 2).sum(axis=1)
    return cand[d2 <= r * r]


def _xy(pos) -> tuple[float, float]:
    p = QtCore.QPointF(pos)
    return (p.x(), p.y())


# -- overlays ------------------------------------------------------------------------------------------
class _Overlay2D:
    """A path item in the 2D plot's scene, drawn in viewport pixels."""

    def __init__(self, view):
        self._plot = view.plot_widget
        self._item = QtWidgets.QGraphicsPathItem()
        self._item.setZValue(1e6)
        self._plot.scene().addItem(self._item)
        self._item.hide()

    def show(self, points: np.ndarray, closed: bool, color: QtGui.QColor, fill: bool = False) -> None:
        local = QtGui.QPainterPath()
        if len(points):
            local.moveTo(QtCore.QPointF(*points[0]))
            for x, y in points[1:]:
                local.lineTo(QtCore.QPointF(x, y))
            if closed:
                local.closeSubpath()
        path = self._plot.mapToScene(local)
        pen = QtGui.QPen(color, 1.5)
        pen.setCosmetic(True)
        if not fill:
            pen.setStyle(QtCore.Qt.PenStyle.DashLine)
        self._item.setPen(pen)
        fill_color = QtGui.QColor(color)
        fill_color.setAlpha(40 if fill else 0)
        self._item.setBrush(QtGui.QBrush(fill_color))
        self._item.setPath(path)
        self._item.show()

    def hide(self) -> None:
        self._item.hide()

    @property
    def visible(self) -> bool:
        return self._item.isVisible()

    def remove(self) -> None:
        scene = self._item.scene()
        if scene is not None:
            scene.removeItem(self._item)


class _Overlay3D:
    """Line segments drawn over the 3D view, placed at the depth of the orbit centre."""

    def __init__(self, view):
        self._view = view
        self._gl = view.gl_view
        self._item = view.add_segments_3d((0.1, 0.1, 0.1, 0.9), 1000)
        self._visible = False

    def _unproject(self, points: np.ndarray) -> np.ndarray:
        M = self._view.camera_matrix_3d()
        c = self._gl.opts["center"]
        clip = M @ np.array([c.x(), c.y(), c.z(), 1.0])
        z = clip[2] / clip[3] if abs(clip[3]) > 1e-12 else 0.0
        w, h = max(self._gl.width(), 1), max(self._gl.height(), 1)
        ndc = np.column_stack([2.0 * points[:, 0] / w - 1.0, 1.0 - 2.0 * points[:, 1] / h,
                               np.full(len(points), z), np.ones(len(points))])
        P = ndc @ np.linalg.inv(M).T
        return P[:, :3] / P[:, 3:4]

    def show(self, points: np.ndarray, closed: bool, color: QtGui.QColor, fill: bool = False) -> None:
        if len(points) < 2:
            self.hide()
            return
        pts = self._unproject(np.asarray(points, np.float64))
        nxt = np.roll(pts, -1, axis=0) if closed else pts[1:]
        cur = pts if closed else pts[:-1]
        seg = np.empty((2 * len(cur), 3))
        seg[0::2], seg[1::2] = cur, nxt
        self._item.color = (color.redF(), color.greenF(), color.blueF(), 0.95)
        self._item.set_segments(seg)
        self._visible = True

    def hide(self) -> None:
        if self._visible:
            self._item.set_segments(np.zeros((0, 3)))
            self._visible = False

    @property
    def visible(self) -> bool:
        return self._visible

    def remove(self) -> None:
        self._gl.removeItem(self._item)


class _Overlays:
    """The overlay of the active view (2D or 3D), created on first use."""

    def __init__(self, view):
        self.view = view
        self._by_dims: dict[int, object] = {}

    def current(self):
        dims = self.view.dimensions()
        if dims == 3 and self.view.gl_view is None:
            return None
        ov = self._by_dims.get(dims)
        if ov is None:
            ov = _Overlay2D(self.view) if dims == 2 else _Overlay3D(self.view)
            self._by_dims[dims] = ov
        for d, other in self._by_dims.items():
            if d != dims:
                other.hide()
        return ov

    def show(self, points, closed: bool, color: QtGui.QColor, fill: bool = False) -> None:
        ov = self.current()
        if ov is not None:
            ov.show(np.asarray(points, np.float64).reshape(-1, 2), closed, color, fill)

    def hide(self) -> None:
        for ov in self._by_dims.values():
            ov.hide()

    def visible(self) -> bool:
        return any(ov.visible for ov in self._by_dims.values())


def circle_points(center, radius: float, n: int = CIRCLE_SEGMENTS) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)])


# -- tools ------------------------------------------------------------------------------------------------
class _Tool:
    """Common behaviour: own the plain (or Shift) left button; let Ctrl and other buttons through."""

    name = ""
    erase_default = False

    def __init__(self, paint: "PaintTools"):
        self.paint = paint
        self._down = False
        self._swallow = False  # cancelled with Escape: eat the rest of the drag

    @property
    def view(self):
        return self.paint.view

    @property
    def busy(self) -> bool:
        return self._down

    def _owns(self, ev) -> bool:
        mods = ev.modifiers
        return (ev.button == QtCore.Qt.MouseButton.LeftButton
                and not mods & (QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.MetaModifier
                                | QtCore.Qt.KeyboardModifier.AltModifier))

    def _value(self, ev) -> int:
        erase = self.erase_default or bool(ev.modifiers & QtCore.Qt.KeyboardModifier.ShiftModifier)
        return UNLABELED if erase else self.paint.current_class

    def attach(self, view) -> None:
        pass

    def detach(self, view) -> None:
        self.cancel()
        self._swallow = False  # the rest of the drag goes to the next tool, not to this one
        self.paint.overlays.hide()

    def press(self, ev) -> bool:
        if self._down or self._swallow:
            return True
        if not self._owns(ev) or self.paint.editor.store is None:
            return False
        self._down = True
        self.paint._gesture_started()
        self.start(ev)
        return True

    def move(self, ev) -> bool:
        if self._swallow:
            return True
        if not self._down:
            self.hover(ev)
            return False
        self.drag(ev)
        return True

    def release(self, ev) -> bool:
        if self._swallow:
            if ev.buttons == QtCore.Qt.MouseButton.NoButton:
                self._swallow = False
            return True
        if not self._down or ev.button != QtCore.Qt.MouseButton.LeftButton:
            return self._down
        self._down = False
        try:
            self.finish(ev)
        finally:
            self.paint._gesture_ended()
        return True

    def cancel(self) -> bool:
        """Abandon the gesture in progress (Escape); True if there was one."""
        if not self._down:
            return False
        self._down = False
        self._swallow = True
        self.abort()
        self.paint.overlays.hide()
        self.paint._gesture_ended()
        return True

    # The gesture's steps; each tool overrides those it needs (a click has no drag, only the
    # brush shows itself while hovering).
    def start(self, ev) -> None:
        """The button went down on the view."""

    def drag(self, ev) -> None:
        """The pointer moved with the button down."""

    def finish(self, ev) -> None:
        """The button came up: apply the gesture."""

    def abort(self) -> None:
        """Escape: drop the gesture and undo what it did so far."""

    def hover(self, ev) -> None:
        """The pointer moved with no button down."""


class ClickTool(_Tool):
    name = "click"

    def start(self, ev) -> None:
        self._value_at_press = self._value(ev)

    def finish(self, ev) -> None:
        i = self.view.pick(ev.pos)
        if i < 0:
            return
        value = self._value_at_press
        text = "Unlabel a sample" if value < 0 else f"Label a sample {self.paint.class_name(value)}"
        self.paint.editor.push(label_edit(self.paint.editor.store, [i], value, text))
        self.paint.pointLabeled.emit(int(i))


def _paintable(paint: "PaintTools", indices: np.ndarray, value: int) -> np.ndarray:
    """The indices a stroke of ``value`` may change: all of them, or with labels protected
    only the unlabeled points (and those already of ``value``)."""
    idx = np.asarray(indices, np.int64)
    store = paint.editor.store
    if value < 0 or not paint.protect_labels or store is None or idx.size == 0:
        return idx
    current = np.asarray(store.labels)[idx]
    return idx[(current == UNLABELED) | (current == value)]


class BrushTool(_Tool):
    name = "brush"

    def __init__(self, paint: "PaintTools", erase: bool = False):
        super().__init__(paint)
        self.erase_default = erase
        self.name = "eraser" if erase else "brush"
        self._last: tuple[float, float] | None = None

    def _circle(self, pos, value: int | None = None) -> None:
        color = self.paint.color_of(UNLABELED if self.erase_default else (self.paint.current_class
                                                                          if value is None else value))
        self.paint.overlays.show(circle_points(_xy(pos), self.paint.radius), True, color,
                                 fill=self._down)

    def hover(self, ev) -> None:
        self._circle(ev.pos)

    def start(self, ev) -> None:
        value = self._value(ev)
        text = "Erase" if value < 0 else f"Brush {self.paint.class_name(value)}"
        self.paint.editor.begin_stroke(value, text)
        self._last = _xy(ev.pos)
        self._sweep(self._last, self._last)
        self._circle(ev.pos, value)

    def drag(self, ev) -> None:
        p = _xy(ev.pos)
        self._sweep(self._last, p)
        self._last = p
        self._circle(ev.pos, self.paint.editor.stroke_value)

    def finish(self, ev) -> None:
        self._sweep(self._last, _xy(ev.pos))
        self.paint.editor.commit_stroke()
        self._last = None
        self._circle(ev.pos)

    def abort(self) -> None:
        self.paint.editor.cancel_stroke()
        self._last = None

    def _sweep(self, a, b) -> None:
        S = self.view.screen_positions()
        hits = capsule_hits(S, a, b, self.paint.radius)
        value = self.paint.editor.stroke_value
        value = UNLABELED if value is None else value
        hits = _paintable(self.paint, hits, value)
        if value >= 0 and len(hits):
            self.paint.show_labels(hits, value)  # the view may draw them before it restyles
        self.paint.editor.add_to_stroke(hits)


class LassoTool(_Tool):
    name = "lasso"

    def __init__(self, paint: "PaintTools"):
        super().__init__(paint)
        self._verts: list[tuple[float, float]] = []

    def _outline(self) -> None:
        self.paint.overlays.show(np.array(self._verts), True, self.paint.color_of(self._value_now))

    def start(self, ev) -> None:
        self._value_now = self._value(ev)
        self._verts = [_xy(ev.pos)]

    def drag(self, ev) -> None:
        p = _xy(ev.pos)
        last = self._verts[-1]
        if (p[0] - last[0]) ** 2 + (p[1] - last[1]) ** 2 >= LASSO_STEP ** 2:
            self._verts.append(p)
            self._outline()

    def finish(self, ev) -> None:
        self._verts.append(_xy(ev.pos))
        polygon = self.polygon()
        self._verts = []
        self.paint.overlays.hide()
        if len(polygon) < 3:
            return
        value = self._value_now
        idx = self.view.indices_in_polygon(polygon)
        verb = "Unlabel" if value < 0 else f"{self.name.capitalize()} {self.paint.class_name(value)}"
        edit = label_edit(self.paint.editor.store, idx, value, verb,
                          keep_labels=self.paint.protect_labels and value >= 0)
        if edit is not None:
            self.paint.show_labels(edit.indices, edit.new)  # the view may draw them before it restyles
            self.paint.editor.push(edit)

    def polygon(self) -> list[tuple[float, float]]:
        return list(self._verts)

    def abort(self) -> None:
        self._verts = []


class RectangleTool(LassoTool):
    name = "rectangle"

    def drag(self, ev) -> None:
        self._verts = [self._verts[0], _xy(ev.pos)]
        self.paint.overlays.show(np.array(self.polygon()), True, self.paint.color_of(self._value_now))

    def finish(self, ev) -> None:
        self._verts = [self._verts[0], _xy(ev.pos)]
        super().finish(ev)

    def polygon(self) -> list[tuple[float, float]]:
        if len(self._verts) < 2:
            return []
        (x0, y0), (x1, y1) = self._verts[0], self._verts[-1]
        if abs(x1 - x0) < 1 or abs(y1 - y0) < 1:
            return []
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


class _EscapeFilter(QtCore.QObject):
    """While a gesture is in progress, Escape cancels it (and does not reach other shortcuts)."""

    def __init__(self, paint: "PaintTools"):
        super().__init__(paint)
        self.paint = paint

    def eventFilter(self, obj, event):
        t = event.type()
        if t in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress) \
                and event.key() == QtCore.Qt.Key.Key_Escape:
            event.accept()
            self.paint.cancel_gesture()
            return True
        return False


class _LeaveFilter(QtCore.QObject):
    def __init__(self, paint: "PaintTools"):
        super().__init__(paint)
        self.paint = paint

    def eventFilter(self, obj, event):
        if event.type() == QtCore.QEvent.Type.Leave:
            tool = self.paint.tool
            if tool is not None and not tool.busy:
                self.paint.overlays.hide()
        return False


class PaintTools(QtCore.QObject):
    """The tools of one ``LatentView``, the current class, the brush radius and the overlays.

    ``colors`` and ``names`` are callables giving the class colours and names of the store.
    """

    toolChanged = QtCore.Signal(str)
    radiusChanged = QtCore.Signal(float)
    currentClassChanged = QtCore.Signal(int)
    protectChanged = QtCore.Signal(bool)
    pointLabeled = QtCore.Signal(int)  # the click tool labeled this point

    def __init__(self, view, editor: LabelEditor, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.editor = editor
        self.overlays = _Overlays(view)
        self._radius = DEFAULT_RADIUS
        self._class = 0
        #: "Paint unlabeled only" (U): checked, strokes leave labeled points of other classes alone.
        self.protect_action = QtGui.QAction("Paint &unlabeled only", self)
        self.protect_action.setObjectName("protectLabelsAction")
        self.protect_action.setCheckable(True)
        self.protect_action.setChecked(True)
        self.protect_action.setShortcut(QtGui.QKeySequence("U"))
        self.protect_action.setToolTip("Brush, lasso and rectangle label unlabeled points only (U); "
                                       "uncheck to relabel points of other classes too")
        self.protect_action.setStatusTip(self.protect_action.toolTip())
        self.protect_action.toggled.connect(lambda on: self.protectChanged.emit(bool(on)))
        self._tools = {"click": ClickTool(self), "brush": BrushTool(self), "lasso": LassoTool(self),
                       "rectangle": RectangleTool(self), "eraser": BrushTool(self, erase=True)}
        self._name = "navigate"
        self._escape = _EscapeFilter(self)
        self._leave = _LeaveFilter(self)
        self._watched: list[QtCore.QObject] = []
        view.dimensionsChanged.connect(self._dims_changed)
        self._watch_leave()

    # -- tools ------------------------------------------------------------------------------------------
    @property
    def tool_name(self) -> str:
        return self._name

    @property
    def tool(self) -> _Tool | None:
        return self._tools.get(self._name)

    def set_tool(self, name: str) -> None:
        if name not in TOOLS:
            raise ValueError(f"unknown tool {name!r}; tools: {', '.join(TOOLS)}")
        if name == self._name:
            return
        self._name = name
        self.view.set_tool(self._tools.get(name))
        self.overlays.hide()
        self._watch_leave()
        self.toolChanged.emit(name)

    def _dims_changed(self, _dims: int) -> None:
        if self.tool is not None:
            self.tool.cancel()
        self.overlays.hide()
        self._watch_leave()

    def _watch_leave(self) -> None:
        target = self.view.active_view() if self.view.dimensions() == 2 else self.view.gl_view
        if target is not None and target not in self._watched:
            target.installEventFilter(self._leave)
            self._watched.append(target)

    # -- protecting labels ------------------------------------------------------------------------------------
    @property
    def protect_labels(self) -> bool:
        return self.protect_action.isChecked()

    def set_protect_labels(self, on: bool) -> None:
        self.protect_action.setChecked(bool(on))

    # -- current class and radius ---------------------------------------------------------------------------
    @property
    def current_class(self) -> int:
        return self._class

    def set_current_class(self, k: int) -> None:
        k = int(k)
        store = self.editor.store
        if store is not None:
            k = min(max(k, 0), store.n_classes - 1)
        if k != self._class:
            self._class = k
            self.currentClassChanged.emit(k)

    @property
    def radius(self) -> float:
        return self._radius

    def set_radius(self, r: float) -> None:
        r = float(min(max(r, MIN_RADIUS), MAX_RADIUS))
        if r != self._radius:
            self._radius = r
            self.radiusChanged.emit(r)

    def grow(self, factor: float = 1.25) -> None:
        self.set_radius(self._radius * factor)

    def shrink(self, factor: float = 1.25) -> None:
        self.set_radius(self._radius / factor)

    def color_of(self, k: int) -> QtGui.QColor:
        store = self.editor.store
        if k < 0 or store is None or k >= store.n_classes:
            return QtGui.QColor(60, 60, 60)
        return QtGui.QColor(store.colors[k])

    def show_labels(self, indices, labels) -> None:
        """Let the view draw points about to get ``labels`` in the next frame (a zoomed-out
        million-point view restyles on a worker thread after the edit)."""
        store = self.editor.store
        if store is not None:
            self.view.show_new_labels(indices, labels, list(store.colors))

    def class_name(self, k: int) -> str:
        store = self.editor.store
        if store is None or not 0 <= k < store.n_classes:
            return ""
        return repr(store.class_names[k])

    # -- gestures and Escape ----------------------------------------------------------------------------------
    def _gesture_started(self) -> None:
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.installEventFilter(self._escape)

    def _gesture_ended(self) -> None:
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._escape)

    @property
    def gesture_active(self) -> bool:
        tool = self.tool
        return tool is not None and tool.busy

    def cancel_gesture(self) -> bool:
        """Cancel the stroke, lasso or rectangle in progress; True if there was one."""
        tool = self.tool
        return tool.cancel() if tool is not None else False

    def shutdown(self) -> None:
        self.cancel_gesture()
        self._gesture_ended()


__all__ = ["PaintTools", "ClickTool", "BrushTool", "LassoTool", "RectangleTool", "capsule_hits", "TOOLS"]
