"""Work that must not run on the UI thread: training, and short background tasks.

``TrainingController`` runs a ``TrainingWorker`` (a QObject moved to its own QThread) that
owns the ``Trainer`` while it trains. The worker never touches widgets and never emits a
signal per snapshot: it leaves the newest snapshot in a mailbox (older unread ones are
dropped), keeps the per-epoch batch losses and the newest epoch-end result (snapshot plus a
frozen CPU copy of the weights), and notifies the UI thread only when the mailbox was
empty. The UI takes what it needs on its own repaint timer. Pause, resume, cancel and gamma
are thread-safe and take effect at the next batch (pause, cancel) or epoch (gamma).

``TaskRunner`` runs plain functions on a small thread pool (classifier fits, projections,
decoding, dataset loading) and hands results back on the UI thread. Submissions with the
same key run one at a time; a newer submission replaces a queued older one, and results of
invalidated (or, if asked, superseded) submissions are dropped.

Both run their threads at a lower scheduling priority than the UI thread
(``background_priority``): on a machine with two cores, training and a classifier fit
would otherwise take the processor from the UI thread for a scheduler slice at a time.
"""
from __future__ import annotations

import copy
import logging
import os
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThread, QThreadPool, Signal, Slot

# The core is imported here, on the UI thread at start-up, rather than first inside a worker: a module
# import holds the GIL throughout, and scikit-learn's takes seconds.
from ..core.config import ModelConfig, TrainConfig
from ..core.errors import SaevizError
from ..core.labels import LabelStore
from ..core.session import fit_classifier, frozen_model
from ..core.structure import compute_targets
from ..core.training import Cancelled, ControlToken, Trainer, decode, encode

log = logging.getLogger(__name__)

IDLE, RUNNING, PAUSED, STOPPING = "idle", "running", "paused", "stopping"
BACKGROUND_NICENESS = 10   # added to a task thread's niceness (Linux: per thread; 19 is the lowest)
TRAINING_NICENESS = 10     # added to the training thread's niceness

_lowered = threading.local()


def background_priority(niceness: int | None = None) -> bool:
    """Lower the calling thread's scheduling priority, once per thread; True if it was lowered.

    On Linux a thread has its own niceness, which the threads it starts inherit (torch's
    intra-op threads among them), so the UI thread keeps the processor when the cores are
    busy. Elsewhere (or when the system refuses) nothing changes: this is a courtesy, not a
    requirement.
    """
    if getattr(_lowered, "done", False):
        return True
    _lowered.done = True
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return False
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        step = BACKGROUND_NICENESS if niceness is None else int(niceness)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + step))
    except OSError:
        return False
    return True


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
class EpochResult:
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
        self._final: EpochResult | None = None
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

    def take_final(self) -> EpochResult | None:
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
        req = self._request
        if req.trainer is not None:
            trainer = req.trainer
            trainer.token = self.token
            trainer.config = req.train_config
            trainer.gamma = req.train_config.gamma
            for group in trainer.optimizer.param_groups:
                group["lr"] = req.train_config.lr
            return trainer
        model = copy.deepcopy(req.model) if req.model is not None else None
        if model is not None:
            for p in model.parameters():
                p.requires_grad_(True)
        trainer = Trainer(req.X, req.model_config, req.train_config, supervision=req.labels,
                          model=model, token=self.token)
        if req.history:
            trainer.history = [dict(h) for h in req.history]
            trainer.epoch = len(req.history)
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
                        result = EpochResult(snap, frozen_model(trainer.model))
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


class TrainingController(QObject):
    """Starts, pauses, resumes and stops one training thread at a time."""

    stateChanged = Signal(str)
    snapshotReady = Signal()
    failed = Signal(str, str)        # message, details (traceback or "")
    finished = Signal(object)        # the Trainer handed back (or None)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._state = IDLE
        self._leftover: tuple = (None, None, [])

    @property
    def state(self) -> str:
        return self._state

    @property
    def is_running(self) -> bool:
        return self._worker is not None

    @property
    def thread(self) -> QThread | None:  # noqa: D401 - the running QThread, for tests and shutdown
        return self._thread

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    def start(self, request: TrainingRequest) -> None:
        if self._worker is not None:
            raise RuntimeError("training is already running")
        thread = QThread()
        thread.setObjectName("saeviz-training")
        worker = TrainingWorker(request)
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

    def toggle_pause(self) -> None:
        if self._state == RUNNING:
            self.pause()
        elif self._state == PAUSED:
            self.resume()

    def set_gamma(self, gamma: float) -> None:
        if self._worker is not None:
            self._worker.set_gamma(gamma)

    def take_latest(self):
        return None if self._worker is None else self._worker.take_latest()

    def take_final(self) -> EpochResult | None:
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

    def take_leftovers(self):
        """What the worker produced after the UI last looked: (latest, final, epoch batches)."""
        out = self._leftover
        self._leftover = (None, None, [])
        return out


# -- background tasks ------------------------------------------------------------------------------
class _Relay(QObject):
    done = Signal(object, int, bool, object)  # key, generation, ok, value-or-exception


class _Task(QRunnable):
    def __init__(self, relay: _Relay, key, gen: int, fn: Callable, args: tuple):
        super().__init__()
        self.setAutoDelete(True)
        self._relay, self._key, self._gen, self._fn, self._args = relay, key, gen, fn, args

    def run(self) -> None:
        background_priority()
        try:
            value, ok = self._fn(*self._args), True
        except BaseException as exc:  # handed to the submitter's error callback
            value, ok = exc, False
            if not isinstance(exc, SaevizError):
                log.debug("background task %r failed", self._key, exc_info=True)
        self._relay.done.emit(self._key, self._gen, ok, value)


@dataclass
class _Submission:
    gen: int
    fn: Callable
    args: tuple
    on_result: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    latest_only: bool


class TaskRunner(QObject):
    """Runs functions off the UI thread; see the module docstring for the rules."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 2):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, int(max_threads)))
        self._relay = _Relay()
        self._relay.done.connect(self._on_done)
        self._counter: dict[Any, int] = {}
        self._valid_from: dict[Any, int] = {}
        self._running: dict[Any, _Submission] = {}
        self._queued: dict[Any, _Submission] = {}
        self._closed = False

    def submit(self, key, fn: Callable, *args, on_result: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None,
               latest_only: bool = False) -> int:
        """Run ``fn(*args)``; ``latest_only`` drops its result once a newer one is submitted."""
        if self._closed:
            return -1
        gen = self._counter.get(key, 0) + 1
        self._counter[key] = gen
        sub = _Submission(gen, fn, args, on_result, on_error, latest_only)
        if key in self._running:
            self._queued[key] = sub
        else:
            self._queued.pop(key, None)
            self._start(key, sub)
        return gen

    def _start(self, key, sub: _Submission) -> None:
        self._running[key] = sub
        self._pool.start(_Task(self._relay, key, sub.gen, sub.fn, sub.args))

    def invalidate(self, key=None) -> None:
        """Drop queued work and coming results of ``key`` (every key when None)."""
        keys = list(self._counter) if key is None else [key]
        for k in keys:
            self._valid_from[k] = self._counter.get(k, 0) + 1
            self._queued.pop(k, None)

    def busy(self, key=None) -> bool:
        if key is None:
            return bool(self._running or self._queued)
        return key in self._running or key in self._queued

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the pool is idle (tests, shutdown). Results are delivered afterwards."""
        return self._pool.waitForDone(timeout_ms)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        self._closed = True
        self.invalidate()
        return self._pool.waitForDone(timeout_ms)

    @Slot(object, int, bool, object)
    def _on_done(self, key, gen: int, ok: bool, value) -> None:
        sub = self._running.get(key)
        if sub is None or sub.gen != gen:
            return
        del self._running[key]
        # The result is handed over before the queued submission starts, so a job may
        # read state (e.g. a warm start) that this result's callback has just set.
        fresh = (not self._closed and gen >= self._valid_from.get(key, 0)
                 and not (sub.latest_only and gen != self._counter.get(key)))
        if fresh:
            try:
                if ok:
                    if sub.on_result is not None:
                        sub.on_result(value)
                elif sub.on_error is not None:
                    sub.on_error(value)
                else:
                    log.warning("background task %r failed: %s", key, value)
            except Exception:  # a failing callback must not take the event loop down
                log.exception("handling the result of %r failed", key)
        nxt = self._queued.pop(key, None)
        if nxt is not None and not self._closed and key not in self._running:
            self._start(key, nxt)


# -- jobs (plain functions, run by a TaskRunner) ------------------------------------------------------
@dataclass(frozen=True)
class ProjectionFrame:
    """Display coordinates of one frame and of the structure drawn over it.

    ``anchors`` are the projected class targets (NaN rows for classes without labels),
    ``line_src``/``line_dst`` the labeled samples and their projected targets.
    """

    coords: np.ndarray
    anchors: np.ndarray | None = None
    line_src: np.ndarray | None = None
    line_dst: np.ndarray | None = None
    note: str | None = None
    seconds: float = 0.0


def project_linear(live, codes: np.ndarray, labels: np.ndarray | None,
                   class_targets: np.ndarray | None = None, target_index: np.ndarray | None = None,
                   targets: np.ndarray | None = None) -> ProjectionFrame:
    """Fit ``live`` (a ``LiveProjection``) to ``codes``, aligned with its previous frame, and
    map the class targets and per-sample targets through the same projection."""
    import time

    t0 = time.perf_counter()
    coords = live.update(codes, labels)
    anchors = src = dst = None
    if class_targets is not None and len(class_targets):
        ct = np.asarray(class_targets, np.float64)
        anchors = np.full((len(ct), coords.shape[1]), np.nan)
        ok = np.isfinite(ct).all(axis=1)
        if ok.any():
            anchors[ok] = live.transform(ct[ok])
    if targets is not None and target_index is not None and len(target_index):
        src = coords[np.asarray(target_index)]
        dst = live.transform(np.asarray(targets, np.float64))
    return ProjectionFrame(coords, anchors, src, dst, live.projector.fallback_reason,
                           time.perf_counter() - t0)


def encode_codes(model, X: np.ndarray, labels: np.ndarray | None = None, distances=None,
                 config: TrainConfig | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Codes of ``X`` and, when there are labels of two classes or more, the class targets.

    ``config`` is the model's ``TrainConfig``: its MDS settings and target scale
    (``scale_for``) give the targets the model was trained toward, as training computes
    them, so the stars land on the classes they shaped. This is the one place that computes
    the targets of a loaded model's codes (a model file, a reopened project)."""
    codes = encode(model, X)
    class_targets = None
    if labels is not None and distances is not None:
        idx = np.flatnonzero(np.asarray(labels) >= 0)
        if len(np.unique(np.asarray(labels)[idx])) >= 2:
            config = TrainConfig() if config is None else config
            class_targets = compute_targets(codes[idx], np.asarray(labels)[idx], distances, config.mds,
                                            scale=config.scale_for(model.latent_dim)).class_targets
    return codes, class_targets


def classifier_job(codes: np.ndarray, labels: np.ndarray, n_classes: int, epoch: int,
                   label_version: int, y_true: np.ndarray | None, model=None,
                   X_all: np.ndarray | None = None, test_idx: np.ndarray | None = None,
                   y_test: np.ndarray | None = None):
    """Fit the latent classifier; with a model, also measure the test-split error."""
    test_codes = None
    if model is not None and X_all is not None and test_idx is not None and len(test_idx) and y_test is not None:
        test_codes = encode(model, X_all[test_idx])
    return fit_classifier(codes, labels, n_classes, epoch=epoch, label_version=label_version,
                          y_true=y_true, test_codes=test_codes, y_test=y_test)


def reconstruction_errors(model, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Per-sample reconstruction RMSE of ``X`` in data units."""
    out = np.empty(len(X), np.float32)
    for i in range(0, len(X), batch_size):
        x = np.asarray(X[i:i + batch_size], np.float32)
        r = decode(model, encode(model, x, batch_size), batch_size)
        out[i:i + len(x)] = np.sqrt(np.mean((r - x).reshape(len(x), -1) ** 2, axis=1))
    return out
