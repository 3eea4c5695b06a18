"""The main window end to end, under Xvfb: digits demo, training, selection, export, errors."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent, QImage, QKeySequence  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def settings_path(tmp_path):
    return tmp_path / "settings.ini"


@pytest.fixture
def window(make_window, qtbot, settings_path):
    w = make_window(settings_path, epochs=2, batch_size=64)
    yield w
    w.close()


def train_and_wait(qtbot, w, epochs=None, timeout=120000):
    with qtbot.waitSignal(w.controller.finished, timeout=timeout):
        w.train(epochs)
    qtbot.waitUntil(lambda: w.session.classifier is not None and not w.latent.dirty, timeout=30000)


def wait_frames(qtbot, w, n=1, timeout=60000):
    start = w.frames_rendered
    qtbot.waitUntil(lambda: w.frames_rendered >= start + n, timeout=timeout)


def error_boxes(w):
    return [b for b in w.findChildren(QMessageBox) if b.objectName() == "errorBox" and b.isVisible()]


# -- opening ---------------------------------------------------------------------------------------------
def test_first_start_opens_the_digits_demo_with_a_tenth_of_the_labels(window):
    w = window
    s = w.session
    assert s.dataset.source["loader"] == "digits" and s.dataset.n_classes == 3
    assert "digits" in w.windowTitle()
    fraction = float((s.labels.labels >= 0).mean())
    assert 0.09 < fraction < 0.11
    assert w.settings_panel.dataset_combo.currentData() == "digits"
    assert w.settings_panel.distances.rowCount() == 3
    assert set(w.docks) == {"settings", "training", "inspector", "loss"}
    shortcuts = {k: w.actions[k].shortcut() for k in ("open", "save", "train", "stop", "reset",
                                                      "export_image", "about")}
    assert shortcuts["open"] == QKeySequence("Ctrl+O")
    assert shortcuts["save"] == QKeySequence("Ctrl+S")
    assert shortcuts["train"] == QKeySequence("Space")
    assert shortcuts["stop"] == QKeySequence("Esc")
    assert shortcuts["reset"] == QKeySequence("Ctrl+R")
    assert shortcuts["export_image"] == QKeySequence("Ctrl+E")
    assert shortcuts["about"] == QKeySequence("F1")


def test_about_names_the_method_and_its_paper(window, qtbot):
    window.actions["about"].trigger()
    box = window._about_box
    qtbot.waitUntil(box.isVisible, timeout=5000)
    text = box.text()
    assert "Structuring Autoencoder" in text and "Rudolph" in text and "ICCV Workshops 2019" in text
    box.close()


# -- training ---------------------------------------------------------------------------------------------
def test_training_two_epochs_moves_the_points_and_draws_the_structure(window, qtbot):
    w = window
    # before training the view shows the untrained network's codes (see first_view)
    qtbot.waitUntil(lambda: w.latent.coords is not None, timeout=60000)
    w.train()
    qtbot.waitUntil(lambda: w.latent.coords is not None, timeout=60000)
    first = w.latent.view.points()
    with qtbot.waitSignal(w.controller.finished, timeout=120000):
        pass
    qtbot.waitUntil(lambda: w.session.classifier is not None and not w.latent.dirty, timeout=30000)
    last = w.latent.view.points()
    assert w.session.epoch == 2
    assert last.shape == (w.session.n_samples, 2)
    assert not np.allclose(first, last)
    # anchors of the three classes and their stress are shown with the plot
    assert w.latent._frame.anchors.shape == (3, 2) and np.isfinite(w.latent._frame.anchors).all()
    assert "stress" in w.latent.stats.text() and "structural" in w.latent.stats.text()
    x, y = w.loss_plot.epoch_points()
    assert list(x) == [1.0, 2.0]
    assert w.loss_plot.n_batch_points == 2 * int(np.ceil(w.session.n_samples / 64))
    assert w.actions["train"].text() == "&Train"
    assert w.controller.thread is None


def test_pause_stops_updates_and_resume_continues(artifacts_dir, window, qtbot):
    w = window
    w.train(200)
    w.session.select(25)
    qtbot.waitUntil(lambda: w.session.epoch >= 3, timeout=120000)
    wait_frames(qtbot, w, 2)
    qtbot.waitUntil(lambda: w.inspector.has_reconstruction, timeout=10000)
    shot = artifacts_dir / "main_window_training.png"
    assert w.grab().save(str(shot))  # a look at the window while it trains
    w.actions["train"].trigger()  # Space: pause
    assert w.controller.state == "paused"
    assert w.actions["train"].text() == "&Resume"
    qtbot.wait(500)  # the batch in flight may still arrive
    w.training_flow._tick()
    snap = w.session.snapshot
    frames = w.frames_rendered
    qtbot.wait(800)
    assert w.session.snapshot is snap
    assert w.frames_rendered == frames
    w.actions["train"].trigger()  # Space: resume
    assert w.controller.state == "running"
    qtbot.waitUntil(lambda: w.session.snapshot is not snap, timeout=30000)
    w.actions["stop"].trigger()


def test_stop_ends_the_worker_cleanly(window, qtbot):
    w = window
    w.train(10000)
    wait_frames(qtbot, w, 1)
    thread = w.controller.thread
    w.actions["stop"].trigger()  # Esc
    assert thread.isFinished()
    assert not w.controller.is_running and w.controller.thread is None
    assert w.session.trainer is not None and w.session.model is not None
    assert not w.session.training
    assert w.actions["train"].isEnabled() and not w.actions["stop"].isEnabled()
    # training continues from where it stopped
    epochs = w.session.epoch
    train_and_wait(qtbot, w, 1)
    assert w.session.epoch == epochs + 1


def test_gamma_changed_while_training_applies_at_the_next_epoch(window, qtbot):
    w = window
    with qtbot.waitSignal(w.controller.finished, timeout=120000):
        w.train(3)
        w.settings_panel.gamma.setValue(0.8)
    assert w.session.train_config.gamma == 0.8
    assert w.session.history[-1]["gamma"] == 0.8


def test_closing_the_window_while_training_stops_the_worker(make_window, qtbot, settings_path):
    w = make_window(settings_path, epochs=2, batch_size=64)
    w.train(10000)
    wait_frames(qtbot, w, 1)
    thread = w.controller.thread
    w.close()
    assert thread.isFinished()
    assert w.controller.thread is None


# -- selection and projection ------------------------------------------------------------------------------
def test_clicking_a_point_selects_it_and_the_inspector_shows_it(window, qtbot):
    w = window
    train_and_wait(qtbot, w, 1)
    view = w.latent.view
    screen = view.screen_positions()
    centre = np.nanmedian(screen, axis=0)
    d = np.linalg.norm(screen - centre, axis=1)
    # a point near the middle whose neighbours are clearly farther from it than the click
    others = np.linalg.norm(screen[:, None, :] - screen[None, :, :], axis=2)
    np.fill_diagonal(others, np.inf)
    isolated = np.flatnonzero(others.min(axis=1) > 3)
    assert len(isolated)
    i = int(isolated[np.argmin(d[isolated])])
    x, y = screen[i]
    qtbot.mouseClick(view.active_view(), Qt.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    assert w.session.selected == i
    assert view.selected() == i
    index = w.session.dataset_index(i)
    assert w.inspector.index_label.text().startswith(str(index))
    assert w.inspector.sample_pane.has_image()
    qtbot.waitUntil(lambda: w.inspector.has_reconstruction, timeout=10000)
    assert w.inspector.recon_pane.has_image()
    assert w.inspector.pred_label.text() != "–"


def test_find_sample_by_index(window, qtbot):
    w = window
    ds = w.session.dataset
    index = int(ds.train_idx[40])
    w.inspector.find_box.setValue(index)
    w.inspector.find_button.click()
    assert w.session.selected == 40
    test_index = int(ds.test_idx[0])
    w.inspector.find_box.setValue(test_index)
    w.inspector.find_button.click()
    assert w.session.selected == 40
    assert "test split" in w.inspector.message.text()


def test_switching_projection_keeps_the_selection(window, qtbot):
    w = window
    train_and_wait(qtbot, w, 1)
    w.session.select(123)
    pca = w.latent.view.points()
    for method in ("lda", "axes", "pca"):
        w.latent.set_method(method)
        qtbot.waitUntil(lambda: not w.latent.dirty, timeout=10000)
        assert w.latent.view.selected() == 123
        assert w.session.selected == 123
        if method == "lda":
            assert not np.allclose(w.latent.view.points(), pca)
            assert w.projection_actions["lda"].isChecked()


def test_colour_modes_use_the_classifier(window, qtbot):
    w = window
    train_and_wait(qtbot, w, 1)
    for mode in ("prediction", "confidence", "wrong", "recon", "label"):
        w.latent.set_color_mode(mode)
        qtbot.waitUntil(lambda: not w.latent.dirty, timeout=10000)
    w.latent.set_color_mode("recon")
    qtbot.waitUntil(lambda: w.session.recon_errors is not None, timeout=30000)
    assert w.session.recon_errors.shape == (w.session.n_samples,)
    assert np.all(w.session.recon_errors >= 0)


# -- export, save, load ---------------------------------------------------------------------------------------
def test_exports_write_files_that_load_back(window, qtbot, tmp_path):
    w = window
    train_and_wait(qtbot, w, 1)
    png = w.export_image(tmp_path / "plot.png")
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 100
    svg = w.export_image(tmp_path / "plot.svg")
    assert ET.parse(svg).getroot().tag.endswith("svg")
    npz = w.export_codes(tmp_path / "codes.npz")
    with np.load(npz) as f:
        assert np.allclose(f["codes"], w.session.codes)
        assert np.allclose(f["projection"], w.latent.coords)
        assert np.array_equal(f["label"], w.session.labels.labels)
        assert np.array_equal(f["index"], w.session.dataset.train_idx)
        assert np.array_equal(f["prediction"], w.session.classifier.predicted)
    csv = w.export_codes(tmp_path / "codes.csv")
    header = csv.read_text().splitlines()[0].split(",")
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert table.shape == (w.session.n_samples, len(header))
    assert np.allclose(table[:, header.index("codes_0")], w.session.codes[:, 0], atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_save_reset_and_load_model(window, qtbot, tmp_path):
    w = window
    train_and_wait(qtbot, w, 1)
    codes = np.array(w.session.codes)
    path = w.save_model(tmp_path / "model.safetensors")
    assert path.exists()
    w.actions["reset"].trigger()
    assert w.session.model is None and w.session.codes is None and w.session.epoch == 0
    w.load_model(path)
    qtbot.waitUntil(lambda: w.session.codes is not None, timeout=30000)
    assert w.session.epoch == 1
    assert np.allclose(w.session.codes, codes, atol=1e-4)
    qtbot.waitUntil(lambda: w.session.classifier is not None, timeout=30000)
    train_and_wait(qtbot, w, 1)  # training continues from the loaded weights
    assert w.session.epoch == 2


def test_dropping_a_dataset_file_opens_it(window, qtbot, tmp_path):
    w = window
    rng = np.random.default_rng(0)
    path = tmp_path / "blobs.npz"
    y = rng.integers(0, 2, 120)
    np.savez(path, X=rng.normal(size=(120, 12)) + y[:, None], y=y, class_names=np.array(["left", "right"]))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    w.dropEvent(event)
    qtbot.waitUntil(lambda: w.session.dataset is not None and w.session.dataset.kind == "vector", timeout=30000)
    assert w.session.labels.class_names == ("left", "right")
    assert w.settings_panel.dataset_combo.currentText() == w.session.dataset.name


# -- errors ----------------------------------------------------------------------------------------------------
def test_a_worker_error_shows_a_message_and_the_app_stays_usable(window, qtbot, monkeypatch):
    w = window
    bad = np.array(w.session.X, copy=True)
    bad[7] = np.nan
    good = w.session._X
    monkeypatch.setattr(w.session, "_X", bad)
    with qtbot.waitSignal(w.controller.finished, timeout=30000):
        w.train(1)
    qtbot.waitUntil(lambda: bool(error_boxes(w)), timeout=5000)
    box = error_boxes(w)[0]
    assert "NaN" in box.text()
    assert "NaN" in w.statusBar().currentMessage()
    box.close()
    assert not w.controller.is_running and w.actions["train"].isEnabled()
    monkeypatch.setattr(w.session, "_X", good)
    train_and_wait(qtbot, w, 1)
    assert w.session.epoch == 1


def test_opening_a_missing_file_reports_it(window, qtbot, tmp_path):
    window.open_path(tmp_path / "nothing.npz")
    qtbot.waitUntil(lambda: bool(error_boxes(window)), timeout=5000)
    assert "nothing.npz" in error_boxes(window)[0].text()
    error_boxes(window)[0].close()


# -- settings --------------------------------------------------------------------------------------------------
def test_layout_and_settings_are_remembered(make_window, qtbot, settings_path):
    w = make_window(settings_path, epochs=2, batch_size=64)
    w.docks["loss"].hide()
    w.latent.set_method("lda")
    w.settings_panel.latent.setValue(5)
    w.close()
    again = make_window(settings_path, epochs=2, batch_size=64)
    try:
        assert not again.docks["loss"].isVisible()
        assert again.latent.method == "lda"
        assert again.session.model_config.latent_dim == 5
        again.reset_layout()
        assert again.docks["loss"].isVisible()
    finally:
        again.close()


def test_window_state_goes_to_the_given_settings(window, settings_path):
    window.close()
    stored = QSettings(str(settings_path), QSettings.IniFormat)
    assert not stored.value("window/state").isEmpty()
    assert stored.value("session/dataset") == "digits"


def _open_blobs(w, qtbot, tmp_path, n=150):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, n)
    path = tmp_path / "blobs3.npz"
    np.savez(path, X=rng.normal(size=(n, 10)) + 2.0 * y[:, None], y=y)
    w.open_path(path)
    qtbot.waitUntil(lambda: w.session.dataset is not None and w.session.dataset.kind == "vector", timeout=30000)


def test_tsne_runs_off_the_ui_thread_and_keeps_the_selection(window, qtbot, tmp_path):
    w = window
    _open_blobs(w, qtbot, tmp_path)
    train_and_wait(qtbot, w, 1)
    w.session.select(10)
    pca = w.latent.view.points()
    w.latent.set_method("tsne")
    qtbot.waitUntil(lambda: not w.runner.busy("projection") and w.latent.coords is not None
                    and not np.allclose(w.latent.view.points(), pca), timeout=120000)
    assert w.latent.view.points().shape == (w.session.n_samples, 2)
    assert w.latent.view.selected() == 10
    assert "linear projections only" in w.latent.note.text()
    w.latent.set_method("pca")
    qtbot.waitUntil(lambda: not w.latent.dirty, timeout=10000)
    assert w.latent._frame.anchors is not None


def test_three_dimensional_view_and_target_lines(window, qtbot, tmp_path):
    w = window
    _open_blobs(w, qtbot, tmp_path)
    train_and_wait(qtbot, w, 1)
    w.latent.lines_check.setChecked(True)
    w.actions["view3d"].trigger()
    qtbot.waitUntil(lambda: not w.latent.dirty, timeout=10000)
    if w.latent.dims != 3:
        pytest.skip("no OpenGL: " + w.statusBar().currentMessage())
    assert w.latent.view.dimensions() == 3
    assert w.latent.view.points().shape == (w.session.n_samples, 3)
    n_labeled = int((w.session.labels.labels >= 0).sum())
    assert w.latent._frame.line_src.shape == (n_labeled, 3)
    assert w.latent._frame.line_dst.shape == (n_labeled, 3)
    w.session.select(3)
    assert w.latent.view.selected() == 3
    png = w.export_image(tmp_path / "view3d.png")
    assert not QImage(str(png)).isNull()
