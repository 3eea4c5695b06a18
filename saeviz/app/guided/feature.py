"""Guided labeling in the main window (paper section 3.5).

``attach_guided(shell)`` adds to the shell's window, and returns:

* docks: *Candidates* (the most uncertain unlabeled samples, ringed in the latent view; a tab
  beside the data and model settings), *Labeling queue* (one candidate at a time, labeled with
  the keys 1-9; a tab beside the inspector), *Metrics* of the classifier (held-out error over
  epochs, confidence histogram, reliability diagram with its ECE) and *Rounds* (what each batch
  of new labels changed once it trained in), both beside the loss curves;
* a *Guided labeling* menu: open the queue (Ctrl+G), refresh the candidates (Ctrl+Shift+R),
  the ranking strategy, the rings in the latent view (Ctrl+Shift+H), and the panels;
* the strategy, the number of candidates and the rings are the shell's view state (remembered
  in the settings and in projects).

The ranking is computed after every epoch while one of these panels is open.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QDockWidget

from saeviz.app.common.shell import Shell
from saeviz.app.guided.candidates import (
    STRATEGY_TEXT,
    STRATEGY_TIPS,
    GuidedController,
)
from saeviz.app.guided.candidates_panel import CandidatesPanel
from saeviz.app.guided.metrics_panel import MetricsPanel
from saeviz.app.guided.queue import QueueController, QueuePanel
from saeviz.app.guided.rounds import RoundsController, RoundsPanel
from saeviz.core.method.ranking import STRATEGIES

MENU = "Guided labeling"
# key, title, the window's dock it is a tab beside
DOCKS = (("candidates", "Candidates", "settings"), ("queue", "Labeling queue", "inspector"),
         ("metrics", "Metrics", "loss"), ("rounds", "Rounds", "loss"))


def attach_guided(shell: Shell) -> GuidedLabeling:
    """Add guided labeling's docks, menu and shortcuts to the shell's window (see the module
    docstring)."""
    return GuidedLabeling(shell)


class GuidedLabeling(QObject):
    """The guided-labeling controllers, panels, docks and actions of one window."""

    def __init__(self, shell: Shell):
        super().__init__(shell)
        self.shell = shell
        self.session = shell.session
        self.controller = GuidedController(shell, self)
        self._restore_settings()
        self.queue = QueueController(shell, self.controller, self)
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
        shell.on_close(self.shutdown)

    # -- construction -----------------------------------------------------------------------------
    def _make_docks(self) -> None:
        widgets = {"candidates": self.candidates_panel, "queue": self.queue_panel,
                   "metrics": self.metrics_panel, "rounds": self.rounds_panel}
        for key, title, beside in DOCKS:
            area = Qt.LeftDockWidgetArea if key == "candidates" else Qt.RightDockWidgetArea
            self.docks[key] = self.shell.add_dock(key, title, widgets[key], area, tab_with=beside)
        self.place_docks()
        for dock in self.docks.values():
            self.shell.restore_dock(dock)  # where a saved layout had it, when the window restored one
        self.shell.layoutReset.connect(self.place_docks)

    def place_docks(self) -> None:
        """The default places: the candidates with the data and model settings (the tallest
        column; a list to pick samples from, left of the view), the queue beside the inspector,
        the metrics and rounds with the loss curves."""
        d = self.docks
        for key, _title, beside in DOCKS:
            area = Qt.LeftDockWidgetArea if key == "candidates" else Qt.RightDockWidgetArea
            self.shell.place_dock(d[key], area, tab_with=beside)
            d[key].show()
        if "loss" not in self.shell.docks:
            self.shell.place_dock(d["rounds"], Qt.RightDockWidgetArea, tab_with="metrics")
        for key in ("settings", "inspector", "loss"):
            dock = self.shell.docks.get(key)
            if dock is not None:
                dock.raise_()

    def _action(self, key: str, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False,
                menu: str | None = MENU) -> QAction:
        act = self.shell.add_action(menu, f"guided_{key}", text, slot, shortcut, tip, checkable=checkable)
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
        self.shell.add_separator(MENU)
        self.strategy_group = QActionGroup(self)
        self.strategy_group.setExclusive(True)
        self.strategy_actions: dict[str, QAction] = {}
        strategies = self.shell.menu(MENU).addMenu("Rank by")
        for key in STRATEGIES:
            act = self.shell.add_action(None, f"guided_strategy_{key}", STRATEGY_TEXT[key],
                                        lambda _=False, key=key: self.set_strategy(key), checkable=True)
            act.setStatusTip(STRATEGY_TIPS[key])
            act.setChecked(key == self.controller.strategy)
            self.strategy_group.addAction(act)
            strategies.addAction(act)
            self.strategy_actions[key] = act
        hl = self._action("highlight", "&Ring candidates in the latent view", self._highlight_toggled,
                          "Ctrl+Shift+H", "Draw a ring around every candidate in the latent view", checkable=True)
        hl.setChecked(self.controller.highlight_enabled)

    def _make_menu(self) -> None:
        menu = self.shell.menu(MENU)
        menu.addSeparator()
        for dock in self.docks.values():
            menu.addAction(dock.toggleViewAction())
        self.menu = menu

    # -- settings ---------------------------------------------------------------------------------------
    # The strategy, the number of candidates and the rings are the view state's
    # (``guided_strategy``, ``guided_k``, ``guided_highlight``): the window stores it.
    def _view_state(self):
        return self.shell.view_state

    def _restore_settings(self) -> None:
        vs = self._view_state()
        c = self.controller
        c.k, c.strategy, c.highlight_enabled = vs.guided_k, vs.guided_strategy, vs.guided_highlight
        for event in (vs.events.guided_k, vs.events.guided_strategy, vs.events.guided_highlight):
            event.connect(self._view_state_changed)

    def _view_state_changed(self, *_args) -> None:
        """The view state changed (a restored window, an opened project, a command): show it."""
        vs = self._view_state()
        if self._closed:
            return
        if vs.guided_k != self.controller.k:
            self.controller.set_k(vs.guided_k)
            self.candidates_panel.sync_settings()
        if vs.guided_strategy != self.controller.strategy:
            self.set_strategy(vs.guided_strategy)
        if vs.guided_highlight != self.controller.highlight_enabled:
            self._highlight_toggled(vs.guided_highlight)

    def _save_settings(self) -> None:
        vs = self._view_state()
        c = self.controller
        vs.update(guided_k=int(c.k), guided_strategy=c.strategy, guided_highlight=bool(c.highlight_enabled))

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
            self.shell.status(text, 6000)

    # -- closing ------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the ranking worker (the window is closing)."""
        if not self._closed:
            self._closed = True
            self.controller.shutdown()


__all__ = ["attach_guided", "GuidedLabeling"]
