"""Closing the main window in the middle of an epoch ends the training (thread or process) cleanly.

The scenario runs in its own process (on the test's X display), so that an abort — Qt's
"QThread: Destroyed while thread is still running" ends the process — fails the test
instead of killing the test run."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("PySide6")

from gui_helpers import process_gone  # noqa: E402

pytestmark = pytest.mark.gui

# a window with a small network, its dataset loaded, its live snapshots counted
OPEN = r"""
import os, sys, time
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


def wait(condition, what, timeout=240.0):
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
"""

END = r"""
app.processEvents()
del w
app.processEvents()
print("done", flush=True)
"""

THREAD = OPEN + r"""
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
""" + END

PROCESS = OPEN + r"""
w.actions["train"].trigger()
wait(lambda: snapshots, "the first live snapshot")
pid = w.controller.pid
print("child:", pid, flush=True)
assert pid is not None and pid != os.getpid()
wait(lambda: w.session.snapshot is not None, "the first snapshot shown")
print("inside the first epoch:", w.session.epoch == 0 and not w.session.snapshot.final, flush=True)
w.close()  # what the window's close button does
print("controller idle:", not w.controller.is_running and w.controller.pid is None, flush=True)
try:
    os.kill(pid, 0)
    print("child gone: False", flush=True)
except ProcessLookupError:
    print("child gone: True", flush=True)
print("epochs completed:", w.session.epoch, flush=True)
""" + END


def run(scenario: str, tmp_path, backend: str, timeout: float) -> subprocess.CompletedProcess:
    """``scenario`` in a fresh interpreter on the test's display, training in ``backend``."""
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", SAEVIZ_RECOVERY_DIR=str(tmp_path / "recovery"),
               PYTHONFAULTHANDLER="1", SAEVIZ_TRAINING_BACKEND=backend)
    return subprocess.run([sys.executable, "-c", scenario, str(tmp_path / "settings.ini")],
                          check=False, capture_output=True, text=True, timeout=timeout, env=env)


def test_closing_the_window_mid_epoch_ends_training_without_an_abort(tmp_path):
    proc = run(THREAD, tmp_path, "thread", 300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "QThread: Destroyed" not in output  # "... while thread 'saeviz-training' is still running"
    assert "thread finished: True" in proc.stdout
    assert "controller idle: True" in proc.stdout
    assert "epochs completed: 0" in proc.stdout  # stopped inside the epoch, not at its end
    assert "done" in proc.stdout


def test_closing_the_window_mid_epoch_ends_the_training_process(tmp_path):
    proc = run(PROCESS, tmp_path, "process", 400)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "QThread: Destroyed" not in output
    assert "inside the first epoch: True" in proc.stdout
    assert "controller idle: True" in proc.stdout
    assert "child gone: True" in proc.stdout, output
    assert "epochs completed: 0" in proc.stdout
    assert "done" in proc.stdout
    pid = int(proc.stdout.split("child:", 1)[1].split()[0])
    assert process_gone(pid)
