"""Point density images: many points aggregated into a grid of cells, class colours mixed.

A million points are more than a screen has pixels: zoomed out, the latent view draws one
cell per screen pixel instead of one marker per point, as datashader does. ``aggregate``
counts the points of every cell and sums their colours; ``shade`` turns the sums into an
RGBA image whose colour is the count-weighted mean of the colours that fell into a cell
(two classes in equal numbers give their mixture; a few labeled points tint a grey cloud)
and whose opacity grows with the logarithm of the count, so single points stay visible and
dense cores do not saturate everything else.

Everything is numpy: one ``bincount`` of the cell index for the counts, and three weighted
ones over the points whose colour is not the most common one (the sums of the most common
colour follow from the counts). At a million points with a few percent labeled, that is one
pass over every point plus a small one over the labeled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DensityGrid", "aggregate", "density_image", "shade"]

ALPHA_FLOOR = 0.35  # opacity of a cell holding one point; the densest cell is opaque


@dataclass
class DensityGrid:
    """Counts and colour sums of the points in ``rect`` = (x0, y0, x1, y1), ``shape`` = (rows,
    columns) cells, row 0 at ``y0``."""

    rect: tuple[float, float, float, float]
    counts: np.ndarray  # (rows, cols) float64
    rgb_sum: np.ndarray  # (rows, cols, 3) float64: the colours (0..255) of the points, summed
    # (empty after ``counts_only``)
    total: int  # points that fell into the grid

    def counts_only(self) -> DensityGrid:
        """The grid without its colour sums and with float32 counts (what ``count_in`` needs)."""
        return DensityGrid(self.rect, self.counts.astype(np.float32), np.zeros((0, 0, 3)), self.total)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return self.counts.shape

    @property
    def cell_size(self) -> tuple[float, float]:
        """Width and height of one cell in data units."""
        x0, y0, x1, y1 = self.rect
        rows, cols = self.counts.shape
        return (x1 - x0) / cols, (y1 - y0) / rows

    def count_in(self, rect: tuple[float, float, float, float]) -> int:
        """Points in the cells that overlap ``rect`` (x0, y0, x1, y1): an upper bound of the
        points inside it, without looking at any point."""
        x0, y0 = self.rect[:2]
        rows, cols = self.counts.shape
        cw, ch = self.cell_size
        c0 = int(np.clip(np.floor((rect[0] - x0) / cw), 0, cols))
        c1 = int(np.clip(np.ceil((rect[2] - x0) / cw), 0, cols))
        r0 = int(np.clip(np.floor((rect[1] - y0) / ch), 0, rows))
        r1 = int(np.clip(np.ceil((rect[3] - y0) / ch), 0, rows))
        return int(self.counts[r0:r1, c0:c1].sum())


def _cells(x: np.ndarray, y: np.ndarray, rect, shape) -> tuple[np.ndarray, np.ndarray]:
    """Flat cell index of the points inside ``rect`` and the mask of those points."""
    x0, y0, x1, y1 = (float(v) for v in rect)
    rows, cols = shape
    sx, sy = cols / (x1 - x0), rows / (y1 - y0)
    fx = x - np.float32(x0) if x.dtype == np.float32 else x - x0
    fx *= sx
    fy = y - np.float32(y0) if y.dtype == np.float32 else y - y0
    fy *= sy
    with np.errstate(invalid="ignore"):  # NaN positions compare False: outside
        ok = (fx >= 0) & (fx < cols) & (fy >= 0) & (fy < rows)
    ix = fx[ok].astype(np.int64)
    iy = fy[ok].astype(np.int64)
    iy *= cols
    iy += ix
    return iy, ok


def aggregate(x: np.ndarray, y: np.ndarray, ids: np.ndarray, palette: np.ndarray,
              rect: tuple[float, float, float, float], shape: tuple[int, int],
              common: int | None = None) -> DensityGrid:
    """Count the points (``x``, ``y``) in each cell of ``rect`` split into ``shape`` cells and
    sum their colours ``palette[ids]`` ((S, 3+) RGB(A) 0..255, one row per colour id).

    ``common`` is the most frequent id (computed when None); its points are counted once and
    their colour added per cell from the counts. Non-finite positions fall outside.
    """
    rows, cols = int(shape[0]), int(shape[1])
    if rows < 1 or cols < 1:
        raise ValueError(f"a density grid needs at least one cell, got shape {shape}")
    if not (rect[2] > rect[0] and rect[3] > rect[1]):
        raise ValueError(f"a density grid needs a rectangle of positive size, got {rect}")
    x, y, ids = np.asarray(x), np.asarray(y), np.asarray(ids)
    if not (len(x) == len(y) == len(ids)):
        raise ValueError(f"x, y and ids differ in length: {len(x)}, {len(y)}, {len(ids)}")
    palette = np.asarray(palette, np.float64)[:, :3]
    cells, ok = _cells(x, y, rect, (rows, cols))
    m = rows * cols
    counts = np.bincount(cells, minlength=m).astype(np.float64)
    inside_ids = ids[ok]
    if common is None:
        common = int(np.argmax(np.bincount(inside_ids, minlength=len(palette)))) if len(inside_ids) else 0
    rgb = counts[:, None] * palette[common][None, :]
    other = np.flatnonzero(inside_ids != common)
    if other.size:
        oc = cells[other]
        delta = palette[inside_ids[other]] - palette[common]
        for c in range(3):
            if delta[:, c].any():
                rgb[:, c] += np.bincount(oc, weights=delta[:, c], minlength=m)
    return DensityGrid((float(rect[0]), float(rect[1]), float(rect[2]), float(rect[3])),
                       counts.reshape(rows, cols), rgb.reshape(rows, cols, 3), len(cells))


def shade(grid: DensityGrid, alpha_floor: float = ALPHA_FLOOR, max_count: float | None = None) -> np.ndarray:
    """The (rows, cols, 4) uint8 RGBA image of ``grid``: mean colour per cell, opacity from
    ``alpha_floor`` (one point) to 1 (``max_count`` points, default the densest cell) on a log
    scale; empty cells are transparent. Row 0 is the grid's row 0 (lowest y)."""
    counts = grid.counts
    rows, cols = counts.shape
    out = np.zeros((rows, cols, 4), np.uint8)
    filled = counts > 0
    if not filled.any():
        return out
    c = counts[filled]
    top = float(c.max()) if max_count is None else float(max_count)
    mean = grid.rgb_sum[filled] / c[:, None]
    if top > 1:
        alpha = alpha_floor + (1.0 - alpha_floor) * np.log(np.minimum(c, top)) / np.log(top)
    else:
        alpha = np.full(len(c), 1.0)
    pix = out.reshape(-1, 4)
    idx = np.flatnonzero(filled.ravel())
    pix[idx, :3] = np.clip(mean + 0.5, 0, 255).astype(np.uint8)
    pix[idx, 3] = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def density_image(x: np.ndarray, y: np.ndarray, ids: np.ndarray, palette: np.ndarray,
                  rect: tuple[float, float, float, float], shape: tuple[int, int],
                  common: int | None = None, front: int = 0) -> tuple[np.ndarray, DensityGrid]:
    """The RGBA image (``shade``) of the points and the grid of all their counts.

    The last ``front`` points (in draw order: the labeled ones, which the view draws on top)
    get a layer of their own over the others, opaque and three cells wide, so a few thousand
    labeled points stay visible in a cloud of a million grey ones.
    """
    m = len(x) - int(front)
    grid = aggregate(x[:m], y[:m], ids[:m], palette, rect, shape, common)
    rgba = shade(grid)
    if front:
        top = aggregate(x[m:], y[m:], ids[m:], palette, rect, shape)
        _paint_layer(rgba, top)
        grid = DensityGrid(grid.rect, grid.counts + top.counts, grid.rgb_sum + top.rgb_sum, grid.total + top.total)
    return rgba, grid


def _paint_layer(rgba: np.ndarray, top: DensityGrid) -> None:
    """Paint the cells of ``top`` opaque over ``rgba``, three cells wide: the neighbours first,
    then the cells themselves (only the filled cells are visited: ``grow`` of a sparse layer)."""
    rows, cols = top.counts.shape
    filled = np.flatnonzero(top.counts.ravel() > 0)
    if not len(filled):
        return
    colour = np.clip(top.rgb_sum.reshape(-1, 3)[filled] / top.counts.ravel()[filled, None] + 0.5, 0, 255)
    colour = colour.astype(np.uint8)
    r, c = np.divmod(filled, cols)
    flat = rgba.reshape(-1, 4)
    for dy, dx in [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx] + [(0, 0)]:
        ok = (r + dy >= 0) & (r + dy < rows) & (c + dx >= 0) & (c + dx < cols)
        dst = filled[ok] + dy * cols + dx
        flat[dst, :3] = colour[ok]
        flat[dst, 3] = 255
