"""Scrolling the settings panel with the mouse wheel scrolls it; the field that passes under
the pointer keeps its value until the user clicks into it."""
from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QWheelEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QScrollArea  # noqa: E402

pytestmark = pytest.mark.gui


def wheel_down(widget) -> bool:
    """One notch of the wheel, down, with the pointer over the middle of ``widget``; whether
    ``widget`` accepted it (Qt hands a wheel event from the mouse that a widget ignores on to
    its parents: here the scroll area, which scrolls)."""
    center = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(center, QPointF(widget.mapToGlobal(center.toPoint())), QPoint(0, 0), QPoint(0, -120),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_the_wheel_over_a_field_scrolls_the_panel_until_the_field_is_clicked(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "settings.ini", shown_size=(1280, 720), batch_size=64)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    panel = w.settings_panel
    area = next(p for p in iter(lambda a=[panel]: (a.append(a[-1].parentWidget()) or a[-1]), None)
                if isinstance(p, QScrollArea))
    bar = area.verticalScrollBar()
    assert bar.maximum() > 0  # at 1280 x 720 the panel scrolls
    spin = panel.batch
    assert spin.value() == 64 and not spin.hasFocus()
    assert not wheel_down(spin)  # left to the scroll area behind
    assert spin.value() == 64  # the batch size stays
    before = bar.value()
    wheel_down(area.viewport())  # where Qt hands it on
    assert bar.value() > before
    QTest.mouseClick(spin, Qt.LeftButton, pos=QPoint(spin.width() // 3, spin.height() // 2))
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    assert wheel_down(spin)
    assert spin.value() == 63  # a field with the focus takes the wheel


def test_the_wheel_over_the_morph_panel_scrolls_it_and_leaves_t_alone(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "settings.ini", shown_size=(1280, 720))
    morph = w.mesh_tools.morph
    w.mesh_tools.docks["morph"].raise_()
    qtbot.waitUntil(morph.spin.isVisible, timeout=5000)
    t = morph.spin.value()
    for _ in range(3):
        assert not wheel_down(morph.spin)  # left to the dock's scroll area
    assert morph.spin.value() == t and not morph.spin.hasFocus()
    for combo in (morph.path_combo, morph.source_combo):
        index = combo.currentIndex()
        assert not wheel_down(combo) and combo.currentIndex() == index
