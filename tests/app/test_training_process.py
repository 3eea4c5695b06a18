"""Training in its own process (SAEVIZ_TRAINING_BACKEND=process), through the window's actions:
pause, resume and stop between batches, labels changed between epochs, a training process that
dies, and closing the window in the middle of an epoch."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

pytest.importorskip("PySide6")

from gui_helpers import click_tab, latent_mouse, process_gone
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.gui

START = 180000  # ms: a new training process imports torch first (seconds on a busy machine)


def error_boxes(w):
    return [b for b in w.findChildren(QMessageBox) if b.objectName() == "errorBox" and b.isVisible()]


@pytest.fixture
def window(make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("SAEVIZ_TRAINING_BACKEND", "process")
    w = make_window(tmp_path / "settings.ini", epochs=1000, batch_size=64)
    assert w.training_flow.backend == "process"
    yield w
    w.close()


def wait_epochs(qtbot, w, n, timeout=START):
    qtbot.waitUntil(lambda: w.session.epoch >= n, timeout=timeout)


def shown(qtbot, w):
    """What the window shows after its frame timer took the newest snapshot."""
    qtbot.wait(400)
    return w.session.snapshot, w.session.epoch


def test_training_runs_in_a_child_process_that_pauses_resumes_stops_and_continues(window, qtbot):
    w = window
    s = w.session
    w.actions["train"].trigger()  # Space
    assert w.controller.state == "running"
    wait_epochs(qtbot, w, 1)
    pid = w.controller.pid
    assert pid is not None and pid != os.getpid() and not process_gone(pid)
    w.actions["train"].trigger()  # Space: pause
    assert w.controller.state == "paused" and s.training_state.state == "paused"
    assert w.actions["train"].text() == "&Resume"
    shown(qtbot, w)  # the snapshot of the batch in flight may still arrive
    snap, epoch = shown(qtbot, w)
    assert shown(qtbot, w) == (snap, epoch) and shown(qtbot, w) == (snap, epoch)  # nothing trains while paused
    w.actions["train"].trigger()  # Space: resume
    assert w.controller.state == "running"
    qtbot.waitUntil(lambda: s.snapshot is not snap, timeout=30000)
    w.actions["stop"].trigger()  # Esc: stops at the next batch and waits for it
    assert not w.controller.is_running and not s.training
    assert w.actions["train"].isEnabled() and not w.actions["stop"].isEnabled()
    trainer = s.trainer
    assert trainer is not None and trainer.history == s.history and s.model is not None
    # the next run continues the same trainer in the same process
    epochs = s.epoch
    w.actions["train"].trigger()
    wait_epochs(qtbot, w, epochs + 1)
    with qtbot.waitSignal(w.controller.finished, timeout=START):
        w.actions["stop"].trigger()
    assert w.controller.pid == pid
    assert [h["epoch"] for h in s.history] == list(range(1, s.epoch + 1))
    assert w.loss_plot.epoch_points()[0][-1] == s.epoch


def test_labels_painted_while_paused_train_the_next_epoch(window, qtbot):
    w = window
    s = w.session
    qtbot.waitUntil(lambda: w.latent.coords is not None and not w.latent.dirty, timeout=30000)
    w.actions["train"].trigger()
    wait_epochs(qtbot, w, 1)
    w.actions["train"].trigger()  # pause
    shown(qtbot, w)
    qtbot.waitUntil(lambda: not w.latent.dirty, timeout=10000)
    before = int((s.labels.labels >= 0).sum())
    n_labeled_before = s.history[-1]["n_labeled"]
    assert n_labeled_before == before
    # a rectangle over the middle of the view labels the unlabeled points under it with class 1
    w.labeling.paint.set_tool("rectangle")
    w.labeling.paint.set_current_class(1)
    target = w.latent.view.active_view()
    width, height = target.width(), target.height()
    path = [(width * 0.2, height * 0.2), (width * 0.5, height * 0.5), (width * 0.8, height * 0.8)]
    latent_mouse(w.latent.view, "press", path[0], Qt.NoModifier)
    for p in path[1:]:
        latent_mouse(w.latent.view, "move", p, Qt.NoModifier)
    latent_mouse(w.latent.view, "release", path[-1], Qt.NoModifier)
    after = int((s.labels.labels >= 0).sum())
    assert after > before + 10
    version = s.labels.version
    epoch = s.epoch
    w.actions["train"].trigger()  # resume
    # the epoch running when the labels changed may still end with the old ones; the next uses the new
    qtbot.waitUntil(lambda: s.epoch >= epoch + 2, timeout=60000)
    w.actions["stop"].trigger()
    newer = [h for h in s.history[epoch + 1:]]
    assert newer and all(h["n_labeled"] == after for h in newer)
    assert s.snapshot.label_version == version


def test_a_dead_training_process_shows_an_error_and_training_works_again(window, qtbot):
    w = window
    s = w.session
    w.actions["train"].trigger()
    wait_epochs(qtbot, w, 1)
    pid = w.controller.pid
    with qtbot.waitSignal(w.controller.finished, timeout=30000):
        os.kill(pid, signal.SIGKILL)  # the training process dies in the middle of its work
    qtbot.waitUntil(lambda: bool(error_boxes(w)), timeout=10000)
    box = error_boxes(w)[0]
    assert "ended unexpectedly" in box.text()
    box.close()
    assert w.isVisible() and not w.controller.is_running and not s.training
    assert s.model is not None and s.epoch >= 1  # the newest epoch's weights are kept
    qtbot.waitUntil(lambda: process_gone(pid), timeout=10000)
    epochs = s.epoch
    w.actions["train"].trigger()  # in a new training process, from the kept weights
    wait_epochs(qtbot, w, epochs + 2)
    with qtbot.waitSignal(w.controller.finished, timeout=START):
        w.actions["stop"].trigger()
    assert not error_boxes(w)
    assert w.controller.pid not in (None, pid)
    assert [h["epoch"] for h in s.history] == list(range(1, s.epoch + 1))


def test_a_training_error_in_the_process_is_shown_and_keeps_the_window(window, qtbot, monkeypatch):
    w = window
    bad = np.array(w.session.X, copy=True)
    bad[7] = np.nan
    monkeypatch.setattr(w.session, "_X", bad)  # samples the training cannot use
    with qtbot.waitSignal(w.controller.finished, timeout=START):
        w.actions["train"].trigger()
    qtbot.waitUntil(lambda: bool(error_boxes(w)), timeout=5000)
    assert "NaN" in error_boxes(w)[0].text()
    error_boxes(w)[0].close()
    assert not w.controller.is_running and w.actions["train"].isEnabled()
    assert w.controller.pid is not None  # the process outlives a failed run


def test_playing_the_morph_throttles_the_training_process_until_it_stops(window, qtbot):
    w = window
    s = w.session
    panel = w.mesh_tools.morph
    w.actions["train"].trigger()
    wait_epochs(qtbot, w, 3)
    click_tab(w, "Morph")  # behind another tab the panel waits
    s.select(0)
    qtbot.waitUntil(lambda: panel.last_frame is not None, timeout=30000)

    def epoch_seconds(first, last):
        return float(np.median([h["seconds"] for h in s.history[first:last]]))
    n = s.epoch
    wait_epochs(qtbot, w, n + 3)
    full = epoch_seconds(n, s.epoch)
    panel.play_button.click()  # the user plays the morph while the window trains
    assert panel.is_animating and w.controller.share < 0.5
    assert "Training slowed down" in w.statusBar().currentMessage()  # the user sees why
    start = s.epoch + 1  # the epoch running now may have started before the child was told
    wait_epochs(qtbot, w, start + 3)
    played = epoch_seconds(start, start + 3)
    panel.play_button.click()  # Stop: full speed again
    assert w.controller.share == 1.0 and "Training slowed" not in w.statusBar().currentMessage()
    start = s.epoch + 1
    wait_epochs(qtbot, w, start + 3)
    after = epoch_seconds(start, start + 3)
    w.actions["stop"].trigger()
    assert played > 2.5 * full and played > 2.5 * after, (full, played, after)
