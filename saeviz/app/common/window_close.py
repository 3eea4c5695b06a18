"""Run a clean-up once a window has closed for good."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class WhenClosed(QObject):
    """Calls ``callback`` after ``window`` closed, once every other close handler had its say,
    and only if the window did not stay open (a handler may refuse, e.g. over an unsaved
    project). Owned by the window."""

    def __init__(self, window: QWidget, callback: Callable[[], None]):
        super().__init__(window)
        self.window = window
        self._callback = callback
        window.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if obj is self.window and event.type() == QEvent.Type.Close:
            QTimer.singleShot(0, self._after_close)
        return False

    def _after_close(self) -> None:
        if not self.window.isVisible():
            self._callback()
