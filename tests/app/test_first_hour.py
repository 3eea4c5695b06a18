"""What a new user does in the first hour, through the menus, buttons and dialogs they use:
saving and reopening a project, adding a class, not losing a trained model, loading a model
onto the open dataset, reading the training progress. Dialogs are real and answered by a
timer (``modal_answers``)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from modal_answers import ModalAnswers, choose_file, press  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from saeviz.app.common.wording import counted  # noqa: E402
from saeviz.app.window.documents import Documents  # noqa: E402
from saeviz.core.io.checkpoint import load_checkpoint  # noqa: E402
from saeviz.core.io.project import MANIFEST  # noqa: E402
from saeviz.core.method.config import ModelConfig, TrainConfig  # noqa: E402
from saeviz.core.state.session import Session, SessionDefaults  # noqa: E402

pytestmark = pytest.mark.gui

SMALL = ModelConfig(hidden=(64,), latent_dim=6)
REAL_ASK_UNSAVED_MODEL = Documents.ask_unsaved_model  # before the fixtures answer it


@pytest.fixture
def real_model_question(monkeypatch):
    monkeypatch.setattr(Documents, "ask_unsaved_model", REAL_ASK_UNSAVED_MODEL)


@pytest.fixture
def win(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "settings.ini")
    yield w
    w.close()


def train_epochs(qtbot, w, total):
    """Press Train until the model has ``total`` epochs (the window trains one per press)."""
    while w.session.epoch < total:
        with qtbot.waitSignal(w.controller.finished, timeout=120000):
            w.actions["train"].trigger()
    qtbot.waitUntil(lambda: w.session.classifier is not None and not w.latent.dirty, timeout=30000)


def trigger(qtbot, action, *handlers, timeout=30000):
    """Trigger ``action`` and answer the modal dialogs it opens, in order."""
    with ModalAnswers(*handlers) as answers:
        action.trigger()
        qtbot.waitUntil(lambda: answers.done, timeout=timeout)
    assert not answers.errors, answers.errors
    return answers


def blobs(path: Path, n=150, features=12, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    np.savez(path, X=(rng.normal(size=(n, features)) + 3 * y[:, None]).astype(np.float32), y=y,
             class_names=np.array(["left", "right"]))
    return path


def labels(w):
    return np.array(w.session.labels.labels)


# -- 1 and 5: saving a project from the menu, and reopening it ----------------------------------
def test_save_project_from_the_menu_saves_again_saves_as_and_reopens_with_exports(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "a.ini")
    ctl = w.labeling
    try:
        train_epochs(qtbot, w, 1)
        first = tmp_path / "first project"
        answers = trigger(qtbot, ctl.actions["save_project"], choose_file(first))  # no folder yet: asks
        assert answers.seen[0][0] == "QFileDialog"
        assert (first / MANIFEST).is_file()
        assert not w.isWindowModified() and "first project" in w.windowTitle()

        ctl.label(np.arange(10, 40), 1)
        assert w.isWindowModified()
        ctl.actions["save_project"].trigger()  # the project has a folder now: saves there, no dialog
        assert not w.isWindowModified(), w.last_error

        second = tmp_path / "second project"
        trigger(qtbot, ctl.actions["save_project_as"], choose_file(second))
        assert (second / MANIFEST).is_file() and "second project" in w.windowTitle()
        ctl.label(np.arange(50, 60), 2)
        assert w.isWindowModified()
        ctl.actions["save_project"].trigger()  # into the second folder
        assert not w.isWindowModified(), w.last_error
        saved = labels(w)
        state = {k: v.clone() for k, v in w.session.model.state_dict().items()}
    finally:
        w.close()

    w2 = make_window(tmp_path / "b.ini")
    try:
        assert not w2.actions["export_codes"].isEnabled()  # nothing trained in the new window
        trigger(qtbot, w2.labeling.actions["open_project"], choose_file(second))
        qtbot.waitUntil(lambda: w2.labeling.project.folder is not None and w2.session.codes is not None,
                        timeout=60000)
        assert np.array_equal(labels(w2), saved)
        new_state = w2.session.model.state_dict()
        assert all(np.array_equal(new_state[k].numpy(), state[k].numpy()) for k in state)
        # the codes are shown, so they can be exported; the ground truth can be revealed
        assert w2.actions["export_codes"].isEnabled()
        assert w2.labeling.actions["reveal"].isEnabled()
        out = tmp_path / "codes.csv"
        trigger(qtbot, w2.actions["export_codes"], choose_file(out))
        table = np.loadtxt(out, delimiter=",", skiprows=1)
        assert table.shape[0] == w2.session.n_samples
    finally:
        w2.close()


# -- 2: the Classes panel's Add button -------------------------------------------------------------
def test_the_add_button_adds_a_class_with_a_proper_name(win, qtbot):
    ctl = win.labeling
    ctl.docks["classes"].raise_()
    before = win.session.labels.class_names
    qtbot.mouseClick(ctl.class_manager.add_button, Qt.LeftButton)
    names = win.session.labels.class_names
    assert len(names) == len(before) + 1
    assert names[-1] == f"class {len(before) + 1}" and "False" not in names
    assert ctl.paint.current_class == len(names) - 1  # ready to paint with the new class


# -- 6: a trained model that is not saved is not lost without asking ----------------------------------
def test_load_model_asks_about_the_unsaved_model_and_cancel_keeps_it(win, qtbot, tmp_path, real_model_question):
    w = win
    train_epochs(qtbot, w, 1)
    path = tmp_path / "one epoch.safetensors"
    trigger(qtbot, w.actions["save"], choose_file(path))
    assert path.is_file() and not w.model_unsaved
    trigger(qtbot, w.actions["load"], choose_file(path))  # saved: no question
    qtbot.waitUntil(lambda: w.session.codes is not None and w.session.epoch == 1, timeout=30000)

    train_epochs(qtbot, w, 2)
    model = w.session.model
    answers = trigger(qtbot, w.actions["load"], choose_file(path), press(QMessageBox.Cancel))
    assert answers.seen[1][1] == "Unsaved model" and "2 epochs" in answers.seen[1][2]
    qtbot.wait(300)
    assert w.session.model is model and w.session.epoch == 2

    trigger(qtbot, w.actions["load"], choose_file(path), press(QMessageBox.Discard))
    qtbot.waitUntil(lambda: w.session.epoch == 1 and w.session.codes is not None, timeout=30000)
    assert w.session.model is not model


def test_open_dataset_asks_and_save_writes_the_model_first(win, qtbot, tmp_path, real_model_question):
    w = win
    data = blobs(tmp_path / "blobs.npz")
    train_epochs(qtbot, w, 1)
    model = w.session.model
    trigger(qtbot, w.actions["open"], choose_file(data), press(QMessageBox.Cancel))
    qtbot.wait(300)
    assert w.session.dataset.source["loader"] == "digits" and w.session.model is model
    assert w.settings_panel.dataset_combo.currentData() == "digits"

    out = tmp_path / "kept.safetensors"
    answers = trigger(qtbot, w.actions["open"], choose_file(data), press(QMessageBox.Save), choose_file(out))
    assert [s[0] for s in answers.seen] == ["QFileDialog", "QMessageBox", "QFileDialog"]
    qtbot.waitUntil(lambda: w.session.dataset.n_samples == 150, timeout=30000)
    ckpt = load_checkpoint(out)
    assert len(ckpt.history) == 1 and ckpt.dataset_source["loader"] == "digits"


def test_quitting_asks_and_cancel_keeps_the_training_running(make_window, qtbot, tmp_path, real_model_question):
    w = make_window(tmp_path / "q.ini", epochs=500)
    try:
        w.actions["train"].trigger()
        qtbot.waitUntil(lambda: w.session.epoch >= 1, timeout=120000)
        asked = []  # what the window showed while the question was open

        def look_then_cancel(box):
            asked.append((w.controller.state, w.session.epoch))
            qtbot.wait(600)  # the user reads the question: the training holds meanwhile
            asked.append((w.controller.state, w.session.epoch))
            press(QMessageBox.Cancel)(box)
        answers = trigger(qtbot, w.actions["quit"], look_then_cancel)
        assert answers.seen[0][1] == "Unsaved model"
        assert asked[0][0] == asked[1][0] == "paused" and asked[1][1] <= asked[0][1] + 1  # the batch in flight
        assert counted(asked[1][1], "epoch") in answers.seen[0][2] or counted(asked[0][1], "epoch") in answers.seen[0][2]
        assert w.isVisible() and w.controller.is_running and w.controller.state == "running"
        epoch = w.session.epoch
        qtbot.waitUntil(lambda: w.session.epoch > epoch, timeout=120000)  # still training

        trigger(qtbot, w.actions["quit"], press(QMessageBox.Discard))
        qtbot.waitUntil(lambda: not w.isVisible(), timeout=30000)
        assert not w.controller.is_running
    finally:
        w.close()


# -- 7: loading a model onto the open dataset -----------------------------------------------------------
def _checkpoint(dataset_path: Path, out: Path) -> Path:
    from saeviz.core.data.registry import load_dataset
    from saeviz.core.method.training import Trainer
    from saeviz.core.state.session import frozen_model

    s = Session(SessionDefaults(label_fraction=0.5, model=SMALL, train=TrainConfig(epochs=2, batch_size=32)))
    s.set_dataset(load_dataset(str(dataset_path)))
    trainer = Trainer(s.X, SMALL, s.train_config, supervision=s.labels)
    trainer.fit()
    s.accept_trainer(trainer)
    s.accept_model(frozen_model(trainer.model), SMALL)
    return s.save_model(out)


def test_a_model_whose_sample_shape_fits_is_applied_to_the_open_dataset(win, qtbot, tmp_path):
    w = win
    model = _checkpoint(blobs(tmp_path / "a.npz", n=120, seed=1), tmp_path / "a-model.safetensors")
    other = blobs(tmp_path / "b.npz", n=90, seed=2)
    trigger(qtbot, w.actions["open"], choose_file(other))
    qtbot.waitUntil(lambda: w.session.dataset.n_samples == 90, timeout=30000)
    before = labels(w)
    answers = trigger(qtbot, w.actions["load"], choose_file(model))
    assert len(answers.seen) == 1  # only the file dialog: no question
    qtbot.waitUntil(lambda: w.session.epoch == 2 and w.session.snapshot is None and w.session.codes is not None
                    and w.actions["export_codes"].isEnabled(), timeout=30000)
    s = w.session
    assert s.dataset.name == "b" and s.dataset.n_samples == 90 and s.codes.shape == (s.n_samples, 6)
    assert s.epoch == 2 and np.array_equal(labels(w), before)  # the open dataset keeps its labels
    assert w.actions["export_codes"].isEnabled()


def test_a_model_for_other_samples_asks_before_opening_its_dataset(win, qtbot, tmp_path):
    w = win
    model = _checkpoint(blobs(tmp_path / "a.npz", n=120, seed=1), tmp_path / "a-model.safetensors")
    answers = trigger(qtbot, w.actions["load"], choose_file(model), press(QMessageBox.Cancel))
    assert answers.seen[1][1] == "Load model" and "8×8" in answers.seen[1][2] and "12" in answers.seen[1][2]
    qtbot.wait(300)
    assert w.session.dataset.source["loader"] == "digits" and w.session.model is None

    trigger(qtbot, w.actions["load"], choose_file(model), press("Open the model's dataset"))
    qtbot.waitUntil(lambda: w.session.dataset.n_samples == 120 and w.session.codes is not None, timeout=30000)
    assert w.session.epoch == 2


# -- 12: progress of the run and of the model -------------------------------------------------------------
def test_progress_counts_the_run_and_the_status_bar_every_epoch(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "p.ini", epochs=1)
    try:
        train_epochs(qtbot, w, 1)
        assert w.status_epoch.text() == "1 epoch total"
        w.train(400)
        pattern = re.compile(r"run: (\d+) / 400 epochs")

        def shown():
            run = pattern.search(w.controls.progress.format())
            total = re.match(r"epoch (\d+) total \(batch", w.status_epoch.text())
            return run is not None and total is not None and int(run.group(1)) >= 2

        qtbot.waitUntil(shown, timeout=120000)
        run = int(pattern.search(w.controls.progress.format()).group(1))
        total = int(re.match(r"epoch (\d+) total", w.status_epoch.text()).group(1))
        assert total == run + 1  # the epoch trained before this run counts in the total only
        w.actions["stop"].trigger()
        qtbot.waitUntil(lambda: not w.controller.is_running, timeout=60000)
        qtbot.waitUntil(lambda: w.status_epoch.text() == f"{w.session.epoch} epochs total", timeout=10000)
    finally:
        w.close()


def test_a_loaded_model_with_its_labels_shows_the_share_they_cover(win, qtbot, tmp_path):
    """The digits demo reveals 10%; a model trained on 2% of the same samples brings its
    labels along, and "Labels revealed" then says 2%, not the last reveal's 10%."""
    from saeviz.cli import main

    w = win
    assert w.settings_panel.fraction.value() == pytest.approx(10.0)
    path = tmp_path / "two percent.safetensors"
    assert main(["train", "--dataset", "digits", "--labeled", "0.02", "--epochs", "1", "--hidden", "32",
                 "--latent", "4", "--quiet", "--out", str(path)]) == 0
    trigger(qtbot, w.actions["load"], choose_file(path))
    qtbot.waitUntil(lambda: w.session.epoch == 1 and w.session.codes is not None, timeout=30000)
    share = 100.0 * np.mean(labels(w) >= 0)
    assert share < 3 and w.settings_panel.fraction.value() == pytest.approx(share, abs=0.05)
