"""Geometry of points on screen and in the latent view, with numpy alone: which points a lasso
encloses (even-odd rule), the vertices of line segments between point sets, and the spheres
that enclose point clouds (for fitting a 3D camera).
"""
from __future__ import annotations

import numpy as np

__all__ = ["bounding_sphere", "merge_spheres", "pad_columns", "points_in_polygon", "segment_pairs"]


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean mask of ``points`` (N, 2) inside ``polygon`` (M, 2) by the even-odd rule."""
    P = np.asarray(points, dtype=np.float64)
    V = np.asarray(polygon, dtype=np.float64)
    inside = np.zeros(len(P), bool)
    if len(V) < 3 or len(P) == 0:
        return inside
    lo, hi = V.min(axis=0), V.max(axis=0)
    cand = np.flatnonzero((P[:, 0] >= lo[0]) & (P[:, 0] <= hi[0]) & (P[:, 1] >= lo[1]) & (P[:, 1] <= hi[1]))
    x, y = P[cand, 0], P[cand, 1]
    hit = np.zeros(len(cand), bool)
    xj, yj = V[-1]
    for xi, yi in V:
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (xj - xi) * (y - yi) / (yj - yi) + xi
        hit ^= crosses & (x < x_at)
        xj, yj = xi, yi
    inside[cand] = hit
    return inside


def segment_pairs(src, dst, k: int) -> np.ndarray:
    """(2M, k) vertices of the segments ``src[i] -> dst[i]`` (M, 2 or 3), in ``k`` columns; pairs
    with a non-finite end are dropped. ValueError for arrays that do not pair up."""
    S, D = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if S.shape != D.shape or S.ndim != 2 or S.shape[1] not in (2, 3):
        raise ValueError(f"target lines need two (M, 2) or (M, 3) arrays, got {S.shape} and {D.shape}")
    ok = np.isfinite(S).all(axis=1) & np.isfinite(D).all(axis=1)
    S, D = pad_columns(S[ok], k), pad_columns(D[ok], k)
    out = np.empty((2 * len(S), k))
    out[0::2], out[1::2] = S, D
    return out


def pad_columns(A: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns of ``A``, zero-padded when ``A`` has fewer."""
    if A.shape[1] >= k:
        return A[:, :k]
    out = np.zeros((len(A), k))
    out[:, :A.shape[1]] = A
    return out


def bounding_sphere(pos: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Centre (of the bounding box) and radius enclosing the finite points, or None."""
    # Column-major copy: numpy reduces an (N, 3) array along axis 0 ~25x slower than this.
    cols = np.array(np.asarray(pos, dtype=np.float64).T, order="C")
    if not np.isfinite(cols).all():
        cols = cols[:, np.isfinite(cols).all(axis=0)]
    if cols.shape[1] == 0:
        return None
    lo, hi = cols.min(axis=1), cols.max(axis=1)
    center = (lo + hi) / 2.0
    d2 = np.zeros(cols.shape[1])
    for axis in range(len(cols)):
        diff = cols[axis] - center[axis]
        d2 += diff * diff
    return center, max(float(np.sqrt(d2.max())), 1e-9)


def merge_spheres(a: tuple[np.ndarray, float] | None, b: tuple[np.ndarray, float] | None):
    """The smallest sphere enclosing spheres ``a`` and ``b`` (either may be None)."""
    if a is None or b is None:
        return a if b is None else b
    (c1, r1), (c2, r2) = a, b
    d = float(np.linalg.norm(c2 - c1))
    if d + r2 <= r1:
        return a
    if d + r1 <= r2:
        return b
    r = (d + r1 + r2) / 2.0
    return c1 + (c2 - c1) * ((r - r1) / d), r
