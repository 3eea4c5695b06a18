"""The loss plot's view range: it moves in steps while training, and stays where the user put it."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from gui_helpers import drag_mouse, pause
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
        pause(20)  # a hand's pace: pyqtgraph drops moves that come faster than its rate
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


def test_the_log_axis_labels_do_not_overlap_in_a_small_panel(qtbot, artifacts_dir):
    """At 1280 x 720 the loss dock is about 290 x 170 px: labelling all nine ticks of a decade
    piled "0.6 0.7 0.8 0.9" on top of each other; the axis labels 1, 2 and 5 of each decade."""
    from PySide6.QtGui import QImage, QPainter

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(290, 170)
    plot.show()
    QTest.qWaitForWindowExposed(plot)
    # the pretrained demo's 30 epochs: reconstruction 0.85 to 0.41, structural 2.7 to 0.66
    history = [{"epoch": e, "recon_loss": 0.85 * (0.41 / 0.85) ** ((e - 1) / 29),
                "struct_loss": 2.7 * (0.66 / 2.7) ** ((e - 1) / 29), "n_labeled": 50} for e in range(1, 31)]
    plot.set_history(history)
    plot.flush()
    pause(50)
    axis = plot.plot.getAxis("left")
    image = QImage(10, 10, QImage.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    shown = sorted((rect.top(), rect.bottom(), text) for rect, _flags, text in texts if text.strip())
    assert len(shown) >= 2, shown  # still a scale
    for (top_a, bottom_a, a), (top_b, _bottom_b, b) in zip(shown, shown[1:]):
        assert top_b >= bottom_a - 1, f"{a!r} and {b!r} overlap: {shown}"
    plot.grab().save(str(artifacts_dir / "loss-plot-small.png"))
