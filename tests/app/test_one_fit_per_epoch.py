"""One latent SVM per epoch, with every panel that reads it open (under Xvfb).

The session's per-epoch result (``saeviz.core.state.results``) is the only place the latent
classifier is fitted: the latent view, the candidates, the labeling queue, the metrics, the
rounds and the morph panel all read it. The test opens every panel from View > Panels, floats
them so that all show at once, trains three epochs with the Train action on a small dataset
and counts the calls of ``LatentClassifier.fit`` (at most one per epoch); then labels one
sample in the labeling queue (one more fit: the labels changed while no training runs). Epochs that end many times a
second get a result at most once per ``CLASSIFIER_INTERVAL``, the last epoch always.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")

from gui_helpers import pause, wait_until  # noqa: E402
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QAbstractButton  # noqa: E402

from saeviz.app.training import flow  # noqa: E402
from saeviz.core.method.classify import LatentClassifier  # noqa: E402
from saeviz.core.method.config import ModelConfig, TrainConfig  # noqa: E402
from saeviz.core.state.session import SessionDefaults  # noqa: E402

pytestmark = pytest.mark.gui

EPOCHS = 3
PANELS = ("candidates", "queue", "metrics", "rounds", "morph", "decode")
WAIT_S = 120.0


class FitCounter:
    """Wraps ``LatentClassifier.fit``: counts the calls (from any thread) and fits as before."""

    def __init__(self, monkeypatch):
        self.calls = 0
        self._lock = threading.Lock()
        original = LatentClassifier.fit

        def fit(clf, *args, **kwargs):
            with self._lock:
                self.calls += 1
            return original(clf, *args, **kwargs)

        monkeypatch.setattr(LatentClassifier, "fit", fit)


def blobs(path, n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = (rng.normal(size=(n, 16)) + 2.5 * np.eye(3, 16)[y]).astype(np.float32)
    np.savez(path, X=X, y=y, class_names=np.array(["a", "b", "c"]))


def settled(w, epoch: int) -> bool:
    """Training over, the epoch's result in the session and every reader done with it."""
    s = w.session
    g = w.guided.controller
    return (not w.controller.is_running and s.classifier is not None and s.classifier.epoch == epoch
            and g.result is not None and g.result.epoch == epoch and not g.busy
            and not w.runner.busy() and not w.mesh_tools.morph._frames.busy())


def test_one_latent_svm_fit_per_epoch_with_every_panel_open(make_window, tmp_path, monkeypatch):
    path = tmp_path / "blobs.npz"
    blobs(path)
    defaults = SessionDefaults(model=ModelConfig(hidden=(32,), latent_dim=3), label_fraction=0.15,
                               train=TrainConfig(epochs=EPOCHS, batch_size=48, lr=3e-3))
    monkeypatch.setattr(flow, "CLASSIFIER_INTERVAL", 0.0)  # every epoch's result, however short
    w = make_window(tmp_path / "settings.ini", defaults=defaults, open_startup=False, size=(1400, 880))
    fits = FitCounter(monkeypatch)
    try:
        # open the dataset as a user does: drop the file on the window
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        w.dropEvent(QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
        wait_until(lambda: w.session.dataset is not None and w.session.codes is not None, WAIT_S)
        assert len(w.session.dataset.test_idx) and w.session.has_ground_truth

        # every panel from View > Panels, floated so that all of them show at once
        panels_menu = w.shell.menus["Panels"]
        for key in PANELS:
            dock = w.shell.docks[key]
            act = dock.toggleViewAction()
            assert act in panels_menu.actions()
            if not act.isChecked():
                act.trigger()
            QTest.mouseClick(dock.findChild(QAbstractButton, "qt_dockwidget_floatbutton"), Qt.LeftButton)
        pause(100)
        for key in PANELS:
            assert w.shell.docks[key].isFloating() and w.shell.docks[key].widget().isVisible(), key
        assert w.guided.controller.active
        w.session.select(0)  # a sample for the morph panel's path
        wait_until(lambda: not w.runner.busy() and not w.mesh_tools.morph._frames.busy(), WAIT_S)
        assert fits.calls == 0  # nothing is fitted before the first epoch

        w.actions["train"].trigger()
        assert w.session.training
        wait_until(lambda: settled(w, EPOCHS), timeout=600)  # the first run imports parts of torch
        pause(300)  # anything late would show up here
        assert w.session.epoch == EPOCHS and not w.session.training
        # at most one per epoch, shared by every panel (epochs shorter than CLASSIFIER_INTERVAL
        # share one: the newest), and the last epoch's always
        assert 1 <= fits.calls <= EPOCHS
        res = w.session.classifier
        assert res.epoch == EPOCHS
        assert w.guided.controller.result.request.epoch_result is res
        assert w.guided.metrics_panel.result is w.guided.controller.result
        assert w.mesh_tools.morph._classifier is res.classifier
        assert res.heldout is not None and res.heldout.source == "test"
        calls = fits.calls

        # a label set in the queue while idle: one more fit, whose result the ranking waits for
        g = w.guided
        g.open_queue()
        qp = g.queue_panel
        cur = qp.current
        QTest.keyClick(qp, getattr(Qt, f"Key_{int(w.session.y[cur]) + 1}"))
        assert w.session.labels.labels[cur] >= 0
        wait_until(lambda: w.session.classifier is not res and not w.runner.busy(), WAIT_S)
        g.actions["refresh"].trigger()
        wait_until(lambda: g.controller.result.request.label_version == w.session.labels.version
                   and not g.controller.busy, WAIT_S)
        pause(300)
        assert fits.calls == calls + 1
    finally:
        w.labeling.ask_unsaved = lambda: "discard"
        w.documents.ask_unsaved_model = lambda doing: "discard"
        w.close()
        pause(50)


def test_short_epochs_get_a_result_at_most_once_per_interval_and_the_last_one_always(make_window, tmp_path,
                                                                                     monkeypatch):
    path = tmp_path / "blobs.npz"
    blobs(path, n=120)
    epochs = 40
    defaults = SessionDefaults(model=ModelConfig(hidden=(16,), latent_dim=3), label_fraction=0.2,
                               train=TrainConfig(epochs=epochs, batch_size=60, lr=3e-3))
    w = make_window(tmp_path / "settings.ini", defaults=defaults, open_startup=False)
    try:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        w.dropEvent(QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
        wait_until(lambda: w.session.dataset is not None and w.session.codes is not None, WAIT_S)
        wait_until(lambda: not w.runner.busy(), WAIT_S)
        fits = FitCounter(monkeypatch)
        start = time.monotonic()
        w.actions["train"].trigger()
        wait_until(lambda: not w.controller.is_running, timeout=600)
        seconds = time.monotonic() - start
        wait_until(lambda: w.session.classifier is not None and w.session.classifier.epoch == epochs
                   and not w.runner.busy(), WAIT_S)
        pause(300)
        assert w.session.epoch == epochs
        assert 1 <= fits.calls <= seconds / flow.CLASSIFIER_INTERVAL + 2
        # 40 epochs of 120 samples take a few seconds, so far fewer fits than epochs; on a
        # machine so busy that the epochs took a second each, one fit per epoch was due
        assert fits.calls < epochs or seconds >= epochs * flow.CLASSIFIER_INTERVAL, (fits.calls, seconds)
    finally:
        w.labeling.ask_unsaved = lambda: "discard"
        w.documents.ask_unsaved_model = lambda doing: "discard"
        w.close()
        pause(50)
