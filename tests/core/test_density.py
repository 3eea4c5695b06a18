"""Density images of many points: counts, mixed class colours, opacity, the labeled layer."""
from __future__ import annotations

import numpy as np
import pytest

from saeviz.core.display.density import aggregate, density_image, shade

PALETTE = np.array([(150, 150, 150, 150), (230, 0, 0, 255), (0, 0, 230, 255)], np.float64)


def brute_force(x, y, ids, rect, shape):
    rows, cols = shape
    x0, y0, x1, y1 = rect
    counts = np.zeros(shape)
    rgb = np.zeros(shape + (3,))
    for xi, yi, i in zip(x, y, ids):
        if not (np.isfinite(xi) and np.isfinite(yi)):
            continue
        c = int(np.floor((xi - x0) / (x1 - x0) * cols))
        r = int(np.floor((yi - y0) / (y1 - y0) * rows))
        if 0 <= c < cols and 0 <= r < rows:
            counts[r, c] += 1
            rgb[r, c] += PALETTE[i, :3]
    return counts, rgb


def test_aggregate_counts_and_sums_colours_per_cell():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1.2, 1.2, 3000), rng.uniform(-1.2, 1.2, 3000)
    x[:5] = np.nan  # not finite: in no cell
    ids = rng.choice(3, 3000, p=[0.8, 0.1, 0.1])
    rect, shape = (-1.0, -1.0, 1.0, 1.0), (7, 9)
    grid = aggregate(x, y, ids, PALETTE, rect, shape)
    counts, rgb = brute_force(x, y, ids, rect, shape)
    np.testing.assert_array_equal(grid.counts, counts)
    np.testing.assert_allclose(grid.rgb_sum, rgb)
    assert grid.total == counts.sum() < 3000
    # float32 columns give the same cells
    g32 = aggregate(x.astype(np.float32), y.astype(np.float32), ids, PALETTE, rect, shape)
    np.testing.assert_array_equal(g32.counts, counts)
    # the most common colour passed in or found gives the same sums
    np.testing.assert_allclose(aggregate(x, y, ids, PALETTE, rect, shape, common=2).rgb_sum, rgb)


def test_shade_mixes_colours_by_count_and_fades_sparse_cells():
    x = np.array([0.1, 0.1, 0.1, 0.1, 1.1, 1.1, 1.1, 2.1])
    y = np.zeros(8) + 0.5
    ids = np.array([1, 1, 1, 2, 1, 2, 0, 2])
    grid = aggregate(x, y, ids, PALETTE, (0.0, 0.0, 4.0, 1.0), (1, 4))
    img = shade(grid)
    assert img.shape == (1, 4, 4) and img.dtype == np.uint8
    # cell 0: three red, one blue -> 3:1 mixture, the densest cell is opaque
    np.testing.assert_array_equal(img[0, 0, :3], np.floor((3 * PALETTE[1, :3] + PALETTE[2, :3]) / 4 + 0.5))
    assert img[0, 0, 3] == 255
    # cell 1: red, blue and grey mixed equally, less opaque; one point fainter still; empty clear
    np.testing.assert_array_equal(img[0, 1, :3], np.floor(PALETTE[:3, :3].mean(axis=0) + 0.5))
    assert img[0, 3, 3] == 0
    assert 0 < img[0, 2, 3] < img[0, 1, 3] < 255


def test_count_in_is_the_points_of_the_overlapping_cells():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 10, 5000), rng.uniform(0, 10, 5000)
    grid = aggregate(x, y, np.zeros(5000, int), PALETTE, (0.0, 0.0, 10.0, 10.0), (10, 10))
    assert grid.count_in((2.0, 3.0, 5.0, 7.0)) == ((x >= 2) & (x < 5) & (y >= 3) & (y < 7)).sum()
    assert grid.count_in((-5.0, -5.0, 20.0, 20.0)) == 5000
    assert grid.count_in((2.5, 2.5, 2.6, 2.6)) == ((x >= 2) & (x < 3) & (y >= 2) & (y < 3)).sum()


def test_density_image_puts_the_labeled_tail_on_top():
    rng = np.random.default_rng(2)
    n = 20_000
    x, y = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    ids = np.zeros(n, int)
    ids[-30:] = 1  # labeled, last in draw order
    rgba, grid = density_image(x, y, ids, PALETTE, (0.0, 0.0, 1.0, 1.0), (50, 50), front=30)
    assert grid.total == n
    red = (rgba[..., 0] == 230) & (rgba[..., 2] == 0) & (rgba[..., 3] == 255)
    assert 30 <= red.sum() <= 30 * 9  # each labeled point shows, three cells wide, not mixed away
    for xi, yi in zip(x[-30:], y[-30:]):  # in its own cell and the ones around it
        r, c = int(yi * 50), int(xi * 50)
        assert red[r, c] and red[max(r - 1, 0), c] and red[r, min(c + 1, 49)]
    mixed, _ = density_image(x, y, ids, PALETTE, (0.0, 0.0, 1.0, 1.0), (50, 50))
    assert ((mixed[..., 0] == 230) & (mixed[..., 2] == 0)).sum() == 0  # without the layer: mixed grey


def test_bad_grids_are_refused():
    with pytest.raises(ValueError, match="at least one cell"):
        aggregate([0.0], [0.0], [0], PALETTE, (0, 0, 1, 1), (0, 3))
    with pytest.raises(ValueError, match="positive size"):
        aggregate([0.0], [0.0], [0], PALETTE, (0, 0, 0, 1), (2, 2))
    with pytest.raises(ValueError, match="differ in length"):
        aggregate([0.0, 1.0], [0.0], [0], PALETTE, (0, 0, 1, 1), (2, 2))


@pytest.mark.parametrize("n", [40, 30_000])
def test_a_layer_of_one_colour_is_the_layer_of_its_points(n):
    """The layer of points of one class, given one id for all (the lasso's quick path), is the
    same image as with an id per point: opaque in the class colour, three cells wide while
    few cells hold points, one wide when many do."""
    from saeviz.core.display.density import layer_image

    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    x[:3] = np.nan  # not drawn
    rect, shape = (0.0, 0.0, 1.0, 1.0), (120, 160)
    one = layer_image(x, y, 2, PALETTE, rect, shape, wide_up_to=1000)
    each = layer_image(x, y, np.full(n, 2), PALETTE, rect, shape, wide_up_to=1000)
    np.testing.assert_array_equal(one, each)
    painted = one[..., 3] == 255
    assert (one[painted][:, :3] == PALETTE[2, :3]).all() and (one[~painted] == 0).all()
    cells = np.unique((y[3:] * 120).astype(int) * 160 + (x[3:] * 160).astype(int))
    if len(cells) > 1000:
        assert painted.sum() == len(cells)  # one cell wide: exactly the cells of the points
    else:
        assert painted.sum() >= 2 * len(cells)  # three cells wide: around every point's cell
    over = np.zeros(shape + (4,), np.uint8)
    over[..., 0] = 7
    layer_image(x, y, 1, PALETTE, rect, shape, wide_up_to=1000, out=over)
    assert (over[~painted][:, 0] == 7).all() and (over[painted][:, 0] == 230).all()  # painted over


def test_a_shaded_front_layer_keeps_a_few_labeled_points_visible_among_many():
    """Many labeled points are a shaded layer of their own (one cell each, from a high
    opacity up): a labeled point in a dense grey cell still shows its class colour, and a cell
    of labeled points alone is shaded by its count like the rest."""
    rng = np.random.default_rng(4)
    n, k = 60_000, 20_000
    x, y = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    ids = np.zeros(n, int)
    ids[-k:] = 1  # the labeled tail
    x[-k:] = rng.uniform(0, 0.5, k)  # mostly in the left half, where the grey is too
    rgba, grid = density_image(x, y, ids, PALETTE, (0.0, 0.0, 1.0, 1.0), (40, 40), front=k, shaded_front=True)
    assert grid.total == n
    mixed, _ = density_image(x, y, ids, PALETTE, (0.0, 0.0, 1.0, 1.0), (40, 40))
    left = rgba[:, :20].reshape(-1, 4).astype(int)
    # the red of the labeled points dominates the left half (mixed by count it is a pink-grey)
    assert (left[:, 0] - left[:, 2]).mean() > (mixed[:, :20].reshape(-1, 4)[:, 0].astype(int)
                                                  - mixed[:, :20].reshape(-1, 4)[:, 2]).mean() + 30
    right = rgba[:, 20:].reshape(-1, 4)
    assert (right[:, 0] == right[:, 2]).mean() > 0.9  # no labeled points there: grey as before
    plain, _ = density_image(x[:-k], y[:-k], ids[:-k], PALETTE, (0.0, 0.0, 1.0, 1.0), (40, 40))
    np.testing.assert_array_equal(rgba[:, 20:], plain[:, 20:])
