"""The training flow of the window: start, pause, stop, take the results, score each epoch.

``TrainingFlow`` runs the ``TrainingController`` thread for the window and commands the
``Session`` through its methods: ``begin_training`` hands out what a run goes on from,
``accept_snapshot`` / ``accept_epoch`` take the newest codes and weights and
``finish_training`` takes the trainer back (the session decides which weights it keeps). The
session's ``training_state`` follows the thread (training, paused, stopping, idle).

The UI keeps only the newest training snapshot and repaints on a timer (``frame_timer``, at
most ``FRAME_HZ`` per second). After each epoch (at most once per ``CLASSIFIER_INTERVAL``
while training, and always after the last), and after the labels change while no training
runs, one ``EpochResult`` (one latent SVM fit, its scores and errors) is computed on the
window's ``TaskRunner`` and stored in the session, where every view reads it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from saeviz.app.common.wording import counted
from saeviz.app.training.process_controller import (
    ProcessTrainingController,
    training_backend,
)
from saeviz.app.training.worker import (
    IDLE,
    PAUSED,
    RUNNING,
    STOPPING,
    TrainingController,
    TrainingRequest,
)
from saeviz.core.method.evaluate import reconstruction_errors
from saeviz.core.state.labels import follow_store
from saeviz.core.state.results import compute_epoch_result
from saeviz.core.state.training_state import PAUSED as SESSION_PAUSED
from saeviz.core.state.training_state import STOPPING as SESSION_STOPPING
from saeviz.core.state.training_state import TRAINING as SESSION_TRAINING

FRAME_HZ = 20
TEXT_HZ = 5  # loss curves of the running epoch and the status texts update at most this often
CLASSIFIER_KEY = "classifier"  # the TaskRunner key of the per-epoch result
# While training, the per-epoch result is computed at most once per this many seconds: epochs
# of a small dataset end many times a second, and every result refits the classifier and
# refreshes every view that shows it. The newest epoch waiting is the one computed; the last
# epoch of a run always is.
CLASSIFIER_INTERVAL = 1.0
_SESSION_STATE = {RUNNING: SESSION_TRAINING, PAUSED: SESSION_PAUSED, STOPPING: SESSION_STOPPING}


@dataclass(frozen=True)
class TrainingWidgets:
    """The widgets the flow updates: the loss plot, the training controls, the settings panel
    and the status-bar labels."""

    loss_plot: Any
    controls: Any
    settings_panel: Any
    status_epoch: Any
    status_rate: Any
    status_eta: Any
    status_device: Any


class TrainingFlow(QObject):
    """Training for a window (see the module docstring).

    ``shell`` gives the session, the task runner, the latent panel, the view state and the
    status bar; ``widgets`` are the training widgets the flow updates. ``runFinished`` is
    emitted once a run has handed its trainer back and the session has taken it.
    """

    runFinished = Signal()

    def __init__(self, shell, widgets: TrainingWidgets):
        super().__init__(shell)
        self.shell = shell
        self.widgets = widgets
        self.latent = shell.latent
        self.session = shell.session
        self.runner = shell.runner
        self.backend = training_backend()
        self.controller = (ProcessTrainingController(self) if self.backend == "process"
                           else TrainingController(self))
        self.frame_timer = QTimer(self)
        self.frame_timer.setInterval(int(1000 / FRAME_HZ))
        self.frame_timer.timeout.connect(self._tick)
        self.frames_rendered = 0
        self._run_epochs = 0
        self._run_start_epoch = 0
        self._run_samples = 0
        self._run_model_config = None
        self._recon_errors_for = None
        self._test_codes = (None, None)  # (model, the test split's codes under it)
        self._last_status = 0.0
        self._last_snapshot = None
        self._device = ""
        self._store = None
        self._process_note = False  # the status bar says the training process is starting
        self._pending_fit = None  # the newest epoch's snapshot whose result waits its turn
        self._last_fit = -CLASSIFIER_INTERVAL
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.timeout.connect(self._fit_pending)

        c = self.controller
        c.stateChanged.connect(self._state_changed)
        c.snapshotReady.connect(self._snapshot_ready)
        c.failed.connect(self._training_failed)
        c.finished.connect(self._training_finished)
        if isinstance(c, ProcessTrainingController):
            c.message.connect(self._process_message)
            QTimer.singleShot(0, c, c.prestart)  # the training process starts while the window opens
        s = self.session
        s.train_config_changed.connect(self._train_config_changed)
        s.dataset_changed.connect(self._dataset_changed)
        self.latent.needsReconErrors.connect(self.compute_recon_errors)
        self._dataset_changed()

    # -- commands -------------------------------------------------------------------------------
    def train_or_pause(self) -> None:
        """Train when idle; pause a running training, resume a paused one."""
        state = self.controller.state
        if state == RUNNING:
            self.controller.pause()
        elif state == PAUSED:
            self.controller.resume()
        elif state == IDLE:
            self.train()

    def train(self, epochs: int | None = None) -> None:
        """Train ``epochs`` (default: the settings') more epochs in the training thread."""
        from saeviz.core.method.training import resolve_device

        s = self.session
        if self.controller.is_running or s.dataset is None:
            return
        if s.trainer is not None and s.model_outdated:
            self._status("The model settings changed: press Reset to build the new model; "
                         "training continues the current one.", 8000)
        cfg = s.run_config()
        epochs = int(cfg.epochs if epochs is None else epochs)
        try:
            self._device = str(resolve_device(cfg.device))
        except ValueError as exc:
            self.shell.show_error("Cannot train", str(exc))
            return
        start = s.begin_training()
        request = TrainingRequest(X=s.X, model_config=start.model_config, train_config=cfg, labels=s.labels,
                                  epochs=epochs, trainer=start.trainer, model=start.model, history=start.history)
        self._run_model_config = start.model_config
        self._run_epochs = epochs
        self._run_start_epoch = s.epoch
        self._run_samples = s.n_samples
        self._last_snapshot = None
        self.widgets.settings_panel.set_training(True)
        self.controller.start(request)
        self.frame_timer.start()
        self.update_status()

    def stop(self, wait: bool = True, timeout_ms: int | None = 30000) -> bool:
        """Stop a running training (see ``TrainingController.stop``); True when none runs now."""
        if not self.controller.is_running:
            return True
        return self.controller.stop(wait=wait, timeout_ms=timeout_ms)

    def shutdown(self) -> None:
        """The window closes: stop any training and end what runs it."""
        self.frame_timer.stop()
        self.controller.shutdown()

    def reset_model(self) -> None:
        """Stop any training and forget the model; the next training starts from scratch."""
        self.stop()
        self.runner.invalidate(CLASSIFIER_KEY)
        self.runner.invalidate("encode")
        self.session.reset_model()
        self.widgets.loss_plot.clear()
        self.latent.dataset_changed()
        self._status("Model reset: the next training starts from scratch", 5000)
        self.update_status()

    def set_gamma(self, gamma: float) -> None:
        """Change gamma; a running training uses it from its next epoch."""
        s = self.session
        s.set_train_config(s.train_config.replace(gamma=float(gamma)))

    # -- the per-epoch result -------------------------------------------------------------------
    def fit_classifier(self, snap=None) -> None:
        """Compute the ``EpochResult`` of ``snap`` (default: the session's codes) off the UI
        thread; the session keeps it. A newer request replaces a queued older one."""
        s = self.session
        codes = s.codes if snap is None else snap.codes
        if codes is None or s.labels is None or len(codes) != s.n_samples:
            return
        store = s.labels.snapshot()
        ds = s.dataset
        y_test = ds.y[ds.test_idx] if (s.has_ground_truth and len(ds.test_idx)) else None
        epoch = snap.epoch if snap is not None else s.epoch
        model = s.model
        known = self._test_codes[1] if self._test_codes[0] is model and model is not None else None
        job = partial(compute_epoch_result, codes, store.labels, len(store.class_names), epoch=epoch,
                      label_version=store.version, y_true=s.y if s.has_ground_truth else None,
                      model=model, X_all=ds.X, test_idx=ds.test_idx, y_test=y_test, test_codes=known,
                      classifier=s.train_config.classifier)
        self.runner.submit(CLASSIFIER_KEY, job, on_result=lambda res: self._classifier_ready(res, model),
                           on_error=lambda exc: self._status(f"Classifier: {exc}", 5000))

    def _epoch_result_due(self, snap) -> None:
        self._pending_fit = snap
        wait = self._last_fit + CLASSIFIER_INTERVAL - time.monotonic()
        if wait <= 0 or self.controller.state == PAUSED:  # paused: nothing more to wait for
            self._fit_timer.stop()
            self._fit_pending()
        elif not self._fit_timer.isActive():
            self._fit_timer.start(int(1000 * wait) + 1)

    @Slot()
    def _fit_pending(self) -> None:
        snap, self._pending_fit = self._pending_fit, None
        if snap is not None:
            self._last_fit = time.monotonic()
            self.fit_classifier(snap)

    def _classifier_ready(self, result, model) -> None:
        # the test split is encoded once per model: a label change while idle reuses its codes
        if result is not None and result.test_codes is not None:
            self._test_codes = (model, result.test_codes)
        self.session.set_classifier(result)  # refused when the dataset changed meanwhile

    def compute_recon_errors(self) -> None:
        """Per-sample reconstruction errors of the newest weights, off the UI thread."""
        s = self.session
        model = s.model
        if model is None or self._recon_errors_for is model:
            return
        self._recon_errors_for = model

        def done(errors, model=model):
            if model is self.session.model:
                self.session.set_recon_errors(errors)

        self.runner.submit("recon-errors", reconstruction_errors, model, s.X, on_result=done,
                           on_error=lambda exc: self._status(f"Reconstruction errors: {exc}", 5000))

    def _dataset_changed(self) -> None:
        self._fit_timer.stop()
        self._pending_fit = None
        self.runner.invalidate(CLASSIFIER_KEY)
        self._test_codes = (None, None)
        self._store = follow_store(self._store, self.session.labels, labels=self._labels_changed,
                                   classes=self._labels_changed)

    def _labels_changed(self, *_args) -> None:
        # while training, the next epoch's result uses the new labels
        if not self.session.training and self.session.codes is not None:
            self.fit_classifier()

    # -- the training thread -> the session ------------------------------------------------------
    def _train_config_changed(self) -> None:
        self.controller.set_gamma(self.session.train_config.gamma)
        result = self.session.classifier
        if result is not None and result.kind != self.session.train_config.classifier:
            self.fit_classifier()  # another classifier on the codes was chosen

    @Slot()
    def _snapshot_ready(self) -> None:
        if not self.frame_timer.isActive():
            self.frame_timer.start()

    def _drain(self, latest, final, batches) -> None:
        s = self.session
        plot = self.widgets.loss_plot
        for epoch, losses in batches:
            plot.add_epoch_batches(epoch, losses)
        if final is not None:
            s.accept_epoch(final.model, self._run_model_config)
            plot.set_history([dict(h) for h in final.snapshot.history])
        if latest is not None:
            s.accept_snapshot(latest)
            self._last_snapshot = latest
            if not latest.final:
                plot.set_live(latest.epoch, latest.n_batches, latest.batch_losses)
        if final is not None:
            self._epoch_result_due(final.snapshot)
            if self.shell.view_state.color == "recon":
                self.compute_recon_errors()

    def _tick(self) -> None:
        c = self.controller
        if c.is_running:
            self._drain(c.take_latest(), c.take_final(), c.take_epoch_batches())
        latent = self.latent
        if latent.dirty:
            latent.flush()
            self.frames_rendered += 1
            now = time.monotonic()
            if now - self._last_status >= 1.0 / TEXT_HZ or not c.is_running:
                self._last_status = now
                self.update_status()
        elif not c.is_running:
            self.frame_timer.stop()

    def _state_changed(self, state: str) -> None:
        if state == PAUSED and self._pending_fit is not None:
            # a paused run shows its last epoch's result now, then nothing changes until resumed
            self._fit_timer.stop()
            self._fit_pending()
        if state in _SESSION_STATE and self.session.training:
            self.session.set_training_state(_SESSION_STATE[state])
        self.update_status()

    def _process_message(self, text: str) -> None:
        if text:
            self._status(text, 60000)
            self._process_note = True
        elif self._process_note:
            self._process_note = False
            self._status("", 1)

    def _training_failed(self, message: str, details: str) -> None:
        self.shell.show_error("Training stopped", message, details)

    def _training_finished(self, trainer) -> None:
        s = self.session
        self._drain(*self.controller.take_leftovers())
        self._fit_timer.stop()
        pending, self._pending_fit = self._pending_fit, None
        refit = s.finish_training(trainer)
        if trainer is not None:
            self.widgets.loss_plot.set_history(s.history)
            if refit and s.codes is not None:
                self.fit_classifier()
            elif pending is not None:
                self.fit_classifier(pending)
        self.widgets.settings_panel.set_training(False)
        self.latent.request_points()
        self.frame_timer.start()
        self.runFinished.emit()
        self.update_status()

    # -- display --------------------------------------------------------------------------------
    def _status(self, text: str, ms: int) -> None:
        self.shell.status(text, ms)

    def update_status(self) -> None:
        """The training controls, the status bar and the structure line under the view."""
        w = self.widgets
        s = self.session
        state = self.controller.state
        snap = self._last_snapshot if self.controller.is_running else None
        w.status_device.setText(f"device: {self._device}" if self._device else "")
        if snap is not None:
            epoch_in_run = max(0, snap.epoch - self._run_start_epoch)
            w.controls.show_progress(epoch_in_run, self._run_epochs, 0 if snap.final else snap.batch,
                                     snap.n_batches, state)
            shown_epoch = snap.epoch if snap.final else snap.epoch + 1
            w.status_epoch.setText(f"epoch {shown_epoch} total (batch {snap.batch}/{snap.n_batches})")
            rate = snap.samples_per_sec
            w.status_rate.setText(f"{rate:,.0f} samples/s")
            in_epoch = 0 if snap.final else min(snap.batch * s.train_config.batch_size, self._run_samples)
            done = epoch_in_run * self._run_samples + in_epoch
            remaining = max(0, self._run_epochs * self._run_samples - done)
            w.status_eta.setText(f"ETA {_duration(remaining / rate)}" if rate > 0 else "")
        else:
            if state == IDLE:
                w.controls.show_idle(f"idle — {counted(s.epoch, 'epoch')} trained" if s.epoch else "idle")
            w.status_epoch.setText(f"{counted(s.epoch, 'epoch')} total" if s.dataset is not None else "")
            w.status_rate.setText("")
            w.status_eta.setText("")
        self.update_structure_stats()

    def update_structure_stats(self) -> None:
        """The line of structure losses and classifier errors under the latent view."""
        w = self.widgets
        s = self.session
        snap = s.snapshot
        parts = []
        if snap is not None:
            parts.append(f"epoch {snap.epoch if snap.final else snap.epoch + 1}")
            parts.append(f"γ {snap.gamma:g}")
            if snap.stress is not None:
                parts.append(f"stress {snap.stress:.4g}")
            if len(snap.target_index):
                parts.append(f"structural {snap.struct_loss:.4g}")
            parts.append(f"reconstruction {snap.recon_loss:.4g}")
        elif s.history:
            h = s.history[-1]
            parts.append(f"epoch {h['epoch']}")
            if h.get("stress") is not None:
                parts.append(f"stress {h['stress']:.4g}")
            if h.get("n_labeled"):
                parts.append(f"structural {h['struct_loss']:.4g}")
            parts.append(f"reconstruction {h['recon_loss']:.4g}")
        res = s.classifier
        if res is not None:
            if res.test_error is not None:
                parts.append(f"test error {100 * res.test_error:.1f}%")
            elif res.train_error is not None:
                parts.append(f"unlabeled error {100 * res.train_error:.1f}%")
        self.latent.stats.setText(" · ".join(parts))
        detail = []
        if snap is not None:
            from saeviz.app.common.units import data_unit

            detail.append(f"RMSE {data_unit(s.dataset).format(snap.rmse)}, {snap.samples_per_sec:,.0f} samples/s")
        w.controls.set_detail(" ".join(detail))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"
