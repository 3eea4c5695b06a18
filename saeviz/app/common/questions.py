"""Blocking questions the window asks before it drops unsaved work."""
from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def save_discard_or_cancel(parent: QWidget, title: str, text: str, informative: str, name: str) -> str:
    """Ask Save / Discard / Cancel (Save is the default); returns "save", "discard" or "cancel"
    (closing the box counts as cancel)."""
    box = QMessageBox(QMessageBox.Warning, title, text,
                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, parent)
    box.setObjectName(name)
    box.setInformativeText(informative)
    box.setDefaultButton(QMessageBox.Save)
    box.exec()
    answer = box.standardButton(box.clickedButton())
    if answer == QMessageBox.Save:
        return "save"
    return "discard" if answer == QMessageBox.Discard else "cancel"
