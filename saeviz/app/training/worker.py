"""The training thread.

``TrainingController`` runs a ``TrainingWorker`` (a QObject moved to its own QThread) that
owns the ``Trainer`` while it trains. The worker never touches widgets and never emits a
signal per snapshot: it leaves the newest snapshot in a mailbox (older unread ones are
dropped), keeps the per-epoch batch losses and the newest epoch-end result (snapshot plus a
frozen CPU copy of the weights), and notifies the UI thread only when the mailbox was
empty. The UI takes what it needs on its own repaint timer. Pause, resume, cancel and gamma
are thread-safe and take effect at the next batch (pause, cancel) or epoch (gamma).

The thread runs at a lower scheduling priority than the UI thread (``background_priority``).
"""
from __future__ import annotations

import copy
import logging
import threading
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from saeviz.app.common import warm_up
from saeviz.app.common.tasks import background_priority
from saeviz.core.errors import SaevizError

# The core is imported here, on the UI thread at start-up, rather than first inside a worker: a module
# import holds the GIL throughout, and scikit-learn's takes seconds.
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.self_training import SelfTraining, with_self_training
from saeviz.core.method.training import Cancelled, ControlToken, Trainer
from saeviz.core.state.labels import LabelStore
from saeviz.core.state.session import frozen_model

log = logging.getLogger(__name__)

IDLE, RUNNING, PAUSED, STOPPING = "idle", "running", "paused", "stopping"
TRAINING_NICENESS = 10     # added to the training thread's niceness
# The share of the time training computes while the user drives an animation (the morph
# slider dragged, Play): the frames of a software-rendered 3D view need the processor.
ANIMATING_SHARE = 0.2


def _supervision(req: "TrainingRequest"):
    """What the run learns from: the label store, read at every epoch start, with confident
    pseudo-labels added for the epoch when the settings ask for self-training."""
    if req.labels is None or req.train_config.self_training <= 0:
        return req.labels
    return with_self_training(req.labels.snapshot, req.train_config)


@dataclass(frozen=True)
class TrainingRequest:
    """Everything a training run needs, built on the UI thread before it starts.

    ``trainer`` continues an earlier run (its model, optimizer and history); otherwise a
    new ``Trainer`` is built on the training thread, from ``model`` (copied) when given.
    """

    X: np.ndarray
    model_config: ModelConfig
    train_config: TrainConfig
    labels: LabelStore | None
    epochs: int
    trainer: Any = None
    model: Any = None
    history: tuple = ()


@dataclass(frozen=True)
class EpochEnd:
    """The end of an epoch: its final snapshot and a frozen copy of the weights after it."""

    snapshot: Any
    model: Any


class TrainingWorker(QObject):
    """Owns and runs a ``Trainer`` on the thread it was moved to."""

    snapshotReady = Signal()  # the mailbox went from empty to holding a snapshot

    def __init__(self, request: TrainingRequest):
        super().__init__()
        self._request = request
        self.token = ControlToken()
        self._lock = threading.Lock()
        self._latest = None
        self._final: EpochEnd | None = None
        self._epoch_batches: list[tuple[int, tuple]] = []
        self._gamma: float | None = None
        self.trainer = None
        self.error: str | None = None
        self.details: str | None = None

    # -- thread-safe controls -------------------------------------------------------------
    def set_gamma(self, gamma: float) -> None:
        """Use ``gamma`` from the next epoch on."""
        gamma = float(gamma)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
        with self._lock:
            self._gamma = gamma

    def take_latest(self):
        with self._lock:
            snap, self._latest = self._latest, None
            return snap

    def take_final(self) -> EpochEnd | None:
        with self._lock:
            res, self._final = self._final, None
            return res

    def take_epoch_batches(self) -> list[tuple[int, tuple]]:
        with self._lock:
            out, self._epoch_batches = self._epoch_batches, []
            return out

    # -- the run ------------------------------------------------------------------------------
    def _post(self, snap) -> None:
        with self._lock:
            was_empty = self._latest is None
            self._latest = snap
        if was_empty:
            self.snapshotReady.emit()

    def _build(self):
        warm_up.wait()  # torch's lazy imports, begun at start-up, are not repeated here
        req = self._request
        source = _supervision(req)
        if req.trainer is not None:
            trainer = req.trainer.continue_run(req.train_config, token=self.token)
            trainer.set_supervision(source)
        else:
            model = copy.deepcopy(req.model) if req.model is not None else None
            if model is not None:
                for p in model.parameters():
                    p.requires_grad_(True)
            trainer = Trainer(req.X, req.model_config, req.train_config, supervision=source,
                              model=model, token=self.token)
            if req.history:
                trainer.start_from_history(req.history)
        if isinstance(source, SelfTraining):
            source.attach(trainer)
        return trainer

    @Slot()
    def run(self) -> None:
        trainer = None
        background_priority(TRAINING_NICENESS)
        try:
            trainer = self._build()
            self.trainer = trainer
            for _ in range(int(self._request.epochs)):
                if self.token.cancelled:
                    break
                with self._lock:
                    gamma, self._gamma = self._gamma, None
                if gamma is not None:
                    trainer.gamma = gamma
                for snap in trainer.run_epoch():
                    if snap.final:
                        result = EpochEnd(snap, frozen_model(trainer.model))
                        with self._lock:
                            self._final = result
                            self._epoch_batches.append((snap.epoch, snap.batch_losses))
                    self._post(snap)
        except Cancelled:
            if trainer is not None:
                trainer.model.eval()
        except SaevizError as exc:
            self.error = str(exc)
        except Exception as exc:  # anything else still ends the run cleanly and is reported
            self.error = f"{type(exc).__name__}: {exc}"
            self.details = traceback.format_exc()
            log.exception("training failed")
        finally:
            app = QCoreApplication.instance()
            thread = QThread.currentThread()
            if app is not None and thread is not app.thread():
                # Hand the worker back to the UI thread, which deletes it, and end this one.
                self.moveToThread(app.thread())
                thread.quit()


class ControllerBase(QObject):
    """What both training controllers (thread and process) share: their signals, the state
    (idle, running, paused, stopping) and the leftovers of a run that ended."""

    stateChanged = Signal(str)
    snapshotReady = Signal()
    failed = Signal(str, str)        # message, details (traceback or "")
    finished = Signal(object)        # the trainer handed back (or None)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._state = IDLE
        self._leftover: tuple = (None, None, [])
        self._share = 1.0

    @property
    def share(self) -> float:
        """The share of the time training computes (``ANIMATING_SHARE`` while animating)."""
        return self._share

    def set_animating(self, on: bool) -> None:
        """The user drives an animation (``on``) or stopped: training is throttled to
        ``ANIMATING_SHARE`` of the time meanwhile, from its next batch on."""
        share = ANIMATING_SHARE if on else 1.0
        if share != self._share:
            self._share = share
            self._apply_share(share)

    def _apply_share(self, share: float) -> None:
        raise NotImplementedError

    @property
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    def toggle_pause(self) -> None:
        if self._state == RUNNING:
            self.pause()
        elif self._state == PAUSED:
            self.resume()

    def take_leftovers(self):
        """What the run produced after the UI last looked: (latest, final, epoch batches)."""
        out = self._leftover
        self._leftover = (None, None, [])
        return out


class TrainingController(ControllerBase):
    """Starts, pauses, resumes and stops one training thread at a time."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None

    @property
    def is_running(self) -> bool:
        return self._worker is not None

    @property
    def thread(self) -> QThread | None:  # noqa: D401 - the running QThread, for tests and shutdown
        return self._thread

    def start(self, request: TrainingRequest) -> None:
        if self._worker is not None:
            raise RuntimeError("training is already running")
        thread = QThread()
        thread.setObjectName("saeviz-training")
        worker = TrainingWorker(request)
        worker.token.set_share(self._share)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.snapshotReady.connect(self.snapshotReady)
        thread.finished.connect(self._finish)
        self._thread, self._worker = thread, worker
        thread.start()
        self._set_state(RUNNING)

    def pause(self) -> None:
        if self._worker is not None and self._state == RUNNING:
            self._worker.token.pause()
            self._set_state(PAUSED)

    def resume(self) -> None:
        if self._worker is not None and self._state == PAUSED:
            self._worker.token.resume()
            self._set_state(RUNNING)

    def set_gamma(self, gamma: float) -> None:
        if self._worker is not None:
            self._worker.set_gamma(gamma)

    def _apply_share(self, share: float) -> None:
        if self._worker is not None:
            self._worker.token.set_share(share)

    def take_latest(self):
        return None if self._worker is None else self._worker.take_latest()

    def take_final(self) -> EpochEnd | None:
        return None if self._worker is None else self._worker.take_final()

    def take_epoch_batches(self) -> list:
        return [] if self._worker is None else self._worker.take_epoch_batches()

    def stop(self, wait: bool = True, timeout_ms: int | None = 30000) -> bool:
        """Cancel the run (at the next batch); with ``wait`` block until the thread has ended
        (at most ``timeout_ms``; ``None``: however long the running step takes)."""
        if self._worker is None:
            return True
        self._worker.token.cancel()
        self._set_state(STOPPING)
        if not wait:
            return False
        thread = self._thread
        done = thread.wait() if timeout_ms is None else thread.wait(timeout_ms)
        if done:
            self._finish()
        return done

    @Slot()
    def _finish(self) -> None:
        worker, thread = self._worker, self._thread
        if worker is None or thread is None:
            return
        # QThread.finished is emitted by the thread just before it ends: wait for the end.
        if not thread.isFinished() and not thread.wait(10000):
            log.warning("the training thread did not end")
            return
        # Leftovers in the mailbox are handed out by the caller before it asks for them again.
        self._leftover = (worker.take_latest(), worker.take_final(), worker.take_epoch_batches())
        self._worker, self._thread = None, None
        trainer, error, details = worker.trainer, worker.error, worker.details
        worker.snapshotReady.disconnect(self.snapshotReady)
        worker.deleteLater()
        thread.deleteLater()
        self._set_state(IDLE)
        if error is not None:
            self.failed.emit(error, details or "")
        self.finished.emit(trainer)

    def prestart(self) -> None:
        """Nothing to prepare: the thread starts with the run."""

    def shutdown(self, timeout_ms: int | None = None) -> None:
        """Stop the run and wait for its thread to end (at most ``timeout_ms``; None: however
        long the running step takes)."""
        self.stop(wait=True, timeout_ms=timeout_ms)
