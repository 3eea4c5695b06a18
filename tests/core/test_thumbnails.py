"""Pictures of samples made with numpy alone (``saeviz.core.display.thumbnails``)."""
from __future__ import annotations

import numpy as np

from saeviz.core.display.thumbnails import (
    gray8,
    image_thumbnail,
    mesh_axes,
    mesh_silhouette,
    thumbnails,
    value_range,
    vector_sparkline,
)


def test_mesh_and_vector_thumbnails():
    rng = np.random.default_rng(1)
    body = rng.uniform(-1, 1, size=(4000, 3)) * np.array([0.25, 1.0, 0.1])  # tall (y), thin in z
    assert mesh_axes(body) == (0, 1)
    sil = mesh_silhouette(body, 48)
    rows = np.flatnonzero(sil.max(axis=1))
    cols = np.flatnonzero(sil.max(axis=0))
    assert sil.shape == (48, 48) and sil.dtype == np.uint8
    assert np.ptp(rows) > 3 * np.ptp(cols)  # seen from the front: taller than wide
    lying = body[:, [0, 2, 1]]  # the long axis is z now: it is the up axis of the front view
    assert mesh_axes(lying) == (0, 2)
    np.testing.assert_array_equal(mesh_silhouette(lying, 48), sil)
    line = vector_sparkline(np.linspace(-1, 1, 300), -1, 1, 48)
    ys = [np.flatnonzero(line[:, c])[0] for c in range(48)]
    assert np.all(np.diff(ys) <= 0)  # a rising ramp climbs towards the top row
    assert ys[0] >= 45 and ys[-1] <= 1  # from the bottom row to the top one


def test_gray_levels_and_image_thumbnails():
    np.testing.assert_array_equal(gray8([[-1.0, 0.0, 0.5, 2.0]], 0.0, 1.0), [[0, 0, 127, 255]])
    np.testing.assert_array_equal(gray8([5.0, 6.0], 5.0, 5.0), [0, 255])  # an empty range is one unit
    X = np.arange(3 * 4 * 4, dtype=np.float64).reshape(3, 4, 4)
    assert value_range(X) == (0.0, 47.0) and value_range(X, n=1) == (0.0, 15.0)
    assert value_range(np.zeros((2, 3))) == (0.0, 1.0)
    small = image_thumbnail(X[0], 0.0, 15.0)
    assert small.shape == (4, 4) and small[0, 0] == 0 and small[-1, -1] == 255 and small[0, 1] == 17  # 1/15 of 255
    big = np.kron(np.array([[0.0, 1.0], [1.0, 0.0]]), np.ones((100, 100)))  # 200 x 200
    thumb = image_thumbnail(big, 0.0, 1.0, max_edge=64)  # block-averaged by 4
    assert thumb.shape == (50, 50) and thumb[0, 0] == 0 and thumb[0, -1] == 255 and thumb[-1, 0] == 255
    pics = thumbnails(X, np.array([2, 0]), "image", 0.0, 47.0)
    assert len(pics) == 2 and pics[0][-1, -1] == 255 and pics[1][0, 0] == 0
    curves = thumbnails(np.linspace(0, 1, 60).reshape(2, 30), [1], "vector", 0.0, 1.0)
    assert curves[0].shape == (48, 48)


def test_the_cache_makes_each_thumbnail_once_and_starts_afresh_for_other_samples(monkeypatch):
    from saeviz.core.display import thumbnails as T

    made = []
    real = T.thumbnails
    monkeypatch.setattr(T, "thumbnails", lambda X, idx, *a: made.extend(np.asarray(idx).tolist()) or real(X, idx, *a))
    rng = np.random.default_rng(0)
    X = rng.random((50, 8, 8)).astype(np.float32)
    cache = T.ThumbnailCache(max_items=10)
    first = cache.get(X, [3, 4, 5], "image", 0.0, 1.0)
    again = cache.get(X, [5, 3, 9], "image", 0.0, 1.0)
    assert made == [3, 4, 5, 9]  # only the new one was made
    assert again[0] is first[2] and again[1] is first[0]
    for got, i in zip(again, [5, 3, 9]):
        np.testing.assert_array_equal(got, real(X, [i], "image", 0.0, 1.0)[0])
    cache.get(X, [3], "image", 0.0, 2.0)  # another grey range: made again
    assert made[-1] == 3
    Y = X.copy()  # another array with the same shape: its own pictures
    np.testing.assert_array_equal(cache.get(Y * 0, [3], "image", 0.0, 1.0)[0], real(Y * 0, [3], "image", 0.0, 1.0)[0])
    cache.get(X, list(range(20)), "image", 0.0, 1.0)
    assert len(cache._items) == 10  # the least recently used went
