"""Labeling in the main window, under Xvfb: paint tools, undo, classes, distances, projects."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
mpath = pytest.importorskip("matplotlib.path")

from gui_helpers import latent_mouse, wait_until  # noqa: E402
from gui_helpers import near_polyline as shared_near_polyline  # noqa: E402
from PySide6.QtCore import QItemSelectionModel, Qt  # noqa: E402
from PySide6.QtGui import QKeySequence  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from saeviz.core.io.project import read_autosave  # noqa: E402
from saeviz.core.state.label_edits import label_edit  # noqa: E402

pytestmark = pytest.mark.gui


def show_codes(qtbot, w, seed=0):
    """Codes without training: clustered by the ground truth, so the picture has structure.
    They replace the window's start-up codes (the demo model's or the untrained network's),
    which are waited for first: arriving later, they would replace these."""
    s = w.session
    wait_until(lambda: s.codes is not None and not w.runner.busy(), timeout=30)
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(3, 6))
    codes = (centers[s.y] + rng.normal(size=(s.n_samples, 6))).astype(np.float32)
    s.accept_codes(codes)
    # Choosing the projection again draws these codes afresh: else each frame is turned like
    # the one before, and whether the start-up picture was drawn before these codes came would
    # decide where their points are.
    combo = w.latent.method_combo
    combo.setCurrentIndex(combo.findData("lda"))
    combo.setCurrentIndex(combo.findData("pca"))
    qtbot.waitUntil(lambda: w.latent.coords is not None and not w.latent.dirty, timeout=10000)
    qtbot.wait(50)


@pytest.fixture
def recovery_dir(tmp_path, monkeypatch):
    path = tmp_path / "recovery"
    monkeypatch.setenv("SAEVIZ_RECOVERY_DIR", str(path))
    return path


@pytest.fixture
def win(make_window, qtbot, tmp_path, recovery_dir):
    w = make_window(tmp_path / "settings.ini")
    show_codes(qtbot, w)
    yield w
    w.close()


def drag(view, points, mods=Qt.NoModifier):
    latent_mouse(view, "press", points[0], mods)
    for p in points[1:]:
        latent_mouse(view, "move", p, mods)
    latent_mouse(view, "release", points[-1], mods)


def labels(w):
    return np.array(w.session.labels.labels)


def visible_positions(w):
    S = w.latent.view.screen_positions()
    assert np.isfinite(S).all()
    return S


def view_size(w):
    target = w.latent.view.active_view()
    return target.width(), target.height()


def near_polyline(S, points):
    """Distance of each point to a polyline, sampled finely enough for the brush's edge."""
    return shared_near_polyline(S, points, step=0.02)


# -- paint tools -----------------------------------------------------------------------------------
def test_lasso_labels_exactly_the_points_inside(win):
    w = win
    ctl = w.labeling
    before = labels(w)
    ctl.paint.set_tool("lasso")
    ctl.paint.set_current_class(2)
    S = visible_positions(w)
    width, height = view_size(w)
    cx, cy = width * 0.5, height * 0.5
    t = np.linspace(0, 2 * np.pi, 14, endpoint=False)
    radius = np.where(np.arange(14) % 2 == 0, 0.35, 0.16) * min(width, height)
    star = np.column_stack([cx + radius * np.cos(t), cy + radius * np.sin(t)])
    drag(w.latent.view, [tuple(p) for p in star])
    inside = mpath.Path(star).contains_points(S)
    assert 20 < inside.sum() < len(S) - 20
    after = labels(w)
    open_ = (before == -1) | (before == 2)  # "paint unlabeled only" (the default) keeps other labels
    assert (inside & ~open_).sum() > 0
    assert np.all(after[inside & open_] == 2)
    assert np.array_equal(after[~(inside & open_)], before[~(inside & open_)])
    assert ctl.editor.stack.count() == 1 and "Lasso" in ctl.editor.stack.text(0)
    ctl.actions["undo"].trigger()
    assert np.array_equal(labels(w), before)
    assert not ctl.paint.overlays.visible()


def test_brush_labels_every_point_it_sweeps_over_as_one_undo_step(win):
    w = win
    ctl = w.labeling
    before = labels(w)
    ctl.paint.set_tool("brush")
    ctl.paint.set_current_class(1)
    ctl.paint.set_radius(18)
    S = visible_positions(w)
    width, height = view_size(w)
    path = [(0.3 * width, 0.3 * height), (0.45 * width, 0.62 * height), (0.52 * width, 0.4 * height),
            (0.7 * width, 0.55 * height), (0.71 * width, 0.56 * height)]
    latent_mouse(w.latent.view, "move", path[0], Qt.NoModifier)  # hovering shows the brush circle
    assert ctl.paint.overlays.visible()
    drag(w.latent.view, path)
    d = near_polyline(S, path)
    clear = np.abs(d - 18) > 0.05  # leave out points on the rim, where sampling decides
    swept = d <= 18
    after = labels(w)
    assert 10 < swept.sum() < len(S) - 10
    open_ = (before == -1) | (before == 1)  # "paint unlabeled only" (the default) keeps other labels
    assert np.all(after[swept & clear & open_] == 1)
    assert np.array_equal(after[~open_], before[~open_])
    untouched = ~swept & clear
    assert np.array_equal(after[untouched], before[untouched])
    assert ctl.editor.stack.count() == 1  # many pointer moves, one stroke
    ctl.actions["undo"].trigger()
    assert np.array_equal(labels(w), before)
    ctl.actions["redo"].trigger()
    assert np.array_equal(labels(w), after)


def test_eraser_unlabels_the_swept_points_only(win):
    w = win
    ctl = w.labeling
    ctl.label(np.arange(w.session.n_samples), 0, "Label everything")
    ctl.paint.set_tool("eraser")
    ctl.paint.set_radius(25)
    S = visible_positions(w)
    width, height = view_size(w)
    path = [(0.35 * width, 0.5 * height), (0.65 * width, 0.45 * height)]
    drag(w.latent.view, path)
    d = near_polyline(S, path)
    clear = np.abs(d - 25) > 0.05
    after = labels(w)
    assert np.all(after[(d <= 25) & clear] == -1)
    assert np.all(after[(d > 25) & clear] == 0)
    assert (after == -1).sum() > 10


def test_rectangle_and_shift_unlabels(win):
    w = win
    ctl = w.labeling
    before = labels(w)
    ctl.paint.set_tool("rectangle")
    ctl.paint.set_current_class(0)
    S = visible_positions(w)
    width, height = view_size(w)
    x0, y0, x1, y1 = 0.3 * width, 0.35 * height, 0.62 * width, 0.7 * height
    drag(w.latent.view, [(x0, y0), (0.5 * width, 0.5 * height), (x1, y1)])
    inside = (S[:, 0] > x0) & (S[:, 0] < x1) & (S[:, 1] > y0) & (S[:, 1] < y1)
    after = labels(w)
    assert inside.sum() > 10
    open_ = (before == -1) | (before == 0)  # "paint unlabeled only" (the default) keeps other labels
    assert np.all(after[inside & open_] == 0) and np.array_equal(after[~(inside & open_)], before[~(inside & open_)])
    # Shift: the same tool unlabels
    drag(w.latent.view, [(x0, y0), (x1, y1)], Qt.ShiftModifier)
    assert np.all(labels(w)[inside] == -1)
    assert ctl.editor.stack.count() == 2


def test_click_labels_the_nearest_point_and_selects_it(win):
    w = win
    ctl = w.labeling
    ctl.paint.set_tool("click")
    ctl.paint.set_current_class(2)
    S = visible_positions(w)
    lab = labels(w)
    width, height = view_size(w)
    centre = np.array([width / 2, height / 2])
    candidates = np.flatnonzero(lab != 2)
    i = int(candidates[np.argmin(np.linalg.norm(S[candidates] - centre, axis=1))])
    others = np.delete(np.arange(len(S)), i)
    gap = np.min(np.linalg.norm(S[others] - S[i], axis=1))
    offset = min(1.0, gap / 3)
    target = (S[i, 0] + offset, S[i, 1])
    drag(w.latent.view, [target])
    assert labels(w)[i] == 2 and w.session.selected == i
    drag(w.latent.view, [target], Qt.ShiftModifier)
    assert labels(w)[i] == -1


def test_escape_cancels_a_stroke_and_keeps_the_previous_labels(win, qtbot):
    w = win
    ctl = w.labeling
    before = labels(w)
    ctl.paint.set_tool("brush")
    ctl.paint.set_current_class(1)
    ctl.paint.set_radius(40)
    width, height = view_size(w)
    view = w.latent.view
    latent_mouse(view, "press", (0.3 * width, 0.5 * height))
    latent_mouse(view, "move", (0.6 * width, 0.5 * height))
    assert not np.array_equal(labels(w), before)  # painted live
    QTest.keyClick(view.active_view(), Qt.Key_Escape)
    assert np.array_equal(labels(w), before)
    latent_mouse(view, "move", (0.7 * width, 0.4 * height))  # the rest of the drag does nothing
    latent_mouse(view, "release", (0.7 * width, 0.4 * height))
    assert np.array_equal(labels(w), before)
    assert ctl.editor.stack.count() == 0
    assert w.controller.state == "idle"
    drag(view, [(0.3 * width, 0.5 * height), (0.6 * width, 0.5 * height)])  # the next stroke paints
    assert ctl.editor.stack.count() == 1


def test_tool_keys_radius_keys_and_class_keys(win, qtbot):
    w = win
    ctl = w.labeling
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)  # window shortcuts need the active window
    for key, name in ((Qt.Key_B, "brush"), (Qt.Key_L, "lasso"), (Qt.Key_R, "rectangle"),
                      (Qt.Key_E, "eraser"), (Qt.Key_C, "click"), (Qt.Key_N, "navigate")):
        QTest.keyClick(w.latent.view.active_view(), key)
        assert ctl.paint.tool_name == name and ctl.tool_actions[name].isChecked()
    r = ctl.paint.radius
    QTest.keyClick(w.latent.view.active_view(), Qt.Key_BracketRight)
    assert ctl.paint.radius > r and ctl.radius_spin.value() == round(ctl.paint.radius)
    QTest.keyClick(w.latent.view.active_view(), Qt.Key_BracketLeft)
    assert ctl.paint.radius == pytest.approx(r)
    QTest.keyClick(w.latent.view.active_view(), Qt.Key_3)
    assert ctl.paint.current_class == 2 and ctl.palette.buttons[2].isChecked()
    QTest.keyClick(w.latent.view.active_view(), Qt.Key_9)  # no ninth class: unchanged
    assert ctl.paint.current_class == 2
    assert ctl.actions["undo"].shortcut() == QKeySequence("Ctrl+Z")
    assert QKeySequence("Ctrl+Shift+Z") in ctl.actions["redo"].shortcuts()


def test_lasso_in_the_3d_view(win, qtbot):
    w = win
    ctl = w.labeling
    w.latent.set_dims(3)
    view = w.latent.view
    qtbot.waitUntil(lambda: view.gl_view is not None and view.gl_view.isExposed(), timeout=10000)
    qtbot.waitUntil(lambda: not w.latent.dirty, timeout=10000)
    qtbot.wait(100)
    before = labels(w)
    ctl.paint.set_tool("lasso")
    ctl.paint.set_current_class(1)
    S = view.screen_positions()
    gl = view.gl_view
    width, height = gl.width(), gl.height()
    square = [(0.3 * width, 0.3 * height), (0.7 * width, 0.3 * height), (0.7 * width, 0.7 * height),
              (0.3 * width, 0.7 * height)]
    latent_mouse(view, "press", square[0])
    for p in square[1:]:
        latent_mouse(view, "move", p)
    assert ctl.paint.overlays.visible()  # the outline is drawn in the 3D view
    latent_mouse(view, "release", square[-1])
    ok = np.isfinite(S).all(axis=1)
    inside = np.zeros(len(S), bool)
    inside[ok] = mpath.Path(np.array(square)).contains_points(S[ok])
    assert inside.sum() > 10
    after = labels(w)
    open_ = (before == -1) | (before == 1)  # "paint unlabeled only" (the default) keeps other labels
    assert np.all(after[inside & open_] == 1)
    assert np.array_equal(after[~(inside & open_)], before[~(inside & open_)])


# -- undo and redo -------------------------------------------------------------------------------------
def test_undo_redo_restore_the_exact_labels_over_50_random_edits(win):
    w = win
    ctl = w.labeling
    cm = ctl.class_manager
    rng = np.random.default_rng(7)
    n = w.session.n_samples
    store = w.session.labels
    states = [(labels(w), store.class_names, store.colors, store.distances)]
    while len(states) < 51:
        k = store.n_classes
        kind = rng.choice(["stroke", "label", "add", "rename", "merge", "delete", "distance"],
                          p=[.35, .25, .1, .08, .07, .07, .08])
        if kind == "stroke":
            ctl.editor.begin_stroke(int(rng.integers(-1, k)), "Brush")
            for _ in range(4):
                ctl.editor.add_to_stroke(rng.integers(0, n, 30))
            changed = ctl.editor.commit_stroke()
        elif kind == "label":
            changed = ctl.label(rng.integers(0, n, 20), int(rng.integers(-1, k)))
        elif kind == "add" or k < 2:
            changed = cm.add_class()
        elif kind == "rename":
            changed = cm.rename_class(int(rng.integers(0, k)), f"n{rng.integers(10**9)}")
        elif kind == "merge":
            a, b = rng.choice(k, 2, replace=False)
            changed = cm.merge_classes([int(a)], int(b))
        elif kind == "delete":
            c = int(rng.integers(0, k))
            changed = cm.delete_class(c, None if rng.random() < 0.5 else (c + 1) % k)
        else:
            A = rng.random((k, k)) * 2
            D = A + A.T
            np.fill_diagonal(D, 0)
            ed = ctl.distance_editor
            ed.symmetric.setChecked(True)
            i, j = rng.choice(k, 2, replace=False)
            ed.table.item(int(i), int(j)).setText(f"{D[i, j]:.3f}")
            changed = True
        if changed:
            states.append((labels(w), store.class_names, store.colors, store.distances))
    undo, redo = ctl.actions["undo"], ctl.actions["redo"]
    assert ctl.editor.stack.count() == 50
    for i in range(49, -1, -1):
        undo.trigger()
        lab, names, colors, D = states[i]
        assert np.array_equal(labels(w), lab) and store.class_names == names
        assert store.colors == colors and np.array_equal(store.distances, D)
    assert not w.isWindowModified()
    for i in range(1, 51):
        redo.trigger()
        assert np.array_equal(labels(w), states[i][0]) and store.class_names == states[i][1]
    assert w.isWindowModified()


# -- classes and distances ---------------------------------------------------------------------------------
def test_class_manager_adds_renames_merges_and_deletes(win, qtbot):
    w = win
    ctl = w.labeling
    cm = ctl.class_manager
    store = w.session.labels
    before = labels(w)

    def counts_match():
        QApplication.processEvents()
        return cm.counts_shown() == [int(c) for c in store.counts()]

    assert counts_match() and "labeled" in cm.total.text()
    cm.add_button.click()
    assert store.n_classes == 4 and ctl.paint.current_class == 3
    assert len(ctl.palette.buttons) == 4
    cm.table.item(3, 1).setText("new class")  # what an inline edit commits
    assert store.class_names[3] == "new class"
    cm.table.item(3, 1).setText(store.class_names[0])  # duplicate name: refused with a message
    assert store.class_names[3] == "new class" and "already a class" in cm.error.text()
    assert cm.table.item(3, 1).text() == "new class"
    ctl.label(np.arange(10), 3)
    assert counts_match()
    # delete class 0, moving its labels to "new class"
    cm.table.selectRow(0)
    cm.delete_button.click()
    dlg = cm.dialog
    assert dlg is not None and dlg.objectName() == "deleteClassDialog"
    dlg.move.setChecked(True)
    dlg.target.setCurrentIndex(dlg.target.findText("new class"))
    dlg.accept()
    assert store.class_names[-1] == "new class" and store.n_classes == 3
    moved = (before == 0) | (np.arange(len(before)) < 10)
    assert np.all(labels(w)[moved] == 2)
    assert counts_match()
    # merge the first two remaining classes into the second
    cm.table.clearSelection()
    cm.table.selectRow(0)
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    cm.table.selectionModel().select(cm.table.model().index(1, 0), flags)
    assert cm.selected_classes() == [0, 1]
    cm.merge_button.click()
    dlg = cm.dialog
    dlg.target.setCurrentIndex(1)
    dlg.accept()
    assert store.n_classes == 2 and store.class_names[0] == "C (2,3,5,7)"
    assert counts_match()
    while ctl.editor.stack.canUndo():
        ctl.actions["undo"].trigger()
    assert np.array_equal(labels(w), before) and store.n_classes == 3


def test_distance_editor_rejects_asymmetric_and_negative_input_with_a_message(win):
    w = win
    ed = w.labeling.distance_editor
    store = w.session.labels
    D0 = store.distances
    ed.check_typing(0, 1, "-0.5")  # while typing
    assert "non-negative" in ed.status_text()
    ed.table.item(0, 1).setText("-1")
    assert "non-negative" in ed.status_text() and "not applied" in ed.status_text()
    assert np.array_equal(store.distances, D0)
    ed.table.item(0, 1).setText("far")
    assert "not a number" in ed.status_text()
    ed.table.item(0, 1).setText("1")
    ed.symmetric.setChecked(False)
    ed.table.item(0, 1).setText("2")
    assert "symmetric" in ed.status_text() and "not applied" in ed.status_text()
    assert np.array_equal(store.distances, D0)
    ed.table.item(1, 0).setText("2")  # now it is symmetric again: applied
    assert store.distances[0, 1] == 2 and store.distances[1, 0] == 2
    assert ed.status_text() == ""
    ed.symmetric.setChecked(True)
    ed.table.item(2, 0).setText("2.5")
    assert store.distances[0, 2] == 2.5 and store.distances[2, 0] == 2.5
    assert w.labeling.editor.stack.count() == 2
    # the preview: MDS layout of the class targets, achieved distances and stress, fast
    lay = ed.layout_result
    assert lay.achieved.shape == (3, 3)
    assert np.allclose(lay.achieved, store.distances, atol=1e-3)  # a triangle: achieved exactly
    assert "every distance is achieved" in ed.preview_info.text()
    # ten classes that no Euclidean configuration fits: SMACOF iterates and reports its stress
    # (its time is measured by benchmarks/bench_labeling.py, not here)
    from saeviz.core.method.class_layout import class_layout

    A = np.random.default_rng(0).random((10, 10)) + 0.5
    D10 = A + A.T
    np.fill_diagonal(D10, 0)
    lay10 = class_layout(D10, np.arange(1, 11), 10)
    assert lay10.achieved.shape == (10, 10) and np.isfinite(lay10.achieved).all()
    assert not np.allclose(lay10.achieved, D10, atol=1e-3)
    ed.table.item(2, 0).setText("3.5")  # 3.5 > 2 + 1 breaks the triangle inequality
    assert store.distances[0, 2] == 3.5
    lay = ed.layout_result
    assert lay.stress > 0.01 and "largest mismatch" in ed.preview_info.text()


def test_distance_presets_set_up_the_papers_classes(win, qtbot):
    w = win
    ctl = w.labeling
    ed = ctl.distance_editor
    store = w.session.labels
    before = labels(w)
    ed.apply_preset("seasons-between")  # needs other classes: it asks first
    box = ed.box
    assert box is not None and box.objectName() == "presetBox" and "summer" in box.text()
    box.button(QMessageBox.Ok).click()
    assert store.class_names[0].startswith("summer") and store.n_classes == 3
    assert np.all(labels(w) == -1)
    assert store.distances[0, 1] == 2 and store.distances[0, 2] == 1
    ctl.actions["undo"].trigger()
    assert np.array_equal(labels(w), before) and store.class_names[0].startswith("A")
    ed.apply_preset("abc")  # the digits demo already has these classes: only distances
    assert ed.box is None
    assert np.array_equal(store.distances, np.ones((3, 3)) - np.eye(3))


def test_presets_regroup_ten_digit_classes(make_window, qtbot, tmp_path, recovery_dir):
    w = make_window(tmp_path / "s.ini")
    try:
        w.open_dataset("digits10")
        qtbot.waitUntil(lambda: w.session.labels.n_classes == 10, timeout=30000)
        digits = labels(w)
        ed = w.labeling.distance_editor
        ed.apply_preset("abc")
        assert "Group the current 10 classes" in ed.box.text()
        ed.box.button(QMessageBox.Ok).click()
        from saeviz.core.data.digits import DECOMPOSITIONS

        lookup = DECOMPOSITIONS["abc"].lookup
        expected = np.where(digits >= 0, lookup[np.maximum(digits, 0)], -1)
        assert np.array_equal(labels(w), expected)
        assert w.session.labels.class_names == DECOMPOSITIONS["abc"].class_names
    finally:
        w.close()


# -- reveal, import, export ---------------------------------------------------------------------------------------
def test_reveal_and_hide_ground_truth_are_undoable(win):
    w = win
    ctl = w.labeling
    before = labels(w)
    assert ctl.reveal(0.0)
    assert np.all(labels(w) == -1)
    assert ctl.reveal(0.5, seed=3)
    lab = labels(w)
    assert 0.45 < (lab >= 0).mean() < 0.55
    assert np.array_equal(lab[lab >= 0], w.session.y[lab >= 0])
    assert w.settings_panel.fraction.value() == pytest.approx(50.0)
    ctl.actions["undo"].trigger()
    ctl.actions["undo"].trigger()
    assert np.array_equal(labels(w), before)


def test_export_then_import_labels(win, tmp_path):
    w = win
    ctl = w.labeling
    before = labels(w)
    out = ctl.export_labels(tmp_path / "labels.csv")
    assert out.read_text().startswith("index,label\n")
    ctl.reveal(0.0)
    assert ctl.import_labels(out, replace=True)
    assert np.array_equal(labels(w), before)
    assert "Import labels" in ctl.editor.stack.text(ctl.editor.stack.count() - 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("index,label\n0,1\n1,9\n")
    assert not ctl.import_labels(bad)
    assert "line 3" in w.last_error and "bad.csv" in w.last_error


# -- projects, unsaved changes, autosave ---------------------------------------------------------------------------
def test_a_project_saved_and_reopened_restores_labels_classes_distances_model_and_view(make_window, qtbot, tmp_path, recovery_dir):
    w = make_window(tmp_path / "a.ini")
    try:
        with qtbot.waitSignal(w.controller.finished, timeout=120000):
            w.train(1)
        qtbot.waitUntil(lambda: w.session.model is not None and not w.latent.dirty, timeout=30000)
        ctl = w.labeling
        ctl.label(np.arange(0, 300, 3), 2)
        ctl.class_manager.add_class("extra", "#112233")
        ctl.label(np.arange(5), 3)
        ctl.distance_editor.table.item(0, 3).setText("2.5")
        w.latent.set_method("lda")
        w.latent.set_color_mode("prediction")
        w.latent.lines_check.setChecked(True)
        ctl.paint.set_tool("lasso")
        ctl.paint.set_radius(33)
        ctl.paint.set_current_class(1)
        assert w.isWindowModified()
        folder = tmp_path / "my project"
        assert ctl.save_project(folder)
        assert not w.isWindowModified() and "my project" in w.windowTitle()
        saved = (labels(w), w.session.labels.class_names, w.session.labels.colors, w.session.labels.distances,
                 ctl.view_settings(), {k: v.clone() for k, v in w.session.model.state_dict().items()},
                 [dict(h) for h in w.session.history])
        assert str(folder.resolve()) in ctl.recent_projects()
    finally:
        w.close()

    w2 = make_window(tmp_path / "b.ini")
    try:
        ctl2 = w2.labeling
        ctl2.open_project(folder)
        qtbot.waitUntil(lambda: ctl2.project.folder is not None and w2.session.codes is not None, timeout=60000)
        s = w2.session
        assert np.array_equal(labels(w2), saved[0])
        assert s.labels.class_names == saved[1] and s.labels.colors == saved[2]
        assert np.array_equal(s.labels.distances, saved[3])
        assert ctl2.view_settings() == saved[4]
        state = s.model.state_dict()
        assert state.keys() == saved[5].keys()
        assert all(np.array_equal(state[k].numpy(), saved[5][k].numpy()) for k in state)
        assert s.history == saved[6]
        assert not w2.isWindowModified() and ctl2.editor.stack.count() == 0
        assert "my project" in w2.windowTitle()
    finally:
        w2.close()


def test_closing_with_unsaved_work_asks(make_window, qtbot, tmp_path, recovery_dir):
    w = make_window(tmp_path / "s.ini")
    ctl = w.labeling
    assert not w.isWindowModified()
    ctl.label([0, 1, 2], 1)
    assert w.isWindowModified() and "[*]" in w.windowTitle()
    asked = []
    ctl.ask_unsaved = lambda: asked.append(1) or "cancel"
    assert not w.close()
    assert w.isVisible() and asked
    ctl.ask_unsaved = lambda: "save"
    ctl.choose_project_folder = lambda title, existing: str(tmp_path / "saved")
    assert w.close()
    assert (tmp_path / "saved" / "project.json").exists()
    assert not list(recovery_dir.glob("*.npz")) if recovery_dir.exists() else True


def test_labels_are_autosaved_and_offered_again_after_a_crash(make_window, qtbot, tmp_path, recovery_dir):
    w = make_window(tmp_path / "s.ini")
    ctl = w.labeling
    store = w.session.labels
    ctl.editor.push(label_edit(store, np.arange(40), 2, "Paint"))
    qtbot.waitUntil(lambda: ctl.project.autosave_path.exists(), timeout=5000)
    painted = labels(w)
    assert np.array_equal(read_autosave(ctl.project.autosave_path).supervision.labels, painted)
    # the process dies: its autosave stays behind under a process id that is gone
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    orphan = recovery_dir / f"session-{dead}-00112233445566ff.npz"
    ctl.project.autosave_path.rename(orphan)
    w.close()

    w2 = make_window(tmp_path / "s2.ini")
    try:
        ctl2 = w2.labeling
        qtbot.waitUntil(lambda: ctl2.box is not None and ctl2.box.isVisible(), timeout=10000)
        box = ctl2.box
        assert box.objectName() == "recoveryBox" and "autosaved" in box.text()
        restore = next(b for b in box.buttons() if b.text() == "Restore")
        restore.click()
        qtbot.waitUntil(lambda: np.array_equal(labels(w2), painted), timeout=10000)
        assert w2.isWindowModified()
        assert not orphan.exists()
        ctl2.actions["undo"].trigger()  # the restore is one undo step
        assert not np.array_equal(labels(w2), painted)
    finally:
        w2.close()


def test_screenshot_with_painted_labels(artifacts_dir, win, qtbot):
    w = win
    ctl = w.labeling
    S = visible_positions(w)
    (x0, y0), (x1, y1) = np.percentile(S, 10, axis=0), np.percentile(S, 90, axis=0)

    def at(fx, fy):
        return (x0 + fx * (x1 - x0), y0 + fy * (y1 - y0))

    ctl.reveal(0.0)
    ctl.paint.set_tool("lasso")
    ctl.paint.set_current_class(0)
    drag(w.latent.view, [at(0.0, 0.1), at(0.45, 0.0), at(0.4, 0.45), at(0.05, 0.5)])
    ctl.paint.set_tool("brush")
    ctl.paint.set_current_class(1)
    ctl.paint.set_radius(22)
    drag(w.latent.view, [at(0.5, 0.9), at(0.7, 0.6), at(0.95, 0.85)])
    ctl.paint.set_current_class(2)
    drag(w.latent.view, [at(0.6, 0.15), at(0.95, 0.3)])
    latent_mouse(w.latent.view, "move", at(0.3, 0.75))  # the brush circle, hovering
    qtbot.waitUntil(lambda: not w.latent.dirty, timeout=5000)
    qtbot.wait(100)
    counts = w.session.labels.counts()
    assert np.all(counts > 0), counts
    path = artifacts_dir / "labeling.png"
    assert w.grab().save(str(path))
    assert path.stat().st_size > 10_000


def test_a_brush_stroke_paints_unlabeled_points_only_unless_asked(win, qtbot):
    """One stroke across the labeled points of other classes leaves them alone by default;
    unchecking "Paint unlabeled only" (U) lets the next stroke relabel them."""
    w = win
    ctl = w.labeling
    w.session.labels.set_all(w.session.y)  # every point labeled (the ground truth)
    before = labels(w)
    ctl.paint.set_tool("brush")
    ctl.paint.set_current_class(0)
    ctl.paint.set_radius(24)
    assert ctl.actions["protect_labels"].isChecked() and ctl.paint.protect_labels
    assert ctl.actions["protect_labels"] in ctl.toolbar.actions()
    S = visible_positions(w)
    width, height = view_size(w)
    path = [(0.2 * width, 0.5 * height), (0.5 * width, 0.45 * height), (0.8 * width, 0.55 * height)]
    swept = near_polyline(S, path) <= 23.9
    assert (swept & (before != 0)).sum() > 10
    drag(w.latent.view, path)
    assert np.array_equal(labels(w), before)  # no label of another class turned over

    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)  # window shortcuts need the active window
    QTest.keyClick(w.latent.view.active_view(), Qt.Key_U)
    assert not ctl.paint.protect_labels and not ctl.actions["protect_labels"].isChecked()
    drag(w.latent.view, path)
    after = labels(w)
    assert np.all(after[swept] == 0)
    assert np.array_equal(after[~(near_polyline(S, path) <= 24.1)], before[~(near_polyline(S, path) <= 24.1)])
    ctl.actions["protect_labels"].trigger()
    assert ctl.paint.protect_labels
