"""The latent view as a new user meets it, driven through the window's actions and the mouse.

Plot export as SVG (axes where the data are), class-target stars after loading a pretrained
model, a click bringing the inspector forward, and t-SNE with its progress and Cancel.
Dialogs are real ``QFileDialog`` s, filled by a timer.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog  # noqa: E402

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def fill_file_dialog(path) -> list:
    """Answer the next file dialog with ``path`` (polls until it is open); returns a list that
    gets the dialog's window title once it was answered."""
    seen: list = []

    def attempt(tries=[0]):
        dlg = QApplication.activeModalWidget()
        if isinstance(dlg, QFileDialog):
            seen.append(dlg.windowTitle())
            dlg.selectFile(str(path))
            dlg.accept()
            return
        tries[0] += 1
        if tries[0] < 500:
            QTimer.singleShot(20, attempt)

    QTimer.singleShot(0, attempt)
    return seen


def train_and_wait(qtbot, w, epochs=1):
    with qtbot.waitSignal(w.controller.finished, timeout=120000):
        w.train(epochs)
    qtbot.waitUntil(lambda: w.session.classifier is not None and not w.latent.dirty, timeout=30000)


@pytest.fixture
def window(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "settings.ini", batch_size=64, size=(1400, 900))
    yield w
    w.close()


# -- SVG geometry --------------------------------------------------------------------------------------
def _matrix(text: str | None) -> np.ndarray:
    M = np.eye(3)
    if text:
        m = re.search(r"matrix\(([^)]*)\)", text)
        if m:
            a, b, c, d, e, f = (float(v) for v in re.split(r"[ ,]+", m.group(1).strip()))
            M = np.array([[a, c, e], [b, d, f], [0, 0, 1]])
    return M


def svg_geometry(path):
    """(segments, circles): straight polylines as (2, 2) end points and circle centres, both
    in the SVG's user units with every group transform applied."""
    segments, circles = [], []

    def walk(node, M):
        M = M @ _matrix(node.get("transform"))
        tag = node.tag.replace(SVG, "")
        if tag == "polyline":
            pts = np.array([[float(v) for v in p.split(",")] for p in node.get("points").split()])
            P = (M @ np.column_stack([pts, np.ones(len(pts))]).T).T[:, :2]
            if len(P) == 2:
                segments.append(P)
        elif tag == "circle":
            c = M @ np.array([float(node.get("cx")), float(node.get("cy")), 1.0])
            circles.append(c[:2])
        for child in node:
            walk(child, M)

    root = ET.parse(path).getroot()
    walk(root, np.eye(3))
    return segments, np.array(circles)


def test_svg_export_puts_the_axes_along_the_data(window, qtbot, tmp_path):
    w = window
    train_and_wait(qtbot, w)
    view = w.latent.view
    out = tmp_path / "plot.svg"
    seen = fill_file_dialog(out)
    w.actions["export_image"].trigger()
    assert seen == ["Export plot"]
    assert out.exists()

    item = view.plot_item
    origin = item.sceneBoundingRect().topLeft()
    vb = view.view_box.sceneBoundingRect().translated(-origin)
    segments, circles = svg_geometry(out)
    vertical = [s for s in segments if abs(s[0, 0] - s[1, 0]) < 0.01]
    horizontal = [s for s in segments if abs(s[0, 1] - s[1, 1]) < 0.01]
    left = max(vertical, key=lambda s: abs(s[0, 1] - s[1, 1]))     # the y axis' line
    bottom = max(horizontal, key=lambda s: abs(s[0, 0] - s[1, 0]))  # the x axis' line
    # each axis spans the whole plot area, along its edge
    assert np.sort(left[:, 1]) == pytest.approx([vb.top(), vb.bottom()], abs=2.5)
    assert np.sort(bottom[:, 0]) == pytest.approx([vb.left(), vb.right()], abs=2.5)
    assert left[0, 0] == pytest.approx(vb.left(), abs=2.5)
    assert bottom[0, 1] == pytest.approx(vb.bottom(), abs=2.5)

    # the points are where the view draws them, all inside the axes
    screen = view.screen_positions()
    screen = screen[np.isfinite(screen).all(axis=1)]
    scene = np.array([[p.x(), p.y()] for p in
                      (view.plot_widget.mapToScene(QPoint(round(x), round(y))) for x, y in screen)])
    expected = scene - [origin.x(), origin.y()]
    n = len(expected)
    assert len(circles) >= n
    pts = circles[:n] if len(circles) == n else circles
    # every drawn point matches a point of the view within a pixel
    d = np.linalg.norm(pts[:, None, :] - expected[None, :, :], axis=2).min(axis=1)
    assert np.percentile(d, 99) < 1.5
    inside = ((pts[:, 0] >= vb.left() - 1) & (pts[:, 0] <= vb.right() + 1)
              & (pts[:, 1] >= vb.top() - 1) & (pts[:, 1] <= vb.bottom() + 1))
    assert inside.all()

    # the major ticks of the x axis sit on round values, evenly spaced
    ticks = [s for s in vertical if s is not left and abs(abs(s[0, 1] - s[1, 1]) - 5) < 0.5
             and abs(s[:, 1].max() - vb.bottom()) < 1.5]
    assert len(ticks) >= 3
    values = np.sort([view.view_box.mapSceneToView(QPointF(origin.x() + s[0, 0], origin.y() + vb.center().y())).x()
                      for s in ticks])
    step = np.diff(values)
    assert np.allclose(step, step[0], rtol=2e-3)
    assert np.allclose(values / step[0], np.round(values / step[0]), atol=1e-2)


def test_class_targets_of_a_loaded_model_sit_on_their_classes(window, qtbot):
    w = window
    s = w.session
    seen = fill_file_dialog(REPO / "models" / "digits.safetensors")
    w.actions["load"].trigger()
    assert seen
    qtbot.waitUntil(lambda: s.codes is not None and s.epoch > 0 and not w.runner.busy(), timeout=120000)
    qtbot.waitUntil(lambda: not w.latent.dirty and w.latent._frame is not None
                    and w.latent._frame.anchors is not None, timeout=30000)
    assert s.class_targets is not None
    coords = w.latent.coords
    labels = np.array(s.labels.labels)
    stars = w.latent._frame.anchors
    k = s.labels.n_classes
    centers = np.array([coords[labels == c].mean(axis=0) for c in range(k)])
    spread = np.array([np.sqrt(((coords[labels == c] - centers[c]) ** 2).sum(axis=1).mean()) for c in range(k)])
    for c in range(k):
        d = np.linalg.norm(centers - stars[c], axis=1)
        assert int(np.argmin(d)) == c, (c, d)
        assert d[c] < spread[c], (c, d[c], spread[c])  # inside its class's cloud
    # the stars drawn in the view are those
    drawn = view_anchors(w)
    assert np.allclose(np.sort(drawn, axis=0), np.sort(stars[np.isfinite(stars).all(axis=1)], axis=0))


def assert_stars_on_their_classes(w) -> None:
    """Each class-target star drawn in the view lies nearest its own class's centre."""
    s = w.session
    coords = w.latent.coords
    labels = np.array(s.labels.labels)
    stars = w.latent._frame.anchors
    k = s.labels.n_classes
    centers = np.array([coords[labels == c].mean(axis=0) for c in range(k)])
    for c in range(k):
        d = np.linalg.norm(centers - stars[c], axis=1)
        assert int(np.argmin(d)) == c, (c, d)
    drawn = view_anchors(w)
    assert np.allclose(np.sort(drawn, axis=0), np.sort(stars[np.isfinite(stars).all(axis=1)], axis=0))


def test_class_targets_of_a_reopened_project_sit_on_their_classes(make_window, qtbot, tmp_path, isolated_recovery):
    from modal_answers import ModalAnswers, choose_file

    def trigger(w, action, *handlers):
        with ModalAnswers(*handlers) as answers:
            action.trigger()
            qtbot.waitUntil(lambda: answers.done, timeout=30000)
        assert not answers.errors, answers.errors

    folder = tmp_path / "my project"
    w = make_window(tmp_path / "a" / "settings.ini", epochs=3, batch_size=64, size=(1400, 900))
    try:
        train_and_wait(qtbot, w, epochs=3)
        trained = w.session.class_targets.copy()  # what the last epoch trained toward
        from saeviz.core.method.evaluate import encode_codes

        store = w.session.labels.snapshot()  # and what the final weights give
        _, final = encode_codes(w.session.model, w.session.X, store.labels, store.distances, w.session.train_config)
        trigger(w, w.labeling.actions["save_project"], choose_file(folder))
        assert (folder / "project.json").is_file(), w.last_error
    finally:
        w.close()

    w2 = make_window(tmp_path / "b" / "settings.ini", batch_size=64, size=(1400, 900))
    try:
        trigger(w2, w2.labeling.actions["open_project"], choose_file(folder))
        s = w2.session
        qtbot.waitUntil(lambda: w2.labeling.project.folder is not None and s.codes is not None
                        and s.class_targets is not None and not w2.runner.busy(), timeout=120000)
        qtbot.waitUntil(lambda: not w2.latent.dirty and w2.latent._frame is not None
                        and w2.latent._frame.anchors is not None, timeout=30000)
        # the targets of the saved weights, and near those the last epoch trained toward (the
        # codes moved for one more epoch since): same scale, same place
        assert np.allclose(s.class_targets, final, atol=1e-3 * np.abs(final).max())
        assert np.allclose(s.class_targets, trained, atol=0.25 * np.abs(trained).max())
        assert_stars_on_their_classes(w2)
    finally:
        w2.close()


def view_anchors(w) -> np.ndarray:
    return w.latent.view._anchors[:, :2]


def click_a_point(qtbot, w) -> int:
    """Click an isolated point near the middle of the 2D view with the mouse; its index."""
    view = w.latent.view
    screen = view.screen_positions()
    centre = np.nanmedian(screen, axis=0)
    others = np.linalg.norm(screen[:, None, :] - screen[None, :, :], axis=2)
    np.fill_diagonal(others, np.inf)
    isolated = np.flatnonzero(others.min(axis=1) > 3)
    i = int(isolated[np.argmin(np.linalg.norm(screen[isolated] - centre, axis=1))])
    x, y = screen[i]
    qtbot.mouseClick(view.active_view(), Qt.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    return i


def test_clicking_a_point_brings_the_inspector_forward(window, qtbot):
    w = window
    train_and_wait(qtbot, w)
    inspector, loss = w.docks["inspector"], w.docks["loss"]
    w.tabifyDockWidget(loss, inspector)
    loss.raise_()
    qtbot.waitUntil(lambda: inspector.visibleRegion().isEmpty() and not loss.visibleRegion().isEmpty())
    i = click_a_point(qtbot, w)
    assert w.session.selected == i
    qtbot.waitUntil(lambda: not inspector.visibleRegion().isEmpty())
    assert loss.visibleRegion().isEmpty()
    assert w.inspector.index_label.text().startswith(str(w.session.dataset_index(i)))
    # a panel the user closed stays closed
    inspector.close()
    click_a_point(qtbot, w)
    QApplication.processEvents()
    assert not inspector.toggleViewAction().isChecked() and inspector.isHidden()


@pytest.mark.parametrize("how", ["button", "escape"])
def test_tsne_shows_its_progress_and_can_be_cancelled(window, qtbot, how):
    w = window
    train_and_wait(qtbot, w)
    latent, view = w.latent, w.latent.view
    pca = view.points()
    bar = latent.progress
    assert bar.isHidden()
    w.projection_actions["tsne"].trigger()
    qtbot.waitUntil(lambda: not latent.dirty, timeout=10000)
    assert latent.method == "tsne"
    assert bar.isVisible() and "t-SNE" in bar.text
    assert view.is_stale() and latent.view._cloud.opacity() < 0.5  # the PCA points are dimmed
    assert np.allclose(view.points(), pca)
    assert w.runner.busy("projection")
    if how == "button":
        qtbot.mouseClick(bar.cancel_button, Qt.LeftButton)
    else:
        latent.view.active_view().setFocus()
        qtbot.keyClick(latent.view.active_view(), Qt.Key_Escape)
    assert bar.isHidden()
    assert latent.method == "pca" and w.projection_actions["pca"].isChecked()
    assert not view.is_stale() and latent.view._cloud.opacity() == 1.0
    qtbot.waitUntil(lambda: not latent.dirty, timeout=10000)
    assert "PC" in view.plot_item.getAxis("bottom").labelText  # a PCA frame again
    assert latent._frame.anchors is not None  # the stars are back
    back = view.points()
    # the interrupted computation ends without replacing the view or reporting an error
    qtbot.waitUntil(lambda: not w.runner.busy("projection"), timeout=120000)
    QApplication.processEvents()
    assert latent.method == "pca" and np.array_equal(view.points(), back)
    assert "failed" not in w.statusBar().currentMessage()
    # usable: training goes on, the view follows
    train_and_wait(qtbot, w)
    assert not np.allclose(view.points(), pca)


def test_tsne_progress_counts_up_to_the_result(window, qtbot, tmp_path):
    w = window
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    path = tmp_path / "blobs.npz"
    np.savez(path, X=rng.normal(size=(300, 10)) + 2.0 * y[:, None], y=y)
    w.open_path(path)
    qtbot.waitUntil(lambda: w.session.dataset is not None and w.session.dataset.kind == "vector", timeout=30000)
    train_and_wait(qtbot, w)
    bar = w.latent.progress
    seen = []
    bar.bar.valueChanged.connect(lambda v: seen.append(bar.percent))
    w.projection_actions["tsne"].trigger()
    qtbot.waitUntil(lambda: not w.latent.dirty, timeout=10000)
    assert bar.isVisible() and "t-SNE" in bar.text  # shown at once, before the first report
    qtbot.waitUntil(lambda: not w.runner.busy("projection") and bar.isHidden(), timeout=120000)
    counted = [p for p in seen if p is not None]
    assert counted and max(counted) == 100.0
    assert counted == sorted(counted) and len(set(counted)) >= 5  # counts up in steps
    assert not w.latent.view.is_stale()
    assert "t-SNE" in w.latent.view.plot_item.getAxis("bottom").labelText


def test_the_queue_follows_the_newest_ranking_until_labeling_starts(window, qtbot):
    from PySide6.QtTest import QTest

    w = window
    g = w.guided
    qp = g.queue_panel
    train_and_wait(qtbot, w)
    qtbot.waitUntil(lambda: g.controller.result is not None and not g.controller.busy, timeout=60000)
    w.activateWindow()
    assert QTest.qWaitForWindowActive(w)
    g.actions["open_queue"].trigger()
    qtbot.waitUntil(lambda: g.queue.loaded_epoch == 1, timeout=30000)
    assert np.array_equal(np.array(g.queue.queue.items), g.controller.candidates.indices)
    w.latent.view.active_view().setFocus()  # the user looks elsewhere, training goes on
    train_and_wait(qtbot, w)
    qtbot.waitUntil(lambda: g.controller.result.epoch == 2 and not g.controller.busy, timeout=60000)
    qtbot.waitUntil(lambda: g.queue.loaded_epoch == 2, timeout=10000)  # followed by itself
    assert np.array_equal(np.array(g.queue.queue.items), g.controller.candidates.indices)
    assert not qp.note.isVisible() or "newer ranking" not in qp.note.text()

    g.actions["open_queue"].trigger()
    QTest.keyClick(qp, Qt.Key_S)  # a round of labeling starts: the queue holds still
    assert g.queue.started
    held = list(g.queue.queue.items)
    train_and_wait(qtbot, w)
    qtbot.waitUntil(lambda: g.controller.result.epoch == 3 and not g.controller.busy, timeout=60000)
    QApplication.processEvents()
    assert g.queue.loaded_epoch == 2 and list(g.queue.queue.items) == held
    assert g.queue.newer_ranking and "newer ranking (epoch 3)" in qp.note.text()
