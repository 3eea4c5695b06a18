"""The main window fits a laptop screen (1280x720) and its panels stay readable.

* ``scroll_docks``: the panels go into scroll areas inside their docks, so a dock's minimum
  size no longer is its panel's (tall panels would otherwise add up to a window taller
  than the screen); a panel smaller than its own minimum scrolls instead.
* ``TabTitles``: the tab bars of tabbed docks keep full titles ("Distances", not
  "Distan...") and scroll when they do not fit, for the bars the window makes later too.
* ``fit_to_screen``: the window's frame within the available area of its screen (restored
  geometry from a larger screen, the default size on a small one).
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QDockWidget,
    QFrame,
    QMainWindow,
    QScrollArea,
    QTabBar,
    QWidget,
)

from saeviz.app.common.wheel_guard import guard_wheel

NO_SCROLL = ("meshDock",)  # an OpenGL viewport scales itself, it must not scroll


def scroll_docks(window: QMainWindow, skip=NO_SCROLL) -> list[QDockWidget]:
    """Put the panel of every dock (except ``skip`` and those that scroll already) into a
    frameless, resizable ``QScrollArea`` whose spin and combo boxes take the wheel only once
    focused (``guard_wheel``); returns the docks changed."""
    changed = []
    for dock in window.findChildren(QDockWidget):
        panel = dock.widget()
        if panel is None or dock.objectName() in skip or isinstance(panel, QAbstractScrollArea):
            continue
        area = QScrollArea()
        area.setObjectName(f"{dock.objectName()}Scroll")
        area.setFrameShape(QFrame.NoFrame)
        area.setWidgetResizable(True)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        area.setVerticalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        area.setWidget(panel)  # takes the panel out of the dock
        dock.setWidget(area)
        guard_wheel(panel)  # the wheel scrolls the panel, not the field passing under the pointer
        changed.append(dock)
    return changed


def vertical_scroll(panel: QWidget) -> QScrollArea:
    """``panel`` in a scroll area that scrolls vertically only, wide enough for the panel
    and the scroll bar."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    area.setWidget(panel)
    area.setMinimumWidth(panel.minimumSizeHint().width() + area.verticalScrollBar().sizeHint().width() + 4)
    return area


def panel_of(dock: QDockWidget) -> QWidget | None:
    """The panel a dock shows, inside its scroll area or not."""
    w = dock.widget()
    return w.widget() if isinstance(w, QScrollArea) and w.widget() is not None else w


def _configure(bar: QTabBar) -> None:
    bar.setElideMode(Qt.ElideNone)
    bar.setUsesScrollButtons(True)
    bar.setExpanding(False)


class TabTitles(QObject):
    """Keeps the dock tab bars of ``window`` unelided (see the module documentation)."""

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.window = window
        window.installEventFilter(self)
        self.apply()

    def tab_bars(self) -> list[QTabBar]:
        return [b for b in self.window.findChildren(QTabBar, options=Qt.FindDirectChildrenOnly)]

    def apply(self) -> None:
        for bar in self.tab_bars():
            _configure(bar)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if obj is self.window and event.type() == QEvent.ChildPolished and isinstance(event.child(), QTabBar):
            _configure(event.child())
        return False


def available_rect(window: QWidget) -> QRect | None:
    """The available geometry of the screen the window is on (or the primary screen)."""
    screen = window.screen() if window.screen() is not None else QGuiApplication.primaryScreen()
    if screen is None:
        screen = QGuiApplication.screenAt(window.geometry().center())
    return None if screen is None else screen.availableGeometry()


def default_size(window: QWidget) -> tuple[int, int]:
    """1400x880, or the available screen area when that is smaller."""
    area = available_rect(window)
    if area is None:
        return 1400, 880
    return min(1400, area.width()), min(880, area.height() - 40)


def fit_to_screen(window: QWidget, area: QRect | None = None) -> bool:
    """Shrink and move the window so that its frame lies within ``area`` (default: the
    available area of its screen). Returns whether it changed."""
    area = available_rect(window) if area is None else area
    if area is None or area.isEmpty():
        return False
    frame = window.frameGeometry()
    geo = window.geometry()
    dw, dh = max(0, frame.width() - geo.width()), max(0, frame.height() - geo.height())
    if window.isMaximized() or window.isFullScreen():
        return False
    w = max(window.minimumWidth(), min(geo.width(), area.width() - dw))
    h = max(window.minimumHeight(), min(geo.height(), area.height() - dh))
    changed = (w, h) != (geo.width(), geo.height())
    if changed:
        window.resize(w, h)
    # keep the frame inside the area: right/bottom edges first, then left/top
    x, y = frame.x(), frame.y()
    x = min(x, area.right() + 1 - (w + dw))
    y = min(y, area.bottom() + 1 - (h + dh))
    x, y = max(x, area.left()), max(y, area.top())
    if (x, y) != (frame.x(), frame.y()):
        window.move(x, y)
        changed = True
    return changed


__all__ = ["scroll_docks", "panel_of", "TabTitles", "fit_to_screen", "available_rect"]
