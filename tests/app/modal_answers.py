"""Answering the modal dialogs a test's action opens: a timer waits for each dialog and fills
or dismisses it, as a user would (the action itself blocks in the dialog's event loop)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QLineEdit,
    QMessageBox,
    QWidget,
)


class ModalAnswers:
    """Answers the next modal dialogs, one handler each, in order. ``seen`` records
    (class name, window title, text) of every dialog answered."""

    STUCK_S = 10.0  # a dialog still open this long after its answer is closed, and reported

    def __init__(self, *handlers: Callable[[QWidget], None], interval_ms: int = 30):
        self.handlers = list(handlers)
        self.seen: list[tuple[str, str, str]] = []
        self.errors: list[str] = []
        self._answered: list[tuple[QWidget, float]] = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def _poll(self) -> None:
        now = time.monotonic()
        for w, when in self._answered:
            if _open(w) and now - when > self.STUCK_S:  # the answer did not close it: no hang
                self.errors.append(f"{type(w).__name__} {w.windowTitle()!r} stayed open after its answer")
                _close(w)
        self._answered = [(w, t) for w, t in self._answered if _open(w)]
        w = QApplication.activeModalWidget()
        if w is None or not w.isVisible() or any(w is a for a, _ in self._answered) or not self.handlers:
            return
        text = w.text() if isinstance(w, QMessageBox) else ""
        self.seen.append((type(w).__name__, w.windowTitle(), text))
        handler = self.handlers.pop(0)
        self._answered.append((w, now))
        try:
            handler(w)
        except Exception as exc:  # the wrong dialog: close it so that the test goes on and fails
            self.errors.append(f"{type(w).__name__} {w.windowTitle()!r}: {exc}")
            self.handlers.clear()
            _close(w)

    @property
    def done(self) -> bool:
        return not self.handlers and not any(_open(w) for w, _ in self._answered)

    def stop(self) -> None:
        self.timer.stop()

    def __enter__(self) -> "ModalAnswers":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def choose_file(path) -> Callable[[QWidget], None]:
    """Fill a file dialog with ``path`` and accept it."""
    def handler(w):
        assert isinstance(w, QFileDialog), f"expected a file dialog, got {type(w).__name__}: {w.windowTitle()}"
        p = Path(path)
        w.setDirectory(str(p.parent))
        w.findChild(QLineEdit, "fileNameEdit").setText(p.name)  # typed, as a user does
        w.accept()
    return handler


def press(button) -> Callable[[QWidget], None]:
    """Press a message box button: a ``QMessageBox.StandardButton`` or a button's text."""
    def handler(w):
        assert isinstance(w, QMessageBox), f"expected a message box, got {type(w).__name__}: {w.windowTitle()}"
        if isinstance(button, str):
            found = [b for b in w.buttons() if b.text().replace("&", "") == button]
            assert found, f"no button {button!r} in {[b.text() for b in w.buttons()]}"
            found[0].click()
        else:
            w.button(button).click()
    return handler


def _open(w: QWidget) -> bool:
    return shiboken6.isValid(w) and w.isVisible()


def _close(w: QWidget) -> None:
    if isinstance(w, QDialog):
        w.reject()
    else:
        w.close()


def dismiss(w: QWidget) -> None:
    """Close a dialog the way Escape does."""
    _close(w)
