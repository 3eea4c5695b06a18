"""How often a panel follows the training: at most every so often, and never while hidden.

Epochs of a small model end many times a second. A panel that refits a classifier or decodes
a strip of frames at each one keeps the processor from the UI thread, and does it for
nothing while its dock is closed or sits behind another tab. (Qt keeps a docked panel whose
tab is not the current one visible, only without a visible region: ``shown_in_window`` asks
the dock for that, and the gate follows the dock's ``visibilityChanged``.) ``LiveGate`` stands
between the session's signals and such an update: while the panel is hidden the update waits
and runs once when the panel shows; while training runs it runs at most every ``interval`` seconds
(the newest state then); otherwise it runs at once.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QDockWidget, QWidget

TRAINING_INTERVAL_S = 0.5   # while training, a gated panel updates at most twice a second


def enclosing_dock(widget: QWidget) -> QDockWidget | None:
    """The dock widget ``widget`` lies in (itself included), or None."""
    w = widget
    while w is not None and not isinstance(w, QDockWidget):
        w = w.parentWidget()
    return w


def shown_in_window(widget: QWidget) -> bool:
    """Whether ``widget`` shows once its window does: no parent of it, a dock or a tab
    included, is hidden, and its dock is not behind another dock's tab (the top-level window
    itself is not asked, so an unshown window's panels count as shown)."""
    w = widget
    while w is not None:
        if w.isHidden() and w.parentWidget() is not None:
            return False
        w = w.parentWidget()
    dock = enclosing_dock(widget)
    if dock is not None and dock.window().isVisible() and not dock.isFloating():
        return not dock.visibleRegion().isEmpty()
    return True


class LiveGate(QObject):
    """Runs ``update`` when asked, within the rules of the module docstring.

    ``training`` says whether training runs now (a callable, read at each request). Whether
    the update is looked at is ``shown()`` when given, else whether ``widget`` shows in its
    window; with a widget, a waiting update also runs when the widget shows. Without a widget
    the owner says when ``shown()`` turns true (``run_pending``); ``parent`` then owns the gate.
    """

    def __init__(self, widget: QWidget | None, update: Callable[[], object], training: Callable[[], bool],
                 interval: float = TRAINING_INTERVAL_S, *, shown: Callable[[], bool] | None = None,
                 parent: QObject | None = None):
        super().__init__(parent if parent is not None else widget)
        self.widget = widget
        self._update = update
        self._training = training
        self._shown = shown if shown is not None else (lambda: widget is None or shown_in_window(widget))
        self.interval = float(interval)
        self.pending = False
        self._last = -math.inf
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._due)
        self._dock: QDockWidget | None = None
        if widget is not None:
            widget.installEventFilter(self)

    def request(self) -> None:
        """Ask for an update: now, later, or when it is shown."""
        self.pending = True
        if not self._shown():
            self._follow_dock()
            return
        wait = self._last + self.interval - time.monotonic()
        if wait > 0 and self._training():
            if not self._timer.isActive():
                self._timer.start(max(1, int(1000 * wait)))
            return
        self.run()

    def run(self):
        """Update now (it also ends any wait); returns what the update returns."""
        self._timer.stop()
        self.pending = False
        self._last = time.monotonic()
        return self._update()

    def run_pending(self) -> None:
        """Update now if an update waits and is shown (for owners without a widget)."""
        self._due()

    def cancel(self) -> None:
        """Forget a waiting update (the state it was for is gone)."""
        self._timer.stop()
        self.pending = False

    def _due(self) -> None:
        if self.pending and self._shown():
            self.run()

    def _follow_dock(self) -> None:
        """Run a waiting update when the widget's dock comes to the front (its tab clicked):
        Qt sends the panel no show event then. The dock is looked up now, as a panel is often
        put in its dock after its gate was made."""
        dock = enclosing_dock(self.widget) if self.widget is not None else None
        if dock is None or dock is self._dock:
            return
        if self._dock is not None:
            self._dock.visibilityChanged.disconnect(self._dock_visibility)
        self._dock = dock
        dock.visibilityChanged.connect(self._dock_visibility)

    def _dock_visibility(self, visible: bool) -> None:
        if visible and self.pending:
            QTimer.singleShot(0, self._due)  # after the dock area has laid the tab out

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if obj is self.widget and event.type() == QEvent.Show and self.pending:
            QTimer.singleShot(0, self._due)
        return False
