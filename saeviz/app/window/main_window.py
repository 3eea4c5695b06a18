"""The main window: the latent view in the centre, docks around it, menus and shortcuts.

The window only wires: it builds the ``Shell`` (saeviz.app.common.shell) and hands it to the
features (labeling, guided labeling, the mesh tools), which never see the window; files are
opened and saved by ``Documents``, training runs through the ``TrainingFlow`` (a thread, and a
repaint timer that shows only the newest snapshot); its own commands are in ``commands``.
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QIcon
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from saeviz.app.common.icons import decorate
from saeviz.app.common.live_label import add_status_fields
from saeviz.app.common.shell import Shell, ShellHooks
from saeviz.app.common.tasks import TaskRunner
from saeviz.app.guided.feature import attach_guided
from saeviz.app.labeling.feature import attach_labeling
from saeviz.app.latent.inspector import Inspector
from saeviz.app.latent.panel import COLOR_MODES, PROJECTIONS, LatentPanel
from saeviz.app.mesh.feature import attach_mesh_tools
from saeviz.app.training.controls import TrainingControls
from saeviz.app.training.flow import TrainingFlow, TrainingWidgets
from saeviz.app.training.loss_plot import LossPlot
from saeviz.app.training.settings_panel import SettingsPanel
from saeviz.app.training.worker import RUNNING
from saeviz.app.window.commands import add_commands, update_commands
from saeviz.app.window.documents import Documents
from saeviz.app.window.window_fit import (
    TabTitles,
    default_size,
    scroll_docks,
    vertical_scroll,
)
from saeviz.core.data.registry import DATASETS
from saeviz.core.errors import SaevizError
from saeviz.core.io.fileio import load_json
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.state.labels import follow_store
from saeviz.core.state.session import Session, SessionDefaults, load_defaults
from saeviz.core.state.view_state import ViewState

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[3] / "resources"
STATE_VERSION = 1
MORPH_YIELD_TEXT = "Training slowed down while the morph animates; full speed when you let go"


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
        self.view_state = ViewState()  # how the data is shown; restored in _restore_settings
        # a first start: the shipped settings and nothing remembered (see Documents.open_startup_dataset)
        first_start = defaults is None and not self.settings.value("session/model")
        if defaults is None:
            try:
                defaults = load_defaults(resource("default_settings.json"))
            except SaevizError as exc:
                log.warning("%s", exc)
                defaults = SessionDefaults()
        self.defaults = defaults
        self.session = session if session is not None else Session(defaults)
        self.runner = TaskRunner(self, max_threads=1)
        self._store = None
        self.latent = LatentPanel(self.session, self.runner, view_state=self.view_state)
        self.setCentralWidget(self.latent)
        # what every feature gets instead of this window: session, runner, editor, docks, menus...
        self.shell = Shell(self, self.session, self.runner, self.latent, self.settings, view_state=self.view_state)
        self.documents = Documents(self, self.shell, first_start)  # opening, saving, exporting
        self.actions: dict[str, QAction] = add_commands(self)
        self._make_view_menu()
        self.settings_panel = SettingsPanel(self.session, tuple(DATASETS))
        self.controls = TrainingControls(self.actions)
        self.inspector = Inspector(self.session, self.runner)
        self.loss_plot = LossPlot()
        add = self.shell.add_dock
        self.docks: dict[str, QDockWidget] = {
            "settings": add("settings", "Data && model", vertical_scroll(self.settings_panel), Qt.LeftDockWidgetArea),
            "training": add("training", "Training", self.controls, Qt.LeftDockWidgetArea),
            "inspector": add("inspector", "Inspector", self.inspector, Qt.RightDockWidgetArea),
            "loss": add("loss", "Loss", self.loss_plot, Qt.RightDockWidgetArea, split_below="inspector")}
        self.actions["reset_layout"] = self.shell.add_action("View", "reset_layout", "Reset &layout", self.reset_layout,
                                                             None, "Put the panels back where they started")
        self.status_epoch, self.status_rate, self.status_eta, self.status_device = add_status_fields(
            self.statusBar(), ("epoch 0000 total (batch 0000/0000)", "000,000 samples/s", "ETA 00 min 00 s",
                               "device: cuda:0"))

        self.training_flow = TrainingFlow(self.shell, TrainingWidgets(  # the training thread, its results, the timer
            self.loss_plot, self.controls, self.settings_panel, self.status_epoch, self.status_rate,
            self.status_eta, self.status_device))
        self.training_flow.runFinished.connect(self._update_actions)
        d = self.documents
        self.shell.hooks = ShellHooks(open_dataset=d.open_dataset, use_checkpoint=d.use_checkpoint,
                                      stop_training=self.stop_training,
                                      training_running=lambda: self.controller.is_running,
                                      keep_model=d.maybe_keep_model, model_saved=d.mark_model_saved)

        s = self.session
        s.dataset_changed.connect(self._dataset_changed)
        s.snapshot_changed.connect(self._snapshot_changed)
        s.classifier_changed.connect(self._classifier_changed)
        s.selection_changed.connect(self.latent.show_selection)
        s.model_config_changed.connect(self._model_config_changed)
        s.model_changed.connect(self._update_actions)
        s.errors_changed.connect(self._classifier_changed)
        self.latent.frameRequested.connect(self._ensure_timer)
        self.settings_panel.datasetRequested.connect(self.open_dataset)
        self.settings_panel.openRequested.connect(d.open_dialog)
        self.latent.info.connect(lambda text: text and self.shell.status(text, 8000))
        self.controller.stateChanged.connect(self._state_changed)
        self.controller.stateChanged.connect(self.shell.trainingStateChanged)

        self.labeling = attach_labeling(self.shell)  # paint tools, classes, distances, undo, projects
        self.guided = attach_guided(self.shell)  # candidates, labeling queue, classifier metrics, rounds
        # mesh viewport, class transitions, decoding any point of a linear projection
        self.mesh_tools = attach_mesh_tools(self.shell)
        self.mesh_tools.morph.animating.connect(self._morph_animating)  # training yields meanwhile
        # panels scroll inside their docks and tab titles stay whole: the window fits and works
        # on a 1280x720 screen (see window_fit); every action gets its icon
        scroll_docks(self)
        self.tab_titles = TabTitles(self)
        decorate(self)
        self.resize(*default_size(self))
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
            QTimer.singleShot(0, self.documents.open_startup_dataset)

    # -- construction ---------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not getattr(self, "_shown_once", False):
            self._shown_once = True
            QTimer.singleShot(0, self.fit_to_screen)

    def fit_to_screen(self) -> bool:
        """Keep the window (frame included) within the available area of its screen."""
        from saeviz.app.window.window_fit import fit_to_screen

        return fit_to_screen(self)

    def _make_view_menu(self) -> None:
        """View > Projection (Alt+1...) and Colour by, in step with the latent panel's boxes."""
        group, cgroup = QActionGroup(self), QActionGroup(self)
        self.projection_actions: dict[str, QAction] = {}
        for i, (key, text) in enumerate(PROJECTIONS):
            act = self.shell.add_action(None, f"projection_{key}", text,
                                        lambda _=False, key=key: self.view_state.update(projection=key),
                                        f"Alt+{i + 1}",
                                        checkable=True)
            act.setData(key)
            group.addAction(act)
            self.shell.menu("Projection").addAction(act)
            self.projection_actions[key] = act
        self.color_actions: dict[str, QAction] = {}
        for key, text in COLOR_MODES:
            act = QAction(text, self, checkable=True)
            act.triggered.connect(lambda _=False, key=key: self.view_state.update(color=key))
            cgroup.addAction(act)
            self.shell.menu("Colour by").addAction(act)
            self.color_actions[key] = act
        for event in (self.view_state.events.projection, self.view_state.events.color,
                      self.view_state.events.dims):
            event.connect(self._sync_view_menu)
        self._sync_view_menu()
        self.shell.add_separator("View")
        self.shell.menu("Panels")

    def _sync_view_menu(self, *_args) -> None:
        """The View menu shows the view state: projection, colours and 3D."""
        vs = self.view_state
        act = self.projection_actions.get(vs.projection)
        if act is not None:
            act.setChecked(True)
        cact = self.color_actions.get(vs.color)
        if cact is not None:
            cact.setChecked(True)
        self.actions["view3d"].setChecked(vs.dims == 3)
        self.projection_actions["umap"].setEnabled(self.latent.method_available("umap"))

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
        from saeviz.app.common.view_settings import load_view_state

        restored = load_view_state(st)  # or the separate keys of earlier releases
        if restored.projection == "umap":  # slow to start (and optional): not at startup
            restored.projection = self.view_state.projection
        self.view_state.assign(restored)
        self.view_state.events.all.connect(self._store_view_state)
        if self.session.dataset is None:
            try:
                model = st.value("session/model")
                train = st.value("session/train")
                if isinstance(model, str) and model:
                    self.session.set_model_config(ModelConfig.from_dict(load_json(model)))
                if isinstance(train, str) and train:
                    self.session.set_train_config(TrainConfig.from_dict(load_json(train)))
                fraction = st.value("session/label_fraction")
                if fraction is not None:
                    f = float(fraction)
                    if 0.0 <= f <= 1.0:
                        self.session.set_label_fraction(f)
            except (ValueError, TypeError) as exc:
                log.warning("ignoring saved settings: %s", exc)

    def _save_settings(self) -> None:
        import json

        st = self.settings
        st.setValue("window/geometry", self.saveGeometry())
        st.setValue("window/state", self.saveState(STATE_VERSION))
        self._store_view_state()
        st.setValue("session/model", json.dumps(self.session.model_config.to_dict()))
        st.setValue("session/train", json.dumps(self.session.train_config.replace(snapshot_every=0).to_dict()))
        st.setValue("session/label_fraction", float(self.session.label_fraction))
        spec = self.session.dataset_spec
        if isinstance(spec, str):
            st.setValue("session/dataset", spec)
        st.sync()

    def _store_view_state(self, *_args) -> None:
        from saeviz.app.common.view_settings import save_view_state

        save_view_state(self.settings, self.view_state)

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, STATE_VERSION)
        for dock in self.docks.values():
            dock.show()
        self.shell.layoutReset.emit()  # the features put their panels back too

    # -- files: the window's commands are the Documents' (saeviz.app.window.documents) ------------------
    open_dataset = property(lambda self: self.documents.open_dataset)
    open_path = property(lambda self: self.documents.open_path)
    load_model = property(lambda self: self.documents.load_model)
    use_checkpoint = property(lambda self: self.documents.use_checkpoint)
    save_model = property(lambda self: self.documents.save_model)
    export_image = property(lambda self: self.documents.export_image)
    export_codes = property(lambda self: self.documents.export_codes)
    maybe_keep_model = property(lambda self: self.documents.maybe_keep_model)
    _dataset_loaded = property(lambda self: self.documents.dataset_loaded)
    model_unsaved = property(lambda self: self.documents.model_unsaved)

    # -- help and errors -------------------------------------------------------------------------------
    def show_about(self) -> None:
        from saeviz.app.window.help_boxes import about_box

        self._about_box = about_box(self, app_icon())

    def show_shortcuts(self) -> None:
        """Help > Keyboard shortcuts: every shortcut, read from the actions when it opens."""
        from saeviz.app.window.help_boxes import shortcuts_box

        self._shortcuts_dialog = shortcuts_box(self, getattr(self, "_shortcuts_dialog", None),
                                               lambda: setattr(self, "_shortcuts_dialog", None))

    show_error = property(lambda self: self.shell.show_error)  # (title, text, details=""): not blocking
    last_error = property(lambda self: self.shell.last_error)

    # -- training: the window's commands are the TrainingFlow's (saeviz.app.training.flow) --------------
    controller = property(lambda self: self.training_flow.controller)
    frame_timer = property(lambda self: self.training_flow.frame_timer)
    frames_rendered = property(lambda self: self.training_flow.frames_rendered)
    train_or_pause = property(lambda self: self.training_flow.train_or_pause)
    train = property(lambda self: self.training_flow.train)  # train(epochs=None): more epochs
    stop_training = property(lambda self: self.training_flow.stop)
    set_gamma = property(lambda self: self.training_flow.set_gamma)  # used from the next epoch on
    _fit_classifier = property(lambda self: self.training_flow.fit_classifier)
    _update_status = property(lambda self: self.training_flow.update_status)
    _update_structure_stats = property(lambda self: self.training_flow.update_structure_stats)

    def reset_model(self) -> None:
        self.training_flow.reset_model()
        self.documents.saved_epoch = 0
        self.documents.clear_hint()
        self.documents.preview_codes()

    def _model_config_changed(self) -> None:
        self.latent.latent_dim_changed(self.session.model_config.latent_dim)
        self._update_actions()

    def _state_changed(self, state: str) -> None:
        if state == RUNNING:
            self.documents.clear_hint()
        self._update_actions()

    # -- session -> window ------------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        s = self.session
        self.documents.saved_epoch = 0
        self.documents.clear_hint()
        self.runner.invalidate("classifier")
        self.runner.invalidate("encode")
        self.loss_plot.clear()
        self.latent.dataset_changed()
        self._store = follow_store(self._store, s.labels, labels=self._labels_changed, classes=self._labels_changed)
        from saeviz.app.common.units import data_unit

        self.loss_plot.set_unit(data_unit(s.dataset))  # errors in mm for bodies
        name = s.dataset.name if s.dataset is not None else ""
        self.setWindowTitle(f"saeviz — {name}" if name else "saeviz")
        self._update_actions()
        self._update_status()
        self.frame_timer.start()

    def _labels_changed(self, *_args) -> None:
        self.latent.request_style()  # (the training flow computes the new classifier result)
        self._ensure_timer()

    def _snapshot_changed(self) -> None:
        self.latent.request_points()
        self._ensure_timer()

    def _classifier_changed(self) -> None:
        self.latent.request_style()
        self._ensure_timer()
        self._update_structure_stats()

    def _ensure_timer(self) -> None:
        if not self.frame_timer.isActive():
            self.frame_timer.start()

    # -- display --------------------------------------------------------------------------------------------
    def _update_actions(self) -> None:
        update_commands(self.actions, self.controller.state, self.session, self.documents.preview)

    # -- drag and drop (Documents) -------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.documents.drag_enter(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.documents.drop(event)

    # -- closing -------------------------------------------------------------------------------------------------
    def _morph_animating(self, on: bool) -> None:
        """The user drives the morph (``on``) or stopped: training yields the processor
        meanwhile, and the status bar says why it slowed down."""
        self.controller.set_animating(on)
        bar = self.statusBar()
        if on and self.controller.is_running:
            self.shell.status(MORPH_YIELD_TEXT, 0)
        elif not on and bar.currentMessage() == MORPH_YIELD_TEXT:
            bar.clearMessage()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.frame_timer.stop()
        if self.controller.is_running:
            # The thread must end before the window (and its QThread) goes: the run stops at
            # the next batch, after the step it is in (which may be long: an epoch's targets).
            self.statusBar().showMessage("Stopping the training…")
            self.controller.stop(wait=True, timeout_ms=None)
        self.training_flow.shutdown()  # ends the training process, when training runs in one
        self.latent.shutdown()
        self.runner.shutdown()
        self._save_settings()
        super().closeEvent(event)


__all__ = ["MainWindow", "app_icon", "resource"]
