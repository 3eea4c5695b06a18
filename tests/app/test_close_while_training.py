"""Closing the main window in the middle of an epoch ends the training thread cleanly.

The scenario runs in its own process (on the test's X display), so that an abort — Qt's
"QThread: Destroyed while thread is still running" ends the process — fails the test
instead of killing the test run."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("PySide6")

pytestmark = pytest.mark.gui

SCENARIO = r"""
import sys, time
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

app = QApplication(sys.argv[:1])
from saeviz.app.window.main_window import MainWindow
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.state.session import SessionDefaults

settings = QSettings(sys.argv[1], QSettings.IniFormat)
defaults = SessionDefaults(model=ModelConfig(hidden=(64,), latent_dim=6),
                           train=TrainConfig(epochs=1000, batch_size=8, lr=1e-3))
w = MainWindow(settings=settings, defaults=defaults)
w.show()


def wait(condition, what, timeout=120.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            print("timed out waiting for", what, flush=True)
            sys.exit(3)
        app.processEvents()
        time.sleep(0.005)


wait(lambda: w.session.dataset is not None, "the dataset")
snapshots = []
w.controller.snapshotReady.connect(lambda: snapshots.append(1))
w.actions["train"].trigger()  # what the toolbar button and the Space key do
thread = w.controller.thread
assert thread is not None and thread.isRunning(), "training did not start"
wait(lambda: snapshots, "the first live snapshot")  # inside the first epoch
worker = w.controller._worker
trainer = worker.trainer
assert trainer is not None and trainer.epoch == 0, "not inside the first epoch"
w.close()  # what the window's close button does
print("thread finished:", thread.isFinished(), flush=True)
print("controller idle:", w.controller.thread is None and not w.controller.is_running, flush=True)
print("epochs completed:", trainer.epoch, flush=True)
app.processEvents()
del w
app.processEvents()
print("done", flush=True)
"""


def test_closing_the_window_mid_epoch_ends_training_without_an_abort(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", SAEVIZ_RECOVERY_DIR=str(tmp_path / "recovery"),
               PYTHONFAULTHANDLER="1")
    proc = subprocess.run([sys.executable, "-c", SCENARIO, str(tmp_path / "settings.ini")],
                          capture_output=True, text=True, timeout=300, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "QThread: Destroyed" not in output  # "... while thread 'saeviz-training' is still running"
    assert "thread finished: True" in proc.stdout
    assert "controller idle: True" in proc.stdout
    assert "epochs completed: 0" in proc.stdout  # stopped inside the epoch, not at its end
    assert "done" in proc.stdout
