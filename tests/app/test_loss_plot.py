"""The loss plot's view range: it moves in steps while training, and stays where the user put it."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from gui_helpers import drag_mouse
from PySide6.QtTest import QTest

from saeviz.app.training.loss_plot import LossPlot

pytestmark = pytest.mark.gui


def feed(plot: LossPlot, epochs: range, history: list) -> None:
    """What the window hands the plot after each epoch (its batch losses and the history)."""
    rng = np.random.default_rng(epochs.start)
    for e in epochs:
        losses = np.abs(rng.normal(0.05 / e, 0.005 / e, (20, 2))) + 1e-4
        plot.add_epoch_batches(e, losses)
        history.append({"epoch": e, "recon_loss": float(losses[:, 0].mean()),
                        "struct_loss": float(losses[:, 1].mean()), "n_labeled": 50})
        plot.set_history(history)


def test_the_range_grows_in_steps_and_a_drag_keeps_the_users_range(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(420, 260)
    plot.show()
    QTest.qWaitForWindowExposed(plot)
    vb = plot.plot.getViewBox()
    history: list = []
    feed(plot, range(1, 4), history)
    qtbot.waitUntil(lambda: plot.epoch_points()[0].size == 3)
    (x0, x1), (y0, y1) = vb.viewRange()
    assert x0 < 0.1 and 5 <= x1 < 5.5  # three epochs: up to 5
    y = plot.epoch_points()[1]
    assert y0 <= np.log10(y.min()) and y1 >= np.log10(y.max())  # every loss in view (log axis)
    feed(plot, range(4, 5), history)
    plot.flush()
    assert vb.viewRange()[0] == [x0, x1]  # four epochs: still up to 5, the axes not laid out again
    feed(plot, range(5, 8), history)
    plot.flush()
    assert 10 <= vb.viewRange()[0][1] < 10.5  # seven: up to 10
    # the user drags the plot sideways: from then on the range is theirs
    view = plot.plot.viewport()
    drag_mouse(view, "press", (200, 120))
    for x in range(190, 110, -10):
        QTest.qWait(20)  # a hand's pace: pyqtgraph drops moves that come faster than its rate
        drag_mouse(view, "move", (x, 120))
    drag_mouse(view, "release", (120, 120))
    moved = vb.viewRange()[0]
    assert moved[0] > 0.5  # panned towards later epochs
    feed(plot, range(8, 15), history)
    plot.flush()
    assert vb.viewRange()[0] == moved
    # a new run starts with the range following again
    plot.clear()
    feed(plot, range(1, 3), history := [])
    plot.flush()
    assert vb.viewRange()[0][1] < 2.5
