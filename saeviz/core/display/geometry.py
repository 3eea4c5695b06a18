"""Geometry of points on screen and in the latent view, with numpy alone: which points a lasso
encloses (even-odd rule), the vertices of line segments between point sets, and the spheres
that enclose point clouds (for fitting a 3D camera).
"""
from __future__ import annotations

import numpy as np

__all__ = ["PolygonGrid", "bounding_sphere", "crossings_by_band", "merge_spheres", "pad_columns", "points_in_polygon",
           "polygon_hits", "segment_pairs", "xy_in_polygon"]


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean mask of ``points`` (N, 2) inside ``polygon`` (M, 2) by the even-odd rule.

    Small inputs test every point against every edge. Large ones go through a grid over the
    polygon's bounding box: a cell no edge passes through lies wholly inside or outside, which
    its centre tells (one scanline pass over the grid); only the points in cells an edge
    passes through are tested against the edges, so a freehand lasso around half a million
    points costs a few passes over those points whatever its number of vertices.
    """
    P = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    V = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(P), bool)
    if len(V) < 3 or len(P) == 0 or not np.isfinite(V).all():
        return inside
    lo, hi = V.min(axis=0), V.max(axis=0)
    with np.errstate(invalid="ignore"):
        cand = np.flatnonzero((P[:, 0] >= lo[0]) & (P[:, 0] <= hi[0]) & (P[:, 1] >= lo[1]) & (P[:, 1] <= hi[1]))
    inside[cand] = xy_in_polygon(P[cand, 0], P[cand, 1], V)
    return inside


def xy_in_polygon(x: np.ndarray, y: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """``points_in_polygon`` for points given as two columns."""
    hit = np.zeros(len(x), bool)
    hit[polygon_hits(x, y, polygon)] = True
    return hit


def polygon_hits(x: np.ndarray, y: np.ndarray, polygon: np.ndarray,
                 exact: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Indices (ascending) of the points (``x``, ``y``) inside ``polygon`` (M, 2), even-odd rule.

    Many points are sorted into a ``PolygonGrid``; only those next to an edge meet the edges.
    ``exact``: float64 columns of the same points when ``x``, ``y`` are float32 copies (the
    grid then works in float32 and the test next to the edges in float64).
    """
    V = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x, y = np.asarray(x), np.asarray(y)
    if len(V) < 3 or len(x) == 0 or not np.isfinite(V).all():
        return np.zeros(0, np.int64)
    X, Y = exact if exact is not None else (x, y)
    lo, hi = V.min(axis=0), V.max(axis=0)
    if len(V) * len(x) <= _DIRECT_WORK or hi[0] <= lo[0] or hi[1] <= lo[1]:
        return np.flatnonzero(_crossings_odd(np.asarray(X, np.float64), np.asarray(Y, np.float64), V))
    grid = PolygonGrid(V, min(_GRID_MAX, max(len(x), 1024)))
    on, code = grid.classify(x, y)
    keep = code == PolygonGrid.INSIDE
    near = np.flatnonzero(code == PolygonGrid.NEAR)
    if len(near):
        rows = on[near]
        keep[near] = crossings_by_band(np.asarray(X[rows], np.float64), np.asarray(Y[rows], np.float64), V)
    return on[keep]


_DIRECT_WORK = 200_000  # edges x points below which every point meets every edge
_GRID_MAX = 1 << 16  # cells of the classification grid at most (finer grids cost more than they save)


def _crossings_odd(x: np.ndarray, y: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Even-odd test of every point against every edge of ``V``."""
    hit = np.zeros(len(x), bool)
    xj, yj = V[-1]
    for xi, yi in V:
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (xj - xi) * (y - yi) / (yj - yi) + xi
        hit ^= crosses & (x < x_at)
        xj, yj = xi, yi
    return hit


class PolygonGrid:
    """A grid of about ``cells`` square cells over a polygon's bounding box, with a frame of one
    cell around it, each cell marked OUTSIDE, INSIDE or NEAR an edge.

    A cell no edge passes near lies wholly inside or outside the polygon (even-odd rule), which
    its centre tells: one scanline pass over the grid. Edges are sampled every half cell and
    the cells around every sample are NEAR, so a point whose cell is off by one (float32
    positions, rounding at a cell border) still gets a right answer: it lands in a cell of the
    same side or in a NEAR one. Only points in NEAR cells need the exact test against the edges.

    ``on_grid`` marks a given grid whose cells the caller assigns points to exactly (up to
    float64 rounding, as the point index's buckets): there only the cells an edge touches
    are NEAR. Every point of an edge lies within a quarter cell (per axis) of a sample, so the
    at most 2 x 2 cells that a quarter-cell box around each sample meets hold every cell the
    edge passes through; two cells no edge touches that share a border lie on the same side,
    so a point on a border (rounding) is right in either.
    """

    OUTSIDE, INSIDE, NEAR = 0, 1, 2

    def __init__(self, V: np.ndarray, cells: int):
        lo, hi = V.min(axis=0), V.max(axis=0)
        w, h = hi - lo
        cw = ch = float(np.sqrt(w * h / cells))
        cols, rows = max(1, int(np.ceil(w / cw))), max(1, int(np.ceil(h / ch)))
        # the frame of one cell around the polygon stays OUTSIDE or NEAR
        self._mark(V, (float(lo[0] - cw), float(lo[1] - ch)), (cw, ch), (rows + 2, cols + 2))

    @classmethod
    def on_grid(cls, V: np.ndarray, origin: tuple[float, float], cell: tuple[float, float],
                shape: tuple[int, int]) -> PolygonGrid:
        """The cells of a given grid (corner ``origin``, ``cell`` size, ``shape`` rows and
        columns) marked for polygon ``V``; edges beyond the grid mark its border cells NEAR."""
        grid = cls.__new__(cls)
        grid._mark(np.asarray(V, np.float64), (float(origin[0]), float(origin[1])),
                   (float(cell[0]), float(cell[1])), (int(shape[0]), int(shape[1])), touched=True)
        return grid

    def _mark(self, V: np.ndarray, origin: tuple[float, float], cell: tuple[float, float],
              shape: tuple[int, int], touched: bool = False) -> None:
        """Mark the cells; NEAR: the cells an edge touches (``touched``) or, for points that may
        sit a cell off, the 3 x 3 around every cell an edge touches."""
        (ox, oy), (cw, ch), (rows, cols) = origin, cell, shape
        xi, yi = V[:, 0], V[:, 1]
        xj, yj = np.roll(xi, 1), np.roll(yi, 1)  # edge k runs from vertex k-1 to vertex k

        # parity of the cell centres: scanline crossings of every edge with every row centre
        y0, y1 = np.minimum(yi, yj), np.maximum(yi, yj)
        r0 = np.clip(np.ceil((y0 - oy) / ch - 0.5), 0, rows).astype(np.int64)  # rows whose centre
        r1 = np.clip(np.ceil((y1 - oy) / ch - 0.5), 0, rows).astype(np.int64)  # is in [y0, y1)
        n_rows = r1 - r0
        e = np.repeat(np.arange(len(V)), n_rows)
        r = np.arange(int(n_rows.sum())) - np.repeat(np.cumsum(n_rows) - n_rows - r0, n_rows)
        yc = oy + (r + 0.5) * ch
        x_at = (xj[e] - xi[e]) * (yc - yi[e]) / (yj[e] - yi[e]) + xi[e]
        # a centre left of x_at sees the crossing: columns c < k with k = #centres left of x_at
        k = np.clip(np.ceil((x_at - ox) / cw - 0.5), 0, cols).astype(np.int64)
        toggles = np.bincount(r * (cols + 1) + k, minlength=rows * (cols + 1)).astype(np.uint8)
        toggles = toggles.reshape(rows, cols + 1)[:, :0:-1]  # columns cols..1, right to left
        code = np.cumsum(toggles, axis=1, dtype=np.uint8)[:, ::-1] & 1  # wraps: parity kept

        # cells an edge passes through: samples every half cell along each edge (its part
        # within two cells of the grid), 3x3 around each
        ax, ay, bx, by = _clip_segments(xj, yj, xi, yi, (ox - 2 * cw, oy - 2 * ch, ox + (cols + 2) * cw,
                                                         oy + (rows + 2) * ch))
        length = np.maximum(np.abs(bx - ax) / cw, np.abs(by - ay) / ch)
        steps = np.ceil(2 * length).astype(np.int64) + 1
        e = np.repeat(np.arange(len(ax)), steps)
        t = (np.arange(int(steps.sum())) - np.repeat(np.cumsum(steps) - steps, steps)) / np.repeat(
            np.maximum(steps - 1, 1), steps)
        u = np.clip((ax[e] + t * (bx[e] - ax[e]) - ox) / cw, -1, cols + 1)  # in cells
        v = np.clip((ay[e] + t * (by[e] - ay[e]) - oy) / ch, -1, rows + 1)
        if touched:  # the cells a quarter-cell box around each sample meets
            cs = [np.floor(u - 0.25), np.floor(u + 0.25)]
            rs = [np.floor(v - 0.25), np.floor(v + 0.25)]
        else:  # the 3 x 3 around each sample's cell
            cs = [np.floor(u) + d for d in (-1, 0, 1)]
            rs = [np.floor(v) + d for d in (-1, 0, 1)]
        cs = [np.clip(c, 0, cols - 1).astype(np.int64) for c in cs]
        rs = [np.clip(r, 0, rows - 1).astype(np.int64) for r in rs]
        for r in rs:
            for c in cs:
                code[r, c] = self.NEAR
        self.code = code
        self.origin = (ox, oy)  # corner of the grid
        self.cell = (cw, ch)

    def classify(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the points on the framed grid (ascending) and the code of each one's cell;
        points off the grid (and non-finite ones) are outside and not listed. Float32 columns
        are classified in float32."""
        f = np.float32 if x.dtype == np.float32 and y.dtype == np.float32 else np.float64
        rows, cols = self.code.shape
        fx = x - f(self.origin[0])
        fx *= f(1.0 / self.cell[0])
        fy = y - f(self.origin[1])
        fy *= f(1.0 / self.cell[1])
        with np.errstate(invalid="ignore"):  # NaN compares False: off the grid
            ok = fx >= 0
            ok &= fx < cols
            ok &= fy >= 0
            ok &= fy < rows
        on = np.flatnonzero(ok)
        flat = fy[on].astype(np.int32)
        flat *= cols
        flat += fx[on].astype(np.int32)
        return on, self.code.ravel()[flat]


def _clip_segments(x0, y0, x1, y1, box):
    """The parts of the segments (x0, y0) -> (x1, y1) inside ``box`` (xmin, ymin, xmax, ymax),
    as four arrays of their ends; segments that miss the box are left out (Liang-Barsky)."""
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = np.zeros(len(x0)), np.ones(len(x0))
    keep = np.ones(len(x0), bool)
    for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]), (dy, box[3] - y0)):
        flat = p == 0
        keep &= ~(flat & (q < 0))  # parallel to this side and beyond it
        with np.errstate(divide="ignore", invalid="ignore"):
            r = q / p
        t0 = np.where(p < 0, np.maximum(t0, r), t0)
        t1 = np.where(p > 0, np.minimum(t1, r), t1)
    keep &= t0 <= t1
    t0, t1, x0, y0, dx, dy = t0[keep], t1[keep], x0[keep], y0[keep], dx[keep], dy[keep]
    return x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy


def crossings_by_band(x: np.ndarray, y: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Even-odd test where each edge meets only the points in the height band it spans."""
    if len(V) * len(x) <= _DIRECT_WORK:
        return _crossings_odd(x, y, V)
    xi, yi = V[:, 0], V[:, 1]
    xj, yj = np.roll(xi, 1), np.roll(yi, 1)
    order = np.argsort(y, kind="stable")
    ys = y[order]
    first = np.searchsorted(ys, np.minimum(yi, yj), "left")  # points with min <= y < max
    last = np.searchsorted(ys, np.maximum(yi, yj), "left")
    lengths = last - first
    e = np.repeat(np.arange(len(V)), lengths)
    pts = order[np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths - first, lengths)]
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = (xj[e] - xi[e]) * (y[pts] - yi[e]) / (yj[e] - yi[e]) + xi[e]
    flips = pts[x[pts] < x_at]
    return (np.bincount(flips, minlength=len(x)) & 1).astype(bool)


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
