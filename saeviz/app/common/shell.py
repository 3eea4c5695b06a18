"""The ``Shell``: what a feature of the app is given instead of the main window.

The window builds one ``Shell`` and hands it to every feature (labeling, guided labeling, the
mesh tools). Through it a feature reaches the ``Session``, the shared ``TaskRunner``, the one
``LabelEditor`` (undo stack) of the window, a small public API of the latent panel, and the
window's docks, named menus, settings, status bar and dialogs. A feature never sees the
``QMainWindow`` itself, and features never import each other: they meet here and in the
``Session``.

The window's own commands (opening datasets, applying a model, stopping the training, the
question about an unsaved model) are ``ShellHooks``; a shell built around a plain
``QMainWindow`` has working defaults, so a feature runs without the main window (tests).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QMessageBox, QWidget

from saeviz.app.common.tasks import TaskRunner
from saeviz.app.common.undo import LabelEditor
from saeviz.app.common.window_close import WhenClosed
from saeviz.core.state.session import Session
from saeviz.core.state.view_state import ViewState

DOCK_FEATURES = (QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                 | QDockWidget.DockWidgetClosable)

# the window's menus by name: (title, parent menu or None for the menu bar)
MENUS: dict[str, tuple[str, str | None]] = {
    "File": ("&File", None),
    "Edit": ("&Edit", None),
    "Training": ("&Training", None),
    "View": ("&View", None),
    "Projection": ("&Projection", "View"),
    "Colour by": ("&Colour by", "View"),
    "Panels": ("P&anels", "View"),
    "Guided labeling": ("&Guided labeling", None),
    "Help": ("&Help", None),
}
MENU_ORDER = ("File", "Edit", "Training", "View", "Guided labeling", "Help")


class LatentAPI(Protocol):
    """What features may use of the latent panel (``saeviz.app.latent.panel.LatentPanel``)."""

    view: Any  # the ``LatentView``: markers and overlays (``plot_item``, ``add_points_3d``...)

    @property
    def coords(self) -> np.ndarray | None: ...      # the displayed coordinates (N, 2 or 3)

    def live_projection(self) -> Any: ...           # the current linear projection, or None

    def request_style(self, *_args) -> None: ...     # restyle the points at the next frame

    sampleClicked: Any     # Signal(int): a point was clicked (the shell raises its sample's dock)

    # used by the training flow, which repaints the panel on its timer
    needsReconErrors: Any  # Signal(): colouring by reconstruction error needs them computed
    stats: Any             # the QLabel of structure losses and errors under the view

    @property
    def dirty(self) -> bool: ...                     # something waits to be drawn

    def flush(self) -> None: ...                     # draw it now

    def request_points(self) -> None: ...            # new codes: project them at the next frame

    def dataset_changed(self) -> None: ...           # forget the projection of the old dataset


@dataclass
class ShellHooks:
    """The window's commands a feature may ask for; the defaults serve a window without them."""

    open_dataset: Callable[[Any, bool], None] | None = None          # (spec, ask)
    use_checkpoint: Callable[[Any, Any, bool], None] | None = None   # (checkpoint, path, own_labels)
    stop_training: Callable[[], None] | None = None
    training_running: Callable[[], bool] | None = None
    keep_model: Callable[[str], bool] | None = None                  # "may the model go?" (doing)
    model_saved: Callable[[], None] | None = None


class Shell(QObject):
    """See the module docstring. ``window`` is the ``QMainWindow`` docks and menus go into;
    ``latent`` the latent panel (``LatentAPI``); ``settings`` the window's QSettings;
    ``view_state`` the window's ``ViewState`` (default: the latent panel's)."""

    trainingStateChanged = Signal(str)   # "idle", "running", "paused", "stopping"
    layoutReset = Signal()               # View > Reset layout: features put their docks back

    def __init__(self, window: QMainWindow, session: Session, runner: TaskRunner | None = None,
                 latent: LatentAPI | None = None, settings: QSettings | None = None,
                 editor: LabelEditor | None = None, hooks: ShellHooks | None = None,
                 view_state: ViewState | None = None):
        super().__init__(window)
        self._window = window
        self.session = session
        self.runner = runner if runner is not None else TaskRunner(self, max_threads=1)
        self.latent = latent
        self.settings = settings if settings is not None else QSettings()
        # how the data is shown (projection, colours, tools, guided settings): the latent panel's
        self.view_state = view_state if view_state is not None else getattr(latent, "state", None) or ViewState()
        # a child of the window made after the shell: it outlives the features (the shell's
        # children), whose slots its undo stack still signals while it is destroyed
        self.editor = editor if editor is not None else LabelEditor(window)
        self.hooks = hooks if hooks is not None else ShellHooks()
        self.docks: dict[str, QDockWidget] = {}
        self.menus: dict[str, QMenu] = {}
        self.actions: dict[str, QAction] = {}   # every action made through ``add_action``
        self.last_error: str | None = None
        self._message_box: QMessageBox | None = None
        self.session.dataset_changed.connect(self._dataset_changed)
        self._dataset_changed()
        if latent is not None:
            latent.sampleClicked.connect(self._bring_sample_forward)

    def _dataset_changed(self) -> None:
        self.editor.set_store(self.session.labels)

    def _bring_sample_forward(self, _pos: int) -> None:
        """A click on a point shows the sample: the mesh viewport for meshes, else the
        inspector, raised when it is behind another tab (a closed panel stays closed)."""
        ds = self.session.dataset
        dock = self.docks.get("mesh" if ds is not None and ds.kind == "mesh" else "inspector")
        if dock is not None and dock.toggleViewAction().isChecked():
            dock.raise_()

    # -- widgets ---------------------------------------------------------------------------------
    @property
    def parent_widget(self) -> QWidget:
        """The parent of a feature's dialogs and message boxes."""
        return self._window

    def watch(self, obj: QObject) -> None:
        """Let ``obj`` (an event filter) see the window's events, e.g. its close event."""
        self._window.installEventFilter(obj)

    def set_title(self, title: str, modified: bool) -> None:
        self._window.setWindowTitle(title)
        self._window.setWindowModified(modified)

    def add_dock(self, key: str, title: str, widget: QWidget, area=Qt.RightDockWidgetArea, *,
                 tab_with: str | None = None, split_below: str | None = None,
                 panels: bool = True) -> QDockWidget:
        """A closable, movable dock ``<key>Dock`` in ``area``; ``tab_with``: a tab beside that
        dock (when it exists); ``split_below``: below that dock; ``panels``: listed in
        View > Panels."""
        w = self._window
        dock = QDockWidget(title, w)
        dock.setObjectName(f"{key}Dock")
        dock.setWidget(widget)
        dock.setFeatures(DOCK_FEATURES)
        w.addDockWidget(area, dock)
        if tab_with is not None and tab_with in self.docks:
            w.tabifyDockWidget(self.docks[tab_with], dock)
        elif split_below is not None and split_below in self.docks:
            w.splitDockWidget(self.docks[split_below], dock, Qt.Vertical)
        self.docks[key] = dock
        if panels:
            self.menu("Panels").addAction(dock.toggleViewAction())
        return dock

    def place_dock(self, dock: QDockWidget, area=Qt.RightDockWidgetArea, tab_with: str | None = None) -> None:
        """Put ``dock`` back docked in ``area``, as a tab beside ``tab_with`` when it exists."""
        w = self._window
        dock.setFloating(False)
        anchor = self.docks.get(tab_with) if tab_with is not None else None
        if anchor is not None and anchor is not dock:
            w.tabifyDockWidget(anchor, dock)
        else:
            w.addDockWidget(area, dock)

    def add_toolbar(self, bar, area=Qt.TopToolBarArea) -> None:
        self._window.addToolBar(area, bar)
        self.menu("Panels").addAction(bar.toggleViewAction())

    def restore_dock(self, dock: QDockWidget) -> None:
        """Where a saved layout had ``dock``, when the window restored one."""
        self._window.restoreDockWidget(dock)

    def resize_docks(self, docks, sizes, orientation) -> None:
        self._window.resizeDocks(docks, sizes, orientation)

    def central_width(self) -> int:
        central = self._window.centralWidget()
        return central.width() if central is not None else 0

    # -- menus and actions -----------------------------------------------------------------------------
    def menu(self, name: str) -> QMenu:
        """The menu ``name`` ("File", "Edit", "View", "Panels", "Guided labeling", "Help"...),
        made on first use in its place (``MENUS``, ``MENU_ORDER``)."""
        menu = self.menus.get(name)
        if menu is not None:
            return menu
        title, parent = MENUS.get(name, (name, None))
        if parent is not None:
            menu = self.menu(parent).addMenu(title)
        else:
            mb = self._window.menuBar()
            menu = QMenu(title, mb)
            later = MENU_ORDER[MENU_ORDER.index(name) + 1:] if name in MENU_ORDER else ()
            before = next((self.menus[n].menuAction() for n in later if n in self.menus), None)
            mb.insertMenu(before, menu) if before is not None else mb.addMenu(menu)
        menu.setObjectName(f"{name.split()[0].lower()}Menu")  # fileMenu, editMenu, guidedMenu...
        self.menus[name] = menu
        return menu

    def add_action(self, menu_name: str | None, key: str, text: str, slot: Callable | None = None,
                   shortcut=None, tip: str = "", icon: str | None = None, checkable: bool = False,
                   *, before: str | None = None, object_name: str | None = None,
                   tip_shortcut: bool = False) -> QAction:
        """An action ``<key>Action`` of the window (its shortcut works with the menu bar
        hidden too), added to menu ``menu_name`` (None: no menu), before the action ``before``
        when given. ``slot`` gets no arguments (Qt's ``checked`` is dropped) unless the action
        is ``checkable``. ``icon``: a desktop theme icon name."""
        act = QAction(text, self._window)
        act.setObjectName(object_name or f"{key}Action")
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setToolTip(f"{tip} ({act.shortcut().toString()})" if tip_shortcut and shortcut else tip)
            act.setStatusTip(tip)
        if icon is not None:
            act.setIcon(QIcon.fromTheme(icon))
        act.setCheckable(checkable)
        if slot is not None:
            if checkable:
                act.triggered.connect(slot)
            else:
                act.triggered.connect(lambda _checked=False: slot())
        self._window.addAction(act)
        self.actions[key] = act
        if menu_name is not None:
            self.insert_action(menu_name, act, before)
        return act

    def insert_action(self, menu_name: str, act: QAction, before: str | None = None) -> None:
        """Put ``act`` into menu ``menu_name``, before the action of key ``before`` if given."""
        menu = self.menu(menu_name)
        anchor = self.actions.get(before) if before is not None else None
        if anchor is not None and anchor in menu.actions():
            menu.insertAction(anchor, act)
        else:
            menu.addAction(act)

    def add_separator(self, menu_name: str, before: str | None = None) -> None:
        menu = self.menu(menu_name)
        anchor = self.actions.get(before) if before is not None else None
        if anchor is not None and anchor in menu.actions():
            menu.insertSeparator(anchor)
        else:
            menu.addSeparator()

    def register_action(self, key: str, act: QAction, menu_name: str | None = None) -> QAction:
        """An action made elsewhere (an undo stack's, a tool's): a window shortcut, and listed."""
        if not act.objectName():
            act.setObjectName(f"{key}Action")
        self._window.addAction(act)
        self.actions[key] = act
        if menu_name is not None:
            self.insert_action(menu_name, act)
        return act

    def shortcut_text(self, key: str) -> str:
        act = self.actions.get(key)
        return act.shortcut().toString(QKeySequence.NativeText) if act is not None else ""

    # -- settings, status, errors ---------------------------------------------------------------------
    def last_dir(self) -> str:
        """The folder of the last file dialog (the home folder at first)."""
        d = self.settings.value("paths/last_dir")
        return d if isinstance(d, str) and os.path.isdir(d) else str(Path.home())

    def remember_dir(self, path) -> None:
        p = Path(path)
        self.settings.setValue("paths/last_dir", str(p if p.is_dir() else p.parent))

    def status(self, text: str, ms: int = 6000) -> None:
        self._window.statusBar().showMessage(text, ms)

    def show_error(self, title: str, text: str, details: str = "") -> None:
        """Tell the user without blocking: a window-modal message box and the status bar."""
        self.last_error = text
        self.status(f"{title}: {text}", 15000)
        if self._message_box is not None:
            self._message_box.close()
        box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Ok, self._window)
        box.setObjectName("errorBox")
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "_message_box", None))
        self._message_box = box
        box.open()

    # -- the window's commands ---------------------------------------------------------------------------
    def ask_keep_model(self, doing: str) -> bool:
        """True when the trained model may go (saved, unchanged or discarded) before ``doing``."""
        return self.hooks.keep_model(doing) if self.hooks.keep_model is not None else True

    def model_saved(self) -> None:
        """The model was just saved (with a project)."""
        if self.hooks.model_saved is not None:
            self.hooks.model_saved()

    def training_running(self) -> bool:
        if self.hooks.training_running is not None:
            return self.hooks.training_running()
        return bool(self.session.training)

    def stop_training(self) -> None:
        if self.hooks.stop_training is not None:
            self.hooks.stop_training()

    def open_dataset(self, spec, ask: bool = True) -> None:
        """Open a dataset (demo name, path or source dict) as File > Open does."""
        if self.hooks.open_dataset is not None:
            self.hooks.open_dataset(spec, ask)
            return
        from saeviz.core.data.registry import load_dataset

        if ask and not self.ask_keep_model("opening another dataset"):
            return
        name = spec if isinstance(spec, str) else None
        self.runner.submit("dataset", load_dataset, spec,
                           on_result=lambda ds: self.session.set_dataset(ds, spec=name),
                           on_error=lambda exc: self.show_error("Cannot open the dataset", str(exc)))

    def use_checkpoint(self, ckpt, path, own_labels: bool = True) -> None:
        """Apply a loaded checkpoint to the open dataset (as opening a model file does)."""
        if self.hooks.use_checkpoint is not None:
            self.hooks.use_checkpoint(ckpt, path, own_labels)
            return
        from saeviz.core.method.evaluate import encode_codes

        s = self.session
        s.apply_checkpoint(ckpt, labels=own_labels)
        store = s.labels.snapshot()
        self.runner.submit("encode", encode_codes, s.model, s.X, store.labels, store.distances, s.train_config,
                           on_result=lambda res: s.accept_codes(*res),
                           on_error=lambda exc: self.show_error("Cannot encode the dataset", str(exc)))

    def on_close(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once the window has closed for good (and when the application quits)."""
        WhenClosed(self._window, fn)
        from PySide6.QtCore import QCoreApplication

        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(fn)


__all__ = ["DOCK_FEATURES", "MENUS", "LatentAPI", "Shell", "ShellHooks"]
