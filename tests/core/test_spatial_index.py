"""Finding points among many: boxes, nearest point, disc and polygon, scan and bucket grid."""
from __future__ import annotations

import numpy as np
import pytest

from saeviz.core.display.geometry import points_in_polygon
from saeviz.core.display.spatial_index import PointIndex

mpath = pytest.importorskip("matplotlib.path")


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.normal(0, 1, (150_000, 2)), rng.normal(4, 0.3, (50_000, 2))])
    xy[:10] = np.nan
    return xy


@pytest.fixture(params=["scan", "grid"])
def index(request, cloud):
    idx = PointIndex(cloud)
    if request.param == "grid":
        assert idx.build_grid() is not None
    return idx


def test_box(index, cloud):
    x, y = cloud[:, 0], cloud[:, 1]
    for box in [(-0.3, -0.2, 0.1, 0.4), (3.9, 3.9, 4.05, 4.2), (-10, -10, 10, 10), (20, 20, 21, 21)]:
        want = np.flatnonzero((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3]))
        np.testing.assert_array_equal(index.in_box(*box), want)


def test_nearest_and_disc_in_pixels_with_different_scales(index, cloud):
    rng = np.random.default_rng(1)
    for sx, sy in [(100.0, 100.0), (300.0, 80.0)]:
        for p in rng.normal(0, 1.5, (20, 2)):
            d2 = ((cloud[:, 0] - p[0]) * sx) ** 2 + ((cloud[:, 1] - p[1]) * sy) ** 2
            d2 = np.where(np.isfinite(d2), d2, np.inf)
            best = int(np.argmin(d2))
            want = best if d2[best] <= 8.0 ** 2 else -1
            assert index.nearest(p[0], p[1], 8.0, sx, sy) == want
            np.testing.assert_array_equal(index.near(p[0], p[1], 25.0, sx, sy), np.flatnonzero(d2 <= 25.0 ** 2))


def test_polygon_matches_matplotlib(index, cloud):
    rng = np.random.default_rng(2)
    t = np.linspace(0, 2 * np.pi, 700, endpoint=False)
    r = 1.6 * (1 + 0.3 * np.sin(5 * t)) + rng.normal(0, 0.02, len(t))
    lasso = np.column_stack([0.3 + r * np.cos(t), 0.2 + r * np.sin(t)])
    got = index.in_polygon(lasso)
    ok = np.isfinite(cloud).all(axis=1)
    want = np.flatnonzero(ok & mpath.Path(lasso).contains_points(np.nan_to_num(cloud)))
    np.testing.assert_array_equal(got, want)
    assert len(got) > 50_000  # large enough for the grid path
    bow = np.array([(-1, -1), (1, 1), (1, -1), (-1, 1)], float)  # self-crossing: even-odd
    np.testing.assert_array_equal(index.in_polygon(bow),
                                  np.flatnonzero(ok & mpath.Path(bow).contains_points(np.nan_to_num(cloud))))
    assert len(index.in_polygon(bow[:2])) == 0


def test_points_in_polygon_grid_path_equals_the_direct_test():
    """Many vertices over many points (the grid path) against every-edge crossings, also on
    points and vertices sharing coordinates (horizontal edges, points on grid lines)."""
    rng = np.random.default_rng(3)
    for trial in range(12):
        V = rng.random((rng.integers(20, 90), 2)) * 8
        P = rng.random((60_000, 2)) * 10 - 1
        if trial % 2:
            V, P = np.round(V * 4) / 4, np.round(P * 8) / 8
        want = np.zeros(len(P), bool)
        xj, yj = V[-1]
        for xi, yi in V:
            with np.errstate(divide="ignore", invalid="ignore"):
                want ^= ((yi > P[:, 1]) != (yj > P[:, 1])) & (P[:, 0] < (xj - xi) * (P[:, 1] - yi) / (yj - yi) + xi)
            xj, yj = xi, yi
        np.testing.assert_array_equal(points_in_polygon(P, V), want)


def test_polygons_beyond_the_points_bounds_match_matplotlib(index, cloud):
    """Lassos drawn zoomed out (edges far outside the points' bounds), half outside, and with
    an edge along the bounds: the bucket path marks the border buckets, not a wrong side."""
    ok = np.isfinite(cloud).all(axis=1)
    lo, hi = np.nanmin(cloud, axis=0), np.nanmax(cloud, axis=0)
    polygons = [
        np.array([(-1e4, -1e4), (1e4, -1e4), (0.0, 3.0), (1e4, 1e4), (-1e4, 1e4)]),  # huge, a notch
        np.array([(lo[0] - 50, -0.5), (1.0, -0.5), (1.0, 0.7), (lo[0] - 50, 0.7)]),  # half outside
        # along the bounds (a hair inside: a point on an edge is on neither side for matplotlib)
        np.array([(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], 0.0), (lo[0], 2.0)]) + (1e-9, 1e-9),
    ]
    for poly in polygons:
        want = np.flatnonzero(ok & mpath.Path(poly).contains_points(np.nan_to_num(cloud)))
        got = index.in_polygon(poly)
        assert len(want) > 1000
        np.testing.assert_array_equal(got, want)
