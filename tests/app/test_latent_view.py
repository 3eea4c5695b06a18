"""The latent view: drawing, styles, picking, selection, tools and export, in 2D and 3D."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from saeviz.app.latent import view_2d as latent_view_2d  # noqa: E402
from saeviz.app.latent.style import compute_style  # noqa: E402
from saeviz.app.latent.view import LatentView  # noqa: E402

pytestmark = pytest.mark.gui

COLORS = ["#e41a1c", "#377eb8", "#4daf4a"]
LEFT = QtCore.Qt.MouseButton.LeftButton


def grid(n_side=5, spacing=1.0):
    g = np.arange(n_side) * spacing
    xx, yy = np.meshgrid(g, g)
    return np.column_stack([xx.ravel(), yy.ravel()])


@pytest.fixture
def view(qtbot):
    v = LatentView()
    qtbot.addWidget(v)
    v.resize(640, 520)
    v.set_legend_visible(False)  # keeps the top-right corner free for pixel checks
    v.show()
    qtbot.waitExposed(v)
    return v


def show_dims(qtbot, view, dims=3):
    view.set_dimensions(dims)
    if dims == 3:
        qtbot.waitUntil(lambda: view.gl_view.isExposed(), timeout=3000)


def settle(qtbot, view):
    view.auto_range()
    QtWidgets.QApplication.processEvents()
    qtbot.wait(30)


def viewport_point(view, x, y) -> QtCore.QPoint:
    """Where data point (x, y) lands in the 2D viewport, computed by Qt/pyqtgraph mapping."""
    scene = view.view_box.mapViewToScene(QtCore.QPointF(x, y))
    return view.plot_widget.mapFromScene(scene)


def color_at(image: QtGui.QImage, p: QtCore.QPoint) -> tuple[int, int, int]:
    dpr = image.devicePixelRatioF() or 1.0
    c = image.pixelColor(int(round(p.x() * dpr)), int(round(p.y() * dpr)))
    return c.red(), c.green(), c.blue()


def close(rgb, hex_color, tol=40):
    c = QtGui.QColor(hex_color)
    return max(abs(rgb[0] - c.red()), abs(rgb[1] - c.green()), abs(rgb[2] - c.blue())) <= tol


def nearest_class(rgb) -> int:
    """Which of COLORS a (possibly alpha-blended) pixel shows: closest hue direction."""
    v = np.asarray(rgb, float)
    v = v / (np.linalg.norm(v) + 1e-9)
    palette = np.array([QtGui.QColor(c).getRgb()[:3] for c in COLORS], float)
    palette /= np.linalg.norm(palette, axis=1, keepdims=True)
    return int(np.argmax(palette @ v))


def find_color(image: QtGui.QImage, hex_color: str, tol=30) -> np.ndarray:
    """(x, y) pixel centroid (logical px) of pixels close to ``hex_color``."""
    img = image.convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    arr = arr[:, : img.width() * 4].reshape(img.height(), img.width(), 4).astype(int)
    c = QtGui.QColor(hex_color)
    mask = np.max(np.abs(arr[..., :3] - [c.red(), c.green(), c.blue()]), axis=-1) <= tol
    ys, xs = np.nonzero(mask)
    assert len(xs) > 0, f"no {hex_color} pixels drawn"
    dpr = image.devicePixelRatioF() or 1.0
    return np.array([xs.mean(), ys.mean()]) / dpr


# --------------------------------------------------------------------------- data and style


def test_points_must_have_two_or_three_columns(view):
    for bad in (np.zeros(5), np.zeros((5, 4)), np.zeros((2, 2, 2))):
        with pytest.raises(ValueError):
            view.set_points(bad)


@pytest.mark.parametrize("dims", [2, 3])
def test_empty_data_is_fine(qtbot, view, dims):
    show_dims(qtbot, view, dims)
    view.set_points(np.empty((0, dims)))
    view.set_anchors(np.empty((0, dims)), [])
    view.set_target_lines(np.empty((0, dims)), np.empty((0, dims)))
    view.set_style(np.empty(0, int), COLORS)
    view.set_selection(None)
    QtWidgets.QApplication.processEvents()
    assert view.screen_positions().shape == (0, 2)
    assert view.pick(QtCore.QPointF(10, 10)) == -1


def test_labeled_points_have_their_class_colour_and_unlabeled_are_grey(qtbot, view):
    pts = grid(3, 1.0)
    labels = np.full(len(pts), -1)
    labels[0], labels[4], labels[8] = 0, 1, 2
    view.set_points(pts)
    view.set_style(labels, COLORS)
    settle(qtbot, view)
    image = view.plot_widget.grab().toImage()
    for i, color in ((0, COLORS[0]), (4, COLORS[1]), (8, COLORS[2])):
        assert close(color_at(image, viewport_point(view, *pts[i])), color), i
    grey = color_at(image, viewport_point(view, *pts[1]))
    assert max(grey) - min(grey) < 12 and 60 < grey[0] < 200


@pytest.mark.parametrize("dims", [2, 3])
def test_prediction_and_confidence_colours(qtbot, view, dims):
    pts = grid(3, 1.0)
    n = len(pts)
    labels = np.full(n, -1)
    labels[0] = 2
    predicted = np.zeros(n, int)
    predicted[5] = 1
    show_dims(qtbot, view, dims)
    view.set_points(pts)
    view.set_style(labels, COLORS, mode="prediction", predicted=predicted)
    settle(qtbot, view)
    if dims == 2:
        image = view.plot_widget.grab().toImage()
        where = [viewport_point(view, *p) for p in pts]
    else:
        image = view.gl_view.render_image()
        where = [QtCore.QPoint(*np.round(s).astype(int)) for s in view.screen_positions()]
    # Unlabeled points show their predicted class, the labeled one its true class.
    for i, c in ((5, 1), (3, 0), (0, 2)):
        assert nearest_class(color_at(image, where[i])) == c, i
    values = np.linspace(0, 1, n)
    view.set_style(labels, COLORS, mode="confidence", values=values)
    settle(qtbot, view)
    image = view.plot_widget.grab().toImage() if dims == 2 else view.gl_view.render_image()
    S = view.screen_positions()
    low = color_at(image, QtCore.QPoint(*np.round(S[1]).astype(int)))
    high = color_at(image, QtCore.QPoint(*np.round(S[n - 1]).astype(int)))
    assert sum(high) > sum(low) + 150  # viridis: dark purple to bright yellow


def test_style_validation():
    labels = np.array([-1, 0, 1])
    with pytest.raises(ValueError, match="colour"):
        compute_style(np.array([0, 5]), COLORS)
    with pytest.raises(ValueError, match="predicted"):
        compute_style(labels, COLORS, mode="prediction")
    with pytest.raises(ValueError, match="values"):
        compute_style(labels, COLORS, mode="confidence")
    with pytest.raises(ValueError, match="shape"):
        compute_style(labels, COLORS, mode="error", values=np.zeros(2))
    with pytest.raises(ValueError, match="unknown colouring"):
        compute_style(labels, COLORS, mode="rainbow")


def test_style_legend_and_error_scale():
    labels = np.array([-1, 0, 1, -1])
    style = compute_style(labels, COLORS, names=["cat", "dog"])
    assert [name for name, _ in style.legend.entries] == ["cat", "dog", "class 2", "unlabeled"]
    err = compute_style(labels, COLORS, mode="error", values=np.array([0.0, 1.0, np.nan, 100.0]))
    assert err.legend.lut is not None and err.legend.lo == 0.0 and err.legend.clipped_high
    # Labeled points draw after unlabeled ones and keep the outlined marker in every mode.
    assert list(err.order[-2:]) == [1, 2]
    assert err.size[1] < 0 and err.size[0] > 0
    # A labeled point without a value keeps its class colour; an unlabeled one is grey.
    np.testing.assert_allclose(err.rgba[2, :3], np.array(QtGui.QColor(COLORS[1]).getRgbF()[:3]), atol=1e-6)


def test_positions_only_updates_do_not_rebuild_the_style(qtbot, view, monkeypatch):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(2000, 2))
    labels = rng.integers(-1, 3, len(pts))
    view.set_points(pts)
    view.set_style(labels, COLORS)
    settle(qtbot, view)
    builds = []
    original = latent_view_2d.SymbolAtlas.__init__
    monkeypatch.setattr(latent_view_2d.SymbolAtlas, "__init__",
                        lambda self, *a, **k: (builds.append(1), original(self, *a, **k))[1])
    painted = view._cloud.paint_count
    for i in range(20):
        view.set_points(pts + 0.01 * i)
        view.plot_widget.viewport().repaint()
    assert view._cloud.paint_count >= painted + 20
    assert builds == []
    np.testing.assert_allclose(view.points(), pts + 0.19)


def test_non_finite_points_are_skipped(qtbot, view):
    pts = grid(3)
    pts[4] = np.nan
    view.set_points(pts)
    settle(qtbot, view)
    view.plot_widget.grab()
    assert np.isnan(view.screen_positions()[4]).all()
    assert view.pick(viewport_point(view, 1.0, 1.0)) == -1
    assert view.pick(viewport_point(view, 0.0, 0.0)) == 0


def test_the_view_follows_the_points_calmly_until_the_user_zooms(qtbot, view):
    pts = grid(5)
    view.set_points(pts)
    QtWidgets.QApplication.processEvents()
    first = np.array(view.view_box.viewRange())
    assert first[0, 0] <= 0 and first[0, 1] >= 4 and first[1, 0] <= 0 and first[1, 1] >= 4
    view.set_points(pts + 0.01)  # a small live-frame move: the range stays put
    np.testing.assert_allclose(view.view_box.viewRange(), first)
    view.set_points(pts + 10.0)  # the points left the view: refit
    moved = np.array(view.view_box.viewRange())
    assert moved[0, 0] <= 10 and moved[0, 1] >= 14
    view.set_points(pts * 0.1 + 10.0)  # shrank to a small part of it: refit
    small = np.array(view.view_box.viewRange())
    assert small[0, 1] - small[0, 0] < 0.5 * (moved[0, 1] - moved[0, 0])
    # A wheel zoom by the user stops following ...
    vp = view.plot_widget.viewport()
    wheel = QtGui.QWheelEvent(QtCore.QPointF(vp.rect().center()), QtCore.QPointF(vp.mapToGlobal(vp.rect().center())),
                              QtCore.QPoint(0, 0), QtCore.QPoint(0, 120), QtCore.Qt.MouseButton.NoButton,
                              QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(vp, wheel)
    zoomed = np.array(view.view_box.viewRange())
    view.set_points(pts - 50.0)
    np.testing.assert_allclose(view.view_box.viewRange(), zoomed)
    # ... until auto_range().
    view.auto_range()
    assert view.view_box.viewRange()[0][0] <= -50


def test_the_3d_camera_fits_the_points_and_anchors(qtbot, view):
    show_dims(qtbot, view)
    view.set_points(np.random.default_rng(2).normal(size=(50, 3)))
    view.set_anchors(np.array([[30.0, 0.0, 0.0]]), ["#ff0000"])
    view.auto_range()
    QtWidgets.QApplication.processEvents()
    S = np.vstack([view.screen_positions()])
    w, h = view.gl_view.width(), view.gl_view.height()
    assert np.all((S[:, 0] > 0) & (S[:, 0] < w) & (S[:, 1] > 0) & (S[:, 1] < h))
    find_color(view.gl_view.render_image(), "#ff0000")  # the far anchor is in the picture


# --------------------------------------------------------------------------- picking and selection


def test_clicking_a_point_emits_its_index_in_2d(qtbot, view):
    pts = grid(5, 2.0)
    view.set_points(pts)
    settle(qtbot, view)
    for i in (0, 7, 24):
        with qtbot.waitSignal(view.pointClicked, timeout=1000) as blocker:
            qtbot.mouseClick(view.plot_widget.viewport(), LEFT, pos=viewport_point(view, *pts[i]))
        assert blocker.args == [i]
    # Between points (farther than the pick radius from any): nothing.
    got = []
    view.pointClicked.connect(got.append)
    qtbot.mouseClick(view.plot_widget.viewport(), LEFT, pos=viewport_point(view, 1.0, 1.0))
    assert got == []


def test_clicking_a_point_emits_its_index_in_3d(qtbot, view):
    rng = np.random.default_rng(3)
    pts = rng.uniform(-1, 1, size=(30, 3))
    labels = np.full(len(pts), -1)
    labels[11] = 0  # the one red point
    show_dims(qtbot, view)
    view.set_points(pts)
    view.set_style(labels, COLORS)
    QtWidgets.QApplication.processEvents()
    image = view.gl_view.render_image()
    where = find_color(image, COLORS[0])  # found in the rendered image, not computed
    np.testing.assert_allclose(view.screen_positions()[11], where, atol=2.0)
    with qtbot.waitSignal(view.pointClicked, timeout=1000) as blocker:
        qtbot.mouseClick(view.gl_view, LEFT, pos=QtCore.QPoint(*np.round(where).astype(int)))
    assert blocker.args == [11]


def test_selection_follows_points_through_frames_and_dimensions(qtbot, view):
    pts = grid(4)
    view.set_points(pts)
    view.set_selection(6)
    assert view.selected() == 6
    moved = pts * 3.0 + 5.0
    view.set_points(moved)
    assert view.selected() == 6
    np.testing.assert_allclose(view._selection2d.positions(), moved[[6]])
    show_dims(qtbot, view)
    assert view.selected() == 6
    np.testing.assert_allclose(view._selection3d.pos, np.c_[moved[[6]], [0.0]])
    view.set_dimensions(2)
    view.set_points(pts[:5])  # fewer points: the selection no longer exists
    assert view.selected() is None
    with pytest.raises(IndexError):
        view.set_selection(5)


def test_selection_and_highlight_rings_are_drawn(qtbot, view):
    pts = grid(3, 1.0)
    view.set_points(pts)
    view.set_style(np.full(len(pts), -1), COLORS)
    view.set_highlight([2])
    view.set_selection(6)
    settle(qtbot, view)
    image = view.plot_widget.grab().toImage()
    s = viewport_point(view, *pts[6])
    ring = color_at(image, s + QtCore.QPoint(10, 0))  # on the 22 px selection ring
    assert close(ring, "#eb006e", tol=60)
    h = viewport_point(view, *pts[2])
    ring = color_at(image, h + QtCore.QPoint(8, 0))  # on the 16 px highlight ring (dark)
    assert max(ring) < 80
    halo = color_at(image, h + QtCore.QPoint(0, -10))  # its white halo, just outside
    assert min(halo) > 170
    with pytest.raises(IndexError):
        view.set_highlight([99])
    view.set_highlight(None)
    assert view.highlighted().size == 0


def test_hover_reports_the_point_and_asks_for_a_tooltip(qtbot, view):
    pts = grid(3, 2.0)
    view.set_points(pts)
    settle(qtbot, view)
    asked = []
    view.tooltip_provider = lambda i: asked.append(i) or f"sample {i}"
    with qtbot.waitSignal(view.pointHovered, timeout=1000) as blocker:
        qtbot.mouseMove(view.plot_widget.viewport(), viewport_point(view, *pts[4]))
    assert blocker.args == [4]
    assert asked == [4]
    with qtbot.waitSignal(view.pointHovered, timeout=1000) as blocker:
        qtbot.mouseMove(view.plot_widget.viewport(), viewport_point(view, 1.0, 1.0))
    assert blocker.args == [-1]


# --------------------------------------------------------------------------- anchors and lines


@pytest.mark.parametrize("dims", [2, 3])
def test_anchors_and_target_lines(qtbot, view, dims):
    pts = grid(4)
    show_dims(qtbot, view, dims)
    view.set_points(pts)
    anchors = np.array([[0.5, 0.5], [np.nan, np.nan], [2.5, 2.5]])
    view.set_anchors(anchors, COLORS)
    view.set_target_lines(pts[:3], np.array([[0.5, 0.5], [np.nan, 0.0], [2.5, 2.5]]))
    QtWidgets.QApplication.processEvents()
    if dims == 2:
        assert view._anchors2d.n == 3 and np.isnan(view._anchors2d.positions()[1]).all()
        x, _ = view._lines2d.getData()
        assert len(x) == 4  # two segments; the one with a NaN end is dropped
    else:
        assert len(view._lines3d.pos) == 4
        image = view.gl_view.render_image()
        find_color(image, COLORS[2])  # the third anchor is drawn
    with pytest.raises(ValueError, match="colours"):
        view.set_anchors(anchors, COLORS[:2])
    with pytest.raises(ValueError):
        view.set_target_lines(pts[:3], pts[:2])
    view.set_anchors(None)
    view.set_target_lines(None)


def test_many_target_lines_draw_an_even_sample_under_the_points(qtbot, view):
    import pyqtgraph as pg

    from saeviz.app.latent.view import LINE_PEN, MAX_TARGET_LINES

    rng = np.random.default_rng(0)
    n = 3 * MAX_TARGET_LINES + 7
    src = rng.normal(size=(n, 2))
    dst = np.repeat(np.array([[5.0, 5.0], [-5.0, 5.0]]), [n // 2, n - n // 2], axis=0)
    view.set_points(src)
    view.set_target_lines(src, dst)
    QtWidgets.QApplication.processEvents()
    x, y = view._lines2d.getData()
    rows = np.arange(0, n, 4)  # every 4th of 6,007: 1,502 lines, evenly spread over the labeled
    assert len(rows) <= MAX_TARGET_LINES and len(x) == 2 * len(rows)
    np.testing.assert_allclose(x[0::2], src[rows, 0])
    np.testing.assert_allclose(y[1::2], dst[rows, 1])
    assert view._lines2d.zValue() < view._cloud.zValue()
    # drawn opaque in the colour the translucent grey gives over the background
    pen = view._lines2d.opts["pen"].color()
    bg = pg.mkColor(pg.getConfigOption("background"))
    a = LINE_PEN[3] / 255
    assert pen.alpha() == 255
    assert abs(pen.red() - (a * LINE_PEN[0] + (1 - a) * bg.red())) <= 1


# --------------------------------------------------------------------------- 3D


def test_frames_that_arrive_after_the_3d_view_was_released_wait_for_it(qtbot, view):
    """A t-SNE layout reported just before its window closed reaches the view after the window
    released the 3D view: it is kept, and shown when the view is shown again in 3D."""
    pts = np.column_stack([grid(4), np.arange(16) * 0.1])
    view.set_points(pts)
    show_dims(qtbot, view, 3)
    view.hide()
    view.release_3d()
    moved = pts + 1.0
    view.set_points(moved)  # before: AttributeError on the released GL view
    view.set_style(np.array([0, 1] * 8), COLORS[:2])
    view.set_anchors(np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), COLORS[:2])
    view.set_target_lines(moved[:2], np.zeros((2, 3)))
    assert view.dimensions() == 3
    view.show()
    qtbot.waitUntil(lambda: view.gl_view is not None and view.gl_view.isExposed(), timeout=3000)
    np.testing.assert_allclose(view._points3d.pos, moved, atol=1e-6)


def test_one_gl_widget_for_the_lifetime_of_the_view(qtbot, view):
    assert view.gl_view is None  # 3D is built on first use
    view.set_points(grid(3))
    show_dims(qtbot, view)
    gl = view.gl_view
    assert view.active_view() is not view.plot_widget.viewport()
    view.set_dimensions(2)
    show_dims(qtbot, view)
    assert view.gl_view is gl
    with pytest.raises(ValueError):
        view.set_dimensions(4)


def test_a_new_3d_view_draws_after_another_was_destroyed(qtbot):
    """pyqtgraph's stock GL items keep one shader program per process; ours follow the context."""
    pts = np.random.default_rng(0).uniform(-1, 1, size=(40, 3))
    labels = np.zeros(len(pts), int)
    for _ in range(2):
        v = LatentView()
        v.resize(400, 300)
        v.show()
        qtbot.waitExposed(v)
        show_dims(qtbot, v)
        v.set_points(pts)
        v.set_style(labels, COLORS)
        find_color(v.gl_view.render_image(), COLORS[0])
        v.close()
        v.deleteLater()
        QtWidgets.QApplication.processEvents()
        QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)


def test_3d_pads_two_columns_and_follows_the_points(qtbot, view):
    show_dims(qtbot, view)
    view.set_points(grid(3) * 100.0)
    QtWidgets.QApplication.processEvents()
    S = view.screen_positions()
    w, h = view.gl_view.width(), view.gl_view.height()
    assert np.all((S[:, 0] > 0) & (S[:, 0] < w) & (S[:, 1] > 0) & (S[:, 1] < h))
    np.testing.assert_allclose(view._points3d.pos[:, 2], 0.0)


# --------------------------------------------------------------------------- tools


class RecordingTool:
    def __init__(self):
        self.events = []
        self.attached = None

    def attach(self, view):
        self.attached = view

    def detach(self, view):
        self.attached = None

    def _take(self, event):
        self.events.append(event)
        return True

    press = move = release = _take


def test_a_tool_gets_the_mouse_first_and_stops_panning(qtbot, view):
    pts = grid(5)
    view.set_points(pts)
    settle(qtbot, view)
    tool = RecordingTool()
    view.set_tool(tool)
    assert tool.attached is view and view.tool() is tool
    before = view.view_box.viewRange()
    got = []
    view.pointClicked.connect(got.append)
    vp = view.plot_widget.viewport()
    start, end = viewport_point(view, *pts[0]), viewport_point(view, *pts[24])
    qtbot.mousePress(vp, LEFT, pos=start)
    qtbot.mouseMove(vp, end)
    qtbot.mouseRelease(vp, LEFT, pos=end)
    QtWidgets.QApplication.processEvents()
    assert [e.kind for e in tool.events][0] == "press" and tool.events[-1].kind == "release"
    np.testing.assert_allclose(tool.events[0].data_pos, pts[0], atol=0.05)
    np.testing.assert_allclose(view.view_box.viewRange(), before)
    assert got == []  # a consumed click does not pick
    view.set_tool(None)
    assert tool.attached is None


def test_brush_and_lasso_helpers_select_by_screen_position(qtbot, view):
    pts = grid(5)
    view.set_points(pts)
    settle(qtbot, view)
    c = viewport_point(view, 2.0, 2.0)
    one = viewport_point(view, 3.0, 2.0)
    radius = 1.5 * abs(one.x() - c.x())
    near = set(view.indices_near(QtCore.QPointF(c), radius).tolist())
    assert near == {12, 7, 11, 13, 17, 6, 8, 16, 18}
    square = [viewport_point(view, x, y) for x, y in [(0.5, 0.5), (2.5, 0.5), (2.5, 2.5), (0.5, 2.5)]]
    assert sorted(view.indices_in_polygon(square).tolist()) == [6, 7, 11, 12]


# --------------------------------------------------------------------------- export


def test_export_png_and_svg_in_2d(qtbot, view, tmp_path):
    pts = grid(4)
    labels = np.full(len(pts), -1)
    labels[:3] = [0, 1, 2]
    view.set_points(pts)
    view.set_style(labels, COLORS, names=["alpha", "beta", "gamma"])
    view.set_legend_visible(True)
    settle(qtbot, view)
    png = view.export_image(tmp_path / "view.png")
    image = QtGui.QImage(str(png))
    assert not image.isNull() and image.width() > 100
    find_color(image, COLORS[1])
    svg = view.export_image(tmp_path / "view.svg").read_text()
    assert svg.count("<circle") + svg.count("<ellipse") >= len(pts)
    assert "gamma" in svg  # the legend is part of the picture
    assert "<image" not in svg  # the axes and the legend as vectors, not copies of their cached pictures
    with pytest.raises(ValueError, match="png or .svg"):
        view.export_image(tmp_path / "view.pdf")


def test_export_in_3d_is_png_only(qtbot, view, tmp_path):
    show_dims(qtbot, view)
    view.set_points(grid(3))
    view.set_style(np.zeros(9, int), COLORS)
    QtWidgets.QApplication.processEvents()
    image = QtGui.QImage(str(view.export_image(tmp_path / "view3d.png")))
    find_color(image, COLORS[0])
    with pytest.raises(ValueError, match="2D only"):
        view.export_image(tmp_path / "view3d.svg")
