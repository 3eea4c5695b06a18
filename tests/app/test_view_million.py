"""The latent view at a million points: density and points, lasso, rectangle, brush and pick.

One view of 1,000,000 clustered points (2% labeled) serves the whole module. Selections go
through mouse events and the paint tools into a label store; they are checked against
matplotlib's point-in-polygon on a random subset of the points, picks against a brute-force
nearest point. Screenshots of the density (zoomed out) and of the markers (zoomed in) are
saved to the test artifacts.
"""
from __future__ import annotations

import contextlib
import itertools
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")
mpath = pytest.importorskip("matplotlib.path")

from gui_helpers import latent_mouse
from PySide6 import QtCore, QtGui
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from benchmarks.synthetic import clustered_codes
from saeviz.app import LabelEditor, LatentView, PaintTools
from saeviz.app.latent.style import UNLABELED_RGBA
from saeviz.app.latent.view import MAX_POINTS_3D, POINTS_LIMIT
from saeviz.app.latent.view_2d import LAYER_WAIT_MS
from saeviz.core.state.labels import LabelStore

pytestmark = pytest.mark.gui

N = 1_000_000
COLORS = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2",
          "#D55E00", "#CC79A7", "#4E79A7", "#F28E2B", "#59A14F"]
NAMES = [f"class {i}" for i in range(len(COLORS))]
SUBSET = 40_000  # points checked against the reference in each test


@pytest.fixture(scope="module")
def million(qapp):
    """A shown 1000 x 750 view of a million points, a label store and the paint tools."""
    data = clustered_codes(N, d=2, seed=3)
    coords = data.codes.astype(np.float64)
    store = LabelStore(N, NAMES, colors=COLORS, labels=data.labels)
    view = LatentView()
    view.resize(1000, 750)
    view.show()
    QTest.qWaitForWindowExposed(view)
    view.set_points(coords)
    restyle = lambda *_: view.set_style(np.array(store.labels), COLORS, names=NAMES)
    restyle()
    store.labels_changed.connect(restyle)
    editor = LabelEditor()
    editor.set_store(store)
    paint = PaintTools(view, editor)
    yield SimpleNamespace(view=view, store=store, editor=editor, paint=paint, coords=coords, restyle=restyle)
    paint.shutdown()
    view.close()
    view.deleteLater()


def painted(qtbot, view) -> None:
    """Wait for the 2D view to paint once more."""
    count = view._cloud.paint_count
    view._cloud.update()
    qtbot.waitUntil(lambda: view._cloud.paint_count > count, timeout=30_000)


def zoom_out(qtbot, view) -> None:
    view.auto_range()
    painted(qtbot, view)
    assert view.drawing_mode() == "density"


def zoom_in(qtbot, view, coords) -> None:
    """Zoom into the densest blob until a few thousand points are in view."""
    cx, cy = np.median(coords[:, 0]), np.median(coords[:, 1])
    view.view_box.setRange(xRange=(cx - 0.12, cx + 0.12), yRange=(cy - 0.09, cy + 0.09), padding=0)
    painted(qtbot, view)
    assert view.drawing_mode() == "points"


def subset(rng, S) -> np.ndarray:
    """Random points with finite screen positions inside the view."""
    idx = rng.choice(len(S), SUBSET, replace=False)
    return idx[np.isfinite(S[idx]).all(axis=1)]


def star(cx, cy, r_out, r_in, k=9):
    t = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False)
    r = np.where(np.arange(2 * k) % 2 == 0, r_out, r_in)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


def gesture(view, points) -> None:
    latent_mouse(view, "press", points[0])
    for p in points[1:]:
        latent_mouse(view, "move", p)
    latent_mouse(view, "release", points[-1])


def zoomed_out_sample(qtbot, view, seed: int):
    """Zoom the view out to all points; their screen positions, a random subset of them to check
    (``subset``) and the view's size."""
    zoom_out(qtbot, view)
    S = view.screen_positions()
    idx = subset(np.random.default_rng(seed), S)
    return S, idx, view.active_view().width(), view.active_view().height()


def check_painted(before, after, idx, inside, value) -> None:
    """Inside and unlabeled (or already ``value``) became ``value``; nothing else changed."""
    open_ = (before[idx] == -1) | (before[idx] == value)
    assert (inside & open_).sum() > 50 and (~inside).sum() > 50
    np.testing.assert_array_equal(after[idx][inside & open_], value)
    np.testing.assert_array_equal(after[idx][~(inside & open_)], before[idx][~(inside & open_)])


def test_lasso_on_the_density_view_labels_the_points_inside(million, qtbot):
    m = million
    view, store, editor, paint = m.view, m.store, m.editor, m.paint
    S, idx, w, h = zoomed_out_sample(qtbot, view, seed=0)
    polygon = star(w * 0.4, h * 0.55, 0.33 * h, 0.15 * h)
    before = np.array(store.labels)
    paint.set_tool("lasso")
    paint.set_current_class(4)
    gesture(view, [tuple(p) for p in polygon])
    after = np.array(store.labels)
    # the lasso the tool recorded is the path, closed: the reference tests the same polygon
    inside = mpath.Path(polygon).contains_points(S[idx])
    check_painted(before, after, idx, inside, 4)
    assert editor.stack.count() >= 1 and "Lasso" in editor.stack.text(editor.stack.index() - 1)
    painted(qtbot, view)
    assert view.drawing_mode() == "density"  # still a density, now with the new labels mixed in
    editor.stack.undo()
    np.testing.assert_array_equal(np.array(store.labels), before)


def test_rectangle_on_the_zoomed_in_view(million, qtbot):
    m = million
    view, store, editor, paint, coords = m.view, m.store, m.editor, m.paint, m.coords
    zoom_in(qtbot, view, coords)
    S = view.screen_positions()
    w, h = view.active_view().width(), view.active_view().height()
    shown = np.flatnonzero((S[:, 0] >= 0) & (S[:, 0] < w) & (S[:, 1] >= 0) & (S[:, 1] < h))
    assert 200 < len(shown) <= POINTS_LIMIT
    before = np.array(store.labels)
    paint.set_tool("rectangle")
    paint.set_current_class(7)
    a, b = (w * 0.2, h * 0.25), (w * 0.7, h * 0.8)
    gesture(view, [a, (w * 0.5, h * 0.5), b])
    after = np.array(store.labels)
    box = [(a[0], a[1]), (b[0], a[1]), (b[0], b[1]), (a[0], b[1])]
    inside = mpath.Path(box).contains_points(S[shown])
    check_painted(before, after, shown, inside, 7)
    # nothing outside the view changed
    changed = np.flatnonzero(after != before)
    assert np.isin(changed, shown).all()
    editor.stack.undo()


def test_brush_stroke_labels_the_points_under_it(million, qtbot):
    m = million
    view, store, editor, paint = m.view, m.store, m.editor, m.paint
    S, idx, w, h = zoomed_out_sample(qtbot, view, seed=2)
    path = np.column_stack([np.linspace(w * 0.2, w * 0.8, 25), h * (0.5 + 0.15 * np.sin(np.linspace(0, 5, 25)))])
    before = np.array(store.labels)
    paint.set_tool("brush")
    paint.set_radius(20)
    paint.set_current_class(1)
    gesture(view, [tuple(p) for p in path])
    after = np.array(store.labels)
    # distance of each subset point to the polyline
    P = S[idx]
    d = np.full(len(P), np.inf)
    for p0, p1 in itertools.pairwise(path):
        seg = p1 - p0
        t = np.clip(((P - p0) @ seg) / (seg @ seg), 0, 1)
        d = np.minimum(d, np.linalg.norm(P - (p0 + t[:, None] * seg), axis=1))
    sure_in, sure_out = d < 19.5, d > 20.5  # the edge itself is the brush's business
    open_ = (before[idx] == -1) | (before[idx] == 1)
    assert (sure_in & open_).sum() > 50
    np.testing.assert_array_equal(after[idx][sure_in & open_], 1)
    np.testing.assert_array_equal(after[idx][sure_out], before[idx][sure_out])
    editor.stack.undo()


@contextlib.contextmanager
def restyle_on_next_frame(m):
    """Restyle after a label change as the window does (on its next frame), not at once."""
    later = lambda *_: QtCore.QTimer.singleShot(0, m.restyle)  # noqa: E731
    m.store.labels_changed.disconnect(m.restyle)
    m.store.labels_changed.connect(later)
    try:
        yield
    finally:
        m.store.labels_changed.disconnect(later)
        m.store.labels_changed.connect(m.restyle)


def pixels(widget, S, rows, save=None) -> np.ndarray:
    """(len(rows), 3) RGB of ``widget``'s pixels at the screen positions ``S[rows]`` (the
    grabbed image saved to ``save`` if given)."""
    image = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    if save is not None:
        image.save(str(save))
    a = np.frombuffer(image.constBits(), np.uint8)[: image.sizeInBytes()]
    a = a.reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()].reshape(
        image.height(), image.width(), 3)
    xy = np.round(S[rows]).astype(int)
    return a[xy[:, 1], xy[:, 0]].astype(int)


def test_a_lasso_shows_its_labels_in_the_next_frame_and_the_new_image_follows(million, qtbot, artifacts_dir):
    """Zoomed out, a new density image of half a million relabeled points takes longer than a
    lasso may: the next frame shows the points in their new class colour as a layer over the
    old image, and the restyled image, made on a worker thread, replaces both."""
    m = million
    view, store, editor, paint = m.view, m.store, m.editor, m.paint
    cloud = view._cloud
    S, idx, w, h = zoomed_out_sample(qtbot, view, seed=6)
    qtbot.waitUntil(cloud.density_settled, timeout=30_000)
    polygon = star(w * 0.45, h * 0.5, 0.35 * h, 0.2 * h)
    before = np.array(store.labels)
    inside = mpath.Path(polygon).contains_points(S[idx])
    colour = np.array(QtGui.QColor(COLORS[4]).getRgb()[:3])
    grey = np.array(UNLABELED_RGBA[:3])
    paint.set_tool("lasso")
    paint.set_current_class(4)
    with restyle_on_next_frame(m):
        gesture(view, [tuple(p) for p in polygon])
        check_painted(before, np.array(store.labels), idx, inside, 4)
        assert cloud._layer is not None and not cloud.density_settled()
        relabeled = idx[inside & (before[idx] == -1)]
        # the next frame (before the window restyles): exactly the class colour, opaque
        shown = pixels(view.active_view(), S, relabeled, artifacts_dir / "latent_million_lasso_layer.png")
        assert (np.abs(shown - colour).max(axis=1) == 0).mean() > 0.9
        qtbot.waitUntil(cloud.density_settled, timeout=30_000)
    assert cloud._layer is None and cloud._image_cache.style_version == cloud._style_version
    # the new image: the class colour mixed by density over the background, not the grey
    shown = pixels(view.active_view(), S, relabeled, artifacts_dir / "latent_million_lasso_settled.png")
    nearer = np.linalg.norm(shown - colour, axis=1) < np.linalg.norm(shown - grey, axis=1)
    assert nearer.mean() > 0.9
    editor.stack.undo()
    qtbot.waitUntil(cloud.density_settled, timeout=30_000)


def test_a_brush_that_relabels_nothing_leaves_no_layer_behind(million, qtbot):
    """Brushing over points that already have the class draws them as a layer, but no restyle
    follows (nothing changed): the layer goes by itself and the view is as it was."""
    m = million
    view, store, editor, paint = m.view, m.store, m.editor, m.paint
    cloud = view._cloud
    _S, _idx, w, h = zoomed_out_sample(qtbot, view, seed=7)
    path = [(w * 0.3 + 8 * k, h * 0.45) for k in range(12)]
    paint.set_tool("brush")
    paint.set_radius(25)
    paint.set_current_class(2)
    with restyle_on_next_frame(m):
        gesture(view, path)
        steps = editor.stack.count()
        qtbot.waitUntil(cloud.density_settled, timeout=30_000)
        labels = np.array(store.labels)
        gesture(view, path)  # the same stroke again: everything under it is class 2 already
        assert cloud._layer is not None
        qtbot.waitUntil(lambda: cloud._layer is None, timeout=LAYER_WAIT_MS + 5_000)
        assert cloud.density_settled()
    np.testing.assert_array_equal(np.array(store.labels), labels)
    assert editor.stack.count() == steps  # no edit recorded for the second stroke
    editor.stack.undo()
    qtbot.waitUntil(cloud.density_settled, timeout=30_000)


@pytest.mark.parametrize("zoomed_in", [False, True], ids=["density", "points"])
def test_click_picks_the_nearest_point(million, qtbot, zoomed_in):
    m = million
    view, paint, coords = m.view, m.paint, m.coords
    paint.set_tool("navigate")
    zoom_in(qtbot, view, coords) if zoomed_in else zoom_out(qtbot, view)
    S = view.screen_positions()
    rng = np.random.default_rng(5)
    w, h = view.active_view().width(), view.active_view().height()
    shown = np.flatnonzero((S[:, 0] > 10) & (S[:, 0] < w - 10) & (S[:, 1] > 10) & (S[:, 1] < h - 10))
    clicked = []
    view.pointClicked.connect(clicked.append)
    try:
        for target in rng.choice(shown, 6, replace=False):
            pos = QtCore.QPoint(round(S[target, 0]), round(S[target, 1]))
            clicked.clear()
            qtbot.mouseClick(view.active_view(), Qt.MouseButton.LeftButton, pos=pos)
            d2 = ((S - np.array([pos.x(), pos.y()])) ** 2).sum(axis=1)
            nearest = int(np.nanargmin(d2))
            assert clicked == [nearest]
    finally:
        view.pointClicked.disconnect(clicked.append)


def test_screenshots_of_the_density_and_the_zoomed_in_points(million, qtbot, artifacts_dir):
    m = million
    view, coords = m.view, m.coords
    zoom_out(qtbot, view)
    density = view.grab().toImage()
    density.save(str(artifacts_dir / "latent_million_density.png"))
    view.export_image(artifacts_dir / "latent_million_density_export.png")
    zoom_in(qtbot, view, coords)
    assert 0 < view._cloud.drawn <= POINTS_LIMIT
    points = view.grab().toImage()
    points.save(str(artifacts_dir / "latent_million_points.png"))

    def colours(image: QtGui.QImage) -> np.ndarray:
        image = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
        a = np.frombuffer(image.constBits(), np.uint8)[: image.sizeInBytes()]
        return a.reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()].reshape(
            image.height(), image.width(), 3)

    for image in (density, points):
        a = colours(image)
        lit = (a.max(axis=2) > 60).mean()
        assert 0.001 < lit < 0.9  # points drawn on the dark background, not blank, not flooded
        # some class colour shows: a saturated pixel (the labeled points)
        saturation = a.max(axis=2).astype(int) - a.min(axis=2)
        assert (saturation > 80).sum() > 20


def test_moved_points_get_a_new_density_image(million, qtbot):
    """A live frame moves the points: the image of the new positions replaces the old one
    (made on a worker thread, the old one is shown meanwhile)."""
    m = million
    view, coords = m.view, m.coords
    zoom_out(qtbot, view)
    cloud = view._cloud
    before = cloud._image_cache
    moved = coords * 0.5 + 1.0
    try:
        view.set_points(moved)
        painted(qtbot, view)
        qtbot.waitUntil(cloud.density_settled, timeout=30_000)
        image = cloud._image_cache
        assert image is not before and image.version == cloud._version
        assert image.grid.total == N  # every point in the image of the whole cloud
        x0, _, x1, _ = image.rect
        assert x0 <= moved[:, 0].min() and x1 >= moved[:, 0].max()
    finally:
        view.set_points(coords)
        painted(qtbot, view)
        qtbot.waitUntil(cloud.density_settled, timeout=30_000)


def test_3d_draws_a_sample_and_says_so(million, qtbot):
    view = million.view
    view.set_dimensions(3)
    try:
        qtbot.waitUntil(lambda: view.gl_view.isExposed(), timeout=10_000)
        assert view.shown_in_3d() == MAX_POINTS_3D
        assert f"{MAX_POINTS_3D:,} of {N:,}" in view.gl_view.notice
        assert len(view._points3d.pos) == MAX_POINTS_3D
        # the sample keeps the draw order: labeled points last
        size = view._points3d.size
        outlined = np.flatnonzero(size < 0)
        assert len(outlined) and outlined[0] == len(size) - len(outlined)
    finally:
        view.set_dimensions(2)
