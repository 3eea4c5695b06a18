"""Finding points by position among a million: boxes, the nearest point, a disc, a polygon.

``PointIndex`` holds 2D positions (data coordinates) for the latent view's picking and paint
tools. Queries work in data coordinates with a per-axis scale (device pixels per data unit),
so a radius in pixels is a circle on screen whatever the aspect ratio.

Two ways to find the candidates of a query box: a scan of float32 copies of the columns (a
few milliseconds at a million points, available at once), and a uniform grid of buckets (the
points sorted by cell with a radix sort, under a millisecond per query) built by
``build_grid``, which the view runs on a worker thread once per position update. Candidates
are then tested exactly on the float64 positions.
"""
from __future__ import annotations

import numpy as np

from saeviz.core.display.geometry import (
    PolygonGrid,
    crossings_by_band,
    polygon_hits,
    xy_in_polygon,
)

__all__ = ["GridBuckets", "PointIndex"]

GRID = 256  # cells per side of the bucket grid (the keys fit 16 bits: numpy sorts them by radix)


class GridBuckets:
    """Points sorted by cell of a GRID x GRID grid over their bounds."""

    def __init__(self, x: np.ndarray, y: np.ndarray, bounds: tuple[float, float, float, float]):
        x0, y0, x1, y1 = bounds
        self.bounds = bounds
        self.sx = GRID / max(x1 - x0, 1e-300)
        self.sy = GRID / max(y1 - y0, 1e-300)
        with np.errstate(invalid="ignore"):
            gx = np.clip((x - x0) * self.sx, 0, GRID - 1)
            gy = np.clip((y - y0) * self.sy, 0, GRID - 1)
        finite = np.isfinite(gx) & np.isfinite(gy)
        key = np.full(len(x), GRID * GRID - 1, np.int64)  # non-finite: last cell (tested exactly)
        key[finite] = gy[finite].astype(np.int64) * GRID + gx[finite].astype(np.int64)
        key = key.astype(np.uint16)
        self.order = np.argsort(key, kind="stable").astype(np.int32 if len(key) < 2**31 else np.int64)
        self.starts = np.searchsorted(key[self.order], np.arange(GRID * GRID + 1))

    def cells(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        """First and last column and row of the cells that overlap the box."""
        bx0, by0, _, _ = self.bounds
        c0 = int(np.clip(np.floor((x0 - bx0) * self.sx), 0, GRID - 1))
        c1 = int(np.clip(np.floor((x1 - bx0) * self.sx), 0, GRID - 1))
        r0 = int(np.clip(np.floor((y0 - by0) * self.sy), 0, GRID - 1))
        r1 = int(np.clip(np.floor((y1 - by0) * self.sy), 0, GRID - 1))
        return c0, c1, r0, r1

    def candidates(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Indices of the points in the cells that overlap the box (a superset of the box)."""
        c0, c1, r0, r1 = self.cells(x0, y0, x1, y1)
        rows = np.arange(r0, r1 + 1) * GRID
        lo = self.starts[rows + c0]
        hi = self.starts[rows + c1 + 1]
        parts = [self.order[a:b] for a, b in zip(lo, hi) if b > a]
        # the last cell also holds the non-finite points: the exact test drops them
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


class PointIndex:
    """Positions of N points in 2D for box, nearest-point, disc and polygon queries."""

    def __init__(self, xy: np.ndarray, bounds: tuple[float, float, float, float] | None = None):
        """Index the first two columns of ``xy`` (N, >= 2); the array must not change later.
        ``bounds`` (x0, y0, x1, y1) of the finite positions, when the caller knows them."""
        xy = np.asarray(xy, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] < 2:
            raise ValueError(f"positions must be an (N, 2) array, got shape {xy.shape}")
        self.x, self.y = xy[:, 0], xy[:, 1]  # views: the caller's array is kept, not copied
        self.x32 = self.x.astype(np.float32)
        self.y32 = self.y.astype(np.float32)
        if bounds is None and len(xy):
            with np.errstate(invalid="ignore"):
                lo = np.nanmin(self.x32), np.nanmin(self.y32)
                hi = np.nanmax(self.x32), np.nanmax(self.y32)
            if np.isfinite(lo).all() and np.isfinite(hi).all():
                bounds = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        self.bounds = None if bounds is None else tuple(float(b) for b in bounds)
        self.grid: GridBuckets | None = None

    def __len__(self) -> int:
        return len(self.x)

    def build_grid(self) -> GridBuckets | None:
        """Sort the points into buckets (thread-safe to call off the UI thread); queries use the
        buckets once this returns."""
        if self.bounds is not None and self.grid is None:
            self.grid = GridBuckets(self.x, self.y, self.bounds)
        return self.grid

    def in_box(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Indices (ascending) of the points with x0 <= x <= x1 and y0 <= y <= y1."""
        grid = self.grid
        if grid is not None and self._few_cells(grid, x0, y0, x1, y1):
            cand = grid.candidates(x0, y0, x1, y1)
            cx, cy = self.x[cand], self.y[cand]
            return np.sort(cand[(cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)])
        # float32 scan with a margin, then the exact test on the candidates
        m = 1e-6 * max(abs(x0), abs(x1), abs(y0), abs(y1), x1 - x0, y1 - y0, 1e-30)
        x, y = self.x32, self.y32
        with np.errstate(invalid="ignore"):
            mask = x >= np.float32(x0 - m)
            mask &= x <= np.float32(x1 + m)
            mask &= y >= np.float32(y0 - m)
            mask &= y <= np.float32(y1 + m)
        cand = np.flatnonzero(mask)
        cx, cy = self.x[cand], self.y[cand]
        return cand[(cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)]

    @staticmethod
    def _few_cells(grid: GridBuckets, x0, y0, x1, y1) -> bool:
        """Whether the buckets beat a scan: boxes over a small part of the grid."""
        c0, c1, r0, r1 = grid.cells(x0, y0, x1, y1)
        return (c1 - c0 + 1) * (r1 - r0 + 1) <= GRID * GRID // 64

    def near(self, px: float, py: float, radius: float, sx: float = 1.0, sy: float = 1.0) -> np.ndarray:
        """Indices of the points within ``radius`` px of (px, py), ``sx``/``sy`` px per unit."""
        cand, d2 = self._disc(px, py, radius, sx, sy)
        return cand[d2 <= radius * radius]

    def nearest(self, px: float, py: float, radius: float, sx: float = 1.0, sy: float = 1.0) -> int:
        """The point nearest to (px, py) within ``radius`` px, or -1."""
        cand, d2 = self._disc(px, py, radius, sx, sy)
        if len(cand) == 0:
            return -1
        i = int(np.argmin(d2))
        return int(cand[i]) if d2[i] <= radius * radius else -1

    def _disc(self, px, py, radius, sx, sy):
        sx, sy = abs(sx), abs(sy)
        rx, ry = radius / max(sx, 1e-300), radius / max(sy, 1e-300)
        cand = self.in_box(px - rx, py - ry, px + rx, py + ry)
        dx = (self.x[cand] - px) * sx
        dy = (self.y[cand] - py) * sy
        return cand, dx * dx + dy * dy

    def in_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Indices of the points inside ``polygon`` ((M, 2) data coordinates, even-odd rule)."""
        V = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        if len(V) < 3 or not np.isfinite(V).all():
            return np.zeros(0, np.int64)
        lo, hi = V.min(axis=0), V.max(axis=0)
        grid = self.grid
        if grid is not None and self._few_cells(grid, lo[0], lo[1], hi[0], hi[1]):
            cand = self.in_box(lo[0], lo[1], hi[0], hi[1])  # a small lasso: the buckets first
            return cand[xy_in_polygon(self.x[cand], self.y[cand], V)]
        if grid is not None:
            return self._polygon_by_buckets(grid, V)
        # every point's cell in float32; the exact float64 test only next to the edges
        return polygon_hits(self.x32, self.y32, V, exact=(self.x, self.y))

    def _polygon_by_buckets(self, grid: GridBuckets, V: np.ndarray) -> np.ndarray:
        """A large polygon through the buckets: the points of buckets wholly inside it are in
        without a look at them, those of buckets an edge passes near get the exact test."""
        bx0, by0 = grid.bounds[:2]
        marks = PolygonGrid.on_grid(V, (bx0, by0), (1.0 / grid.sx, 1.0 / grid.sy), (GRID, GRID)).code.ravel()
        marks[-1] = PolygonGrid.NEAR  # the last bucket also holds the non-finite points
        per_point = np.repeat(marks, np.diff(grid.starts))  # the buckets' marks, in bucket order
        hit = np.zeros(len(self.x), bool)
        hit[grid.order[per_point == PolygonGrid.INSIDE]] = True
        near = grid.order[per_point == PolygonGrid.NEAR]
        if len(near):  # few points along the edges: each edge meets those in its height band
            hit[near] = crossings_by_band(self.x[near], self.y[near], V)
        return np.flatnonzero(hit)
