"""How latent points look: symbols, per-point styles, the legend, and how they are painted.

``compute_style`` turns labels / predictions / values into a ``PointStyle``: a small list of
distinct ``Symbol`` objects and, per point, the index of its symbol (what the 2D view draws
from one pre-rendered atlas) plus RGBA and size arrays (what the 3D view uploads). Nothing
here is per-point Python work, so restyling 60,000 points after a paint stroke takes a few
milliseconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

MODES = ("label", "prediction", "confidence", "error")

RGBA = tuple[int, int, int, int]

UNLABELED_RGBA: RGBA = (150, 150, 150, 150)
OUTLINE_RGBA: RGBA = (25, 25, 25, 255)
HALO_RGBA: RGBA = (255, 255, 255, 235)
SELECTION_RGBA: RGBA = (235, 0, 110, 255)
HIGHLIGHT_RGBA: RGBA = (20, 20, 20, 255)

UNLABELED_SIZE = 5.0
LABELED_SIZE = 9.0
ANCHOR_SIZE = 22.0
SELECTION_SIZE = 22.0
HIGHLIGHT_SIZE = 16.0

COLORMAPS = {"confidence": "viridis", "error": "inferno"}
COLOR_LEVELS = 32  # colormap steps drawn in 2D (one pre-rendered symbol each)


@dataclass(frozen=True)
class Symbol:
    """One marker: shape ('o' disc, 'd' diamond, 'star', 'ring'), size in px and colours."""

    shape: str
    size: float
    fill: RGBA | None
    outline: RGBA | None = None
    outline_width: float = 0.0
    halo: RGBA | None = None
    halo_width: float = 0.0

    @property
    def extent(self) -> float:
        """Full width in px including outline and halo."""
        return self.size + max(self.outline_width, self.halo_width) + 1.0


UNLABELED = Symbol("o", UNLABELED_SIZE, UNLABELED_RGBA)


def unlabeled_size(n: int) -> float:
    """Marker size of unlabeled points: smaller in big clouds (less overplotting, less fill)."""
    return UNLABELED_SIZE if n <= 15_000 else (4.0 if n <= 40_000 else 3.0)


def labeled_symbol(rgba: RGBA) -> Symbol:
    return Symbol("o", LABELED_SIZE, rgba, OUTLINE_RGBA, 1.4)


def unlabeled_symbol(rgba: RGBA, size: float = UNLABELED_SIZE) -> Symbol:
    return Symbol("o", size, rgba)


def anchor_symbol(rgba: RGBA) -> Symbol:
    return Symbol("star", ANCHOR_SIZE, rgba, OUTLINE_RGBA, 1.5, HALO_RGBA, 4.0)


SELECTION = Symbol("ring", SELECTION_SIZE, None, SELECTION_RGBA, 3.0, HALO_RGBA, 6.0)
HIGHLIGHT = Symbol("ring", HIGHLIGHT_SIZE, None, HIGHLIGHT_RGBA, 2.0, HALO_RGBA, 5.0)


def to_rgba(color, alpha: int | None = None) -> RGBA:
    c = pg.mkColor(color)
    return (c.red(), c.green(), c.blue(), c.alpha() if alpha is None else int(alpha))


@dataclass
class Legend:
    """What the legend shows: named symbols, or a colour bar from ``lo`` to ``hi``."""

    title: str = ""
    entries: list[tuple[str, Symbol]] = field(default_factory=list)
    lut: np.ndarray | None = None  # (L, 4) uint8 colour bar, low to high
    lo: float = 0.0
    hi: float = 1.0
    clipped_high: bool = False  # values above ``hi`` are shown in the top colour

    @property
    def empty(self) -> bool:
        return not self.entries and self.lut is None


@dataclass
class PointStyle:
    """Per-point appearance for ``n`` points."""

    n: int
    symbols: list[Symbol]
    ids: np.ndarray  # (n,) int32 index into symbols
    order: np.ndarray | None  # draw order (unlabeled first) or None for 0..n-1
    rgba: np.ndarray  # (n, 4) float32 in 0..1, for 3D
    size: np.ndarray  # (n,) float32 px, negative = outlined (3D)
    legend: Legend


def default_style(n: int) -> PointStyle:
    rgba = np.tile(np.array(UNLABELED_RGBA, np.float32) / 255.0, (n, 1))
    size = unlabeled_size(n)
    return PointStyle(n, [unlabeled_symbol(UNLABELED_RGBA, size)], np.zeros(n, np.int32), None, rgba,
                      np.full(n, size, np.float32), Legend())


def colormap_lut(name: str, levels: int = 256) -> np.ndarray:
    return pg.colormap.get(name).getLookupTable(0.0, 1.0, levels, alpha=True).astype(np.uint8)


def compute_style(labels, colors: Sequence, mode: str = "label", values=None, predicted=None,
                  names: Sequence[str] | None = None) -> PointStyle:
    """The per-point style of ``mode`` (see ``LatentView.set_style``)."""
    if mode not in MODES:
        raise ValueError(f"unknown colouring {mode!r}; choose one of {', '.join(MODES)}")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array, got shape {labels.shape}")
    labels = labels.astype(np.int64, copy=False)
    n = len(labels)
    k = len(colors)
    if n and labels.max(initial=-1) >= k:
        raise ValueError(f"label {int(labels.max())} has no colour: {k} colours given")
    names = list(names) if names is not None else [f"class {i}" for i in range(k)]
    if len(names) < k:
        names += [f"class {i}" for i in range(len(names), k)]
    class_rgba = [to_rgba(c, 255) for c in colors]
    labeled = labels >= 0

    # Symbols: [unlabeled grey, labeled per class ...] then mode-specific ones.
    small = unlabeled_size(n)
    grey = unlabeled_symbol(UNLABELED_RGBA, small)
    symbols: list[Symbol] = [grey] + [labeled_symbol(c) for c in class_rgba]
    ids = np.zeros(n, np.int32)
    ids[labeled] = 1 + labels[labeled]
    legend = Legend()

    if mode == "label":
        legend = Legend("", [(names[i], symbols[1 + i]) for i in range(k)] + [("unlabeled", UNLABELED)])
    elif mode == "prediction":
        if predicted is None:
            raise ValueError("mode 'prediction' needs the predicted classes")
        pred = np.asarray(predicted).astype(np.int64, copy=False)
        if pred.shape != (n,):
            raise ValueError(f"predicted must have shape ({n},), got {pred.shape}")
        if n and pred.max(initial=-1) >= k:
            raise ValueError(f"predicted class {int(pred.max())} has no colour: {k} colours given")
        base = len(symbols)
        symbols += [unlabeled_symbol(c[:3] + (200,), small) for c in class_rgba]
        un = ~labeled & (pred >= 0)
        ids[un] = base + pred[un]
        legend = Legend("predicted class", [(names[i], symbols[base + i]) for i in range(k)]
                        + [("labeled (true class)", labeled_symbol((255, 255, 255, 255)))])
    else:
        if values is None:
            raise ValueError(f"mode {mode!r} needs values")
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (n,):
            raise ValueError(f"values must have shape ({n},), got {v.shape}")
        finite = np.isfinite(v)
        if mode == "confidence":
            lo, hi = 0.0, 1.0
        else:
            fv = v[finite]
            lo = float(fv.min()) if fv.size else 0.0
            hi = float(np.percentile(fv, 99)) if fv.size else 1.0
            if hi <= lo:
                hi = lo + 1.0
        lut = colormap_lut(COLORMAPS[mode], COLOR_LEVELS)
        level = np.zeros(n, np.int64)
        level[finite] = np.clip(((v[finite] - lo) / (hi - lo) * COLOR_LEVELS).astype(np.int64),
                                0, COLOR_LEVELS - 1)
        base_u = len(symbols)
        symbols += [unlabeled_symbol(tuple(int(c) for c in lut[i, :3]) + (210,), small)
                    for i in range(COLOR_LEVELS)]
        base_l = len(symbols)
        symbols += [labeled_symbol(tuple(int(c) for c in lut[i, :3]) + (255,)) for i in range(COLOR_LEVELS)]
        ids[:] = 0
        ids[finite & ~labeled] = base_u + level[finite & ~labeled]
        ids[finite & labeled] = base_l + level[finite & labeled]
        ids[~finite & labeled] = 1 + labels[~finite & labeled]
        legend = Legend(mode, [("labeled", labeled_symbol((255, 255, 255, 255)))],
                        colormap_lut(COLORMAPS[mode]), lo, hi, clipped_high=mode == "error")

    order = None
    if labeled.any():
        order = np.argsort(labeled, kind="stable").astype(np.int64)
    table_rgba = np.array([s.fill if s.fill else (0, 0, 0, 0) for s in symbols], np.float32) / 255.0
    table_size = np.array([-s.size if s.outline else s.size for s in symbols], np.float32)
    return PointStyle(n, symbols, ids, order, table_rgba[ids], table_size[ids], legend)


# --------------------------------------------------------------------------- painting


def symbol_polygon(shape: str, size: float, x: float = 0.0, y: float = 0.0) -> QtGui.QPolygonF | None:
    """The outline of a polygonal marker centred at (x, y); None for round ones."""
    r = size / 2.0
    if shape in ("o", "ring"):
        return None
    if shape == "d":
        pts = [(0, -r), (r, 0), (0, r), (-r, 0)]
    elif shape == "star":
        pts = []
        for i in range(10):
            a = math.pi / 5 * i - math.pi / 2
            rr = r if i % 2 == 0 else r * 0.45
            pts.append((rr * math.cos(a), rr * math.sin(a)))
    else:
        raise ValueError(f"unknown marker shape {shape!r}")
    return QtGui.QPolygonF([QtCore.QPointF(x + px, y + py) for px, py in pts])


def draw_symbol(p: QtGui.QPainter, sym: Symbol, x: float = 0.0, y: float = 0.0, scale: float = 1.0) -> None:
    """Paint ``sym`` centred at (x, y) in the painter's current coordinates.

    Uses ellipse and polygon primitives (not paths): they become <circle>/<polygon> in SVG,
    which pyqtgraph's SVG exporter passes through unchanged.
    """
    poly = symbol_polygon(sym.shape, sym.size * scale, x, y)
    r = sym.size * scale / 2.0
    center = QtCore.QPointF(x, y)

    def shape():
        if poly is None:
            p.drawEllipse(center, r, r)
        else:
            p.drawPolygon(poly)

    if sym.halo is not None and sym.halo_width > 0:
        p.setPen(QtGui.QPen(QtGui.QColor(*sym.halo), sym.halo_width * scale))
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        shape()
    p.setBrush(QtGui.QColor(*sym.fill) if sym.fill else QtCore.Qt.BrushStyle.NoBrush)
    if sym.outline is not None and sym.outline_width > 0:
        p.setPen(QtGui.QPen(QtGui.QColor(*sym.outline), sym.outline_width * scale))
    else:
        p.setPen(QtCore.Qt.PenStyle.NoPen)
    shape()


_PAD = 6.0
_ROW = 18.0
_BAR_W, _BAR_H = 14.0, 110.0


def _legend_colors():
    bg = pg.mkColor(pg.getConfigOption("background"))
    fg = pg.mkColor(pg.getConfigOption("foreground"))
    bg.setAlpha(200)
    return bg, fg


def _high_label(legend: Legend) -> str:
    return ("≥ " if legend.clipped_high else "") + f"{legend.hi:.3g}"


def legend_size(legend: Legend, font: QtGui.QFont) -> QtCore.QSizeF:
    if legend.empty:
        return QtCore.QSizeF(0, 0)
    fm = QtGui.QFontMetricsF(font)
    w = fm.horizontalAdvance(legend.title) if legend.title else 0.0
    h = _ROW if legend.title else 0.0
    for name, _ in legend.entries:
        w = max(w, _ROW + fm.horizontalAdvance(name))
        h += _ROW
    if legend.lut is not None:
        labels = [_high_label(legend), f"{legend.lo:.3g}"]
        w = max(w, _BAR_W + 6 + max(fm.horizontalAdvance(s) for s in labels))
        h += _BAR_H + 4
    return QtCore.QSizeF(w + 2 * _PAD, h + 2 * _PAD)


def paint_legend(p: QtGui.QPainter, legend: Legend, origin: QtCore.QPointF, font: QtGui.QFont) -> None:
    """Paint the legend with its top-left corner at ``origin`` (device-independent px)."""
    if legend.empty:
        return
    size = legend_size(legend, font)
    bg, fg = _legend_colors()
    p.save()
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
    p.setFont(font)
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(bg)
    p.drawRect(QtCore.QRectF(origin, size))
    fm = QtGui.QFontMetricsF(font)
    x, y = origin.x() + _PAD, origin.y() + _PAD
    baseline = (_ROW + fm.ascent() - fm.descent()) / 2
    if legend.title:
        p.setPen(fg)
        p.drawText(QtCore.QPointF(x, y + baseline), legend.title)
        y += _ROW
    for name, sym in legend.entries:
        shown = Symbol(sym.shape, min(sym.size, 11.0), sym.fill, sym.outline, sym.outline_width)
        draw_symbol(p, shown, x + _ROW / 2 - 2, y + _ROW / 2)
        p.setPen(fg)
        p.drawText(QtCore.QPointF(x + _ROW, y + baseline), name)
        y += _ROW
    if legend.lut is not None:
        img = QtGui.QImage(1, len(legend.lut), QtGui.QImage.Format.Format_RGBA8888)
        for i, c in enumerate(legend.lut[::-1]):
            img.setPixelColor(0, i, QtGui.QColor(int(c[0]), int(c[1]), int(c[2]), 255))
        bar = QtCore.QRectF(x, y + 2, _BAR_W, _BAR_H)
        p.drawImage(bar, img)
        p.setPen(fg)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.drawRect(bar)
        p.drawText(QtCore.QPointF(x + _BAR_W + 6, y + 2 + fm.ascent()), _high_label(legend))
        p.drawText(QtCore.QPointF(x + _BAR_W + 6, y + 2 + _BAR_H), f"{legend.lo:.3g}")
    p.restore()
