"""Per-point styles of the latent view, without drawing (``saeviz.core.display.point_style``)."""
from __future__ import annotations

import numpy as np
import pytest

from saeviz.core.display.point_style import (
    COLOR_LEVELS,
    UNLABELED_RGBA,
    default_style,
    point_style,
    unlabeled_size,
)

RGB = [(230, 159, 0), (86, 180, 233), (0, 158, 115)]


def gray_ramp(name: str, levels: int) -> np.ndarray:
    """A colormap from black to white (alpha 255), whatever its name."""
    v = np.linspace(0, 255, levels).round().astype(np.uint8)
    return np.stack([v, v, v, np.full(levels, 255, np.uint8)], axis=1)


def test_labels_pick_their_class_symbol_and_draw_last():
    labels = np.array([-1, 2, 0, -1, 1])
    s = point_style(labels, RGB, names=["a", "b"])
    assert s.n == 5 and [s.symbols[i].fill for i in s.ids[[1, 2, 4]]] == [RGB[2] + (255,), RGB[0] + (255,),
                                                                           RGB[1] + (255,)]
    assert s.symbols[s.ids[0]].fill == UNLABELED_RGBA and s.ids[0] == s.ids[3] == 0
    assert list(s.order[:2]) == [0, 3] and sorted(s.order[2:]) == [1, 2, 4]  # labeled on top
    np.testing.assert_allclose(s.rgba[1], np.array(RGB[2] + (255,)) / 255)
    assert (s.size[[1, 2, 4]] < 0).all() and (s.size[[0, 3]] == unlabeled_size(5)).all()  # outlined: negative
    assert [name for name, _ in s.legend.entries] == ["a", "b", "class 2", "unlabeled"]
    d = default_style(4)
    assert d.order is None and (d.ids == 0).all() and d.legend.empty


def test_prediction_colours_only_unlabeled_points():
    labels = np.array([-1, 0, -1])
    s = point_style(labels, RGB, "prediction", predicted=np.array([2, 1, -1]))
    assert s.symbols[s.ids[0]].fill == RGB[2] + (200,)  # predicted class, a little transparent
    assert s.symbols[s.ids[1]].fill == RGB[0] + (255,)  # labeled: its own class
    assert s.ids[2] == 0  # no prediction: grey
    assert s.legend.title == "predicted class" and len(s.legend.entries) == 4


def test_values_go_through_the_colormap_and_the_error_scale_clips_at_the_99th_percentile():
    labels = np.array([-1, 0, 1, -1])
    conf = point_style(labels, RGB, "confidence", values=np.array([0.0, 0.5, 1.0, 0.999]), colormap=gray_ramp)
    grey = [s.fill[0] for s in (conf.symbols[i] for i in conf.ids)]
    assert grey[0] == 0 and grey[3] == 255 and grey[1] == gray_ramp("", COLOR_LEVELS)[COLOR_LEVELS // 2, 0]
    assert (conf.legend.lo, conf.legend.hi) == (0.0, 1.0) and not conf.legend.clipped_high
    err = point_style(labels, RGB, "error", values=np.array([0.0, 1.0, np.nan, 100.0]), colormap=gray_ramp)
    assert err.legend.lo == 0.0 and err.legend.hi == pytest.approx(np.percentile([0.0, 1.0, 100.0], 99))
    assert err.legend.clipped_high and err.legend.lut.shape == (256, 4)
    # a labeled point without a value keeps its class colour
    np.testing.assert_allclose(err.rgba[2, :3], np.array(RGB[1]) / 255)


def test_bad_inputs_say_what_is_wrong():
    labels = np.array([-1, 0, 1])
    with pytest.raises(ValueError, match="colour"):
        point_style(np.array([0, 5]), RGB)
    with pytest.raises(ValueError, match="predicted"):
        point_style(labels, RGB, "prediction")
    with pytest.raises(ValueError, match="values"):
        point_style(labels, RGB, "confidence", colormap=gray_ramp)
    with pytest.raises(ValueError, match="shape"):
        point_style(labels, RGB, "error", values=np.zeros(2), colormap=gray_ramp)
    with pytest.raises(ValueError, match="colormap"):
        point_style(labels, RGB, "error", values=np.zeros(3))
    with pytest.raises(ValueError, match="unknown colouring"):
        point_style(labels, RGB, "rainbow")
    with pytest.raises(ValueError, match="1-D"):
        point_style(np.zeros((2, 2), int), RGB)
