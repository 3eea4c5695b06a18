"""What a user's hands do in the journey tests: keys on the focused widget, mouse drags in
small steps on the latent view's viewport, screenshots of the window after each step. Shared
by ``test_journeys.py`` and the process it starts (``journey_digits_session.py``)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from gui_helpers import near_polyline, pause
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

STEP_PX = 4.0  # pointer movement between two move events of a drag
LAPTOP = (1280, 680)  # a 1280x720 screen less a title bar: the window size the journeys use


class Journey:
    """Input and screenshots for one main window ``w``; ``wait_until(condition, seconds, what)``."""

    def __init__(self, w, artifacts: Path, wait_until: Callable, prefix: str = "digits"):
        self.w = w
        self.artifacts = Path(artifacts)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.wait_until = wait_until
        self.prefix = prefix
        self.shots: list[Path] = []
        self.sizes: list[tuple[str, int, int]] = []  # the window's size at each screenshot

    def laptop_window(self) -> None:
        """The window at the size it has on a 1280x720 laptop screen, whatever the size of the
        test's display (pytest-xvfb's default is 800x600), so that every run looks the same."""
        self.w.resize(*LAPTOP)
        self.wait_until(lambda: (self.w.width(), self.w.height()) == LAPTOP, 10, "the window at 1280x680")
        pause(100)

    def grown(self) -> list[str]:
        """The screenshots at which the window was larger than the laptop screen allows."""
        return [f"{name}: {w}x{h}" for name, w, h in self.sizes if w > LAPTOP[0] or h > LAPTOP[1]]

    # -- what the user sees ---------------------------------------------------------------------------
    def shot(self, name: str, widget: QWidget | None = None) -> Path:
        pause(150)  # let the last frame paint
        path = self.artifacts / f"{self.prefix}-{name}.png"
        assert (widget or self.w).grab().save(str(path)), f"cannot save {path}"
        self.shots.append(path)
        self.sizes.append((name, self.w.width(), self.w.height()))
        return path

    def labels(self) -> np.ndarray:
        return np.array(self.w.session.labels.labels)

    def epochs_done(self) -> int:
        """Epochs completed, as the status bar counts them while training runs (the newest
        snapshot) and after it."""
        s = self.w.session
        snap = s.snapshot
        return max(s.epoch, snap.epoch if snap is not None else 0)

    @staticmethod
    def check(condition, message: str) -> None:
        if not condition:
            raise AssertionError(message)

    # -- keyboard -----------------------------------------------------------------------------------------
    def key(self, key, modifiers=Qt.NoModifier) -> None:
        """A key press and release where the keyboard is: the focused widget."""
        if QApplication.activeModalWidget() is None:
            self.activate()
        target = QApplication.focusWidget() or self.w
        QTest.keyClick(target, key, modifiers)
        pause(30)

    # -- mouse on the latent view -------------------------------------------------------------------------------
    @property
    def viewport(self) -> QWidget:
        return self.w.latent.view.active_view()

    def activate(self) -> None:
        """What a window manager does when the user clicks into the window: make it the active
        one (Xvfb has no window manager, so after a dialog closes no window is active)."""
        if QApplication.activeWindow() is not self.w:
            self.w.activateWindow()
            self.wait_until(lambda: QApplication.activeWindow() is self.w, 10, "the window to be active")

    def click(self, pos, widget: QWidget | None = None, button=Qt.LeftButton) -> None:
        self.activate()
        QTest.mouseClick(widget or self.viewport, button, Qt.NoModifier, _point(pos))
        pause(30)

    def click_empty_space(self) -> None:
        """Click the view where no point is (gives it the keyboard, selects nothing)."""
        S = self.w.latent.view.screen_positions()
        vp = self.viewport
        best, best_d = (8, 8), -1.0
        for x in np.linspace(8, vp.width() - 8, 12):
            for y in np.linspace(8, vp.height() - 8, 12):
                d = np.nanmin(np.hypot(S[:, 0] - x, S[:, 1] - y)) if len(S) else 1e9
                if d > best_d:
                    best, best_d = (x, y), d
        self.click(best)

    def click_tab(self, title: str) -> None:
        """Click the tab of the docked panel ``title`` (when it is behind another one)."""
        from PySide6.QtWidgets import QTabBar

        for bar in self.w.findChildren(QTabBar):
            for i in range(bar.count()):
                if bar.tabText(i).replace("&", "") == title and bar.isVisible():
                    if bar.currentIndex() != i:
                        rect = bar.tabRect(i)
                        self.check(bar.visibleRegion().contains(rect.center()), f"the {title} tab is off screen")
                        self.click((rect.center().x(), rect.center().y()), widget=bar)
                        self.wait_until(lambda: bar.currentIndex() == i, 5, f"the {title} tab")
                    return
        raise AssertionError(f"no tab {title!r}")

    def hover(self, pos) -> None:
        QTest.mouseMove(self.viewport, _point(pos))
        pause(30)

    def drag(self, points, widget: QWidget | None = None) -> None:
        """Press at the first point, move through the others in steps of a few pixels, release
        at the last: a user's drag."""
        target = widget or self.viewport
        pts = [np.asarray(p, float) for p in points]
        QTest.mousePress(target, Qt.LeftButton, Qt.NoModifier, _point(pts[0]))
        for a, b in zip(pts[:-1], pts[1:]):
            n = max(1, int(np.ceil(np.linalg.norm(b - a) / STEP_PX)))
            for t in np.linspace(0, 1, n + 1)[1:]:
                QTest.mouseMove(target, _point(a + t * (b - a)))
        QTest.mouseRelease(target, Qt.LeftButton, Qt.NoModifier, _point(pts[-1]))
        pause(50)

    def scroll_into_view(self, widget: QWidget, rect=None) -> None:
        """Turn the mouse wheel over the scroll area holding ``widget`` until ``rect`` (default:
        all of it) is on screen, as a user scrolls a panel to reach a control."""
        from PySide6.QtCore import QPointF
        from PySide6.QtGui import QWheelEvent
        from PySide6.QtWidgets import QScrollArea

        rect = rect if rect is not None else widget.rect()
        area = widget.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        for _ in range(50):
            if widget.visibleRegion().contains(rect):
                return
            if area is None:
                break
            vp = area.viewport()
            top = widget.mapTo(vp, rect.topLeft()).y()
            delta = -120 if top + rect.height() > vp.height() else 120  # down / up
            center = QPointF(vp.width() / 2, vp.height() / 2)
            ev = QWheelEvent(center, QPointF(vp.mapToGlobal(center.toPoint())), QPoint(0, 0), QPoint(0, delta),
                             Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
            QApplication.sendEvent(vp, ev)
            pause(30)
        self.check(widget.visibleRegion().contains(rect),
                   f"{widget.objectName() or widget} cannot be scrolled into view")

    # -- where to draw ------------------------------------------------------------------------------------------
    def _inner(self, S: np.ndarray, margin: float = 40.0) -> np.ndarray:
        vp = self.viewport
        ok = np.isfinite(S).all(axis=1)
        ok &= (S[:, 0] > margin) & (S[:, 0] < vp.width() - margin)
        ok &= (S[:, 1] > margin) & (S[:, 1] < vp.height() - margin)
        return ok

    def densest(self, S: np.ndarray, radius: float = 30.0, away_from=None, min_distance: float = 0.0,
                unlabeled: bool = True) -> np.ndarray:
        """The on-screen position of the point with the most unlabeled neighbours within
        ``radius`` px (at least ``min_distance`` from the polyline ``away_from``)."""
        from scipy.spatial import cKDTree

        ok = self._inner(S)
        if away_from is not None:
            ok &= near_polyline(np.nan_to_num(S, nan=-1e6), away_from) >= min_distance
        free = self.labels() < 0 if unlabeled else np.ones(len(S), bool)
        cand = np.flatnonzero(ok)
        tree = cKDTree(S[ok & free] if (ok & free).any() else S[ok])
        counts = np.array([len(tree.query_ball_point(S[i], radius)) for i in cand])
        return S[cand[int(np.argmax(counts))]]

    def stroke_through(self, S: np.ndarray, half: float = 50.0) -> list[np.ndarray]:
        c = self.densest(S)
        return [c + (-half, -10.0), c + (0.0, 10.0), c + (half, -10.0)]

    def outline_around(self, S: np.ndarray, away_from=None, radius: float = 38.0) -> list[np.ndarray]:
        c = self.densest(S, away_from=away_from, min_distance=radius + 40.0)
        angles = np.linspace(0, 2 * np.pi, 9)[:-1]
        return [c + radius * np.array([np.cos(a), np.sin(a)]) for a in angles] + [c + (radius, 0.0)]

    @staticmethod
    def inside(S: np.ndarray, polygon) -> np.ndarray:
        from matplotlib.path import Path as MplPath

        return MplPath(np.asarray(polygon, float)).contains_points(np.nan_to_num(S, nan=-1e6))

    @staticmethod
    def near_polyline(S: np.ndarray, points) -> np.ndarray:
        return near_polyline(S, points)


def _point(p) -> QPoint:
    return QPoint(int(round(float(p[0]))), int(round(float(p[1]))))
