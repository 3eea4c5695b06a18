"""Labeling in the main window: paint tools, classes, distances, undo, projects and autosave.

``attach_labeling(shell)`` wires everything into the shell's window and returns the
``LabelingController``:

* a *Labeling* tool bar: navigate (N), click (C), brush (B), lasso (L), rectangle (R),
  eraser (E); the brush radius ([ and ]); the class palette (1-9 pick the class); Escape
  cancels a stroke in progress;
* docks: the class manager, the distance editor, the edit history (a ``QUndoView``);
* Edit menu: Undo (Ctrl+Z) and Redo (Ctrl+Shift+Z), the tools;
* File menu: New / Open / Save / Save As project, recent projects, Import / Export labels,
  Reveal ground truth… (a fraction of the dataset's ground-truth labels, or hide them);
* the window title shows unsaved changes (``[*]``); closing with unsaved work asks whether
  to save; labels are autosaved after every change (``saeviz.core.io.project``) and, on start,
  an autosave left by a session that did not end normally is offered for restoring.

Every label or class change goes through the shell's ``LabelEditor`` (``undo.py``) as one undo
step.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
)

from saeviz.app.common.questions import save_discard_or_cancel
from saeviz.app.common.shell import Shell
from saeviz.app.common.undo import HistoryPanel
from saeviz.app.labeling.class_manager import ClassManager, ClassPalette
from saeviz.app.labeling.distance_editor import DistanceEditor
from saeviz.app.labeling.paint_tools import MAX_RADIUS, MIN_RADIUS, TOOLS, PaintTools
from saeviz.core.data.dataset import reveal_labels
from saeviz.core.errors import SaevizError
from saeviz.core.io.label_io import read_labels, write_labels
from saeviz.core.io.project import (
    MANIFEST,
    Project,
    Recovery,
    default_recovery_dir,
    model_of_session,
    state_from_session,
)
from saeviz.core.state.label_edits import (
    label_edit,
    replace_labels_edit,
    replace_supervision_edit,
)
from saeviz.core.state.labels import follow_store
from saeviz.core.state.view_state import ViewState

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_MS = 400  # changes within this time are autosaved together
MAX_RECENT = 8
RECENT_KEY = "labeling/recent_projects"
TOOL_INFO = {
    "navigate": ("&Navigate", "N", "Pan, zoom and pick points (no painting)"),
    "click": ("&Click", "C", "Click a point to label it (Shift: unlabel)"),
    "brush": ("&Brush", "B", "Paint every point the brush passes over (Shift: unlabel; [ and ] resize)"),
    "lasso": ("&Lasso", "L", "Label the points inside a drawn outline (Shift: unlabel)"),
    "rectangle": ("&Rectangle", "R", "Label the points inside a rectangle (Shift: unlabel)"),
    "eraser": ("&Eraser", "E", "Unlabel every point the brush passes over"),
}


def attach_labeling(shell: Shell, recovery_dir=None) -> LabelingController:
    """Add the labeling tools, docks, menus, projects and autosave to the shell's window."""
    return LabelingController(shell, recovery_dir)


class RevealDialog(QDialog):
    """Reveal a fraction of the ground truth as labels, or hide every label."""

    def __init__(self, fraction: float, seed: int, parent=None):
        super().__init__(parent)
        self.setObjectName("revealDialog")
        self.setWindowTitle("Reveal ground truth")
        self.fraction = QDoubleSpinBox()
        self.fraction.setRange(0.0, 100.0)
        self.fraction.setDecimals(2)
        self.fraction.setSuffix(" %")
        self.fraction.setValue(100.0 * fraction)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setValue(int(seed))
        info = QLabel("The labels are replaced by this share of the dataset's ground truth, "
                      "drawn per class. Undo brings the previous labels back.")
        info.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Share of samples", self.fraction)
        form.addRow("Random seed", self.seed)
        buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        reveal = buttons.addButton("Reveal", QDialogButtonBox.AcceptRole)
        hide = QPushButton("Hide all")
        hide.setToolTip("Unlabel every sample")
        hide.clicked.connect(lambda: self.fraction.setValue(0.0))  # before the box accepts
        buttons.addButton(hide, QDialogButtonBox.AcceptRole)
        reveal.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(info)
        lay.addLayout(form)
        lay.addWidget(buttons)


class LabelingController(QObject):
    """See the module docstring. ``ask_unsaved`` and ``choose_*`` are the dialogs it opens."""

    projectChanged = Signal()

    def __init__(self, shell: Shell, recovery_dir=None):
        super().__init__(shell)
        self.shell = shell
        self.session = shell.session
        self.view = shell.latent.view
        self.recovery_dir = Path(recovery_dir) if recovery_dir is not None else default_recovery_dir()
        self.editor = shell.editor
        self.paint = PaintTools(self.view, self.editor, self)
        self.project = Project(recovery_dir=self.recovery_dir)
        self._external_dirty = False
        self._opening = False
        self._store = None
        self._n_classes = 0
        self.box: QMessageBox | None = None
        self.autosave_error: str | None = None

        self.class_manager = ClassManager(self.editor, self.paint)
        self.distance_editor = DistanceEditor(self.editor, lambda: int(self.session.model_config.latent_dim),
                                              lambda: self.session.train_config.mds)
        self.history = HistoryPanel(self.editor.stack)
        self.palette = ClassPalette(self.paint)

        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave_timer.timeout.connect(self.autosave_now)

        self._make_actions()
        self._make_docks()
        self._make_toolbar()
        self._make_menus()

        self.editor.stack.cleanChanged.connect(self._update_title)
        self.editor.stack.indexChanged.connect(self._schedule_autosave)
        self.editor.externalChange.connect(self._external_change)
        self.paint.pointLabeled.connect(self._point_labeled)
        self.paint.toolChanged.connect(self._tool_changed)
        self.paint.radiusChanged.connect(self._radius_changed)
        self._bind_view_state()
        self.class_manager.message.connect(lambda text: self._status(text))
        self.session.dataset_changed.connect(self._dataset_changed)
        self.session.model_config_changed.connect(self.distance_editor.update_preview)  # latent size
        self.session.train_config_changed.connect(self.distance_editor.update_preview)  # MDS settings
        shell.trainingStateChanged.connect(self._training_state_changed)
        shell.watch(self)  # the window's close event

        if self.session.dataset is not None:
            self._dataset_changed()
        else:
            self._update_title()
        QTimer.singleShot(0, self._offer_session_recovery)

    # -- construction ---------------------------------------------------------------------------------------
    def _add_action(self, key: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        act = self.shell.add_action(None, key, text, slot, shortcut, tip, tip_shortcut=True)
        self.actions[key] = act
        return act

    def _make_actions(self) -> None:
        self.actions: dict[str, QAction] = {}
        a = self._add_action
        stack = self.editor.stack
        undo = stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.Undo)
        redo = stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for key, act in (("undo", undo), ("redo", redo)):
            self.actions[key] = self.shell.register_action(key, act, "Edit")
        self.shell.add_separator("Edit")

        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusive(True)
        self.tool_actions: dict[str, QAction] = {}
        for name in TOOLS:
            text, key, tip = TOOL_INFO[name]
            act = a(f"tool_{name}", text, lambda _=False, n=name: self.paint.set_tool(n), key, tip)
            act.setCheckable(True)
            self.tool_group.addAction(act)
            self.tool_actions[name] = act
        self.tool_actions["navigate"].setChecked(True)
        a("brush_bigger", "Larger brush", lambda: self.paint.grow(), "]", "Make the brush larger")
        a("brush_smaller", "Smaller brush", lambda: self.paint.shrink(), "[", "Make the brush smaller")
        protect = self.paint.protect_action  # "Paint unlabeled only" (U), on by default
        self.actions["protect_labels"] = self.shell.register_action("protect_labels", protect)
        for i in range(9):
            a(f"class_{i + 1}", f"Paint class {i + 1}", lambda _=False, i=i: self._pick_class(i), str(i + 1),
              f"Paint with class {i + 1}")
        a("new_project", "&New project", self.new_project, QKeySequence.New,
          "Start afresh on the current dataset (no labels beyond the revealed ones, no model)")
        a("open_project", "Open p&roject…", self.open_project_dialog, "Ctrl+Alt+O",
          "Open a saved project folder")
        a("save_project", "&Save project", lambda: self.save_project(), "Ctrl+Alt+S",
          "Save labels, classes, distances, model and view into the project folder")
        a("save_project_as", "Save project &as…", self.save_project_as, QKeySequence.SaveAs,
          "Save the project into a new folder")
        a("import_labels", "&Import labels…", self.import_labels_dialog, None,
          "Read labels from a CSV (index,label) or NPZ file")
        a("export_labels", "E&xport labels…", self.export_labels_dialog, None,
          "Write the labels as CSV (index,label) or NPZ")
        a("reveal", "Reveal &ground truth…", self.reveal_dialog, None,
          "Use a share of the dataset's ground truth as labels, or hide all labels")
        a("add_class", "Add &class", lambda: self.class_manager.add_class(), None, "Add a class")

    def _make_toolbar(self) -> None:
        bar = QToolBar("Labeling", self.shell.parent_widget)
        bar.setObjectName("labelingToolBar")
        for name in TOOLS:
            bar.addAction(self.tool_actions[name])
        bar.addSeparator()
        self.radius_spin = QSpinBox()
        self.radius_spin.setObjectName("brushRadius")
        self.radius_spin.setRange(int(MIN_RADIUS), int(MAX_RADIUS))
        self.radius_spin.setSuffix(" px")
        self.radius_spin.setValue(int(round(self.paint.radius)))
        self.radius_spin.setToolTip("Brush radius in screen pixels ([ and ])")
        self.radius_spin.valueChanged.connect(lambda v: self.paint.set_radius(v))
        bar.addWidget(QLabel(" Brush "))
        bar.addWidget(self.radius_spin)
        bar.addAction(self.actions["protect_labels"])
        bar.addSeparator()
        bar.addWidget(QLabel(" Class "))
        bar.addWidget(self.palette)
        bar.addSeparator()
        # fixed texts in the tool bar (the menu's Undo/Redo name the step, which changes the width)
        stack = self.editor.stack
        for key, text, can, can_changed, slot in (
                ("undo", "Undo", stack.canUndo, stack.canUndoChanged, stack.undo),
                ("redo", "Redo", stack.canRedo, stack.canRedoChanged, stack.redo)):
            act = QAction(text, bar)
            act.setObjectName(f"{key}ToolAction")
            act.setEnabled(can())
            act.triggered.connect(slot)
            can_changed.connect(act.setEnabled)
            bar.addAction(act)
            self.actions[f"{key}_tool"] = act
        stack.indexChanged.connect(self._update_undo_tips)
        self._update_undo_tips()
        self.toolbar = bar
        self.shell.add_toolbar(bar, Qt.TopToolBarArea)

    def _make_docks(self) -> None:
        # the right column: inspector, classes, then loss / distances / history as tabs
        add = self.shell.add_dock
        self.docks: dict[str, QDockWidget] = {
            "classes": add("classes", "Classes", self.class_manager, Qt.RightDockWidgetArea, split_below="inspector"),
            "distances": add("distances", "Distances", self.distance_editor, Qt.RightDockWidgetArea, tab_with="loss"),
        }
        self.docks["history"] = add("history", "History", self.history, Qt.RightDockWidgetArea,
                                    tab_with="loss" if "loss" in self.shell.docks else "distances")
        loss = self.shell.docks.get("loss")
        if loss is not None:
            loss.raise_()
        # "Reset layout" shows every panel again, ours too
        self.shell.layoutReset.connect(lambda: [d.show() for d in self.docks.values()])

    def _update_undo_tips(self, *_args) -> None:
        stack = self.editor.stack
        self.actions["undo_tool"].setToolTip(f"Undo {stack.undoText()} (Ctrl+Z)" if stack.canUndo() else "Undo (Ctrl+Z)")
        self.actions["redo_tool"].setToolTip(f"Redo {stack.redoText()} (Ctrl+Shift+Z)" if stack.canRedo()
                                             else "Redo (Ctrl+Shift+Z)")

    def _make_menus(self) -> None:
        sh = self.shell
        self.recent_menu = QMenu("Open &recent project", sh.menu("File"))
        self.recent_menu.setObjectName("recentProjectsMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        first = "open" if "open" in sh.actions else None
        for key in ("new_project", "open_project"):
            sh.insert_action("File", self.actions[key], first)
        sh.insert_action("File", self.recent_menu.menuAction(), first)
        for key in ("save_project", "save_project_as"):
            sh.insert_action("File", self.actions[key], first)
        if first is not None:
            sh.add_separator("File", first)
        last = "quit" if "quit" in sh.actions else None
        if last is None:
            sh.add_separator("File")
        for key in ("import_labels", "export_labels", "reveal"):
            sh.insert_action("File", self.actions[key], last)
        if last is not None:
            sh.add_separator("File", last)

        edit = sh.menu("Edit")
        tools = edit.addMenu("&Tools")
        for name in TOOLS:
            tools.addAction(self.tool_actions[name])
        tools.addSeparator()
        tools.addAction(self.actions["brush_smaller"])
        tools.addAction(self.actions["brush_bigger"])
        tools.addSeparator()
        tools.addAction(self.actions["protect_labels"])
        edit.addAction(self.actions["add_class"])
        self.edit_menu = edit

    # -- the store -------------------------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        store = self.session.labels
        self._store = follow_store(self._store, store, labels=self._store_changed, classes=self._classes_changed)
        self._n_classes = store.n_classes if store is not None else 0
        self.paint.set_current_class(min(self.paint.current_class, max(self._n_classes - 1, 0)))
        for w in (self.class_manager, self.distance_editor, self.palette):
            w.set_store(store)
        if not self._opening:
            if not self.modified:
                self.project.discard_autosave()
            # else: the previous session's autosave stays, for recovery after this session ends
            self.project = Project(recovery_dir=self.recovery_dir)
            self.projectChanged.emit()
        self._external_dirty = False
        self.actions["reveal"].setEnabled(self.session.has_ground_truth)
        self._update_title()

    def _store_changed(self, *_args) -> None:
        self._schedule_autosave()

    def _classes_changed(self) -> None:
        store = self._store
        k = store.n_classes if store is not None else 0
        if k != self._n_classes:
            self._n_classes = k
            s = self.session
            if not s.training:  # results numbered by the old classes would be misread
                s.set_classifier(None)
                if s.codes is not None and s.class_targets is not None:
                    s.accept_codes(s.codes, None)
        self.actions["reveal"].setEnabled(self.session.has_ground_truth)
        self._schedule_autosave()

    def _external_change(self, was_clean: bool) -> None:
        if self._opening:
            return
        if not was_clean or self.project.folder is not None:
            self._external_dirty = True
        self._update_title()
        self._schedule_autosave()

    def _training_state_changed(self, state: str) -> None:
        running = state != "idle"
        self.class_manager.set_structure_locked(running)
        self.distance_editor.set_structure_locked(running)

    # -- modified state and title ----------------------------------------------------------------------------------
    @property
    def modified(self) -> bool:
        return self._external_dirty or not self.editor.stack.isClean()

    def _update_title(self, *_args) -> None:
        s = self.session
        name = s.dataset.name if s.dataset is not None else ""
        if self.project.folder is not None:
            title = f"saeviz — {self.project.name} ({name})" if name else f"saeviz — {self.project.name}"
        else:
            title = f"saeviz — {name}" if name else "saeviz"
        self.shell.set_title(title + "[*]", self.modified)

    def _mark_saved(self) -> None:
        self._external_dirty = False
        self.editor.stack.setClean()
        self._update_title()

    # -- autosave ----------------------------------------------------------------------------------------------------
    def _schedule_autosave(self, *_args) -> None:
        self._update_title()
        if not self._opening:
            self._autosave_timer.start()

    def autosave_now(self) -> Path | None:
        """Write the autosave now (normally a short timer after each change)."""
        self._autosave_timer.stop()
        s = self.session
        if s.labels is None or s.dataset is None:
            return None
        if not self.modified:
            self.project.discard_autosave()
            return None
        try:
            path = self.project.autosave(s.labels.snapshot(), dict(s.dataset.source or {}), s.dataset.name)
        except (OSError, SaevizError) as exc:
            if self.autosave_error is None:
                self._status(f"Autosave failed: {exc}", 15000)
            self.autosave_error = str(exc)
            return None
        self.autosave_error = None
        return path

    # -- editing -----------------------------------------------------------------------------------------------------
    def _pick_class(self, i: int) -> None:
        if self._store is not None and i < self._store.n_classes:
            self.paint.set_current_class(i)

    def _point_labeled(self, i: int) -> None:
        if 0 <= i < self.session.n_samples:
            self.session.select(i)

    def _tool_changed(self, name: str) -> None:
        act = self.tool_actions.get(name)
        if act is not None and not act.isChecked():
            act.setChecked(True)

    def _radius_changed(self, r: float) -> None:
        if self.radius_spin.value() != int(round(r)):
            self.radius_spin.blockSignals(True)
            self.radius_spin.setValue(int(round(r)))
            self.radius_spin.blockSignals(False)

    def label(self, indices, value: int, text: str = "Label") -> bool:
        """Label training positions ``indices`` with class ``value`` (-1: unlabel) as one step."""
        if self._store is None:
            return False
        return self.editor.push(label_edit(self._store, indices, value, text))

    # -- view settings ---------------------------------------------------------------------------------------------
    def _view_state(self) -> ViewState:
        return self.shell.view_state

    def _bind_view_state(self) -> None:
        """The labeling tool, brush radius and current class are part of the view state: the
        paint tools keep it up to date, and a tool or radius set there is taken up."""
        vs = self._view_state()
        p = self.paint
        vs.update(tool=p.tool_name, brush_radius=float(p.radius), current_class=max(0, int(p.current_class)))
        p.toolChanged.connect(lambda name: vs.update(tool=name))
        p.radiusChanged.connect(lambda r: vs.update(brush_radius=float(r)))
        p.currentClassChanged.connect(lambda k: vs.update(current_class=max(0, int(k))))
        vs.events.tool.connect(self._view_tool_changed)
        vs.events.brush_radius.connect(self._view_radius_changed)
        self.destroyed.connect(lambda *_a: (vs.events.tool.disconnect(self._view_tool_changed),
                                            vs.events.brush_radius.disconnect(self._view_radius_changed)))

    def _view_tool_changed(self, name: str) -> None:
        if name != self.paint.tool_name:
            self.paint.set_tool(name)

    def _view_radius_changed(self, r: float) -> None:
        if r != self.paint.radius:
            self.paint.set_radius(r)

    def view_settings(self) -> dict:
        """The view state as a project stores it (``ViewState.to_dict``)."""
        vs = self._view_state()
        vs.current_class = max(0, int(self.paint.current_class))  # the class in hand, within the classes
        return vs.to_dict()

    def apply_view_settings(self, v) -> None:
        """Show a project's view state (any stored form; invalid values keep their defaults)."""
        restored = ViewState.from_dict(v)
        self._view_state().assign(restored)
        self.paint.set_current_class(restored.current_class)  # within the project's classes

    # -- projects ----------------------------------------------------------------------------------------------------
    def _status(self, text: str, ms: int = 6000) -> None:
        self.shell.status(text, ms)

    def _error(self, title: str, text: str) -> None:
        self.shell.show_error(title, text)

    def recent_projects(self) -> list[str]:
        value = self.shell.settings.value(RECENT_KEY)
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if isinstance(v, str)]

    def _add_recent(self, folder: Path) -> None:
        path = str(Path(folder).resolve())
        items = [p for p in self.recent_projects() if p != path]
        self.shell.settings.setValue(RECENT_KEY, [path] + items[: MAX_RECENT - 1])

    def _fill_recent(self) -> None:
        menu = self.recent_menu
        menu.clear()
        items = self.recent_projects()
        for path in items:
            act = menu.addAction(Path(path).name or path)
            act.setToolTip(path)
            act.setStatusTip(path)
            act.setEnabled(os.path.isfile(os.path.join(path, MANIFEST)))
            act.triggered.connect(lambda _=False, p=path: self.open_project(p))
        if not items:
            menu.addAction("(none)").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list", lambda: self.shell.settings.setValue(RECENT_KEY, []))

    def ask_unsaved(self) -> str:
        """"save", "discard" or "cancel" for unsaved changes (a blocking question)."""
        return save_discard_or_cancel(self.shell.parent_widget, "Unsaved changes",
                                      "The labels have changes that are not saved in a project.",
                                      "Save them before going on?", "unsavedBox")

    def maybe_save(self) -> bool:
        """True when it is fine to drop the current labels (saved, discarded or unchanged)."""
        self.paint.cancel_gesture()
        if not self.modified:
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            return self.save_project()
        if answer == "discard":
            self.project.discard_autosave()
            self._external_dirty = False
            self.editor.stack.setClean()
            return True
        return False

    def _may_drop_model(self, doing: str) -> bool:
        """The window's question about a trained model that is not saved. Asked before the
        labels' question: discarding a model changes nothing until it is replaced."""
        return self.shell.ask_keep_model(doing)

    def save_project(self, folder=None) -> bool:
        """Save into ``folder``, or this project's folder (asking for one when there is none)."""
        if folder is None and self.project.folder is None:
            return self.save_project_as()
        s = self.session
        self.paint.cancel_gesture()
        try:
            state = state_from_session(s, self.view_settings())
            model = model_of_session(s)
            info = self.project.save(state, folder, **model)
        except (SaevizError, OSError) as exc:
            self._error("Cannot save the project", str(exc))
            return False
        self._mark_saved()
        if model:
            self.shell.model_saved()
        self._add_recent(info.folder)
        self.projectChanged.emit()
        self._status(f"Saved project {info.folder}")
        return True

    def choose_project_folder(self, title: str, existing: bool) -> str:
        if existing:
            return QFileDialog.getExistingDirectory(self.shell.parent_widget, title, self.shell.last_dir())
        path, _ = QFileDialog.getSaveFileName(self.shell.parent_widget, title, self.shell.last_dir(),
                                              "saeviz project folder (*)")
        return path

    def save_project_as(self) -> bool:
        path = self.choose_project_folder("Save project as (a new folder)", existing=False)
        if not path:
            return False
        self.shell.remember_dir(path)
        return self.save_project(path)

    def open_project_dialog(self) -> None:
        path = self.choose_project_folder("Open project folder", existing=True)
        if path:
            self.shell.remember_dir(path)
            self.open_project(path)

    def new_project(self) -> None:
        s = self.session
        if s.dataset is None or not self._may_drop_model("starting a new project") or not self.maybe_save():
            return
        spec = s.dataset_spec if s.dataset_spec is not None else dict(s.dataset.source or {})
        if not spec:
            self._error("Cannot start a new project", "the open dataset cannot be reloaded")
            return
        self.shell.open_dataset(spec, ask=False)

    def open_project(self, folder) -> None:
        """Open a project folder: its dataset, labels, classes, distances, model and view."""
        if not self._may_drop_model("opening another project") or not self.maybe_save():
            return
        if self.shell.training_running():
            self.shell.stop_training()
        self._status(f"Opening project {folder}…", 0)
        recovery_dir = self.recovery_dir
        self.shell.runner.submit(
            "project", lambda: Project.open(str(folder), recovery_dir=recovery_dir),
            on_result=lambda res: self._project_loaded(*res),
            on_error=lambda exc: self._error("Cannot open the project", str(exc)))

    def _project_loaded(self, project: Project, state) -> None:
        from saeviz.core.data.registry import load_dataset

        ds = self.session.dataset
        if ds is not None and dict(ds.source or {}) == state.dataset_source:
            self._install_project(project, state, ds)
            return
        self.shell.runner.submit(
            "dataset", load_dataset, state.dataset_source,
            on_result=lambda dataset: self._install_project(project, state, dataset),
            on_error=lambda exc: self._error("Cannot open the project's dataset", str(exc)))

    def _install_project(self, project: Project, state, dataset) -> None:
        s = self.session
        if self.shell.training_running():
            self.shell.stop_training()
        n_train = len(dataset.train_idx) if len(dataset.train_idx) else dataset.n_samples
        if n_train != len(state.labels):
            self._error("Cannot open the project",
                        f"its {len(state.labels):,} labels do not fit the {n_train:,} training samples of "
                        f"{dataset.name}: the dataset has changed since the project was saved")
            return
        self._opening = True
        try:
            s.set_model_config(state.model_config)
            s.set_train_config(state.train_config)
            s.label_fraction, s.label_seed = state.label_fraction, state.label_seed
            s.set_dataset(dataset, labels=state.labels, class_names=state.class_names, colors=state.colors,
                          distances=state.distances, spec=None)
            self.project = project
            if state.checkpoint is not None:
                # the project's labels, set above, are the ones its targets are computed from
                self.shell.use_checkpoint(state.checkpoint, project.folder, own_labels=False)
                edit = replace_supervision_edit(s.labels, state.class_names, state.colors, state.distances,
                                                state.labels)
                if edit is not None:  # the project's own labels are authoritative
                    edit.do(s.labels)
            self.apply_view_settings(state.view)
        except SaevizError as exc:
            self._error("Cannot open the project", str(exc))
            return
        finally:
            self._opening = False
        self.editor.stack.clear()
        self._mark_saved()
        self._add_recent(project.folder)
        self.projectChanged.emit()
        self._status(f"Opened project {project.folder}")
        if project.has_recovery():
            self._offer_recovery(project, project.recover(), "This project has changes that were autosaved "
                                 "but not saved")

    # -- recovery -----------------------------------------------------------------------------------------------------
    def _offer_session_recovery(self) -> None:
        probe = Project(recovery_dir=self.recovery_dir)
        try:
            rec = probe.recover()
        except SaevizError:
            return
        self._offer_recovery(probe, rec, "A session ended without saving its labels")

    def _offer_recovery(self, holder: Project, rec: Recovery, headline: str) -> None:
        box = QMessageBox(QMessageBox.Question, "Restore autosaved labels",
                          f"{headline}: {rec.describe()}.", QMessageBox.NoButton, self.shell.parent_widget)
        box.setObjectName("recoveryBox")
        box.setInformativeText("Restore them? Discarding deletes the autosave.")
        restore = box.addButton("Restore", QMessageBox.AcceptRole)
        box.addButton("Discard", QMessageBox.DestructiveRole)
        later = box.addButton("Later", QMessageBox.RejectRole)
        box.setDefaultButton(restore)
        box.setEscapeButton(later)
        box.setAttribute(Qt.WA_DeleteOnClose)

        def done(_result, box=box):
            clicked = box.clickedButton()
            self.box = None
            if clicked is restore:
                self.restore(rec, holder)
            elif clicked is not later:
                holder.discard_recovery()

        box.finished.connect(done)
        self.box = box
        box.open()

    def restore(self, rec: Recovery, holder: Project | None = None) -> None:
        """Apply an autosave (one undo step), opening its dataset first when another one is open."""
        from saeviz.core.data.registry import load_dataset

        s = self.session
        ds = s.dataset
        if ds is not None and dict(ds.source or {}) == rec.dataset_source and s.n_samples == len(rec.supervision.labels):
            self._apply_recovery(rec, holder)
            return
        if not rec.dataset_source:
            self._error("Cannot restore the labels", "the autosave does not say which dataset they belong to")
            return

        def loaded(dataset):
            if self.shell.training_running():
                self.shell.stop_training()
            s.set_dataset(dataset, spec=None)
            self._apply_recovery(rec, holder)

        self.shell.runner.submit("dataset", load_dataset, rec.dataset_source, on_result=loaded,
                                  on_error=lambda exc: self._error("Cannot open the autosave's dataset", str(exc)))

    def _apply_recovery(self, rec: Recovery, holder: Project | None) -> None:
        store = self.session.labels
        sup = rec.supervision
        if store is None or store.n_samples != len(sup.labels):
            self._error("Cannot restore the labels", "they do not fit the open dataset")
            return
        if self.session.training and sup.class_names != store.class_names:
            self._error("Cannot restore the labels now", "stop training first: the classes differ")
            return
        try:
            edit = replace_supervision_edit(store, sup.class_names, sup.colors, sup.distances, sup.labels,
                                            "Restore autosaved labels")
        except SaevizError as exc:
            self._error("Cannot restore the labels", str(exc))
            return
        self.editor.push(edit)
        if edit is None:
            self._external_dirty = True  # nothing differs, yet the autosave stands for unsaved work
        self.autosave_now()
        if holder is not None and holder.folder is None:
            holder.discard_recovery()  # our own autosave holds the labels now
        self._status(f"Restored {rec.n_labeled:,} autosaved labels")

    # -- import, export, reveal -----------------------------------------------------------------------------------------
    def _train_index(self) -> np.ndarray:
        ds = self.session.dataset
        return np.asarray(ds.train_idx if len(ds.train_idx) else np.arange(ds.n_samples), np.int64)

    def import_labels(self, path, replace: bool = False) -> bool:
        s = self.session
        if s.labels is None:
            return False
        train = self._train_index()
        pos = np.full(s.dataset.n_samples, -1, np.int64)
        pos[train] = np.arange(len(train))
        try:
            lf = read_labels(path, class_names=s.labels.class_names, n_dataset=s.dataset.n_samples,
                             position_of=pos)
            name = Path(path).name
            if replace:
                edit = replace_labels_edit(s.labels, lf.as_array(s.n_samples), f"Import labels from {name}")
            else:
                edit = label_edit(s.labels, lf.positions, lf.labels, f"Import labels from {name}")
        except SaevizError as exc:
            self._error("Cannot import the labels", str(exc))
            return False
        changed = self.editor.push(edit)
        self._status(f"Imported {len(lf.positions):,} labels from {Path(path).name}"
                     + ("" if changed else " (no change)"))
        return True

    def export_labels(self, path) -> Path | None:
        s = self.session
        if s.labels is None:
            return None
        try:
            out = write_labels(path, s.labels.labels, index=self._train_index(), class_names=s.labels.class_names)
        except (SaevizError, OSError) as exc:
            self._error("Cannot export the labels", str(exc))
            return None
        self._status(f"Saved labels to {out}")
        return out

    def import_labels_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.shell.parent_widget, "Import labels", self.shell.last_dir(),
                                              "Label files (*.csv *.npz);;CSV (*.csv);;NumPy archive (*.npz)")
        if not path:
            return
        self.shell.remember_dir(path)
        box = QMessageBox(QMessageBox.Question, "Import labels",
                          "Replace all current labels by the file's, or add the file's labels to them?",
                          QMessageBox.Cancel, self.shell.parent_widget)
        box.setObjectName("importBox")
        replace = box.addButton("Replace all", QMessageBox.DestructiveRole)
        merge = box.addButton("Add to current", QMessageBox.AcceptRole)
        box.setDefaultButton(merge)
        box.exec()
        if box.clickedButton() in (replace, merge):
            self.import_labels(path, replace=box.clickedButton() is replace)

    def export_labels_dialog(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self.shell.parent_widget, "Export labels", self.shell.last_dir(),
                                                   "CSV index,label (*.csv);;NumPy archive (*.npz)")
        if not path:
            return
        if not Path(path).suffix:
            path += ".npz" if "npz" in chosen.lower() else ".csv"
        self.shell.remember_dir(path)
        self.export_labels(path)

    def reveal(self, fraction: float, seed: int | None = None) -> bool:
        """Replace the labels by ``fraction`` of the ground truth (0 hides every label), one undo step."""
        s = self.session
        if s.labels is None:
            return False
        if not 0.0 <= fraction <= 1.0:
            self._error("Cannot reveal labels", f"the share must lie between 0 and 100%, got {100 * fraction:g}%")
            return False
        seed = s.label_seed if seed is None else int(seed)
        if fraction > 0 and not s.has_ground_truth:
            self._error("Cannot reveal labels", "this dataset has no ground truth for the current classes")
            return False
        labels = (np.full(s.n_samples, -1, np.int64) if fraction == 0
                  else reveal_labels(s.y, np.arange(s.n_samples), fraction, seed))
        text = "Hide all labels" if fraction == 0 else f"Reveal {100 * fraction:g}% of the ground truth"
        self.editor.push(replace_labels_edit(s.labels, labels, text))
        s.set_label_fraction(fraction, seed)
        return True

    def reveal_dialog(self) -> None:
        s = self.session
        if s.labels is None:
            return
        dlg = RevealDialog(s.label_fraction, s.label_seed, self.shell.parent_widget)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.reveal(dlg.fraction.value() / 100.0, dlg.seed.value()))
        dlg.open()

    # -- closing -----------------------------------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if obj is self.shell.parent_widget and event.type() == QEvent.Type.Close:
            if not self._may_drop_model("quitting") or not self.maybe_save():
                event.ignore()
                return True
            self.paint.shutdown()
            if not self.modified:
                self.project.discard_autosave()
            else:
                self.autosave_now()
        return False


__all__ = ["attach_labeling", "LabelingController", "RevealDialog"]
