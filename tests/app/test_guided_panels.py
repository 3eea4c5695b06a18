"""Guided labeling in the main window, under Xvfb: candidates, queue, rounds, metrics.

One window on the digits demo, trained for one epoch with a small network, serves the window
tests in this module, in order (the queue labels samples that the retraining test then trains
in). The worker-side functions are tested without a window.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("PySide6")

from gui_helpers import click_tab, pause, wait_until  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage, QPixmap  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from saeviz.app.common.view_settings import VIEW_STATE_KEY  # noqa: E402
from saeviz.app.guided.candidates import GuidedRequest, heldout_cv, score_job  # noqa: E402
from saeviz.app.guided.candidates_panel import CLASSES_ROLE, SCORE_COLUMN  # noqa: E402
from saeviz.core.method.calibration import reliability_diagram  # noqa: E402
from saeviz.core.method.classify import LatentClassifier  # noqa: E402
from saeviz.core.method.config import ModelConfig  # noqa: E402
from saeviz.core.method.ranking import rank_candidates  # noqa: E402
from saeviz.core.state.results import compute_epoch_result  # noqa: E402
from saeviz.core.state.rounds import RoundTracker  # noqa: E402
from saeviz.core.state.view_state import ViewState  # noqa: E402

pytestmark = pytest.mark.gui

SMALL = ModelConfig(hidden=(64,), latent_dim=6)


def ranking_settled(w, epoch: int) -> bool:
    g = w.guided.controller
    return (not w.controller.is_running and g.result is not None and g.result.epoch == epoch
            and not g.busy and not w.runner.busy())


def train_epoch(w, epoch: int) -> None:
    w.train(1)
    wait_until(lambda: ranking_settled(w, epoch), timeout=240)


@pytest.fixture(scope="module")
def win(make_module_window, tmp_path_factory):
    w = make_module_window(tmp_path_factory.mktemp("guided") / "settings.ini", model=SMALL, timeout=120000)
    train_epoch(w, 1)
    yield w
    w.labeling.ask_unsaved = lambda: "discard"
    assert w.close()
    pause(50)  # the close handlers' follow-ups stop the workers
    assert w.guided.controller.runner.submit("probe", int) == -1  # closed: takes no more work


def reference(result, k: int, strategy: str):
    """The core's ranking of the very codes and labels the panel's job used."""
    req = result.request
    clf = LatentClassifier().fit(req.codes, req.labels)
    return rank_candidates(clf, req.codes, req.labels, k=k, strategy=strategy)


def cell(panel, row: int, col: int, role=Qt.DisplayRole):
    m = panel.model
    return m.data(m.index(row, col), role)


def labels(w) -> np.ndarray:
    return np.array(w.session.labels.labels)


# -- candidates ----------------------------------------------------------------------------------------
def test_candidates_are_the_core_ranking_of_the_same_codes(win):
    w = win
    g = w.guided
    panel = g.candidates_panel
    res = g.controller.result
    assert np.array_equal(res.request.codes, w.session.codes)  # the epoch's codes
    ref = reference(res, 100, "margin")
    shown = panel.shown_indices
    assert len(shown) == 100 and panel.model.rowCount() == 100
    assert np.array_equal(shown, ref.indices)
    assert np.all(labels(w)[shown] == -1)  # labeled samples never appear
    names = w.session.labels.class_names
    for row in (0, 57, 99):
        pair = cell(panel, row, 2, CLASSES_ROLE)
        assert [name for name, _color in pair] == [names[int(ref.best[row])], names[int(ref.second[row])]]
        assert cell(panel, row, 3) == f"{float(ref.margin[row]):.3f}"
        assert cell(panel, row, 1) == str(w.session.dataset_index(int(ref.indices[row])))
    assert np.all(np.diff(ref.margin) >= 0)  # most uncertain first
    thumb = cell(panel, 0, 1, Qt.DecorationRole)
    assert isinstance(thumb, QPixmap) and (thumb.width(), thumb.height()) == (48, 48)  # 8 x 8 digits, 6x
    # the candidates are ringed in the latent view (once its points of this epoch are drawn)
    wait_until(lambda: np.array_equal(w.latent.view.highlighted(), np.sort(ref.indices)), timeout=10)
    # the queue took the ranking, but a queue nobody works in leaves the selection alone
    assert np.array_equal(np.array(g.queue.queue.items), ref.indices)
    assert w.session.selected == -1


def test_strategy_and_count_rerank_off_the_ui_thread(win):
    w = win
    g = w.guided
    panel = g.candidates_panel
    epoch = g.controller.result.epoch
    panel.strategy_combo.setCurrentIndex(panel.strategy_combo.findData("entropy"))
    wait_until(lambda: ranking_settled(w, epoch) and g.controller.result.candidates.strategy == "entropy")
    ref = reference(g.controller.result, 100, "entropy")
    assert np.array_equal(panel.shown_indices, ref.indices)
    assert not panel.table.isColumnHidden(SCORE_COLUMN)  # the strategy's own score is listed
    assert g.strategy_actions["entropy"].isChecked()
    panel.k_spin.setValue(20)
    wait_until(lambda: ranking_settled(w, epoch) and len(g.controller.candidates) == 20)
    assert panel.model.rowCount() == 20
    assert np.array_equal(panel.shown_indices, ref.indices[:20])
    assert np.array_equal(w.latent.view.highlighted(), np.sort(ref.indices[:20]))
    # back to the paper's settings through the menu and the spin box
    g.strategy_actions["margin"].trigger()
    panel.k_spin.setValue(100)
    wait_until(lambda: ranking_settled(w, epoch) and g.controller.result.candidates.strategy == "margin"
               and len(g.controller.candidates) == 100)
    assert np.array_equal(panel.shown_indices, reference(g.controller.result, 100, "margin").indices)
    assert panel.table.isColumnHidden(SCORE_COLUMN)
    stored = ViewState.from_dict(json.loads(w.settings.value(VIEW_STATE_KEY)))  # remembered at once
    assert stored.guided_strategy == "margin" and stored.guided_k == 100


def test_clicking_a_candidate_selects_the_sample(win):
    w = win
    g = w.guided
    g.show_candidates()
    panel = g.candidates_panel
    QApplication.processEvents()
    table = panel.table
    table.scrollTo(panel.model.index(3, 0))
    rect = table.visualRect(panel.model.index(3, 3))
    QTest.mouseClick(table.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
    pos = int(panel.shown_indices[3])
    assert w.session.selected == pos
    assert w.latent.view.selected() == pos
    assert w.inspector.index_label.text().startswith(str(w.session.dataset_index(pos)))


# -- the queue ---------------------------------------------------------------------------------------------
def test_queue_labels_skips_goes_back_and_undoes(win):
    w = win
    g = w.guided
    qp = g.queue_panel
    stack = w.labeling.editor.stack
    paint_class = w.labeling.paint.current_class
    w.activateWindow()  # the window's own 1-9 shortcuts are live only in the active window
    assert QTest.qWaitForWindowActive(w)
    g.actions["open_queue"].trigger()
    QApplication.processEvents()
    assert qp.hasFocus() and "keys 1–9 · S skips" in qp.state_label.text()
    items = np.array(g.queue.queue.items)
    assert np.array_equal(items, g.controller.candidates.indices)
    first, second, third = (int(i) for i in items[:3])
    assert qp.current == first and w.session.selected == first
    assert qp.progress.text() == "0 of 100 labeled"
    n_steps = stack.count()

    QTest.keyClick(qp, Qt.Key_2)  # class 2 is the label value 1
    assert labels(w)[first] == 1
    assert qp.current == second and w.session.selected == second  # moved on by itself
    assert qp.progress.text() == "1 of 100 labeled"
    assert stack.count() == n_steps + 1 and stack.text(stack.count() - 1).startswith("Queue:")
    assert w.labeling.paint.current_class == paint_class  # the window's "paint class 2" did not fire
    assert first not in g.candidates_panel.shown_indices  # labeled samples leave the list

    w.labeling.actions["undo"].trigger()
    assert labels(w)[first] == -1
    assert qp.current == first and qp.progress.text() == "0 of 100 labeled"
    assert first in g.candidates_panel.shown_indices  # an undone label brings the sample back
    assert "labeled since" not in g.candidates_panel.status.text()
    w.labeling.actions["redo"].trigger()
    assert labels(w)[first] == 1 and qp.current == second
    assert first not in g.candidates_panel.shown_indices

    QTest.keyClick(qp, Qt.Key_S)
    assert qp.current == third and labels(w)[second] == -1
    assert g.queue.queue.status(1) == "skipped"
    QTest.keyClick(qp, Qt.Key_Backspace)
    assert qp.current == second
    QTest.keyClick(qp, Qt.Key_Backspace)
    assert qp.current == first and "Labeled" in qp.state_label.text()
    QTest.keyClick(qp, Qt.Key_3)  # changing an answer is one more undo step
    assert labels(w)[first] == 2 and qp.progress.text() == "1 of 100 labeled"
    w.labeling.actions["undo"].trigger()
    assert labels(w)[first] == 1


def test_retraining_moves_the_rings_to_the_new_candidates_and_closes_a_round(win):
    w = win
    g = w.guided
    qp = g.queue_panel
    truth = w.session.y
    g.open_queue()
    for _ in range(6):  # label a few more with their true classes (keys 1-3)
        cur = qp.current
        QTest.keyClick(qp, getattr(Qt, f"Key_{int(truth[cur]) + 1}"))
    assert g.queue.queue.progress[0] >= 6
    before = g.controller.result
    new_labels = int(np.count_nonzero(labels(w) != before.request.labels))
    assert new_labels >= 6
    assert g.rounds.pending is not None and g.rounds.rounds == []

    # re-ranking without training changes the candidates but closes no round
    g.actions["refresh"].trigger()
    wait_until(lambda: ranking_settled(w, 1) and g.controller.result is not before)
    assert g.controller.result.request.label_version == w.session.labels.version
    assert g.rounds.rounds == []
    assert np.all(labels(w)[g.candidates_panel.shown_indices] == -1)
    # the queue asked for that ranking and continues with it
    assert np.array_equal(np.array(g.queue.queue.items), g.controller.candidates.indices)
    queued = {int(i) for i in g.queue.queue.items}

    train_epoch(w, 2)
    res = g.controller.result
    assert res.epoch == 2 and np.array_equal(res.request.codes, w.session.codes)
    ref = reference(res, 100, "margin")
    assert np.array_equal(g.candidates_panel.shown_indices, ref.indices)
    assert np.array_equal(w.latent.view.highlighted(), np.sort(ref.indices))
    assert not np.array_equal(np.sort(ref.indices), np.sort(before.candidates.indices))

    assert len(g.rounds.rounds) == 1 and g.rounds.pending is None
    rnd = g.rounds.rounds[0]
    assert (rnd.epoch_before, rnd.epoch_after) == (1, 2)
    assert rnd.new_labels == new_labels
    flips = np.flatnonzero(before.scores.predicted != res.scores.predicted)
    assert np.array_equal(rnd.comparison.flipped, flips)
    err_after = float(np.mean(res.heldout.predicted != res.heldout.truth))
    assert rnd.heldout_after == pytest.approx(err_after)
    assert rnd.heldout_before == pytest.approx(before.heldout.error)
    assert rnd.fixed is not None and rnd.broken is not None
    table = g.rounds_panel.table
    assert table.rowCount() == 1 and table.item(0, 1).text() == "1 → 2"
    assert table.item(0, 2).text() == str(new_labels)
    assert g.metrics_panel.marks == [1]
    # the queue offers the new ranking instead of jumping to it
    assert set(g.queue.queue.items) == queued
    assert g.queue.newer_ranking and "newer ranking" in qp.note.text()
    g.queue.refresh()
    wait_until(lambda: ranking_settled(w, 2) and not g.queue.waiting)
    assert np.array_equal(np.array(g.queue.queue.items), g.controller.candidates.indices)


def test_metrics_show_heldout_error_histogram_and_calibration(win):
    w = win
    g = w.guided
    mp = g.metrics_panel
    res = g.controller.result
    n = w.session.n_samples
    assert len(res.scores) == n
    counts = mp.histogram_counts
    assert counts.sum() == n  # every scored sample is in the histogram
    assert len(counts) == len(res.histogram.edges) - 1 == 20
    assert np.isfinite(mp.ece) and 0.0 <= mp.ece <= 1.0
    h = res.heldout
    assert h.source == "test" and h.n == len(w.session.dataset.test_idx)
    conf = h.confidence[np.arange(h.n), np.searchsorted(h.classes, h.predicted)]
    assert mp.ece == pytest.approx(reliability_diagram(conf, h.predicted == h.truth, 10).ece)
    epochs, errors = mp.error_points()
    assert list(epochs) == [1.0, 2.0] and np.all((errors >= 0) & (errors <= 1))
    assert errors[-1] == pytest.approx(h.error)
    assert "held-out error" in mp.summary.text() and "ECE" in mp.summary.text()
    mp.kind_combo.setCurrentIndex(mp.kind_combo.findData("per_class"))
    assert np.isfinite(mp.ece) and mp.reliability.n == h.n * len(h.classes)
    mp.kind_combo.setCurrentIndex(mp.kind_combo.findData("top_label"))


def test_screenshot_of_the_candidates_and_the_queue(artifacts_dir, win):
    w = win
    g = w.guided
    w.resize(1400, 880)
    g.show_candidates()
    g.open_queue()
    g.docks["metrics"].raise_()
    pause(300)
    assert g.docks["candidates"].isVisible() and g.docks["queue"].isVisible()
    assert qp_has_image(g.queue_panel)
    path = artifacts_dir / "guided_labeling_window.png"
    assert w.grab().save(str(path))
    img = QImage(str(path))
    assert img.width() >= 1000 and img.height() >= 600


def test_metrics_plots_behind_another_tab_wait_and_draw_when_it_comes_to_the_front(win):
    w = win
    g = w.guided
    mp = g.metrics_panel
    click_tab(w, "Metrics")
    drawn = lambda: len(mp.error_curve.getData()[0] if mp.error_curve.getData()[0] is not None else [])  # noqa: E731
    wait_until(lambda: drawn() == len(mp.error_points()[0]) == 2, timeout=10)
    click_tab(w, "Loss")
    wait_until(lambda: mp.visibleRegion().isEmpty(), timeout=5)  # Qt keeps it visible, with nothing in sight
    train_epoch(w, 3)
    assert len(mp.error_points()[0]) == 3 and "epoch 3" in mp.summary.text()
    assert drawn() == 2  # nobody looks: not drawn
    click_tab(w, "Metrics")
    wait_until(lambda: drawn() == 3, timeout=10)
    x, y = mp.error_curve.getData()
    assert y[-1] == pytest.approx(100.0 * mp.error_points()[1][-1])


def qp_has_image(panel) -> bool:
    return panel.image.has_image()


# -- the worker's functions, without a window ---------------------------------------------------------
def _clusters(n=300, k=3, seed=0, spread=0.6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    codes = (np.eye(k, 4)[y] * 4.0 + spread * rng.normal(size=(n, 4))).astype(np.float32)
    return codes, y


def test_cross_validation_predicts_each_label_once_without_it():
    codes, y = _clusters()
    labels = np.full(len(y), -1)
    labels[::3] = y[::3]
    h = heldout_cv(codes, labels)
    L = np.flatnonzero(labels >= 0)
    assert h.source == "cv" and h.folds == 5
    assert np.array_equal(np.sort(h.index), L) and np.array_equal(h.truth, labels[h.index])
    assert h.error == 0.0  # well separated
    # a label that contradicts its cluster is predicted from the others, so it counts as wrong
    odd = int(L[0])
    labels[odd] = (y[odd] + 1) % 3
    h = heldout_cv(codes, labels)
    assert h.predicted[h.index == odd][0] == y[odd]
    assert h.error == pytest.approx(1 / len(L))
    assert heldout_cv(codes, np.where(y == 0, 0, -1)) is None  # one class: nothing to hold out


def _result(codes, y, labels, version, epoch):
    res = compute_epoch_result(codes, labels, 3, epoch=epoch, label_version=version)
    req = GuidedRequest(seq=epoch, epoch_result=res, labels=res.labels, label_version=version,
                        class_names=("a", "b", "c"), class_colors=("#E69F00", "#56B4E9", "#009E73"),
                        k=10, strategy="margin", seed=0, kind="vector",
                        X=np.ascontiguousarray(codes, np.float32))
    return score_job(req)


def test_a_round_closes_only_after_a_full_epoch_with_the_new_labels():
    codes, y = _clusters(spread=1.4)
    labels = np.full(len(y), -1)
    labels[:30] = y[:30]
    t = RoundTracker()
    assert t.add(_result(codes, y, labels, 1, epoch=3)) is None and t.base.request.epoch == 3
    labels[30:60] = y[30:60]
    t.labels_changed(version=2, completed_epochs=3, training=True)  # epoch 4 began with the old labels
    assert t.add(_result(codes, y, labels, 2, epoch=3)) is None  # re-ranked, not retrained
    assert t.add(_result(codes, y, labels, 2, epoch=4)) is None
    shifted = codes + np.float32(0.8) * np.eye(3, 4, dtype=np.float32)[(y + 1) % 3]
    after = _result(shifted, y, labels, 2, epoch=5)
    rnd = t.add(after)
    assert rnd is not None and (rnd.epoch_before, rnd.epoch_after) == (3, 5) and rnd.new_labels == 30
    assert rnd.heldout_source.startswith("5-fold") and rnd.heldout_after == pytest.approx(after.heldout.error)
    assert t.pending is None and t.rounds == [rnd]
    # idle: the next epoch is the first with the new labels
    labels[60:70] = y[60:70]
    t.labels_changed(version=3, completed_epochs=5, training=False)
    assert t.pending.need_epoch == 6
    assert len(t.rounds) == 1 and t.add(_result(codes, y, labels, 3, epoch=6)) is not None
    # a model trained afresh starts over
    assert t.add(_result(codes, y, labels, 3, epoch=1)) is None and t.rounds == []
