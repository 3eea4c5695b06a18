"""The progress bar of a slow projection (t-SNE, UMAP), shown along the top of the latent view.

``ProjectionProgress`` says what is computed and how far it is ("Computing t-SNE… · 40% of
the iterations · 3 s"), busy until the computation's first report, then determinate (t-SNE
reports every ten iterations, UMAP every epoch); the elapsed time ticks every second. Cancel (or Escape while it shows and no training runs) emits ``cancelRequested``;
its owner stops the computation and goes back to a projection that is ready at once.
"""
from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QWidget,
)

from saeviz.app.common.live_label import LiveLabel


class _EscapeFilter(QObject):
    """Escape cancels the projection while the bar shows, unless ``blocked()`` says no (then it
    reaches the window's own Escape, which stops training)."""

    def __init__(self, bar: "ProjectionProgress"):
        super().__init__(bar)
        self.bar = bar

    def eventFilter(self, obj, event):
        t = event.type()
        if t not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) or event.key() != Qt.Key.Key_Escape:
            return False
        bar = self.bar
        if not bar.isVisible() or bar.blocked() or QApplication.activeModalWidget() is not None:
            return False
        if not isinstance(obj, QWidget) or obj.window() is not bar.window():
            return False  # a key for another window (or the QWindow before its widget)
        event.accept()
        if t == QEvent.Type.KeyPress:
            bar.cancel_button.click()
        return True


class ProjectionProgress(QFrame):
    """A one-line banner: text, progress bar and Cancel (see the module docstring)."""

    cancelRequested = Signal()

    def __init__(self, parent=None, blocked=lambda: False):
        super().__init__(parent)
        self.setObjectName("projectionProgress")
        self.setFrameShape(QFrame.StyledPanel)
        self.setStyleSheet("QFrame#projectionProgress { background: #fff4d6; border: 1px solid #d9b25c; "
                           "border-radius: 4px; }")
        self.blocked = blocked
        # a LiveLabel: its width does not follow the text (a QLabel's minimum width did, and
        # the banner's text then pushed the window's right-hand docks to a sliver at 1280x720),
        # and a new text every report repaints it without laying out the window again
        self.label = LiveLabel()
        self.label.setObjectName("projectionProgressText")
        self.label.set_color("#3a2c00")
        self.bar = QProgressBar()
        self.bar.setObjectName("projectionProgressBar")
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(180)
        self.bar.setMaximumHeight(14)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("projectionCancel")
        self.cancel_button.setToolTip("Stop computing and go back to the previous projection (Esc)")
        self.cancel_button.clicked.connect(lambda _=False: self.cancelRequested.emit())
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 3, 4, 3)
        row.addWidget(self.label, 1)
        row.addWidget(self.bar)
        row.addWidget(self.cancel_button)
        self._what = ""
        self._detail = ""
        self._start = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._refresh)
        self._escape = _EscapeFilter(self)
        self.hide()

    def start(self, what: str, note: str = "") -> None:
        """Show the bar for a computation named ``what``; busy until ``set_progress``."""
        self._what = what
        self._detail = note
        self._start = time.monotonic()
        self.bar.setRange(0, 0)
        self._refresh()
        if self.isHidden():
            app = QApplication.instance()
            if app is not None:
                app.installEventFilter(self._escape)
        self.show()
        self._timer.start()

    def set_progress(self, percent: float, detail: str = "") -> None:
        self.bar.setRange(0, 1000)
        self.bar.setValue(int(round(10 * max(0.0, min(100.0, float(percent))))))
        self._detail = detail
        self._refresh()

    @property
    def percent(self) -> float | None:
        """The progress shown (None while busy without a figure)."""
        if self.bar.maximum() == 0:
            return None
        return self.bar.value() / 10.0

    @property
    def text(self) -> str:
        return self.label.text()

    def finish(self) -> None:
        self._timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._escape)
        self.hide()

    def _refresh(self) -> None:
        seconds = int(time.monotonic() - self._start)
        parts = [f"Computing {self._what}…"]
        if self._detail:
            parts.append(self._detail)
        parts.append(f"{seconds} s")
        self.label.setText(" · ".join(parts))


__all__ = ["ProjectionProgress"]
