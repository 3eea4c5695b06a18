"""Regression test for the PySide6 6.12.0 reference leak.

PySide6 6.12.0 drops references to ``None`` and ``True`` on pyqtgraph's paint path: their
reference counts fall by 5-9 on every live-plot update until the interpreter aborts after
about a thousand frames. 6.11.3 and 6.10.3 are fine. These tests run thousands of live updates
and check the counts stay put.
"""
from __future__ import annotations

import gc
import sys
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")

import pyqtgraph as pg  # noqa: E402
import PySide6  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from saeviz.app.latent.view import LatentView  # noqa: E402

pytestmark = pytest.mark.gui

TOLERANCE = 100  # interpreter caches move the counts a little; the leak moves them thousands


def test_the_installed_pyside6_is_not_the_leaking_release():
    assert PySide6.__version__ != "6.12.0", (
        "PySide6 6.12.0 leaks references to None and True on every pyqtgraph update and "
        "aborts live plots after ~1,000 frames; install 6.11.3 (pyproject excludes 6.12.0)")


def counts() -> tuple[int, int]:
    gc.collect()
    return sys.getrefcount(None), sys.getrefcount(True)


def assert_no_fall(before, after, frames):
    fell_none, fell_true = before[0] - after[0], before[1] - after[1]
    assert fell_none < TOLERANCE, f"refcount of None fell by {fell_none} over {frames} frames"
    assert fell_true < TOLERANCE, f"refcount of True fell by {fell_true} over {frames} frames"


class CountingCurve(pg.PlotCurveItem):
    painted = 0

    def paint(self, p, opt, widget):
        CountingCurve.painted += 1
        super().paint(p, opt, widget)


def test_live_pyqtgraph_updates_keep_none_and_true_alive(qtbot):
    frames = 3000
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(400, 300)
    w.show()
    qtbot.waitExposed(w)
    curve = CountingCurve(pen="y")
    scatter = pg.ScatterPlotItem(size=6, brush=pg.mkBrush("c"))
    w.addItem(curve)
    w.addItem(scatter)
    x = np.linspace(0, 1, 200)
    rng = np.random.default_rng(0)

    def frame(i):
        y = np.sin(6 * x + 0.01 * i) + 0.05 * rng.standard_normal(len(x))
        curve.setData(x, y)
        scatter.setData(x[::10], y[::10])
        w.viewport().repaint()
        QtWidgets.QApplication.processEvents()

    for i in range(50):
        frame(i)
    CountingCurve.painted = 0
    before = counts()
    for i in range(frames):
        frame(i)
    after = counts()
    assert CountingCurve.painted >= frames  # every update was really drawn
    assert_no_fall(before, after, frames)


@pytest.mark.parametrize("dims, frames", [(2, 1000), (3, 300)])
def test_live_latent_view_updates_keep_none_and_true_alive(qtbot, dims, frames):
    view = LatentView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    view.set_dimensions(dims)
    if dims == 3:
        qtbot.waitUntil(lambda: view.gl_view.isExposed(), timeout=3000)
    rng = np.random.default_rng(1)
    pts = rng.standard_normal((500, dims))
    labels = rng.integers(-1, 3, len(pts))
    view.set_points(pts)
    view.set_style(labels, ["#E69F00", "#56B4E9", "#009E73"])
    view.set_selection(3)
    painted = view._cloud if dims == 2 else view._points3d

    def frame(i):
        count = painted.paint_count
        view.set_points(pts + 0.001 * i)
        deadline = time.monotonic() + 2.0
        while painted.paint_count == count and time.monotonic() < deadline:
            QtWidgets.QApplication.processEvents()  # 3D frames are paced by the window system

    for i in range(20):
        frame(i)
    start = painted.paint_count
    before = counts()
    for i in range(frames):
        frame(i)
    after = counts()
    assert painted.paint_count - start >= frames * 0.9
    assert_no_fall(before, after, frames)
