"""While training, the plots repaint many times a second: what did not change is not drawn again.

Axes, grids and legends are copied from Qt's item cache while only the points or the curves
move; they are drawn again when they change (a new range, a new class). Marker items with
nothing to show (the morph's class centers before a morph) are not painted at all.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

import pyqtgraph as pg  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from saeviz.app.latent import view_2d  # noqa: E402
from saeviz.app.latent.view import LatentView  # noqa: E402
from saeviz.app.training.loss_plot import LossPlot  # noqa: E402

pytestmark = pytest.mark.gui

COLORS = ["#e41a1c", "#377eb8", "#4daf4a"]


def count_paints(monkeypatch, cls) -> list:
    """Every ``cls.paint`` call appends the painted item (Qt looks a Python override up once
    per item: count before the items are made)."""
    calls: list = []
    original = cls.paint

    def paint(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "paint", paint)
    return calls


def shown(qtbot, widget, size: tuple[int, int]):
    """``widget`` of ``size`` on screen (closed after the test)."""
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def repaint(widget) -> None:
    widget.viewport().repaint()
    QtWidgets.QApplication.processEvents()


def test_live_frames_of_the_latent_view_copy_its_axes_and_legend(qtbot, monkeypatch):
    axes = count_paints(monkeypatch, pg.AxisItem)
    legends = count_paints(monkeypatch, view_2d.LegendItem2D)
    clouds = count_paints(monkeypatch, view_2d.PointCloudItem)
    view = shown(qtbot, LatentView(), (640, 520))
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 2))
    labels = rng.integers(0, 3, len(pts))
    view.set_points(pts)
    view.set_style(labels, COLORS)
    for i in range(2):  # the first frames lay the view out
        view.set_points(pts - 0.01 * i)
        repaint(view.plot_widget)
    assert axes and legends
    for calls in (axes, legends, clouds):
        calls.clear()
    for i in range(10):  # live frames: the points move a little, the range stays
        view.set_points(pts + 0.01 * i)
        repaint(view.plot_widget)
    assert len(clouds) >= 10
    assert axes == [] and legends == []
    # the legend and the axes are still on screen
    image = view.plot_widget.grab().toImage()
    corner = [image.pixelColor(x, y).name() for x in range(image.width() - 60, image.width() - 10)
              for y in range(10, 40)]
    assert len(set(corner)) > 3
    # a new class: the legend is drawn again; points far away: the axes are laid out again
    view.set_style(np.where(labels == 2, 3, labels), COLORS + ["#984ea3"])
    view.set_points(pts + 20.0)
    repaint(view.plot_widget)
    assert legends and axes


def test_the_loss_plot_draws_its_axes_again_only_when_the_range_steps(qtbot, monkeypatch):
    axes = count_paints(monkeypatch, pg.AxisItem)
    curves = count_paints(monkeypatch, pg.PlotCurveItem)
    plot = shown(qtbot, LossPlot(), (420, 260))
    history = []

    def epoch(e):
        losses = np.column_stack([np.full(10, 0.05 / e), np.full(10, 0.2 / e)])
        plot.add_epoch_batches(e, losses)
        history.append({"epoch": e, "recon_loss": 0.05 / e, "struct_loss": 0.2 / e, "n_labeled": 5})
        plot.set_history(history)
        plot.flush()

    for e in (1, 2, 3):
        epoch(e)
        repaint(plot.plot)
    assert axes
    axes.clear()
    curves.clear()
    for e in (4, 5):  # the range (epochs up to 5, losses 0.01 to 1) holds them
        epoch(e)
        repaint(plot.plot)
    assert curves and axes == []
    for e in range(6, 12):  # past 5 epochs: the range steps to 20
        epoch(e)
    repaint(plot.plot)
    assert axes


def test_markers_are_painted_only_while_they_show_something(qtbot, rig, monkeypatch):
    s, panel, markers, latent = rig["session"], rig["panel"], rig["markers"], rig["latent"]
    markers.clear()
    scatters = count_paints(monkeypatch, pg.ScatterPlotItem)
    curves = count_paints(monkeypatch, pg.PlotCurveItem)
    repaint(latent.plot_widget)
    assert scatters == [] and curves == []
    s.select(int(np.flatnonzero(np.asarray(s.labels.labels) == 0)[0]))
    panel.set_t(0.5)
    qtbot.waitUntil(lambda: "moving" in markers.coords, timeout=5000)
    repaint(latent.plot_widget)
    assert len(scatters) >= 2 and curves  # the centers, the moving code and its path
    markers.clear()
    scatters.clear()
    curves.clear()
    repaint(latent.plot_widget)
    assert scatters == [] and curves == []
