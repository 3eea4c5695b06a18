"""The window's files: opening datasets and models (and the questions around them), saving
the model, exporting the plot and the codes, the file dialogs and the last folder used.

``Documents`` belongs to one ``MainWindow``; loading runs on the shell's ``TaskRunner``.
Before the first training the view shows the untrained network's codes, or the demo's
shipped pretrained model at the first start (see ``first_view``), with a hint.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox

from saeviz.app.common.questions import save_discard_or_cancel
from saeviz.app.common.shell import Shell
from saeviz.app.common.wording import counted
from saeviz.app.training.worker import PAUSED, RUNNING
from saeviz.core.errors import SaevizError
from saeviz.core.io.checkpoint import SUFFIX as CHECKPOINT_SUFFIX
from saeviz.core.method.evaluate import encode_codes
from saeviz.core.state.session import export_table

log = logging.getLogger(__name__)


class Documents(QObject):
    """Opening, saving and exporting for ``window`` (a ``MainWindow``) through ``shell``."""

    def __init__(self, window, shell: Shell, first_start: bool = False):
        super().__init__(window)
        self.window = window
        self.shell = shell
        self.session = shell.session
        self.runner = shell.runner
        self.first_start = first_start
        self.saved_epoch = 0          # epochs of the model when it was last saved or loaded
        self.preview = False          # the codes shown are the untrained network's (first_view)
        self.hint_pretrained = False  # the model being applied is the demo's pretrained one
        self.startup_model = None

    # -- opening things ---------------------------------------------------------------------------
    def open_startup_dataset(self) -> None:
        spec = self.shell.settings.value("session/dataset")
        from saeviz.core.data.registry import DATASETS

        if not (isinstance(spec, str) and (spec in DATASETS or os.path.exists(spec))):
            spec = self.window.defaults.dataset
        from saeviz.app.window.first_view import pretrained_model

        # At the first start the demo shows its shipped pretrained model (see first_view).
        self.startup_model = pretrained_model(spec) if self.first_start else None
        self.open_dataset(spec)

    def stop_training_first(self) -> None:
        """Opening another dataset or model ends a running training first."""
        self.runner.invalidate("preview")
        controller = self.window.controller
        if controller.is_running:
            controller.stop(wait=True)
            self.shell.status("Training stopped", 5000)

    def open_dataset(self, spec, ask: bool = True) -> None:
        """Load a dataset (demo name, path or source dict) off the UI thread and show it;
        ``ask``: about a trained model that is not saved (False: the caller asked)."""
        from saeviz.core.data.registry import load_dataset

        if ask and not self.maybe_keep_model("opening another dataset"):
            self.window.settings_panel._dataset_changed()  # the dataset choice shows the open one again
            return
        self.stop_training_first()
        name = spec if isinstance(spec, str) else os.fspath(spec) if isinstance(spec, os.PathLike) else "dataset"
        self.shell.status(f"Loading {name}…", 0)
        self.runner.submit("dataset", load_dataset, spec,
                           on_result=lambda ds, spec=spec: self.dataset_loaded(ds, spec),
                           on_error=lambda exc: self.shell.show_error("Cannot open the dataset", str(exc)))

    def dataset_loaded(self, dataset, spec) -> None:
        self.stop_training_first()
        if isinstance(spec, os.PathLike):
            spec = os.fspath(spec)
        from saeviz.app.window.first_view import architecture_for

        s = self.session
        s.set_model_config(architecture_for(dataset.kind, s.model_config))  # the basis network for meshes
        s.set_dataset(dataset, spec=spec if isinstance(spec, str) else None)
        self.shell.status(f"Opened {dataset.name}", 5000)
        if dataset.kind == "mesh" and s.selected < 0 and s.n_samples:
            s.select(0)  # a body at once: the original, and its reconstruction once there is a model
        startup, self.startup_model = self.startup_model, None
        if startup is not None:
            self._show_startup_model(startup, dataset)
        else:
            self.preview_codes()

    # -- before the first training: points at once, and a hint ------------------------------------------
    def preview_codes(self) -> None:
        """Show the codes of the network the next training starts from (see first_view)."""
        from saeviz.app.window.first_view import untrained_codes

        s = self.session
        if s.dataset is None or s.training or s.model is not None or s.trainer is not None or s.codes is not None:
            return
        ds, cfg = s.dataset, s.model_config
        self.runner.submit("preview", untrained_codes, cfg, s.X, s.train_config.seed,
                           on_result=lambda codes, ds=ds, cfg=cfg: self._preview_ready(ds, cfg, codes),
                           on_error=lambda exc: log.info("no preview of the untrained network: %s", exc))

    def _preview_ready(self, dataset, cfg, codes) -> None:
        from saeviz.app.window.first_view import untrained_hint

        s = self.session
        if (s.dataset is not dataset or s.model_config != cfg or s.training or s.model is not None
                or s.trainer is not None or s.codes is not None or len(codes) != s.n_samples):
            return
        s.accept_codes(codes, None)
        self.preview = True
        self.window._update_actions()
        self.window.latent.set_hint(untrained_hint(self.shell.shortcut_text("train")))

    def _show_startup_model(self, path, dataset) -> None:
        """Load the demo's pretrained model off the UI thread and show its codes; without it,
        the untrained network's."""
        from saeviz.core.io.checkpoint import load_checkpoint

        def loaded(ckpt):
            s = self.session
            if (s.dataset is not dataset or s.training or s.model is not None or s.epoch
                    or dict(dataset.source) != dict(ckpt.dataset_source or {})):
                self.preview_codes()
                return
            self.hint_pretrained = True
            self.use_checkpoint(ckpt, path)

        def failed(exc):
            log.warning("the pretrained demo model could not be loaded: %s", exc)
            self.preview_codes()

        self.runner.submit("preview", load_checkpoint, str(path), on_result=loaded, on_error=failed)

    def clear_hint(self) -> None:
        self.preview = False
        self.hint_pretrained = False
        self.window.latent.set_hint("")

    def open_path(self, path) -> None:
        """Open a dataset (.npz, folder) or a checkpoint (.safetensors), as dropping it does."""
        path = Path(path)
        if path.is_file() and path.suffix.lower() == CHECKPOINT_SUFFIX:
            self.load_model(path)
        elif path.is_dir() or path.suffix.lower() == ".npz":
            self.open_dataset(str(path))
        elif path.is_file():
            from saeviz.core.io.checkpoint import read_header

            try:
                read_header(path)
            except SaevizError:
                self.shell.show_error("Cannot open this file", f"{path.name} is neither a dataset (.npz or a "
                                      "folder) nor a saved model (.safetensors).")
                return
            self.load_model(path)
        else:
            self.shell.show_error("Cannot open", f"{path}: no such file or folder")

    def load_model(self, path) -> None:
        """Load a checkpoint off the UI thread and apply it to the open dataset (see
        ``_checkpoint_loaded``)."""
        from saeviz.core.io.checkpoint import load_checkpoint

        if not self.maybe_keep_model("loading another model"):
            return
        self.stop_training_first()
        self.shell.status(f"Loading model {Path(path).name}…", 0)
        self.runner.submit("checkpoint", load_checkpoint, str(path),
                           on_result=lambda ckpt, path=path: self._checkpoint_loaded(ckpt, path),
                           on_error=lambda exc: self.shell.show_error("Cannot load the model", str(exc)))

    def _checkpoint_loaded(self, ckpt, path) -> None:
        """The model applies to the open dataset when its samples have the model's shape;
        otherwise (or with no dataset open) the model's own dataset is opened, after asking
        when that replaces an open one."""
        from saeviz.core.data.registry import load_dataset

        ds = self.session.dataset
        source = ckpt.dataset_source
        if ds is not None and (not source or dict(ds.source or {}) == source
                               or tuple(ds.sample_shape) == tuple(ckpt.model.sample_shape)):
            self._apply_checkpoint(ckpt, path, own_dataset=not source or dict(ds.source or {}) == source)
            return
        if not source:
            self._apply_checkpoint(ckpt, path)  # says why it cannot be used
            return
        if ds is not None and not self.ask_open_model_dataset(ckpt, path):
            self.shell.status(f"Model {Path(path).name} not loaded", 5000)
            return

        def loaded(dataset):
            self.stop_training_first()
            self.session.set_dataset(dataset, spec=None)
            self._apply_checkpoint(ckpt, path)

        self.shell.status(f"Opening the dataset of {Path(path).name}…", 0)
        self.runner.submit("dataset", load_dataset, source, on_result=loaded,
                           on_error=lambda exc: self.shell.show_error("Cannot load the model",
                                                                      f"its dataset could not be opened: {exc}"))

    def ask_open_model_dataset(self, ckpt, path) -> bool:
        """Whether to replace the open dataset by the one a model was trained on (its samples
        have another shape than the open dataset's)."""
        ds = self.session.dataset
        shape = "×".join(str(v) for v in ckpt.model.sample_shape)
        open_shape = "×".join(str(v) for v in ds.sample_shape)
        name = ckpt.dataset_source.get("name") or ckpt.dataset_source.get("loader") or "its own dataset"
        box = QMessageBox(QMessageBox.Question, "Load model",
                          f"{Path(path).name} was trained on samples of shape {shape} ({name}); "
                          f"the open dataset {ds.name} has samples of shape {open_shape}.",
                          QMessageBox.Cancel, self.shell.parent_widget)
        box.setObjectName("modelDatasetBox")
        box.setInformativeText("Open the model's dataset instead? This closes the open dataset and its labels.")
        use = box.addButton("Open the model's dataset", QMessageBox.AcceptRole)
        box.setDefaultButton(QMessageBox.Cancel)
        box.exec()
        return box.clickedButton() is use

    def use_checkpoint(self, ckpt, path, own_labels: bool = True) -> None:
        """Apply a loaded checkpoint to the open dataset (as opening a model file does).
        ``own_labels=False`` keeps the labels and classes already set (a project's)."""
        self._apply_checkpoint(ckpt, path, own_dataset=own_labels)

    def _apply_checkpoint(self, ckpt, path, own_dataset: bool = True) -> None:
        """``own_dataset``: the open dataset is the model's, so its saved labels apply too."""
        s = self.session
        try:
            s.apply_checkpoint(ckpt, labels=own_dataset)
        except SaevizError as exc:
            self.shell.show_error("Cannot use the model", str(exc))
            return
        self.saved_epoch = s.epoch
        loss_plot = self.window.loss_plot
        loss_plot.clear()
        loss_plot.set_history(s.history)
        store = s.labels.snapshot()
        self.runner.submit("encode", encode_codes, s.model, s.X, store.labels, store.distances, s.train_config,
                           on_result=lambda res: self._codes_ready(*res),
                           on_error=lambda exc: self.shell.show_error("Cannot encode the dataset", str(exc)))
        self.shell.status(f"Loaded model {Path(path).name} ({counted(s.epoch, 'epoch')})", 5000)

    def _codes_ready(self, codes, class_targets) -> None:
        from saeviz.app.window.first_view import pretrained_hint

        pretrained = self.hint_pretrained
        self.clear_hint()
        self.session.accept_codes(codes, class_targets)
        if pretrained:
            self.window.latent.set_hint(pretrained_hint(self.session.epoch, self.shell.shortcut_text("train"),
                                                        self.shell.shortcut_text("reset")))
        self.window._fit_classifier()
        self.window._update_actions()  # exporting codes needs them

    def save_model(self, path) -> Path:
        out = self.session.save_model(path)
        self.mark_model_saved()
        self.shell.status(f"Saved model to {out}", 5000)
        return out

    # -- the trained model is not lost without asking ----------------------------------------------
    @property
    def model_unsaved(self) -> bool:
        """Epochs were trained since the model was last saved or loaded."""
        return self.session.epoch > self.saved_epoch

    def mark_model_saved(self) -> None:
        self.saved_epoch = self.session.epoch

    def ask_unsaved_model(self, doing: str) -> str:
        """"save", "discard" or "cancel" for a trained model that is not saved (a blocking question)."""
        return save_discard_or_cancel(
            self.shell.parent_widget, "Unsaved model",
            f"The model trained for {counted(self.session.epoch, 'epoch')} is not saved.",
            f"Save it before {doing}? Discarding loses the training.", "unsavedModelBox")

    def maybe_keep_model(self, doing: str) -> bool:
        """True when the current model may go (nothing new since it was saved, saved now, or
        discarded); False keeps everything as it is, a running training too. A running
        training is paused while the user is asked (the question names the epochs the model
        has, and a saved model is the one asked about) and goes on when the answer keeps it."""
        if not self.model_unsaved:
            return True
        controller = self.window.controller
        held = controller.state == RUNNING
        if held:
            controller.pause()
        keep = False
        try:
            keep = self._keep_model(doing)
        finally:
            if held and not keep and controller.state == PAUSED:
                controller.resume()
        return keep

    def _keep_model(self, doing: str) -> bool:
        answer = self.ask_unsaved_model(doing)
        if answer == "discard":
            return True
        if answer == "save":
            project = self.window.labeling
            if project.project.folder is not None:
                return project.save_project()  # the project keeps the model too
            return self.save_dialog()
        return False

    def export_image(self, path) -> Path:
        out = self.window.latent.export_image(path)
        self.shell.status(f"Saved plot to {out}", 5000)
        return out

    def export_codes(self, path) -> Path:
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".csv")
        out = export_table(path, self.session.export_columns(self.window.latent.coords))
        self.shell.status(f"Saved codes to {out}", 5000)
        return out

    # -- dialogs ---------------------------------------------------------------------------------------
    def _ask_path(self, save: bool, title: str, filters: str, suffixes: dict[str, str] | None = None) -> str:
        """A path from a file dialog in the last folder used ('' when cancelled); ``suffixes``:
        the suffix added to a name without one, by a word of the chosen filter."""
        parent, start = self.shell.parent_widget, self.shell.last_dir()
        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, chosen = ask(parent, title, start, filters)
        if path and suffixes and not Path(path).suffix:
            path += next((s for word, s in suffixes.items() if word in chosen.lower()), next(iter(suffixes.values())))
        if path:
            self.shell.remember_dir(path)
        return path

    def open_dialog(self) -> None:
        path = self._ask_path(False, "Open dataset or model", "Datasets and models (*.npz *.safetensors);;"
                              "Datasets (*.npz);;Models (*.safetensors);;All files (*)")
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.shell.parent_widget, "Open dataset folder", self.shell.last_dir())
        if path:
            self.shell.remember_dir(path)
            self.open_path(path)

    def load_dialog(self) -> None:
        path = self._ask_path(False, "Load model", "Models (*.safetensors)")
        if path:
            self.load_model(path)

    def save_dialog(self) -> bool:
        path = self._ask_path(True, "Save model", "Models (*.safetensors)")
        return bool(path) and self._guard("Cannot save the model", self.save_model, path) is not None

    def export_image_dialog(self) -> None:
        path = self._ask_path(True, "Export plot", "PNG image (*.png);;SVG drawing (*.svg)",
                              {"png": ".png", "svg": ".svg"})
        if path:
            self._guard("Cannot export the plot", self.export_image, path)

    def export_codes_dialog(self) -> None:
        path = self._ask_path(True, "Export codes", "CSV table (*.csv);;NumPy archive (*.npz)",
                              {"csv": ".csv", "npz": ".npz"})
        if path:
            self._guard("Cannot export the codes", self.export_codes, path)

    # -- drag and drop ----------------------------------------------------------------------------------
    def drag_enter(self, event) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def drop(self, event) -> None:
        """Open the first file or folder dropped on the window."""
        paths = _local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_path(paths[0])

    def _guard(self, title: str, fn, *args):
        try:
            return fn(*args)
        except (SaevizError, OSError) as exc:
            self.shell.show_error(title, str(exc))
            return None


def _local_paths(mime) -> list[str]:
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


__all__ = ["Documents"]
