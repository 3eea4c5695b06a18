"""Closed-surface checks of ``saeviz.core.display.mesh_ops`` (what decides back-face culling)."""
from __future__ import annotations

import numpy as np
import pytest

from saeviz.core.display.mesh_ops import closed_and_oriented, signed_volume
from saeviz.core.errors import DataError

# a unit cube, every triangle wound counter-clockwise seen from outside
CUBE_V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                   [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], np.float64)
CUBE_F = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                   [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]])


def test_a_closed_outward_cube():
    assert closed_and_oriented(CUBE_F, 8)
    assert signed_volume(CUBE_V, CUBE_F) == pytest.approx(1.0)


def test_inside_out_is_closed_with_a_negative_volume():
    flipped = CUBE_F[:, ::-1]
    assert closed_and_oriented(flipped, 8)
    assert signed_volume(CUBE_V, flipped) == pytest.approx(-1.0)


def test_an_open_or_inconsistent_surface_keeps_both_sides():
    assert not closed_and_oriented(CUBE_F[:-1], 8)  # a hole
    mixed = CUBE_F.copy()
    mixed[0] = mixed[0, ::-1]  # one triangle wound the other way
    assert not closed_and_oriented(mixed, 8)
    doubled = np.vstack([CUBE_F, CUBE_F[:2]])  # a triangle twice: an edge used three times
    assert not closed_and_oriented(doubled, 8)
    assert not closed_and_oriented(np.empty((0, 3), np.int64), 8)


def test_bad_faces_are_refused():
    with pytest.raises(DataError):
        closed_and_oriented(CUBE_F, 5)  # indexes beyond the vertices
    with pytest.raises(DataError):
        closed_and_oriented(CUBE_F.astype(float), 8)
