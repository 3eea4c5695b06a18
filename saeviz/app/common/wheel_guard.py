"""Scrolling a panel never changes a setting by accident.

In a scrolling panel of spin boxes and combo boxes, the mouse wheel that scrolls the panel
lands on whichever field passes under the pointer and changes its value (a batch size of 64
becomes 58 on the way down). ``guard_wheel`` makes such fields take the wheel only once
they have the keyboard focus (a click or Tab gives it); otherwise the wheel scrolls the panel.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QWidget


class _WheelGuard(QObject):
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            event.ignore()  # the panel behind scrolls instead
            return True
        return False


def guard_wheel(panel: QWidget) -> None:
    """Make the spin boxes and combo boxes inside ``panel`` take the wheel only when focused."""
    guard = panel.findChild(_WheelGuard)
    if guard is None:
        guard = _WheelGuard(panel)
    for field in (*panel.findChildren(QAbstractSpinBox), *panel.findChildren(QComboBox)):
        field.setFocusPolicy(Qt.StrongFocus)
        field.installEventFilter(guard)
