"""Training in its own process, for the window.

``ProcessTrainingController`` has the interface of ``TrainingController`` (start, pause,
resume, stop, gamma, the mailbox of the newest snapshot and epoch) but the ``Trainer`` runs in a
child process (``saeviz.core.method.training_process``). The window's process then never waits
for an interpreter lock held by training, and the operating system shares the processor
between the two as between any two programs.

The child is started in the background (``prestart``, when the window opens, or by the first
training) and kept for later runs; it keeps its trainer between runs, so continuing a run sends
nothing but the new settings. Two threads of this process talk to it: a writer (commands, in
order, so that the interface never blocks on a full pipe) and a reader (events: the newest
snapshot goes into the mailbox, older unread ones are dropped; ``snapshotReady`` fires when the
mailbox was empty). Labels changed while training runs are sent to the child, which reads the
newest ones at the start of each epoch. When the child dies the run ends with an error and the
next training starts a new one. ``shutdown`` (the window closing) stops the run and ends the
child.
"""
from __future__ import annotations

import logging
import os
import queue
import threading

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from saeviz.app.training.worker import (
    IDLE,
    PAUSED,
    RUNNING,
    STOPPING,
    ControllerBase,
    EpochEnd,
    TrainingRequest,
)
from saeviz.core.method import wire
from saeviz.core.method.training_process import (
    ProcessEnded,
    RemoteTrainer,
    TrainingProcess,
)
from saeviz.core.state.labels import LabelStore, follow_store

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "process"
# Added to the training process's niceness. 0: the system shares the processor between window
# and training like between any two programs; while the user drives the morph (drag, Play) the
# window throttles the training instead (``ControllerBase.set_animating``). Measured with two
# busy programs (bench_ui_stall, 20 s per case): training share 0.61 (digits) and 0.58 (bodies)
# at 0 against 0.35 and 0.36 at 3, UI timer p99 the same (50 / 54 ms at 0, 52 / 48 at 3); the
# morph dragged while training (bench_morph part 3) showed 13 to 15 frames/s at 0 and 16 to 20
# at 3 before the throttle, 25 (drag) and 26 (Play) at 0 with it.
PROCESS_NICENESS = 0
BACKENDS = ("thread", "process")


def training_backend() -> str:
    """Where the window trains: ``SAEVIZ_TRAINING_BACKEND`` (``thread`` or ``process``)."""
    name = os.environ.get("SAEVIZ_TRAINING_BACKEND", "").strip().lower() or DEFAULT_BACKEND
    if name not in BACKENDS:
        log.warning("SAEVIZ_TRAINING_BACKEND=%r is not one of %s; training in a %s", name, BACKENDS,
                    DEFAULT_BACKEND)
        return DEFAULT_BACKEND
    return name


def training_niceness() -> int:
    """What the training process adds to its niceness: ``SAEVIZ_TRAINING_NICENESS`` (0 to 19),
    else ``PROCESS_NICENESS``."""
    value = os.environ.get("SAEVIZ_TRAINING_NICENESS", "").strip()
    try:
        return min(19, max(0, int(value))) if value else PROCESS_NICENESS
    except ValueError:
        log.warning("SAEVIZ_TRAINING_NICENESS=%r is not a whole number; using %d", value, PROCESS_NICENESS)
        return PROCESS_NICENESS


def training_threads() -> int:
    """The torch threads of the training process: one core is left to the interface."""
    if os.environ.get("OMP_NUM_THREADS"):
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    return max(1, (os.cpu_count() or 1) - 1)


def _epoch_end(final: tuple | None) -> EpochEnd | None:
    if final is None:
        return None
    snap, template, weights, model = final
    return EpochEnd(snap, model if model is not None else wire.with_weights(template, weights))


class _Link:
    """One child process with its writer and reader threads."""

    def __init__(self, on_event, on_end):
        self.process = TrainingProcess(threads=training_threads(), niceness=training_niceness())
        self.ready = threading.Event()
        self.ended = threading.Event()
        self._outbox: queue.Queue = queue.Queue()
        self._on_event, self._on_end = on_event, on_end
        self.samples_of = None   # the sample array the child holds (kept, so its id stays unique)
        self.samples_key = 0
        self.trainer_key: int | None = None  # the key of the trainer the child keeps
        self._writer = threading.Thread(target=self._write, name="saeviz-training-writer", daemon=True)
        self._writer.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def send(self, kind: str, header: dict | None = None, arrays: dict | None = None) -> None:
        """Queue a command; the writer thread encodes and sends it, in order."""
        self._outbox.put(("send", (kind, header, arrays)))

    def share_samples(self, X: np.ndarray) -> int:
        if X is not self.samples_of:
            self.samples_of = X
            self.samples_key += 1
            self._outbox.put(("samples", self.samples_key, X))
        return self.samples_key

    def close(self) -> None:
        """No more commands: the writer ends the process (asked to stop first, by force after)."""
        self._outbox.put(None)

    def join(self, timeout: float) -> None:
        self._writer.join(timeout)

    def _write(self) -> None:
        try:
            self.process.start()
        except Exception as exc:  # reported as the end of the process
            log.exception("the training process could not start")
            self.ended.set()
            self._on_end(self, f"the training process could not start: {exc}")
            return
        threading.Thread(target=self._read, name="saeviz-training-reader", daemon=True).start()
        while True:
            item = self._outbox.get()
            if item is None:
                break
            try:
                if item[0] == "samples":
                    self.process.share_samples(item[1], item[2])
                else:
                    self.process.send(*item[1])
            except ProcessEnded:
                break
            except OSError as exc:  # the samples could not be written
                log.error("the training process cannot get its samples: %s", exc)
                break
        self.process.shutdown()

    def _read(self) -> None:
        while True:
            try:
                event = self.process.recv()
            except ProcessEnded:
                break
            if event[0] == "ready":
                self.ready.set()
            try:
                self._on_event(self, *event)
            except (KeyError, TypeError, ValueError, RuntimeError):
                log.exception("a message of the training process could not be read")
                break
        self.ended.set()
        self.process.close_events()
        code = self.process.exitcode
        self._on_end(self, "the training process ended unexpectedly"
                     + (f" (exit code {code})" if code is not None else ""))


class ProcessTrainingController(ControllerBase):
    """Starts, pauses, resumes and stops one training run at a time in a training process.
    ``finished`` hands back a ``RemoteTrainer`` (or None)."""

    message = Signal(str)            # a line for the status bar ("" when it is no longer true)
    _ended = Signal(int)             # a run ended (from the reader thread)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._link: _Link | None = None
        self._lock = threading.Lock()
        self._run_id = 0
        self._running_id: int | None = None
        self._done = threading.Event()
        self._result = (None, None, None)      # RemoteTrainer, error, details
        self._template = None
        self._latest = None
        self._final: tuple | None = None  # (snapshot, template, weights, network or None) of the newest epoch
        self._epoch_batches: list[tuple[int, tuple]] = []
        self._fallback = None                  # what the session gets back when the child dies
        self._epochs_done = 0
        self._store: LabelStore | None = None
        self._labels_timer = QTimer(self)
        self._labels_timer.setSingleShot(True)
        self._labels_timer.setInterval(0)
        self._labels_timer.timeout.connect(self._send_labels)
        self._ended.connect(self._run_ended)

    # -- what the flow reads ------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._running_id is not None

    @property
    def thread(self):
        """No training thread runs in this process."""
        return None

    @property
    def pid(self) -> int | None:
        """The training process's id (None when there is none)."""
        link = self._link
        return None if link is None or link.ended.is_set() else link.pid

    @property
    def ready(self) -> bool:
        """The training process has started and can train."""
        link = self._link
        return link is not None and link.ready.is_set() and not link.ended.is_set()

    # -- the process ----------------------------------------------------------------------------
    def prestart(self) -> None:
        """Start the training process in the background, if none runs."""
        self._ensure_link()

    def _ensure_link(self) -> _Link:
        link = self._link
        if link is None or link.ended.is_set():
            link = self._link = _Link(self._on_event, self._on_end)
        return link

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop the run (waiting at most ``timeout_ms``) and end the training process."""
        self.stop(wait=True, timeout_ms=timeout_ms)
        link, self._link = self._link, None
        if link is None:
            return
        link.send("stop")
        link.close()
        if not link.ended.wait(15.0):
            log.warning("the training process did not end")
        link.join(15.0)
        if self.is_running:  # the run did not end in time: it ended with its process
            with self._lock:
                self._result = (self._fallback if self._epochs_done == 0 else None,
                                "Training stopped: the training process was ended.", "")
                self._done.set()
            self._finish()

    # -- runs -------------------------------------------------------------------------------------
    def start(self, request: TrainingRequest) -> None:
        if self.is_running:
            raise RuntimeError("training is already running")
        link = self._ensure_link()
        self._run_id += 1
        run_id = self._run_id
        trainer = request.trainer
        key = link.share_samples(request.X)
        sup = request.labels.snapshot() if isinstance(request.labels, LabelStore) else request.labels
        own = isinstance(trainer, RemoteTrainer) and trainer.pid == link.pid and trainer.key == link.trainer_key
        header, arrays = wire.supervision_parts(sup)
        header.update(run_id=run_id, samples_key=key, epochs=int(request.epochs), share=self._share,
                      trainer_key=trainer.key if own else None, history=[dict(h) for h in request.history],
                      **wire.configs_parts(request.model_config, request.train_config))
        if trainer is not None and not own:  # an earlier run's trainer, continued in this process
            head, arrs = wire.trainer_parts(trainer)
            header.update(head)
            arrays.update(arrs)
        elif trainer is None and request.model is not None:  # a loaded model's weights
            head, arrs = wire.model_parts(request.model, prefix="start.")
            header["start"] = head
            arrays.update(arrs)
        with self._lock:
            self._running_id = run_id
            self._done.clear()
            self._result = (None, None, None)
            self._template = None
            self._latest, self._final, self._epoch_batches = None, None, []
            self._fallback = trainer
            self._epochs_done = 0
        link.send("run", header, arrays)
        if isinstance(request.labels, LabelStore):
            self._store = follow_store(None, request.labels, labels=self._labels_changed,
                                       classes=self._labels_changed)
        self._set_state(RUNNING)
        if not link.ready.is_set():
            self.message.emit("Starting the training process…")

    def _labels_changed(self, *_args) -> None:
        if not self._labels_timer.isActive():
            self._labels_timer.start()

    @Slot()
    def _send_labels(self) -> None:
        self._labels_timer.stop()
        if self._store is not None and self._link is not None and self.is_running:
            self._link.send("labels", *wire.supervision_parts(self._store.snapshot()))

    def pause(self) -> None:
        if self.is_running and self._state == RUNNING:
            self._link.send("pause")
            self._set_state(PAUSED)

    def resume(self) -> None:
        if self.is_running and self._state == PAUSED:
            if self._labels_timer.isActive():
                self._send_labels()  # labels changed while paused shape the next epoch
            self._link.send("resume")
            self._set_state(RUNNING)

    def set_gamma(self, gamma: float) -> None:
        gamma = float(gamma)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
        if self.is_running:
            self._link.send("gamma", {"gamma": gamma})

    def _apply_share(self, share: float) -> None:
        if self._link is not None and not self._link.ended.is_set():
            self._link.send("share", {"share": share})

    def take_latest(self):
        with self._lock:
            snap, self._latest = self._latest, None
            return snap

    def take_final(self) -> EpochEnd | None:
        """The newest epoch's end. The reader builds its network unless a newer event already
        waits (epochs that end faster than the window looks cost no copy of their weights);
        one still unbuilt is built here."""
        with self._lock:
            res, self._final = self._final, None
        return _epoch_end(res)

    def take_epoch_batches(self) -> list:
        with self._lock:
            out, self._epoch_batches = self._epoch_batches, []
            return out

    def stop(self, wait: bool = True, timeout_ms: int | None = 30000) -> bool:
        """Cancel the run (at the next batch); with ``wait`` block until it has ended (at most
        ``timeout_ms``; ``None``: until it ends or the process dies)."""
        if not self.is_running:
            return True
        if self._labels_timer.isActive():
            self._labels_timer.stop()
        self._link.send("cancel")
        self._set_state(STOPPING)
        if not wait:
            return False
        done = self._done.wait(None if timeout_ms is None else timeout_ms / 1000.0)
        if done:
            self._finish()
        return done

    # -- events (reader thread) --------------------------------------------------------------------
    def _on_event(self, link: _Link, kind: str, header: dict, arrays: dict) -> None:
        if kind == "ready":
            self.message.emit("")
            return
        run_id = header["run_id"]
        notify = False
        # decoded before taking the lock (the UI thread waits for it in take_latest)
        snap = wire.snapshot_from(header, arrays) if kind in ("snapshot", "epoch") else None
        with self._lock:
            if run_id != self._running_id:
                return
            template = self._template
        if kind == "started":
            template = wire.model_from(header, arrays)
        weights = wire.unprefixed("w.", arrays) if kind == "epoch" else None
        model = (wire.with_weights(template, weights)
                 if kind == "epoch" and not link.process.more_waiting() else None)
        state = (wire.remote_state_from(header, arrays, run_id, link.pid)
                 if kind == "finished" and header.get("trainer") else None)
        with self._lock:
            if run_id != self._running_id:
                return
            if kind == "started":
                self._template = template
            elif kind == "snapshot":
                notify = self._latest is None
                self._latest = snap
            elif kind == "epoch":
                self._final = (snap, template, weights, model)
                self._epoch_batches.append((snap.epoch, snap.batch_losses))
                self._epochs_done += 1
                notify = self._latest is None
                self._latest = snap
            elif kind == "finished":
                if state is not None:
                    link.trainer_key = state.key
                self._result = (state, header.get("error"), header.get("details"))
                self._done.set()
        if notify:
            self.snapshotReady.emit()
        if kind == "finished":
            self._ended.emit(run_id)

    def _on_end(self, link: _Link, reason: str) -> None:
        with self._lock:
            if link is not self._link or self._running_id is None or self._done.is_set():
                return
            run_id = self._running_id
            # The session keeps the newest epoch's weights; without any, what the run began with.
            trainer = self._fallback if self._epochs_done == 0 else None
            self._result = (trainer, f"Training stopped: {reason}.", "")
            self._done.set()
        self._ended.emit(run_id)

    # -- the end of a run (UI thread) --------------------------------------------------------------
    @Slot(int)
    def _run_ended(self, run_id: int) -> None:
        if run_id == self._running_id and self._done.is_set():
            self._finish()

    def _finish(self) -> None:
        if self._running_id is None:
            return
        with self._lock:
            self._leftover = (self._latest, _epoch_end(self._final), self._epoch_batches)
            self._latest, self._final, self._epoch_batches = None, None, []
            trainer, error, details = self._result
            self._running_id = None
            self._template = None
            self._fallback = None
        self._labels_timer.stop()
        self._store = follow_store(self._store, None, labels=self._labels_changed, classes=self._labels_changed)
        self.message.emit("")
        self._set_state(IDLE)
        if error is not None:
            self.failed.emit(error, details or "")
        self.finished.emit(trainer)
