"""How latent points are painted: symbols, the legend, and the colours of pyqtgraph.

The styles themselves (``Symbol``, ``PointStyle``, ``Legend`` and how labels, predictions or
values become them) are ``saeviz.core.display.point_style``; ``compute_style`` feeds it class
colours in any form Qt reads and pyqtgraph's colormaps. The painting functions draw symbols
and legends with QPainter, for the 2D view, the 3D view's overlay and exported images.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from saeviz.core.display.point_style import (  # noqa: F401 - the views read the styles from here
    ANCHOR_SIZE,
    HIGHLIGHT,
    HIGHLIGHT_RGBA,
    HIGHLIGHT_SIZE,
    MODES,
    RGBA,
    SELECTION,
    SELECTION_RGBA,
    SELECTION_SIZE,
    UNLABELED_RGBA,
    Legend,
    PointStyle,
    Symbol,
    anchor_symbol,
    default_style,
    point_style,
)


def to_rgba(color, alpha: int | None = None) -> RGBA:
    """Any colour pyqtgraph understands (``"#rrggbb"``, a name, a tuple, a QColor) as RGBA."""
    c = pg.mkColor(color)
    return (c.red(), c.green(), c.blue(), c.alpha() if alpha is None else int(alpha))


def colormap_lut(name: str, levels: int = 256) -> np.ndarray:
    """The (levels, 4) uint8 lookup table of pyqtgraph's colormap ``name``, low to high."""
    return pg.colormap.get(name).getLookupTable(0.0, 1.0, levels, alpha=True).astype(np.uint8)


def compute_style(labels, colors: Sequence, mode: str = "label", values=None, predicted=None,
                  names: Sequence[str] | None = None) -> PointStyle:
    """The per-point style of ``mode`` (see ``LatentView.set_style``): ``point_style`` with the
    class ``colors`` in any form ``to_rgba`` reads and pyqtgraph's colormaps."""
    if mode not in MODES:
        raise ValueError(f"unknown colouring {mode!r}; choose one of {', '.join(MODES)}")
    return point_style(labels, [to_rgba(c, 255) for c in colors], mode, values, predicted, names,
                       colormap=colormap_lut)


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
