"""Helpers the GUI tests share: waiting on the window, a user's mouse on the latent view, and
the geometry that checks what a stroke swept over (independent of the tools' own code)."""
from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QTabBar


def pause(ms: int) -> None:
    """Run the event loop for ``ms`` milliseconds. (PySide6's ``QTest.qWait`` keeps Python's
    interpreter lock while it waits, so that the training and task threads run at a fraction of
    their speed; a ``QEventLoop`` lets them run.)"""
    loop = QEventLoop()
    QTimer.singleShot(int(ms), loop.quit)
    loop.exec()


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Process events until ``predicate()`` holds; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the window")
        pause(20)


def click_tab(w, title: str) -> None:
    """Click the tab of the docked panel ``title``, as a user brings it to the front."""
    for bar in w.findChildren(QTabBar):
        for i in range(bar.count()):
            if bar.tabText(i).replace("&", "") == title and bar.isVisible():
                QTest.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(i).center())
                wait_until(lambda: bar.currentIndex() == i, timeout=5)
                return
    raise AssertionError(f"no tab {title!r}")


def drag_mouse(target, kind: str, pos, mods=Qt.NoModifier) -> None:
    """Send a left-button ``kind`` ("press", "move" or "release") mouse event at ``pos`` to
    ``target``, as a user's drag sends (QTest's moves carry no pressed button)."""
    etype = {"press": QEvent.MouseButtonPress, "move": QEvent.MouseMove,
             "release": QEvent.MouseButtonRelease}[kind]
    button = Qt.NoButton if kind == "move" else Qt.LeftButton
    buttons = Qt.NoButton if kind == "release" else Qt.LeftButton
    p = QPointF(*pos)
    QApplication.sendEvent(target, QMouseEvent(etype, p, p, button, buttons, mods))


def latent_mouse(view, kind: str, pos, mods=Qt.NoModifier) -> None:
    """``drag_mouse`` on the latent view's active widget."""
    drag_mouse(view.active_view() if view.dimensions() == 2 else view.gl_view, kind, pos, mods)


def near_polyline(S: np.ndarray, points, step: float = 0.25) -> np.ndarray:
    """Distance of each point of ``S`` to the polyline through ``points``, by sampling it every
    ``step`` pixels."""
    from scipy.spatial import cKDTree

    samples = []
    for a, b in itertools.pairwise(points):
        a, b = np.asarray(a, float), np.asarray(b, float)
        n = max(2, int(np.ceil(np.linalg.norm(b - a) / step)) + 1)
        samples.append(a + np.linspace(0, 1, n)[:, None] * (b - a))
    d, _ = cKDTree(np.concatenate(samples)).query(S)
    return d


def choose_in_combo(qtbot, combo, data) -> None:
    """Open the combo box's list and click the item holding ``data``, as a user does."""
    index = combo.findData(data)
    assert index >= 0, data
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=5000)
    rect = view.visualRect(view.model().index(index, 0))
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=rect.center())


def process_gone(pid: int) -> bool:
    """No process ``pid`` runs (an unreaped zombie counts as gone too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True
