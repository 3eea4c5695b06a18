"""Training controls: Train / Pause-Resume / Stop / Reset and model load/save, plus progress.

The buttons show the main window's actions, so the menus, the shortcuts and these buttons
are one set of commands with one enabled state.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QGridLayout,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.live_label import LiveLabel


class TrainingControls(QWidget):
    """Buttons bound to ``actions`` (train, stop, reset, load, save) and an epoch progress bar."""

    ORDER = ("train", "stop", "reset", "load", "save")

    def __init__(self, actions: dict[str, QAction], parent: QWidget | None = None):
        super().__init__(parent)
        self.buttons: dict[str, QToolButton] = {}
        grid = QGridLayout()
        grid.setSpacing(4)
        for i, key in enumerate(self.ORDER):
            button = QToolButton()
            button.setDefaultAction(actions[key])
            button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
            button.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
            button.setObjectName(f"{key}Button")
            self.buttons[key] = button
            grid.addWidget(button, i // 3, i % 3)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.detail = LiveLabel()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(grid)
        lay.addWidget(self.progress)
        lay.addWidget(self.detail)
        lay.addStretch(1)

    def show_progress(self, epoch_in_run: int, epochs: int, batch: int, n_batches: int,
                      state: str) -> None:
        """``epoch_in_run`` completed epochs of ``epochs`` in this run, ``batch`` of the next."""
        total = max(1, epochs * max(n_batches, 1))
        done = min(total, epoch_in_run * max(n_batches, 1) + batch)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        shown = min(epochs, epoch_in_run + (0 if batch == 0 else 1)) if epochs else 0
        # epochs of this run; the status bar counts every epoch the model was trained for
        self.progress.setFormat(f"{state} · run: {max(shown, 1) if epochs else 0} / {epochs} epochs (%p%)")

    def show_idle(self, text: str = "idle") -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(text)

    def set_detail(self, text: str) -> None:
        self.detail.setText(text)
