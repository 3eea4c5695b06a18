"""t-SNE and UMAP in the latent panel as a user drives them: chosen in the projection combo,
progress counting up while partial layouts show, Cancel and Escape stopping the computation,
and live refinement while training (each epoch moves the last layout instead of starting over)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("openTSNE")

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from saeviz.core.display.projection import align_frames

pytestmark = pytest.mark.gui


def open_blobs(w, qtbot, path, n):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, n)
    np.savez(path, X=rng.normal(size=(n, 10)) + 2.0 * y[:, None], y=y)
    w.open_path(path)
    qtbot.waitUntil(lambda: w.session.dataset is not None and w.session.dataset.kind == "vector", timeout=30000)


def train_and_wait(qtbot, w, epochs=1):
    with qtbot.waitSignal(w.controller.finished, timeout=120000):
        w.train(epochs)
    qtbot.waitUntil(lambda: w.session.classifier is not None and not w.latent.dirty, timeout=30000)


def choose_tsne(qtbot, combo):
    """Pick t-SNE, the last projection of the combo, with the keyboard (End), as a user would."""
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key_End)
    assert combo.currentData() == "tsne"


def disparity(A, B):
    return np.linalg.norm(align_frames(A, B) - A) / np.linalg.norm(A - A.mean(0))


def projection_idle(w):
    return not w.runner.busy("projection") and w.latent.progress.isHidden()


@pytest.fixture
def window(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "settings.ini", batch_size=64, size=(1400, 900))
    yield w
    w.close()


@pytest.mark.parametrize("how", ["button", "escape"])
def test_tsne_from_the_combo_counts_up_shows_partial_layouts_and_stops_on_cancel(window, qtbot, tmp_path, how):
    w = window
    latent, view, bar = window.latent, window.latent.view, window.latent.progress
    open_blobs(w, qtbot, tmp_path / "blobs.npz", 3000)
    train_and_wait(qtbot, w)
    pca = view.points().copy()
    reports = []  # every progress report of the computation, also after the cancel
    latent._relay.progress.connect(lambda _seq, p: reports.append(p))
    shown = []
    bar.bar.valueChanged.connect(lambda _v: shown.append(bar.percent))

    choose_tsne(qtbot, latent.method_combo)
    assert latent.method == "tsne" and w.projection_actions["tsne"].isChecked()
    qtbot.waitUntil(lambda: bar.isVisible() and "t-SNE" in bar.text, timeout=10000)
    # the progress counts up and partial layouts replace the dimmed PCA points
    qtbot.waitUntil(lambda: (bar.percent or 0) >= 5 and not np.allclose(view.points(), pca), timeout=120000)
    assert view.points().shape == pca.shape and view.is_stale()
    seen = [p for p in shown if p is not None]
    assert len(set(seen)) >= 3 and seen == sorted(seen)
    assert bar.percent < 100
    if how == "button":
        qtbot.mouseClick(bar.cancel_button, Qt.LeftButton)
    else:
        view.active_view().setFocus()
        qtbot.keyClick(view.active_view(), Qt.Key_Escape)
    assert bar.isHidden() and not view.is_stale()
    assert latent.method == "pca" and latent.method_combo.currentData() == "pca"
    # the computation stops within a few iterations instead of running to its end
    qtbot.waitUntil(lambda: not w.runner.busy("projection"), timeout=30000)
    QApplication.processEvents()
    assert max(reports) < 100.0
    qtbot.waitUntil(lambda: not latent.dirty, timeout=10000)
    assert "PC" in view.plot_item.getAxis("bottom").labelText


def test_tsne_refines_the_last_layout_every_epoch_while_training(window, qtbot, tmp_path):
    w = window
    latent, view = w.latent, w.latent.view
    open_blobs(w, qtbot, tmp_path / "blobs.npz", 300)
    train_and_wait(qtbot, w)
    choose_tsne(qtbot, latent.method_combo)
    qtbot.waitUntil(lambda: projection_idle(w) and "t-SNE" in view.plot_item.getAxis("bottom").labelText,
                    timeout=120000)
    first = view.points().copy()
    assert not view.is_stale()

    finished = []  # one per computed layout: each ends with a report of 100 %
    latent._relay.progress.connect(lambda _seq, p: finished.append(p) if p == 100.0 else None)
    frames = [first]

    def record():
        P = view.points()
        if P is not None and P.shape == first.shape and not np.array_equal(P, frames[-1]):
            frames.append(P.copy())

    timer = QTimer()
    timer.timeout.connect(record)
    timer.start(15)
    epochs = 3
    with qtbot.waitSignal(w.controller.finished, timeout=120000):
        w.train(epochs)
    qtbot.waitUntil(lambda: projection_idle(w) and not latent.dirty, timeout=120000)
    record()
    timer.stop()
    assert latent.method == "tsne"
    # a refinement per epoch (newer codes may replace a queued one, never the last)
    assert len(finished) >= 2
    assert len(frames) >= 4
    # each shown layout starts from the one before: no jump to a fresh layout
    steps = [disparity(a, b) for a, b in itertools.pairwise(frames)]
    assert max(steps) < 0.35, steps
    from saeviz.core.display.embedding import run_tsne

    fresh = run_tsne(w.session.codes, random_state=7)
    assert disparity(frames[-2], frames[-1]) < disparity(frames[-1], fresh)
    assert not np.allclose(frames[-1], first)  # the codes changed, so did the layout
