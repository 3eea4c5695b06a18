"""The main window: the latent view in the centre, docks around it, menus and shortcuts.

The window wires views to the ``Session`` and runs long work elsewhere: training in a
``TrainingController`` thread, classifier fits, slow projections, decoding and file loading
on a ``TaskRunner``. The UI keeps only the newest training snapshot and repaints on a timer
(at most ``FRAME_HZ`` per second).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from saeviz import __version__
from saeviz.app.common.questions import save_discard_or_cancel
from saeviz.app.common.tasks import TaskRunner
from saeviz.app.latent.inspector import Inspector
from saeviz.app.latent.panel import COLOR_MODES, PROJECTIONS, LatentPanel
from saeviz.app.training.controls import LiveLabel, TrainingControls
from saeviz.app.training.loss_plot import LossPlot
from saeviz.app.training.settings_panel import SettingsPanel
from saeviz.app.training.worker import (
    IDLE,
    PAUSED,
    RUNNING,
    STOPPING,
    TrainingController,
    TrainingRequest,
    classifier_job,
)
from saeviz.core.errors import SaevizError
from saeviz.core.io.checkpoint import SUFFIX as CHECKPOINT_SUFFIX
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.evaluate import encode_codes, reconstruction_errors
from saeviz.core.state.session import (
    Session,
    SessionDefaults,
    export_table,
    frozen_model,
    load_defaults,
)

log = logging.getLogger(__name__)

FRAME_HZ = 20
TEXT_HZ = 5  # loss curves of the running epoch and the status texts update at most this often
RESOURCES = Path(__file__).resolve().parents[3] / "resources"
STATE_VERSION = 1

PAPER = ("M. Rudolph, B. Wandt, B. Rosenhahn: “Structuring Autoencoders”, "
         "ICCV Workshops 2019")


def resource(name: str) -> Path | None:
    path = RESOURCES / name
    return path if path.exists() else None


def app_icon() -> QIcon:
    path = resource("saeviz.svg")
    return QIcon(str(path)) if path is not None else QIcon()


class MainWindow(QMainWindow):
    """saeviz's main window. ``settings`` defaults to the application's QSettings."""

    def __init__(self, session: Session | None = None, settings: QSettings | None = None,
                 defaults: SessionDefaults | None = None, open_startup: bool = True,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("saeviz")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.settings = settings if settings is not None else QSettings()
        # a first start: the shipped settings and nothing remembered (see _open_startup_dataset)
        self._first_start = defaults is None and not self.settings.value("session/model")
        if defaults is None:
            try:
                defaults = load_defaults(resource("default_settings.json"))
            except SaevizError as exc:
                log.warning("%s", exc)
                defaults = SessionDefaults()
        self.defaults = defaults
        self.session = session if session is not None else Session(defaults)
        self.runner = TaskRunner(self, max_threads=1)
        self.controller = TrainingController(self)
        self.last_error: str | None = None
        self._message_box: QMessageBox | None = None
        self._run_epochs = 0
        self._run_start_epoch = 0
        self._run_samples = 0
        self._run_model_config = None
        self._recon_errors_for = None
        self._last_status = 0.0
        self._last_snapshot = None
        self._device = ""
        self._saved_epoch = 0  # epochs of the model when it was last saved or loaded
        self._store = None
        self._preview = False          # the codes shown are the untrained network's (first_view)
        self._hint_pretrained = False  # the model being applied is the demo's pretrained one
        self._startup_model = None
        self.frames_rendered = 0

        self._make_actions()
        self.latent = LatentPanel(self.session, self.runner)
        self.setCentralWidget(self.latent)
        self.settings_panel = SettingsPanel(self.session, self._demo_names())
        self.controls = TrainingControls(self.actions)
        self.inspector = Inspector(self.session, self.runner)
        self.loss_plot = LossPlot()
        self.docks: dict[str, QDockWidget] = {}
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(self.settings_panel)
        scroll.setMinimumWidth(self.settings_panel.minimumSizeHint().width()
                               + scroll.verticalScrollBar().sizeHint().width() + 4)
        self._add_dock("settings", "Data && model", scroll, Qt.LeftDockWidgetArea)
        self._add_dock("training", "Training", self.controls, Qt.LeftDockWidgetArea)
        self._add_dock("inspector", "Inspector", self.inspector, Qt.RightDockWidgetArea)
        self._add_dock("loss", "Loss", self.loss_plot, Qt.RightDockWidgetArea)
        self.splitDockWidget(self.docks["inspector"], self.docks["loss"], Qt.Vertical)
        self._make_menus()
        self._make_status_bar()

        self.frame_timer = QTimer(self)
        self.frame_timer.setInterval(int(1000 / FRAME_HZ))
        self.frame_timer.timeout.connect(self._tick)

        s = self.session
        s.dataset_changed.connect(self._dataset_changed)
        s.snapshot_changed.connect(self._snapshot_changed)
        s.classifier_changed.connect(self._classifier_changed)
        s.selection_changed.connect(self._selection_changed)
        s.config_changed.connect(self._config_changed)
        s.model_changed.connect(self._update_actions)
        s.errors_changed.connect(self._classifier_changed)
        self.latent.needsReconErrors.connect(self._compute_recon_errors)
        self.latent.frameRequested.connect(self._ensure_timer)
        self.settings_panel.datasetRequested.connect(self.open_dataset)
        self.settings_panel.openRequested.connect(self._open_dialog)
        self.inspector.findRequested.connect(self.find_sample)
        self.latent.info.connect(self._info)
        self.controller.stateChanged.connect(self._state_changed)
        self.controller.snapshotReady.connect(self._snapshot_ready)
        self.controller.failed.connect(self._training_failed)
        self.controller.finished.connect(self._training_finished)

        from saeviz.app.labeling.feature import attach_labeling

        self.labeling = attach_labeling(self)  # paint tools, classes, distances, undo, projects
        from saeviz.app.guided.feature import attach_guided

        self.guided = attach_guided(self)  # candidates, labeling queue, classifier metrics, rounds
        from saeviz.app.mesh.morph_panel import attach_mesh_tools

        # mesh viewport, class transitions, decoding any point of a linear projection
        self.mesh_tools = attach_mesh_tools(self, projection=lambda: self.latent._live)
        self._fit_small_screens()
        self.resize(*self._default_size())
        self.resizeDocks([self.docks["settings"], self.docks["inspector"]], [330, 420], Qt.Horizontal)
        self.resizeDocks([self.docks["settings"], self.docks["inspector"]], [640, 430], Qt.Vertical)
        training = self.docks["training"]
        self.resizeDocks([training], [training.sizeHint().height()], Qt.Vertical)  # the rest: settings
        for key in ("settings", "inspector", "loss"):  # the first tab of each group in front
            self.docks[key].raise_()
        self._default_state = self.saveState(STATE_VERSION)
        self._restore_settings()
        self._update_actions()
        self._update_status()
        if s.dataset is not None:
            self._dataset_changed()
        if open_startup and s.dataset is None:
            QTimer.singleShot(0, self._open_startup_dataset)

    # -- construction ---------------------------------------------------------------------------
    def _demo_names(self) -> tuple[str, ...]:
        from saeviz.core.data.registry import DATASETS

        return tuple(DATASETS)

    def _fit_small_screens(self) -> None:
        """Panels scroll inside their docks and tab titles stay whole, so that the window fits
        and works on a 1280x720 screen (see ``window_fit``); actions get their icons."""
        from saeviz.app.common.icons import decorate
        from saeviz.app.window.window_fit import TabTitles, scroll_docks

        scroll_docks(self)
        self.tab_titles = TabTitles(self)
        decorate(self)

    def _default_size(self) -> tuple[int, int]:
        """1400x880, or the available screen area when that is smaller."""
        from saeviz.app.window.window_fit import available_rect

        area = available_rect(self)
        if area is None:
            return 1400, 880
        return min(1400, area.width()), min(880, area.height() - 40)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not getattr(self, "_shown_once", False):
            self._shown_once = True
            QTimer.singleShot(0, self.fit_to_screen)

    def fit_to_screen(self) -> bool:
        """Keep the window (frame included) within the available area of its screen."""
        from saeviz.app.window.window_fit import fit_to_screen

        return fit_to_screen(self)

    def _add_dock(self, key: str, title: str, widget: QWidget, area) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{key}Dock")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                         | QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock

    def _action(self, key: str, text: str, slot, shortcut=None, tip: str = "", icon: str | None = None) -> QAction:
        act = QAction(text, self)
        act.setObjectName(f"{key}Action")
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        if icon is not None:
            act.setIcon(QIcon.fromTheme(icon))
        act.triggered.connect(slot)
        self.addAction(act)  # shortcuts work while the menu bar is hidden too
        self.actions[key] = act
        return act

    def _make_actions(self) -> None:
        self.actions: dict[str, QAction] = {}
        a = self._action
        a("open", "&Open dataset or model…", self._open_dialog, QKeySequence.Open,
          "Open a dataset (.npz) or a saved model (.safetensors)", "document-open")
        a("open_folder", "Open dataset &folder…", self._open_folder_dialog, "Ctrl+Shift+O",
          "Open a folder of images, IDX files or meshes", "folder-open")
        a("load", "&Load model…", self._load_dialog, None, "Load a saved model", "document-open")
        a("save", "&Save model…", self._save_dialog, QKeySequence.Save,
          "Save the model, labels and history", "document-save")
        a("export_image", "&Export plot image…", self._export_image_dialog, "Ctrl+E",
          "Save the latent view as PNG or SVG", "image-x-generic")
        a("export_codes", "Export &codes…", self._export_codes_dialog, "Ctrl+Shift+E",
          "Save codes, projection and labels as CSV or NPZ", "document-save-as")
        a("quit", "&Quit", self.close, QKeySequence.Quit, icon="application-exit")
        a("train", "&Train", self.train_or_pause, "Space",
          "Train (Space); while training: pause or resume", "media-playback-start")
        a("stop", "S&top", self.stop_training, "Esc", "Stop training (Esc)", "media-playback-stop")
        a("reset", "&Reset model", self.reset_model, "Ctrl+R",
          "Forget the trained model; the next training starts afresh", "view-refresh")
        a("view3d", "&3D view", self._toggle_3d, "Ctrl+3", "Show three projected dimensions")
        self.actions["view3d"].setCheckable(True)
        a("reset_layout", "Reset &layout", self.reset_layout, None, "Put the panels back where they started")
        a("about", "&About saeviz", self.show_about, QKeySequence.HelpContents, icon="help-about")
        a("about_qt", "About &Qt", lambda: QMessageBox.aboutQt(self))
        a("shortcuts", "&Keyboard shortcuts", self.show_shortcuts, "Ctrl+/",
          "List every keyboard shortcut and mouse gesture")
        for key in ("train", "stop"):
            self.actions[key].setShortcutContext(Qt.WindowShortcut)

    def _make_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        for key in ("open", "open_folder"):
            f.addAction(self.actions[key])
        f.addSeparator()
        for key in ("load", "save"):
            f.addAction(self.actions[key])
        f.addSeparator()
        for key in ("export_image", "export_codes"):
            f.addAction(self.actions[key])
        f.addSeparator()
        f.addAction(self.actions["quit"])
        t = mb.addMenu("&Training")
        for key in ("train", "stop", "reset"):
            t.addAction(self.actions[key])
        v = mb.addMenu("&View")
        v.addAction(self.actions["view3d"])
        pm = v.addMenu("&Projection")
        group = QActionGroup(self)
        self.projection_actions: dict[str, QAction] = {}
        for i, (key, text) in enumerate(PROJECTIONS):
            act = QAction(text, self, checkable=True)
            act.setShortcut(QKeySequence(f"Alt+{i + 1}"))
            act.setData(key)
            act.triggered.connect(lambda _=False, key=key: self.latent.set_method(key))
            group.addAction(act)
            pm.addAction(act)
            self.addAction(act)
            self.projection_actions[key] = act
        cm = v.addMenu("&Colour by")
        cgroup = QActionGroup(self)
        self.color_actions: dict[str, QAction] = {}
        for key, text in COLOR_MODES:
            act = QAction(text, self, checkable=True)
            act.triggered.connect(lambda _=False, key=key: self.latent.set_color_mode(key))
            cgroup.addAction(act)
            cm.addAction(act)
            self.color_actions[key] = act
        self.latent.method_combo.currentIndexChanged.connect(self._sync_view_menu)
        self.latent.color_combo.currentIndexChanged.connect(self._sync_view_menu)
        self.latent.dims_button.toggled.connect(self.actions["view3d"].setChecked)
        self._sync_view_menu()
        v.addSeparator()
        panels = v.addMenu("P&anels")
        for dock in self.docks.values():
            panels.addAction(dock.toggleViewAction())
        v.addAction(self.actions["reset_layout"])
        h = mb.addMenu("&Help")
        h.addAction(self.actions["shortcuts"])
        h.addSeparator()
        h.addAction(self.actions["about"])
        h.addAction(self.actions["about_qt"])

    def _sync_view_menu(self, *_args) -> None:
        act = self.projection_actions.get(self.latent.method)
        if act is not None:
            act.setChecked(True)
            act.setEnabled(self.latent.method_combo.model().item(self.latent.method_combo.currentIndex()).isEnabled())
        cact = self.color_actions.get(self.latent.color_combo.currentData())
        if cact is not None:
            cact.setChecked(True)
        i = self.latent.method_combo.findData("umap")
        self.projection_actions["umap"].setEnabled(self.latent.method_combo.model().item(i).isEnabled())

    def _make_status_bar(self) -> None:
        sb = self.statusBar()
        self.status_epoch = LiveLabel()
        self.status_rate = LiveLabel()
        self.status_eta = LiveLabel()
        self.status_device = LiveLabel()
        fm = self.fontMetrics()
        for w, sample in ((self.status_epoch, "epoch 0000 total (batch 0000/0000)"),
                          (self.status_rate, "000,000 samples/s"), (self.status_eta, "ETA 00 min 00 s"),
                          (self.status_device, "device: cuda:0")):
            w.setContentsMargins(8, 0, 8, 0)
            w.setFixedWidth(fm.horizontalAdvance(sample) + 16)  # fixed size: no relayout on new text
            sb.addPermanentWidget(w)

    # -- settings persistence ------------------------------------------------------------------
    def _restore_settings(self) -> None:
        st = self.settings
        geometry = st.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
            self.fit_to_screen()  # saved on a larger screen
        state = st.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state, STATE_VERSION)
        method = st.value("view/projection")
        if method in dict(PROJECTIONS) and method != "umap":
            self.latent.set_method(method)
        mode = st.value("view/color")
        if mode in dict(COLOR_MODES):
            self.latent.set_color_mode(mode)
        if self.session.dataset is None:
            try:
                model = st.value("session/model")
                train = st.value("session/train")
                if isinstance(model, str) and model:
                    self.session.set_model_config(ModelConfig.from_dict(_json_loads(model)))
                if isinstance(train, str) and train:
                    self.session.set_train_config(TrainConfig.from_dict(_json_loads(train)))
                fraction = st.value("session/label_fraction")
                if fraction is not None:
                    f = float(fraction)
                    if 0.0 <= f <= 1.0:
                        self.session.label_fraction = f
            except (ValueError, TypeError) as exc:
                log.warning("ignoring saved settings: %s", exc)

    def _save_settings(self) -> None:
        import json

        st = self.settings
        st.setValue("window/geometry", self.saveGeometry())
        st.setValue("window/state", self.saveState(STATE_VERSION))
        st.setValue("view/projection", self.latent.method)
        st.setValue("view/color", self.latent.color_combo.currentData())
        st.setValue("session/model", json.dumps(self.session.model_config.to_dict()))
        st.setValue("session/train", json.dumps(self.session.train_config.replace(snapshot_every=0).to_dict()))
        st.setValue("session/label_fraction", float(self.session.label_fraction))
        spec = self.session.dataset_spec
        if isinstance(spec, str):
            st.setValue("session/dataset", spec)
        st.sync()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, STATE_VERSION)
        for dock in self.docks.values():
            dock.show()

    # -- opening things ---------------------------------------------------------------------------
    def _open_startup_dataset(self) -> None:
        spec = self.settings.value("session/dataset")
        demos = self._demo_names()
        if not (isinstance(spec, str) and (spec in demos or os.path.exists(spec))):
            spec = self.defaults.dataset
        from saeviz.app.window.first_view import pretrained_model

        # At the first start the demo shows its shipped pretrained model (see first_view).
        self._startup_model = pretrained_model(spec) if self._first_start else None
        self.open_dataset(spec)

    def _stop_training_first(self) -> None:
        """Opening another dataset or model ends a running training first."""
        self.runner.invalidate("preview")
        if self.controller.is_running:
            self.controller.stop(wait=True)
            self.statusBar().showMessage("Training stopped", 5000)

    def open_dataset(self, spec, ask: bool = True) -> None:
        """Load a dataset (demo name, path or source dict) off the UI thread and show it;
        ``ask``: about a trained model that is not saved (False: the caller asked)."""
        from saeviz.core.data.registry import load_dataset

        if ask and not self.maybe_keep_model("opening another dataset"):
            self.settings_panel._dataset_changed()  # the dataset choice shows the open one again
            return
        self._stop_training_first()
        name = spec if isinstance(spec, str) else os.fspath(spec) if isinstance(spec, os.PathLike) else "dataset"
        self.statusBar().showMessage(f"Loading {name}…")
        self.runner.submit("dataset", load_dataset, spec,
                           on_result=lambda ds, spec=spec: self._dataset_loaded(ds, spec),
                           on_error=lambda exc: self.show_error("Cannot open the dataset", str(exc)))

    def _dataset_loaded(self, dataset, spec) -> None:
        self._stop_training_first()
        if isinstance(spec, os.PathLike):
            spec = os.fspath(spec)
        from saeviz.app.window.first_view import architecture_for

        s = self.session
        s.set_model_config(architecture_for(dataset.kind, s.model_config))  # the basis network for meshes
        s.set_dataset(dataset, spec=spec if isinstance(spec, str) else None)
        self.statusBar().showMessage(f"Opened {dataset.name}", 5000)
        if dataset.kind == "mesh" and s.selected < 0 and s.n_samples:
            s.select(0)  # a body at once: the original, and its reconstruction once there is a model
        startup, self._startup_model = getattr(self, "_startup_model", None), None
        if startup is not None:
            self._show_startup_model(startup, dataset)
        else:
            self._preview_codes()

    # -- before the first training: points at once, and a hint ------------------------------------------
    def _preview_codes(self) -> None:
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
        self._preview = True
        self._update_actions()
        self.latent.set_hint(untrained_hint(self._key_text("train")))

    def _show_startup_model(self, path, dataset) -> None:
        """Load the demo's pretrained model off the UI thread and show its codes; without it,
        the untrained network's."""
        from saeviz.core.io.checkpoint import load_checkpoint

        def loaded(ckpt):
            s = self.session
            if (s.dataset is not dataset or s.training or s.model is not None or s.epoch
                    or dict(dataset.source) != dict(ckpt.dataset_source or {})):
                self._preview_codes()
                return
            self._hint_pretrained = True
            self.use_checkpoint(ckpt, path)

        def failed(exc):
            log.warning("the pretrained demo model could not be loaded: %s", exc)
            self._preview_codes()

        self.runner.submit("preview", load_checkpoint, str(path), on_result=loaded, on_error=failed)

    def _key_text(self, action: str) -> str:
        return self.actions[action].shortcut().toString(QKeySequence.NativeText)

    def _clear_hint(self) -> None:
        self._preview = False
        self._hint_pretrained = False
        self.latent.set_hint("")

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
                self.show_error("Cannot open this file", f"{path.name} is neither a dataset (.npz or a "
                                "folder) nor a saved model (.safetensors).")
                return
            self.load_model(path)
        else:
            self.show_error("Cannot open", f"{path}: no such file or folder")

    def load_model(self, path) -> None:
        """Load a checkpoint off the UI thread and apply it to the open dataset (see
        ``_checkpoint_loaded``)."""
        from saeviz.core.io.checkpoint import load_checkpoint

        if not self.maybe_keep_model("loading another model"):
            return
        self._stop_training_first()
        self.statusBar().showMessage(f"Loading model {Path(path).name}…")
        self.runner.submit("checkpoint", load_checkpoint, str(path),
                           on_result=lambda ckpt, path=path: self._checkpoint_loaded(ckpt, path),
                           on_error=lambda exc: self.show_error("Cannot load the model", str(exc)))

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
            self.statusBar().showMessage(f"Model {Path(path).name} not loaded", 5000)
            return

        def loaded(dataset):
            self._stop_training_first()
            self.session.set_dataset(dataset, spec=None)
            self._apply_checkpoint(ckpt, path)

        self.statusBar().showMessage(f"Opening the dataset of {Path(path).name}…")
        self.runner.submit("dataset", load_dataset, source, on_result=loaded,
                           on_error=lambda exc: self.show_error("Cannot load the model",
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
                          QMessageBox.Cancel, self)
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
            self.show_error("Cannot use the model", str(exc))
            return
        self._saved_epoch = s.epoch
        self.loss_plot.clear()
        self.loss_plot.set_history(s.history)
        store = s.labels.snapshot()
        self.runner.submit("encode", encode_codes, s.model, s.X, store.labels, store.distances, s.train_config,
                           on_result=lambda res: self._codes_ready(*res),
                           on_error=lambda exc: self.show_error("Cannot encode the dataset", str(exc)))
        self.statusBar().showMessage(f"Loaded model {Path(path).name} ({s.epoch} epochs)", 5000)

    def _codes_ready(self, codes, class_targets) -> None:
        from saeviz.app.window.first_view import pretrained_hint

        pretrained = getattr(self, "_hint_pretrained", False)
        self._clear_hint()
        self.session.accept_codes(codes, class_targets)
        if pretrained:
            self.latent.set_hint(pretrained_hint(self.session.epoch, self._key_text("train"), self._key_text("reset")))
        self._fit_classifier()
        self._update_actions()  # exporting codes needs them

    def save_model(self, path) -> Path:
        out = self.session.save_model(path)
        self.mark_model_saved()
        self.statusBar().showMessage(f"Saved model to {out}", 5000)
        return out

    # -- the trained model is not lost without asking ----------------------------------------------
    @property
    def model_unsaved(self) -> bool:
        """Epochs were trained since the model was last saved or loaded."""
        return self.session.epoch > self._saved_epoch

    def mark_model_saved(self) -> None:
        self._saved_epoch = self.session.epoch

    def ask_unsaved_model(self, doing: str) -> str:
        """"save", "discard" or "cancel" for a trained model that is not saved (a blocking question)."""
        return save_discard_or_cancel(
            self, "Unsaved model", f"The model trained for {self.session.epoch} epochs is not saved.",
            f"Save it before {doing}? Discarding loses the training.", "unsavedModelBox")

    def maybe_keep_model(self, doing: str) -> bool:
        """True when the current model may go (nothing new since it was saved, saved now, or
        discarded); False keeps everything as it is, a running training too."""
        if not self.model_unsaved:
            return True
        answer = self.ask_unsaved_model(doing)
        if answer == "discard":
            return True
        if answer == "save":
            project = getattr(self, "labeling", None)
            if project is not None and project.project.folder is not None:
                return project.save_project()  # the project keeps the model too
            return self._save_dialog()
        return False

    def export_image(self, path) -> Path:
        out = self.latent.export_image(path)
        self.statusBar().showMessage(f"Saved plot to {out}", 5000)
        return out

    def export_codes(self, path) -> Path:
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".csv")
        out = export_table(path, self.session.export_columns(self.latent.coords))
        self.statusBar().showMessage(f"Saved codes to {out}", 5000)
        return out

    # -- dialogs ---------------------------------------------------------------------------------------
    def _last_dir(self) -> str:
        d = self.settings.value("paths/last_dir")
        return d if isinstance(d, str) and os.path.isdir(d) else str(Path.home())

    def _remember_dir(self, path) -> None:
        p = Path(path)
        self.settings.setValue("paths/last_dir", str(p if p.is_dir() else p.parent))

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open dataset or model", self._last_dir(),
            "Datasets and models (*.npz *.safetensors);;Datasets (*.npz);;Models (*.safetensors);;All files (*)")
        if path:
            self._remember_dir(path)
            self.open_path(path)

    def _open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open dataset folder", self._last_dir())
        if path:
            self._remember_dir(path)
            self.open_path(path)

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", self._last_dir(), "Models (*.safetensors)")
        if path:
            self._remember_dir(path)
            self.load_model(path)

    def _save_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save model", self._last_dir(), "Models (*.safetensors)")
        if not path:
            return False
        self._remember_dir(path)
        return self._guard("Cannot save the model", self.save_model, path) is not None

    def _export_image_dialog(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export plot", self._last_dir(),
                                                   "PNG image (*.png);;SVG drawing (*.svg)")
        if path:
            if not Path(path).suffix:
                path += ".svg" if "svg" in chosen.lower() else ".png"
            self._remember_dir(path)
            self._guard("Cannot export the plot", self.export_image, path)

    def _export_codes_dialog(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export codes", self._last_dir(),
                                                   "CSV table (*.csv);;NumPy archive (*.npz)")
        if path:
            if not Path(path).suffix:
                path += ".npz" if "npz" in chosen.lower() else ".csv"
            self._remember_dir(path)
            self._guard("Cannot export the codes", self.export_codes, path)

    def _guard(self, title: str, fn, *args):
        try:
            return fn(*args)
        except (SaevizError, OSError) as exc:
            self.show_error(title, str(exc))
            return None

    def show_about(self) -> None:
        box = QMessageBox(self)
        box.setIconPixmap(app_icon().pixmap(64, 64))
        box.setWindowTitle("About saeviz")
        box.setTextFormat(Qt.RichText)
        box.setText(
            f"<h3>saeviz {__version__}</h3>"
            "<p>Explore and structure the latent space of autoencoders with a few labels.</p>"
            "<p>saeviz implements the <b>Structuring Autoencoder</b> (SAE): each epoch, "
            "multidimensional scaling places the labeled samples' codes according to "
            "chosen distances between classes, an orthogonal alignment turns these targets "
            "towards the current codes, and the network trains on γ · structural loss + "
            "(1 − γ) · reconstruction loss.</p>"
            f"<p>{PAPER}.</p>")
        box.setStandardButtons(QMessageBox.Ok)
        box.setAttribute(Qt.WA_DeleteOnClose)
        self._about_box = box
        box.open()

    def show_shortcuts(self) -> None:
        """Help > Keyboard shortcuts: every shortcut, read from the actions when it opens."""
        from saeviz.app.window.shortcuts_dialog import ShortcutsDialog

        old = getattr(self, "_shortcuts_dialog", None)
        if old is not None:
            old.close()
        box = ShortcutsDialog(self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "_shortcuts_dialog", None))
        self._shortcuts_dialog = box
        box.open()

    def show_error(self, title: str, text: str, details: str = "") -> None:
        """Tell the user without blocking: a window-modal message box and the status bar."""
        self.last_error = text
        self.statusBar().showMessage(f"{title}: {text}", 15000)
        if self._message_box is not None:
            self._message_box.close()
        box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Ok, self)
        box.setObjectName("errorBox")
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "_message_box", None))
        self._message_box = box
        box.open()

    def _info(self, text: str) -> None:
        if text:
            self.statusBar().showMessage(text, 8000)

    # -- training ------------------------------------------------------------------------------------
    def train_or_pause(self) -> None:
        state = self.controller.state
        if state == RUNNING:
            self.controller.pause()
        elif state == PAUSED:
            self.controller.resume()
        elif state == IDLE:
            self.train()

    def train(self, epochs: int | None = None) -> None:
        """Train ``epochs`` (default: the settings') more epochs in the training thread."""
        s = self.session
        if self.controller.is_running or s.dataset is None:
            return
        if s.trainer is not None and s.model_outdated:
            self.statusBar().showMessage("The model settings changed: press Reset to build the new model; "
                                         "training continues the current one.", 8000)
        cfg = s.run_config()
        epochs = int(cfg.epochs if epochs is None else epochs)
        trainer = s.trainer
        model = s.model if trainer is None else None  # a loaded checkpoint's weights
        model_cfg = (trainer.model_config if trainer is not None
                     else s.trained_config if model is not None else s.model_config)
        request = TrainingRequest(X=s.X, model_config=model_cfg, train_config=cfg, labels=s.labels,
                                  epochs=epochs, trainer=trainer, model=model,
                                  history=tuple(s.history) if trainer is None else ())
        s.trainer = None  # the training thread owns it now
        self._run_model_config = model_cfg
        s.training = True
        self._run_epochs = epochs
        self._run_start_epoch = s.epoch
        self._run_samples = s.n_samples
        self._last_snapshot = None
        from saeviz.core.method.training import resolve_device

        try:
            self._device = str(resolve_device(cfg.device))
        except ValueError as exc:
            s.training = False
            s.trainer = trainer
            self.show_error("Cannot train", str(exc))
            return
        self.settings_panel.set_training(True)
        self.controller.start(request)
        self.frame_timer.start()
        self._update_status()

    def stop_training(self) -> None:
        if self.controller.is_running:
            self.controller.stop(wait=True)

    def reset_model(self) -> None:
        if self.controller.is_running:
            self.controller.stop(wait=True)
        self.runner.invalidate("classifier")
        self.runner.invalidate("encode")
        self.session.reset_model()
        self._saved_epoch = 0
        self.loss_plot.clear()
        self.latent.dataset_changed()
        self.statusBar().showMessage("Model reset: the next training starts from scratch", 5000)
        self._update_status()
        self._clear_hint()
        self._preview_codes()

    def set_gamma(self, gamma: float) -> None:
        """Change gamma; a running training uses it from its next epoch."""
        s = self.session
        s.set_train_config(s.train_config.replace(gamma=float(gamma)))

    def _config_changed(self) -> None:
        self.controller.set_gamma(self.session.train_config.gamma)
        self.latent.latent_dim_changed(self.session.model_config.latent_dim)
        self._update_actions()

    @Slot()
    def _snapshot_ready(self) -> None:
        if not self.frame_timer.isActive():
            self.frame_timer.start()

    def _drain(self, latest, final, batches) -> None:
        s = self.session
        for epoch, losses in batches:
            self.loss_plot.add_epoch_batches(epoch, losses)
        if final is not None:
            s.accept_model(final.model, self._run_model_config)
            self.loss_plot.set_history([dict(h) for h in final.snapshot.history])
        if latest is not None:
            s.accept_snapshot(latest)
            self._last_snapshot = latest
            if not latest.final:
                self.loss_plot.set_live(latest.epoch, latest.n_batches, latest.batch_losses)
        if final is not None:
            self._fit_classifier(final.snapshot)
            if self.latent.color_combo.currentData() == "recon":
                self._compute_recon_errors()

    def _tick(self) -> None:
        if self.controller.is_running:
            c = self.controller
            self._drain(c.take_latest(), c.take_final(), c.take_epoch_batches())
        if self.latent.dirty:
            self.latent.flush()
            self.frames_rendered += 1
            now = time.monotonic()
            if now - self._last_status >= 1.0 / TEXT_HZ or not self.controller.is_running:
                self._last_status = now
                self._update_status()
        elif not self.controller.is_running:
            self.frame_timer.stop()

    def _state_changed(self, state: str) -> None:
        if state == RUNNING:
            self._clear_hint()
        self._update_actions()
        self._update_status()

    def _training_failed(self, message: str, details: str) -> None:
        self.show_error("Training stopped", message, details)

    def _training_finished(self, trainer) -> None:
        s = self.session
        latest, final, batches = self.controller.take_leftovers()
        self._drain(latest, final, batches)
        s.training = False
        if trainer is not None:
            s.accept_trainer(trainer)
            last = s.snapshot
            stopped_mid_epoch = last is not None and not last.final
            if s.model is None or stopped_mid_epoch:
                s.accept_model(frozen_model(trainer.model), trainer.model_config)
            self.loss_plot.set_history(s.history)
            if stopped_mid_epoch and s.codes is not None:
                self._fit_classifier()
        self.settings_panel.set_training(False)
        self.latent.request_points()
        self.frame_timer.start()
        self._update_actions()
        self._update_status()

    def _fit_classifier(self, snap=None) -> None:
        s = self.session
        codes = s.codes if snap is None else snap.codes
        if codes is None or s.labels is None or len(codes) != s.n_samples:
            return
        store = s.labels.snapshot()
        ds = s.dataset
        y_test = ds.y[ds.test_idx] if (s.has_ground_truth and len(ds.test_idx)) else None
        epoch = snap.epoch if snap is not None else s.epoch
        self.runner.submit("classifier", classifier_job, codes, store.labels, len(store.class_names),
                           epoch, store.version, s.y if s.has_ground_truth else None,
                           s.model, ds.X, ds.test_idx, y_test,
                           on_result=self._classifier_ready,
                           on_error=lambda exc: self.statusBar().showMessage(f"Classifier: {exc}", 5000))

    def _compute_recon_errors(self) -> None:
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
                           on_error=lambda exc: self.statusBar().showMessage(f"Reconstruction errors: {exc}", 5000))

    def _classifier_ready(self, result) -> None:
        s = self.session
        if result is not None and len(result.predicted) != s.n_samples:
            return
        s.set_classifier(result)

    # -- session -> window ------------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        s = self.session
        self._saved_epoch = 0
        self._clear_hint()
        self.runner.invalidate("classifier")
        self.runner.invalidate("encode")
        self.loss_plot.clear()
        self.latent.dataset_changed()
        if self._store is not None:
            self._store.labels_changed.disconnect(self._labels_changed)
            self._store.classes_changed.disconnect(self._labels_changed)
        self._store = s.labels
        if s.labels is not None:
            s.labels.labels_changed.connect(self._labels_changed)
            s.labels.classes_changed.connect(self._labels_changed)
        from saeviz.app.common.units import data_unit

        self.loss_plot.set_unit(data_unit(s.dataset))  # errors in mm for bodies
        name = s.dataset.name if s.dataset is not None else ""
        self.setWindowTitle(f"saeviz — {name}" if name else "saeviz")
        self._update_actions()
        self._update_status()
        self.frame_timer.start()

    def _labels_changed(self, *_args) -> None:
        self.latent.request_style()
        if not self.controller.is_running and self.session.codes is not None:
            self._fit_classifier()
        self._ensure_timer()

    def _snapshot_changed(self) -> None:
        self.latent.request_points()
        self._ensure_timer()

    def _classifier_changed(self) -> None:
        self.latent.request_style()
        self._ensure_timer()
        self._update_structure_stats()

    def _selection_changed(self, pos: int) -> None:
        self.latent.show_selection(pos)

    def _ensure_timer(self) -> None:
        if not self.frame_timer.isActive():
            self.frame_timer.start()

    def find_sample(self, index: int) -> None:
        """Select dataset sample ``index`` (the inspector's find box)."""
        s = self.session
        if s.dataset is None:
            return
        if not 0 <= index < s.dataset.n_samples:
            self.inspector.show_message(f"There is no sample {index}: indices run from 0 to {s.dataset.n_samples - 1}.")
            return
        pos = s.position_of(index)
        if pos < 0:
            self.inspector.show_message(f"Sample {index} belongs to the test split, which is not trained on or shown.")
            return
        s.select(pos)

    # -- display --------------------------------------------------------------------------------------------
    def _update_actions(self) -> None:
        state = self.controller.state
        s = self.session
        has_data = s.dataset is not None
        train = self.actions["train"]
        from saeviz.app.common.icons import icon

        if state == RUNNING:
            train.setText("&Pause")
            train.setIcon(icon("pause"))
        elif state == PAUSED:
            train.setText("&Resume")
            train.setIcon(icon("train"))
        else:
            train.setText("&Train")
            train.setIcon(icon("train"))
        train.setEnabled(has_data and state != STOPPING)
        self.actions["stop"].setEnabled(state in (RUNNING, PAUSED))
        idle = state == IDLE
        self.actions["reset"].setEnabled(has_data and (s.model is not None or s.trainer is not None or not idle))
        self.actions["save"].setEnabled(s.model is not None or s.trainer is not None)
        has_codes = s.codes is not None and not getattr(self, "_preview", False)  # not the untrained preview
        self.actions["export_image"].setEnabled(has_data)
        self.actions["export_codes"].setEnabled(has_codes)

    def _update_status(self) -> None:
        s = self.session
        state = self.controller.state
        snap = self._last_snapshot if self.controller.is_running else None
        self.status_device.setText(f"device: {self._device}" if self._device else "")
        if snap is not None:
            epoch_in_run = max(0, snap.epoch - self._run_start_epoch)
            self.controls.show_progress(epoch_in_run, self._run_epochs, 0 if snap.final else snap.batch,
                                        snap.n_batches, state)
            shown_epoch = snap.epoch if snap.final else snap.epoch + 1
            self.status_epoch.setText(f"epoch {shown_epoch} total (batch {snap.batch}/{snap.n_batches})")
            rate = snap.samples_per_sec
            self.status_rate.setText(f"{rate:,.0f} samples/s")
            in_epoch = 0 if snap.final else min(snap.batch * s.train_config.batch_size, self._run_samples)
            done = epoch_in_run * self._run_samples + in_epoch
            remaining = max(0, self._run_epochs * self._run_samples - done)
            self.status_eta.setText(f"ETA {_duration(remaining / rate)}" if rate > 0 else "")
        else:
            if state == IDLE:
                self.controls.show_idle(f"idle — {s.epoch} epochs trained" if s.epoch else "idle")
            self.status_epoch.setText(f"{s.epoch} epochs total" if s.dataset is not None else "")
            self.status_rate.setText("")
            self.status_eta.setText("")
        self._update_structure_stats()

    def _update_structure_stats(self) -> None:
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
        text = " · ".join(parts)
        self.latent.stats.setText(text)
        detail = []
        if snap is not None:
            from saeviz.app.common.units import data_unit

            detail.append(f"RMSE {data_unit(s.dataset).format(snap.rmse)}, {snap.samples_per_sec:,.0f} samples/s")
        self.controls.set_detail(" ".join(detail))

    def _toggle_3d(self, checked: bool) -> None:
        self.latent.set_dims(3 if checked else 2)

    # -- drag and drop ----------------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = _local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_path(paths[0])

    # -- closing -------------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.frame_timer.stop()
        if self.controller.is_running:
            # The thread must end before the window (and its QThread) goes: the run stops at
            # the next batch, after the step it is in (which may be long: an epoch's targets).
            self.statusBar().showMessage("Stopping the training…")
            self.controller.stop(wait=True, timeout_ms=None)
        self.latent.shutdown()
        self.runner.shutdown()
        self._save_settings()
        super().closeEvent(event)


def _local_paths(mime) -> list[str]:
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"


def _json_loads(text: str):
    import json

    return json.loads(text)


__all__ = ["MainWindow", "app_icon", "resource"]
