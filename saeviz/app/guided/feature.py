"""Guided labeling in the main window (paper section 3.5).

``attach_guided(window)`` adds, and returns as ``window.guided``:

* docks: *Candidates* (the most uncertain unlabeled samples, ringed in the latent view; a tab
  beside the data and model settings), *Labeling queue* (one candidate at a time, labeled with
  the keys 1-9; a tab beside the inspector), *Metrics* of the classifier (held-out error over
  epochs, confidence histogram, reliability diagram with its ECE) and *Rounds* (what each batch
  of new labels changed once it trained in), both beside the loss curves;
* a *Guided labeling* menu: open the queue (Ctrl+G), refresh the candidates (Ctrl+Shift+R),
  the ranking strategy, the rings in the latent view (Ctrl+Shift+H), and the panels;
* the strategy, the number of candidates and the rings are remembered in the window's settings.

The ranking is computed after every epoch while one of these panels is open.
"""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu

from saeviz.app.common.window_close import WhenClosed
from saeviz.app.guided.candidates import (
    DEFAULT_K,
    MAX_K,
    STRATEGY_TEXT,
    STRATEGY_TIPS,
    CandidatesPanel,
    GuidedController,
)
from saeviz.app.guided.metrics_panel import MetricsPanel
from saeviz.app.guided.queue import QueueController, QueuePanel
from saeviz.app.guided.rounds import RoundsController, RoundsPanel
from saeviz.core.method.ranking import STRATEGIES

SETTINGS_K = "guided/k"
SETTINGS_STRATEGY = "guided/strategy"
SETTINGS_HIGHLIGHT = "guided/highlight"
DOCKS = (("candidates", "Candidates"), ("queue", "Labeling queue"), ("metrics", "Metrics"),
         ("rounds", "Rounds"))


def attach_guided(window) -> "GuidedLabeling":
    """Add guided labeling's docks, menu and shortcuts to ``window`` (see the module docstring)."""
    guided = GuidedLabeling(window)
    window.guided = guided
    return guided


class GuidedLabeling(QObject):
    """The guided-labeling controllers, panels, docks and actions of one main window."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.controller = GuidedController(window, self)
        self._restore_settings()
        self.queue = QueueController(window, self.controller, self)
        self.rounds = RoundsController(self.controller, self)
        self.candidates_panel = CandidatesPanel(self.controller)
        self.queue_panel = QueuePanel(self.queue)
        self.metrics_panel = MetricsPanel(self.controller)
        self.rounds_panel = RoundsPanel(self.rounds)
        self.docks: dict[str, QDockWidget] = {}
        self._make_docks()
        self._make_actions()
        self._make_menu()

        c = self.controller
        c.message.connect(self._status)
        self.rounds.changed.connect(self._rounds_changed)
        self.candidates_panel.k_spin.valueChanged.connect(lambda _v: self._save_settings())
        self.candidates_panel.strategy_combo.currentIndexChanged.connect(lambda _i: self._strategy_changed())
        self.candidates_panel.highlight_check.toggled.connect(self._highlight_toggled)
        for dock in self.docks.values():
            dock.visibilityChanged.connect(lambda _v: self._update_active())
        QTimer.singleShot(0, self._update_active)
        self._closed = False
        WhenClosed(window, self.shutdown)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- construction -----------------------------------------------------------------------------
    def _make_docks(self) -> None:
        w = self.window
        widgets = {"candidates": self.candidates_panel, "queue": self.queue_panel,
                   "metrics": self.metrics_panel, "rounds": self.rounds_panel}
        for key, title in DOCKS:
            dock = QDockWidget(title, w)
            dock.setObjectName(f"{key}Dock")
            dock.setWidget(widgets[key])
            dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                             | QDockWidget.DockWidgetClosable)
            self.docks[key] = dock
        self.place_docks()
        for dock in self.docks.values():
            w.restoreDockWidget(dock)  # where a saved layout had it, when the window restored one
        reset = getattr(w, "actions", {}).get("reset_layout")
        if reset is not None:
            reset.triggered.connect(self.place_docks)

    def place_docks(self) -> None:
        """The default places: the candidates with the data and model settings (the tallest
        column; a list to pick samples from, left of the view), the queue beside the inspector,
        the metrics and rounds with the loss curves."""
        w = self.window
        existing = getattr(w, "docks", {})
        existing = existing if isinstance(existing, dict) else {}
        d = self.docks
        settings, inspector, loss = existing.get("settings"), existing.get("inspector"), existing.get("loss")
        for key, dock in d.items():
            dock.setFloating(False)
            w.addDockWidget(Qt.LeftDockWidgetArea if key == "candidates" else Qt.RightDockWidgetArea, dock)
            dock.show()
        if settings is not None:
            w.tabifyDockWidget(settings, d["candidates"])
        if inspector is not None:
            w.tabifyDockWidget(inspector, d["queue"])
        if loss is not None:
            w.tabifyDockWidget(loss, d["metrics"])
            w.tabifyDockWidget(loss, d["rounds"])
        else:
            w.tabifyDockWidget(d["metrics"], d["rounds"])
        for dock in (settings, inspector, loss):
            if dock is not None:
                dock.raise_()

    def _action(self, key: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        act = QAction(text, self.window)
        act.setObjectName(f"guided_{key}Action")
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        self.window.addAction(act)  # the shortcut works while the menu bar is hidden too
        self.actions[key] = act
        return act

    def _make_actions(self) -> None:
        self.actions: dict[str, QAction] = {}
        self._action("open_queue", "Open the labeling &queue", self.open_queue, "Ctrl+G",
                     "Label the candidates one at a time (keys 1-9, S skips, Backspace goes back)")
        self._action("refresh", "&Refresh candidates", self.refresh, "Ctrl+Shift+R",
                     "Rank the unlabeled samples again from the latest model and labels")
        self._action("show_candidates", "Show the &candidates", self.show_candidates, None,
                     "Show the list of candidates")
        hl = self._action("highlight", "&Ring candidates in the latent view", self._highlight_toggled,
                          "Ctrl+Shift+H", "Draw a ring around every candidate in the latent view")
        hl.setCheckable(True)
        hl.setChecked(self.controller.highlight_enabled)
        self.strategy_group = QActionGroup(self.window)
        self.strategy_group.setExclusive(True)
        self.strategy_actions: dict[str, QAction] = {}
        for key in STRATEGIES:
            act = QAction(STRATEGY_TEXT[key], self.window, checkable=True)
            act.setObjectName(f"guided_strategy_{key}Action")
            act.setStatusTip(STRATEGY_TIPS[key])
            act.setChecked(key == self.controller.strategy)
            act.triggered.connect(lambda _=False, key=key: self.set_strategy(key))
            self.strategy_group.addAction(act)
            self.strategy_actions[key] = act

    def _make_menu(self) -> None:
        mb = self.window.menuBar()
        menu = QMenu("&Guided labeling", mb)
        menu.setObjectName("guidedMenu")
        menu.addAction(self.actions["open_queue"])
        menu.addAction(self.actions["refresh"])
        menu.addAction(self.actions["show_candidates"])
        menu.addSeparator()
        strategies = menu.addMenu("Rank by")
        for act in self.strategy_actions.values():
            strategies.addAction(act)
        menu.addAction(self.actions["highlight"])
        menu.addSeparator()
        for dock in self.docks.values():
            menu.addAction(dock.toggleViewAction())
        help_action = None
        for act in mb.actions():
            if act.menu() is not None and act.text().replace("&", "") == "Help":
                help_action = act
        if help_action is not None:
            mb.insertMenu(help_action, menu)
        else:
            mb.addMenu(menu)
        self.menu = menu
        for act in mb.actions():  # the View > Panels list names every dock
            sub = act.menu()
            if sub is None or act.text().replace("&", "") != "View":
                continue
            for inner in sub.actions():
                if inner.menu() is not None and inner.text().replace("&", "") == "Panels":
                    for dock in self.docks.values():
                        inner.menu().addAction(dock.toggleViewAction())

    # -- settings ---------------------------------------------------------------------------------------
    def _settings(self):
        return getattr(self.window, "settings", None)

    def _restore_settings(self) -> None:
        st = self._settings()
        if st is None:
            return
        c = self.controller
        try:
            k = st.value(SETTINGS_K)
            if k is not None:
                c.k = int(max(1, min(MAX_K, int(k))))
        except (TypeError, ValueError):
            c.k = DEFAULT_K
        strategy = st.value(SETTINGS_STRATEGY)
        if strategy in STRATEGIES:
            c.strategy = strategy
        hl = st.value(SETTINGS_HIGHLIGHT)
        if hl is not None:
            c.highlight_enabled = hl in (True, "true", "1", 1)

    def _save_settings(self) -> None:
        st = self._settings()
        if st is None:
            return
        c = self.controller
        st.setValue(SETTINGS_K, int(c.k))
        st.setValue(SETTINGS_STRATEGY, c.strategy)
        st.setValue(SETTINGS_HIGHLIGHT, bool(c.highlight_enabled))

    # -- commands ----------------------------------------------------------------------------------------
    def open_queue(self) -> None:
        """Show the queue with the newest candidates and give it the keyboard."""
        for key in ("candidates", "queue"):
            self.docks[key].show()
            self.docks[key].raise_()
        self._update_active()
        if not self.queue.load() and self.controller.result is None and self.session.codes is not None:
            self.queue.refresh()
        self.queue_panel.refresh_view()
        cur = self.queue_panel.current
        if cur is not None:
            self.session.select(cur)
        self.queue_panel.setFocus(Qt.ShortcutFocusReason)

    def show_candidates(self) -> None:
        dock = self.docks["candidates"]
        dock.show()
        dock.raise_()
        self._update_active()

    def refresh(self) -> None:
        self._update_active()
        if self.docks["queue"].isVisible():
            self.queue.refresh()
        else:
            self.controller.refresh()

    def set_strategy(self, strategy: str) -> None:
        self.controller.set_strategy(strategy)
        self.candidates_panel.sync_settings()
        self._strategy_changed()

    def _strategy_changed(self) -> None:
        act = self.strategy_actions.get(self.controller.strategy)
        if act is not None and not act.isChecked():
            act.setChecked(True)
        self._save_settings()

    def _highlight_toggled(self, on: bool) -> None:
        self.controller.set_highlight_enabled(on)
        self.candidates_panel.sync_settings()
        if self.actions["highlight"].isChecked() != bool(on):
            self.actions["highlight"].setChecked(bool(on))
        self._save_settings()

    def _update_active(self) -> None:
        self.controller.set_active(any(d.toggleViewAction().isChecked() for d in self.docks.values()))

    def _rounds_changed(self) -> None:
        tracker = self.rounds.tracker
        marks = [r.epoch_before for r in tracker.rounds]
        if tracker.pending is not None and tracker.base is not None:
            marks.append(tracker.base.request.epoch)
        self.metrics_panel.set_marks(marks)

    def _status(self, text: str) -> None:
        if text:
            self.window.statusBar().showMessage(text, 6000)

    # -- closing ------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the ranking worker (the window is closing)."""
        if not self._closed:
            self._closed = True
            self.controller.shutdown()


__all__ = ["attach_guided", "GuidedLabeling"]
