"""One undo history for every label change, under Xvfb: the labeling queue and the brush
push onto the same editor, Edit > Undo / Redo and Ctrl+Z walk them in order, and undoing a
queue label returns the queue to its sample."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from gui_helpers import latent_mouse
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from saeviz.core.method.config import ModelConfig

pytestmark = pytest.mark.gui

SMALL = ModelConfig(hidden=(64,), latent_dim=6)


def labels(w) -> np.ndarray:
    return np.array(w.session.labels.labels)


def menu_action(w, menu_name: str, action_name: str):
    menu = w.menuBar().findChild(QMenu, menu_name)
    assert menu is not None and menu.menuAction() in w.menuBar().actions()
    return next(a for a in menu.actions() if a.objectName() == action_name)


@pytest.fixture
def win(make_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("SAEVIZ_RECOVERY_DIR", str(tmp_path / "recovery"))
    w = make_window(tmp_path / "settings.ini", model=SMALL, timeout=120000)
    w.labeling.ask_unsaved = lambda: "discard"
    w.train(1)
    g = w.guided.controller
    qtbot.waitUntil(lambda: (not w.controller.is_running and g.result is not None and g.result.epoch == 1
                             and not g.busy and not w.runner.busy() and w.latent.coords is not None
                             and not w.latent.dirty), timeout=240000)
    yield w
    w.close()


def test_queue_and_brush_labels_are_undone_and_redone_in_one_history(win, qtbot):
    w = win
    guided = w.guided
    qp = guided.queue_panel
    editor = w.labeling.editor
    stack = editor.stack
    history = w.labeling.history
    undo = menu_action(w, "editMenu", "undoAction")
    redo = menu_action(w, "editMenu", "redoAction")
    w.activateWindow()
    assert QTest.qWaitForWindowActive(w)
    guided.actions["open_queue"].trigger()
    QApplication.processEvents()
    assert history.stack() is stack and guided.queue.editor is editor
    n0 = stack.count()
    assert history.model().rowCount() == n0 + 1  # "(as opened)" and one row per step
    start = labels(w)

    # 1. the queue labels its sample (class button 2: label value 1) and moves on
    sample = qp.current
    assert sample is not None and start[sample] == -1
    qtbot.mouseClick(qp.class_buttons[1], Qt.LeftButton)
    after_queue = labels(w)
    assert after_queue[sample] == 1 and np.count_nonzero(after_queue != start) == 1
    next_sample = qp.current
    assert next_sample not in (None, sample)

    # 2. the brush labels another sample (class 3: label value 2), away from the queue's
    w.labeling.tool_actions["brush"].trigger()
    w.labeling.actions["class_3"].trigger()
    w.labeling.paint.set_radius(5)
    view = w.latent.view
    S = view.screen_positions()
    target = view.active_view()
    width, height = target.width(), target.height()
    free = ((after_queue == -1) & (S[:, 0] > 20) & (S[:, 0] < width - 20)
            & (S[:, 1] > 20) & (S[:, 1] < height - 20))
    free &= np.linalg.norm(S - S[sample], axis=1) > 40
    assert free.any()
    j = int(np.flatnonzero(free)[0])
    x, y = S[j]
    for kind, pos in (("press", (x, y)), ("move", (x + 1, y)), ("move", (x + 2, y)), ("release", (x + 2, y))):
        latent_mouse(view, kind, pos)
    after_brush = labels(w)
    brushed = np.flatnonzero(after_brush != after_queue)
    assert j in brushed and np.all(after_brush[brushed] == 2) and sample not in brushed
    assert qp.current == next_sample  # the brush leaves the queue where it is

    # both are steps of the one history, shown in the History panel
    assert stack.count() == n0 + 2 and history.model().rowCount() == n0 + 3
    model = history.model()
    assert model.index(n0 + 1, 0).data().startswith("Queue:")
    assert model.index(n0 + 2, 0).data().startswith("Brush")

    # 3. Edit > Undo twice: the brush label goes first, then the queue label
    undo.trigger()
    assert np.array_equal(labels(w), after_queue) and qp.current == next_sample
    assert stack.index() == n0 + 1 and history.selectionModel().currentIndex().row() == n0 + 1
    undo.trigger()
    assert np.array_equal(labels(w), start)
    assert qp.current == sample  # the queue is back at its sample
    assert history.selectionModel().currentIndex().row() == n0

    # 4. Redo twice restores both, in order
    redo.trigger()
    assert np.array_equal(labels(w), after_queue) and qp.current == next_sample
    redo.trigger()
    assert np.array_equal(labels(w), after_brush)
    assert stack.count() == n0 + 2 and history.model().rowCount() == n0 + 3

    # 5. Ctrl+Z with the queue focused undoes the same history
    qp.setFocus()
    QApplication.processEvents()
    assert qp.hasFocus()
    QTest.keyClick(qp, Qt.Key_Z, Qt.ControlModifier)
    assert np.array_equal(labels(w), after_queue)
    QTest.keyClick(qp, Qt.Key_Z, Qt.ControlModifier)
    assert np.array_equal(labels(w), start) and qp.current == sample
