"""The training thread, the background task runner and the Qt-free session they serve."""
from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QThread  # noqa: E402

from saeviz.app.common.tasks import TaskRunner  # noqa: E402
from saeviz.app.training.worker import (  # noqa: E402
    IDLE,
    PAUSED,
    RUNNING,
    TrainingController,
    TrainingRequest,
    TrainingWorker,
)
from saeviz.core.data.digits import load_digits  # noqa: E402
from saeviz.core.display.projection import project_linear  # noqa: E402
from saeviz.core.method.config import ModelConfig, TrainConfig  # noqa: E402
from saeviz.core.state.session import (  # noqa: E402
    Session,
    SessionDefaults,
    export_table,
    live_snapshot_every,
)

pytestmark = pytest.mark.gui

SMALL = ModelConfig(hidden=(32,), latent_dim=4)


@pytest.fixture(scope="module")
def digits():
    return load_digits("abc")


@pytest.fixture
def session(digits):
    s = Session(SessionDefaults(model=SMALL, train=TrainConfig(epochs=2, batch_size=128, lr=2e-3)))
    s.set_dataset(digits, spec="digits")
    return s


def request(session, epochs, X=None, **train):
    cfg = session.run_config().replace(**train)
    return TrainingRequest(X=session.X if X is None else X, model_config=session.model_config,
                           train_config=cfg, labels=session.labels, epochs=epochs)


@pytest.fixture
def controller(qtbot):
    c = TrainingController()
    yield c
    c.stop(wait=True)


def wait_for_snapshot(qtbot, controller, timeout=60000):
    box = []

    def got():
        snap = controller.take_latest()
        if snap is not None:
            box.append(snap)
        return bool(box)

    qtbot.waitUntil(got, timeout=timeout)
    return box[0]


# -- task runner ------------------------------------------------------------------------------------
def test_results_come_back_on_the_ui_thread(qtbot):
    runner = TaskRunner(max_threads=2)
    main = threading.get_ident()
    got = []
    runner.submit("k", lambda x: (2 * x, threading.get_ident()), 21,
                  on_result=lambda r: got.append((r, threading.get_ident())))
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    (value, worker_thread), callback_thread = got[0]
    assert value == 42
    assert worker_thread != main
    assert callback_thread == main
    runner.shutdown()


def test_a_newer_submission_replaces_a_queued_one(qtbot):
    runner = TaskRunner(max_threads=2)
    gate = threading.Event()
    got = []
    runner.submit("k", lambda: gate.wait(5) and "first", on_result=got.append)
    runner.submit("k", lambda: "second", on_result=got.append)
    runner.submit("k", lambda: "third", on_result=got.append)
    assert runner.busy("k")
    gate.set()
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    qtbot.wait(50)
    assert got == ["first", "third"]
    assert not runner.busy()
    runner.shutdown()


def test_invalidated_and_superseded_results_are_dropped(qtbot):
    runner = TaskRunner(max_threads=2)
    gate = threading.Event()
    got = []
    runner.submit("a", lambda: gate.wait(5) and "stale", on_result=got.append)
    runner.invalidate("a")
    runner.submit("b", lambda: gate.wait(5) and "old", on_result=got.append, latest_only=True)
    runner.submit("b", lambda: "new", on_result=got.append, latest_only=True)
    gate.set()
    qtbot.waitUntil(lambda: "new" in got, timeout=5000)
    assert runner.wait(5000)
    qtbot.wait(50)
    assert got == ["new"]
    runner.shutdown()


def test_errors_reach_the_error_callback(qtbot):
    runner = TaskRunner()
    errors = []

    def boom():
        raise ValueError("bad input")

    runner.submit("k", boom, on_result=lambda r: errors.append("no error?"), on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], ValueError) and "bad input" in str(errors[0])
    runner.shutdown()


# -- mailbox ----------------------------------------------------------------------------------------------
def test_the_mailbox_keeps_only_the_newest_snapshot_and_notifies_once(qtbot, session):
    worker = TrainingWorker(request(session, 1))
    with qtbot.waitSignal(worker.snapshotReady, timeout=1000):
        worker._post("a")
    calls = []
    worker.snapshotReady.connect(lambda: calls.append(1))
    worker._post("b")
    worker._post("c")
    assert calls == []  # the mailbox was not empty: no new notification
    assert worker.take_latest() == "c"
    assert worker.take_latest() is None
    worker._post("d")
    assert calls == [1]


# -- training thread --------------------------------------------------------------------------------------
def test_training_runs_in_its_own_thread_and_hands_the_trainer_back(qtbot, session, controller):
    with qtbot.waitSignal(controller.finished, timeout=120000) as blocker:
        controller.start(request(session, 2))
        assert controller.state == RUNNING
        thread = controller.thread
        assert thread is not QThread.currentThread()
    trainer = blocker.args[0]
    assert trainer is not None and trainer.epoch == 2
    latest, final, batches = controller.take_leftovers()
    assert final is not None and final.snapshot.final and final.snapshot.epoch == 2
    assert final.model is not trainer.model  # a frozen copy crosses threads, never the live module
    assert not any(p.requires_grad for p in final.model.parameters())
    assert [e for e, _ in batches][-1] == 2
    assert not controller.is_running and controller.state == IDLE
    assert thread.isFinished()


def test_pause_stops_snapshots_and_resume_continues(qtbot, session, controller):
    controller.start(request(session, 500))
    wait_for_snapshot(qtbot, controller)
    controller.pause()
    assert controller.state == PAUSED
    qtbot.wait(400)  # the batch in flight may still finish
    controller.take_latest()
    qtbot.wait(600)
    assert controller.take_latest() is None
    controller.resume()
    assert controller.state == RUNNING
    snap = wait_for_snapshot(qtbot, controller)
    assert snap is not None


def test_stop_ends_the_thread_cleanly(qtbot, session, controller):
    finished = []
    controller.finished.connect(finished.append)
    controller.start(request(session, 10000))
    wait_for_snapshot(qtbot, controller)
    thread = controller.thread
    assert controller.stop(wait=True)
    assert thread.isFinished() and not thread.isRunning()
    assert not controller.is_running and controller.thread is None
    assert controller.state == IDLE
    assert len(finished) == 1 and finished[0] is not None and finished[0].epoch < 10000


def test_stop_while_paused_ends_the_thread(qtbot, session, controller):
    controller.start(request(session, 10000))
    wait_for_snapshot(qtbot, controller)
    controller.pause()
    thread = controller.thread
    assert controller.stop(wait=True)
    assert thread.isFinished()


def test_bad_data_is_reported_and_the_thread_ends(qtbot, session, controller):
    X = np.array(session.X, copy=True)
    X[3, 2, 2] = np.nan
    failures = []
    controller.failed.connect(lambda msg, details: failures.append(msg))
    with qtbot.waitSignal(controller.finished, timeout=30000) as blocker:
        controller.start(request(session, 2, X=X))
    assert blocker.args == [None]
    assert failures and "NaN" in failures[0]
    assert not controller.is_running


def test_gamma_changes_apply_from_the_next_epoch(qtbot, session, controller):
    controller.start(request(session, 3, gamma=0.5))
    controller.set_gamma(0.9)
    with qtbot.waitSignal(controller.finished, timeout=120000) as blocker:
        pass
    history = blocker.args[0].history
    assert [h["gamma"] for h in history][-2:] == [0.9, 0.9]
    with pytest.raises(ValueError):
        TrainingWorker(request(session, 1)).set_gamma(1.5)


# -- pure helpers --------------------------------------------------------------------------------------------
def test_project_linear_maps_targets_with_the_frame_transform():
    from saeviz.core.display.projection import LiveProjection, PCAProjector

    rng = np.random.default_rng(0)
    codes = rng.normal(size=(300, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1])
    live = LiveProjection(PCAProjector(2))
    first = project_linear(live, codes, None)
    class_targets = np.vstack([codes[:2], np.full((1, 6), np.nan)])
    idx = np.array([0, 1, 2])
    frame = project_linear(live, -codes, None, class_targets, idx, codes[idx])
    # The flipped frame is aligned back onto the first one ...
    assert np.allclose(frame.coords, first.coords, atol=1e-8)
    # ... and anchors and target lines go through the same projection and alignment.
    assert np.allclose(frame.anchors[:2], live.transform(codes[:2]))
    assert np.isnan(frame.anchors[2]).all()
    assert np.allclose(frame.line_src, frame.coords[idx])
    assert np.allclose(frame.line_dst, live.transform(codes[idx]))


def test_live_snapshots_come_every_few_hundred_samples():
    assert live_snapshot_every(1437, 64) == 8
    assert live_snapshot_every(60000, 64) == 9  # about 100 per epoch on large sets
    assert live_snapshot_every(300, 64) == 0    # short epochs: epoch ends are enough


def test_export_table_round_trips(tmp_path):
    cols = {"index": np.array([3, 5]), "label": np.array([-1, 1]),
            "codes": np.array([[0.5, 1.25], [2.0, -3.0]])}
    npz = export_table(tmp_path / "t.npz", cols)
    with np.load(npz) as f:
        assert np.array_equal(f["codes"], cols["codes"]) and np.array_equal(f["label"], cols["label"])
    csv = export_table(tmp_path / "t.csv", cols)
    lines = csv.read_text().splitlines()
    assert lines[0] == "index,label,codes_0,codes_1"
    back = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert np.allclose(back, [[3, -1, 0.5, 1.25], [5, 1, 2.0, -3.0]])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.npz"]  # no temp files left


def test_session_positions_and_revealed_labels(digits):
    s = Session(SessionDefaults(label_fraction=0.1))
    s.set_dataset(digits)
    assert s.n_samples == len(digits.train_idx)
    labeled = np.flatnonzero(s.labels.labels >= 0)
    assert 0.08 < len(labeled) / s.n_samples < 0.12
    assert np.array_equal(s.labels.labels[labeled], s.y[labeled])
    pos = 17
    assert s.position_of(s.dataset_index(pos)) == pos
    assert s.position_of(int(digits.test_idx[0])) == -1
    s.reveal(0.5)
    assert abs((s.labels.labels >= 0).mean() - 0.5) < 0.02
