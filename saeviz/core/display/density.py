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

__all__ = ["DensityGrid", "aggregate", "density_image", "layer_image", "shade"]

ALPHA_FLOOR = 0.35  # opacity of a cell holding one point; the densest cell is opaque


@dataclass
class DensityGrid:
    """Counts and colour sums of the points in ``rect`` = (x0, y0, x1, y1), ``shape`` = (rows,
    columns) cells, row 0 at ``y0``.

    The colours are kept as a ``base`` colour (the most common one) plus, per channel, the sum
    of every point's difference from it (``delta``, channel-major): the sums of a cell are
    ``counts * base + delta``. A cloud of one colour then costs nothing per cell.
    """

    rect: tuple[float, float, float, float]
    counts: np.ndarray  # (rows, cols) int64 (float32 after ``counts_only``)
    base: np.ndarray  # (3,) float64, colour 0..255
    delta: tuple[np.ndarray | None, ...] | None  # per channel (rows, cols) float64, None: no difference
    total: int  # points that fell into the grid

    @property
    def rgb_sum(self) -> np.ndarray:
        """(rows, cols, 3) float64: the colours (0..255) of the points of each cell, summed."""
        rgb = self.counts[..., None] * self.base
        for k, d in enumerate(self.delta or ()):
            if d is not None:
                rgb[..., k] += d
        return rgb

    def counts_only(self) -> DensityGrid:
        """The grid with float32 counts and no colours (what ``count_in`` needs)."""
        return DensityGrid(self.rect, self.counts.astype(np.float32), np.zeros(3), None, self.total)

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


def _cells(x: np.ndarray, y: np.ndarray, rect, shape) -> tuple[np.ndarray, np.ndarray | None]:
    """Flat cell index of the points inside ``rect`` and the mask of those points (None when
    every point is inside, as when the view shows all of them)."""
    x0, y0, x1, y1 = (float(v) for v in rect)
    rows, cols = shape
    sx, sy = cols / (x1 - x0), rows / (y1 - y0)
    fx = x - np.float32(x0) if x.dtype == np.float32 else x - x0
    fx *= sx
    fy = y - np.float32(y0) if y.dtype == np.float32 else y - y0
    fy *= sy
    with np.errstate(invalid="ignore"):  # NaN positions compare False: outside
        ok = fx >= 0
        ok &= fx < cols
        ok &= fy >= 0
        ok &= fy < rows
    if ok.all():
        ok = None
    else:
        fx, fy = fx[ok], fy[ok]
    iy = fy.astype(np.int64)
    iy *= cols
    iy += fx.astype(np.int64)
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
    counts = np.bincount(cells, minlength=m)
    inside_ids = ids if ok is None else ids[ok]
    if common is None:
        common = int(np.argmax(np.bincount(inside_ids, minlength=len(palette)))) if len(inside_ids) else 0
    delta = None
    other = np.flatnonzero(inside_ids != common)
    if other.size:
        oc = cells[other]
        other_ids = inside_ids[other]
        diff = palette - palette[common]
        # one gather from a small table per channel, no (n, 3) array
        delta = tuple(np.bincount(oc, weights=diff[:, c][other_ids], minlength=m).reshape(rows, cols)
                      if diff[:, c].any() else None for c in range(3))
    return DensityGrid((float(rect[0]), float(rect[1]), float(rect[2]), float(rect[3])),
                       counts.reshape(rows, cols), palette[common].copy(), delta, len(cells))


def _mean_colours(grid: DensityGrid, cells: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(3, len(cells)) uint8: the mean colour of the points of each of the flat ``cells``."""
    out = np.empty((3, len(cells)), np.uint8)
    for k in range(3):
        d = grid.delta[k] if grid.delta is not None else None
        if d is None:
            out[k] = np.uint8(np.clip(grid.base[k] + 0.5, 0, 255))
        else:
            mean = d.ravel()[cells] / counts
            mean += grid.base[k] + 0.5
            out[k] = np.clip(mean, 0, 255)
    return out


def shade(grid: DensityGrid, alpha_floor: float = ALPHA_FLOOR, max_count: float | None = None) -> np.ndarray:
    """The (rows, cols, 4) uint8 RGBA image of ``grid``: mean colour per cell, opacity from
    ``alpha_floor`` (one point) to 1 (``max_count`` points, default the densest cell) on a log
    scale; empty cells are transparent. Row 0 is the grid's row 0 (lowest y)."""
    counts = grid.counts
    rows, cols = counts.shape
    out = np.zeros((rows, cols, 4), np.uint8)
    idx = np.flatnonzero(counts)  # only the filled cells are visited
    if not len(idx):
        return out
    c = counts.ravel()[idx]
    top = float(c.max()) if max_count is None else float(max_count)
    if top > 1:
        if float(c.max()) <= _ALPHA_TABLE and counts.dtype.kind in "iu":  # whole counts: a table
            levels = np.log(np.minimum(np.arange(1, int(c.max()) + 1), top))
            alpha = _alpha(levels, top, alpha_floor)[c - 1]
        else:
            alpha = _alpha(np.log(np.minimum(c.astype(np.float64), top)), top, alpha_floor)
    else:
        alpha = np.full(len(idx), 255, np.uint8)
    out.reshape(-1).view("<u4")[idx] = _words(_mean_colours(grid, idx, c.astype(np.float64)), alpha)
    return out


def _words(rgb: np.ndarray, alpha) -> np.ndarray:
    """RGBA pixels as one 32-bit word each (R, G, B, A in memory order, as ``view("<u4")`` of
    an RGBA image reads them): ``rgb`` (3, k) uint8, ``alpha`` (k,) uint8 or one for all."""
    packed = np.asarray(alpha, np.uint32) << np.uint32(24)
    for k in range(3):
        packed = packed | (rgb[k].astype(np.uint32) << np.uint32(8 * k))
    return packed


_ALPHA_TABLE = 1 << 16  # densest cells up to which opacities come from a table of every count


def _alpha(log_count: np.ndarray, top: float, alpha_floor: float) -> np.ndarray:
    a = log_count * ((1.0 - alpha_floor) * 255 / np.log(top))
    a += alpha_floor * 255 + 0.5
    return np.clip(a, 0, 255).astype(np.uint8)


def density_image(x: np.ndarray, y: np.ndarray, ids: np.ndarray, palette: np.ndarray,
                  rect: tuple[float, float, float, float], shape: tuple[int, int],
                  common: int | None = None, front: int = 0,
                  alpha_floor: float = ALPHA_FLOOR, shaded_front: bool = False) -> tuple[np.ndarray, DensityGrid]:
    """The RGBA image (``shade``) of the points and the grid of all their counts (``counts_only``).

    The last ``front`` points (in draw order: the labeled ones, which the view draws on top)
    get a layer of their own over the others, so labeled points stay visible in a cloud of a
    million grey ones: opaque and three cells wide (a few thousand of them), or with
    ``shaded_front`` (many) shaded like the others but from ``FRONT_ALPHA_FLOOR`` up, one
    cell each. ``alpha_floor``: the opacity of a cell holding one point (``shade``).
    """
    m = len(x) - int(front)
    grid = aggregate(x[:m], y[:m], ids[:m], palette, rect, shape, common)
    rgba = shade(grid, alpha_floor)
    if front:
        top = aggregate(x[m:], y[m:], ids[m:], palette, rect, shape)
        if shaded_front:
            _over(rgba, shade(top, FRONT_ALPHA_FLOOR))
        else:
            _paint_layer(rgba, top)
        grid = DensityGrid(grid.rect, grid.counts + top.counts, grid.base, None, grid.total + top.total)
    return rgba, grid.counts_only()


FRONT_ALPHA_FLOOR = 0.7  # opacity of a cell holding one labeled point, in a shaded layer


def _over(rgba: np.ndarray, top: np.ndarray) -> None:
    """Composite the RGBA image ``top`` over ``rgba`` (both uint8, not premultiplied), in
    place; only the cells ``top`` covers are visited."""
    flat, t = rgba.reshape(-1, 4), top.reshape(-1, 4)
    idx = np.flatnonzero(t[:, 3])
    at = t[idx, 3:4].astype(np.float32) / 255
    ab = flat[idx, 3:4].astype(np.float32) / 255
    a = at + ab * (1 - at)
    colour = (t[idx, :3] * at + flat[idx, :3] * (ab * (1 - at))) / a
    flat[idx, :3] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    flat[idx, 3] = np.clip(a[:, 0] * 255 + 0.5, 0, 255).astype(np.uint8)


def layer_image(x: np.ndarray, y: np.ndarray, ids, palette: np.ndarray,
                rect: tuple[float, float, float, float], shape: tuple[int, int],
                wide_up_to: int = 50_000, out: np.ndarray | None = None) -> np.ndarray:
    """A (rows, cols, 4) uint8 RGBA image, transparent but for the cells of the points, which
    are opaque in the mean colour of their points (``palette[ids]``; ``ids`` one per point or
    one for all): what a density image's layer of labeled points shows, alone. Three cells
    wide while at most ``wide_up_to`` cells are filled (a few points stay visible), one cell
    wide above that (a large area is visible as it is). ``out``: an image of ``shape`` to
    paint the points over (returned), instead of a transparent one."""
    rows, cols = int(shape[0]), int(shape[1])
    rgba = np.zeros((rows, cols, 4), np.uint8) if out is None else out
    if np.ndim(ids) == 0:  # one colour: which cells hold a point is all there is to know
        cells, _ok = _cells(np.asarray(x), np.asarray(y), rect, (rows, cols))
        filled = np.zeros(rows * cols, bool)
        filled[cells] = True
        colour = np.clip(np.asarray(palette, np.float64)[int(ids), :3] + 0.5, 0, 255).astype(np.uint8)
        filled = np.flatnonzero(filled)
        _paint_cells(rgba, filled, _words(colour[:, None], 255), len(filled) <= wide_up_to)
        return rgba
    top = aggregate(x, y, ids, palette, rect, shape)
    _paint_layer(rgba, top, wide_up_to)
    return rgba


def _paint_layer(rgba: np.ndarray, top: DensityGrid, wide_up_to: int | None = None) -> None:
    """Paint the cells of ``top`` opaque in their mean colour over ``rgba``, three cells wide
    (while at most ``wide_up_to`` cells are filled, if given; ``_paint_cells``)."""
    filled = np.flatnonzero(top.counts.ravel() > 0)
    if not len(filled):
        return
    words = _words(_mean_colours(top, filled, top.counts.ravel()[filled].astype(np.float64)), 255)
    _paint_cells(rgba, filled, words, wide_up_to is None or len(filled) <= wide_up_to)


def _paint_cells(rgba: np.ndarray, filled: np.ndarray, words, wide: bool) -> None:
    """Write the RGBA ``words`` (one per cell of ``filled``, flat indices, or one for all) into
    ``rgba``; ``wide``: into the 3 x 3 cells around each too, the neighbours first, then the
    cells themselves (only the filled cells are visited: ``grow`` of a sparse layer)."""
    rows, cols = rgba.shape[:2]
    flat = rgba.reshape(-1).view("<u4")
    words = np.broadcast_to(np.asarray(words, np.uint32), filled.shape)
    if not wide:
        flat[filled] = words
        return
    r, c = np.divmod(filled, cols)
    for dy, dx in [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx] + [(0, 0)]:
        ok = (r + dy >= 0) & (r + dy < rows) & (c + dx >= 0) & (c + dx < cols)
        flat[filled[ok] + dy * cols + dx] = words[ok]
