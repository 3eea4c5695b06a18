"""Geometry of points in the latent view (``saeviz.core.display.geometry``)."""
from __future__ import annotations

import numpy as np
import pytest

from saeviz.core.display.geometry import (
    bounding_sphere,
    merge_spheres,
    pad_columns,
    points_in_polygon,
    segment_pairs,
)


def test_points_in_polygon_even_odd():
    pts = np.array([[0.5, 0.5], [1.5, 0.5], [5, 5], [0.5, 1.5], [1.5, 1.5]])
    L_shape = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]])
    assert points_in_polygon(pts, L_shape).tolist() == [True, True, False, True, False]  # not the notch
    assert not points_in_polygon(pts, L_shape[:2]).any()
    # a self-crossing bow tie: the even-odd rule keeps both lobes
    bow = np.array([[0, 0], [2, 2], [2, 0], [0, 2]])
    assert points_in_polygon(np.array([[0.2, 1.0], [1.8, 1.0], [1.0, 0.2]]), bow).tolist() == [True, True, False]


def test_merged_spheres_enclose_both():
    rng = np.random.default_rng(4)
    for _ in range(50):
        a = (rng.normal(size=3), float(rng.uniform(0.1, 2)))
        b = (rng.normal(size=3) * 3, float(rng.uniform(0.1, 2)))
        c, r = merge_spheres(a, b)
        for centre, radius in (a, b):
            assert np.linalg.norm(centre - c) + radius <= r + 1e-9
        # ... and is the smallest such sphere.
        d = np.linalg.norm(a[0] - b[0])
        assert r <= max(a[1], b[1], (d + a[1] + b[1]) / 2) + 1e-9
    assert merge_spheres(None, a) is a and merge_spheres(a, None) is a


def test_bounding_sphere_encloses_the_finite_points():
    pts = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 4.0, 0.0], [np.nan, 1.0, 1.0]])
    center, radius = bounding_sphere(pts)
    np.testing.assert_allclose(center, [1.0, 2.0, 0.0])
    assert radius == pytest.approx(np.sqrt(5.0))
    assert np.all(np.linalg.norm(pts[:3] - center, axis=1) <= radius + 1e-12)
    assert bounding_sphere(np.full((2, 3), np.nan)) is None


def test_segments_pair_up_and_pad_columns():
    src = np.array([[0.0, 0.0], [1.0, np.inf], [2.0, 2.0]])
    dst = np.array([[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])
    seg = segment_pairs(src, dst, 3)
    np.testing.assert_array_equal(seg, [[0, 0, 0], [1, 1, 0], [2, 2, 0], [3, 3, 0]])  # the inf pair dropped
    np.testing.assert_array_equal(pad_columns(np.ones((2, 4)), 3), np.ones((2, 3)))
    with pytest.raises(ValueError, match="target lines"):
        segment_pairs(src, dst[:2], 2)
