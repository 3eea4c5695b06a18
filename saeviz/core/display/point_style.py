"""How latent points look, without drawing them: symbols, per-point styles and the legend.

``point_style`` turns labels / predictions / values into a ``PointStyle``: a small list of
distinct ``Symbol`` objects and, per point, the index of its symbol (what the 2D view draws
from one pre-rendered atlas) plus RGBA and size arrays (what the 3D view uploads). Nothing
here is per-point Python work, so restyling 60,000 points after a paint stroke takes a few
milliseconds. Colours are RGBA tuples of 0..255; named colormaps come from the caller.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["ANCHOR_SIZE", "COLORMAPS", "COLOR_LEVELS", "HALO_RGBA", "HIGHLIGHT", "HIGHLIGHT_RGBA",
           "HIGHLIGHT_SIZE", "LABELED_SIZE", "MODES", "OUTLINE_RGBA", "RGBA", "SELECTION",
           "SELECTION_RGBA", "SELECTION_SIZE", "UNLABELED", "UNLABELED_RGBA", "UNLABELED_SIZE",
           "Legend", "PointStyle", "Symbol", "anchor_symbol", "default_style", "labeled_symbol",
           "point_style", "unlabeled_size", "unlabeled_symbol"]

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
    """The outlined disc of a labeled point in colour ``rgba``."""
    return Symbol("o", LABELED_SIZE, rgba, OUTLINE_RGBA, 1.4)


def unlabeled_symbol(rgba: RGBA, size: float = UNLABELED_SIZE) -> Symbol:
    """The plain disc of an unlabeled point in colour ``rgba``."""
    return Symbol("o", size, rgba)


def anchor_symbol(rgba: RGBA) -> Symbol:
    """The haloed star of a class target (anchor) in colour ``rgba``."""
    return Symbol("star", ANCHOR_SIZE, rgba, OUTLINE_RGBA, 1.5, HALO_RGBA, 4.0)


SELECTION = Symbol("ring", SELECTION_SIZE, None, SELECTION_RGBA, 3.0, HALO_RGBA, 6.0)
HIGHLIGHT = Symbol("ring", HIGHLIGHT_SIZE, None, HIGHLIGHT_RGBA, 2.0, HALO_RGBA, 5.0)


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
        """True when the legend has neither entries nor a colour scale."""
        return not self.entries and self.lut is None


@dataclass
class PointStyle:
    """Per-point appearance for ``n`` points.

    ``rgba`` and ``size`` (what the 3D view uploads) are looked up from the symbols when first
    read; ``rgba_at(rows)`` and ``size_at(rows)`` give those of some points only.
    """

    n: int
    symbols: list[Symbol]
    ids: np.ndarray  # (n,) int32 index into symbols
    order: np.ndarray | None  # draw order (unlabeled first) or None for 0..n-1
    legend: Legend

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        rgba = np.array([s.fill if s.fill else (0, 0, 0, 0) for s in self.symbols], np.float32).reshape(-1, 4)
        size = np.array([-s.size if s.outline else s.size for s in self.symbols], np.float32)
        return rgba / 255.0, size

    @cached_property
    def rgba(self) -> np.ndarray:
        """(n, 4) float32 colours in 0..1 (3D)."""
        return self.rgba_at(None)

    @cached_property
    def size(self) -> np.ndarray:
        """(n,) float32 sizes in px, negative for outlined points (3D)."""
        return self.size_at(None)

    def rgba_at(self, rows: np.ndarray | None) -> np.ndarray:
        """The colours of the points ``rows`` (all when None)."""
        return self._tables()[0][self.ids if rows is None else self.ids[rows]]

    def size_at(self, rows: np.ndarray | None) -> np.ndarray:
        """The sizes of the points ``rows`` (all when None)."""
        return self._tables()[1][self.ids if rows is None else self.ids[rows]]


def default_style(n: int) -> PointStyle:
    """Every one of ``n`` points unlabeled grey, no legend."""
    return PointStyle(n, [unlabeled_symbol(UNLABELED_RGBA, unlabeled_size(n))], np.zeros(n, np.int32), None,
                      Legend())


def point_style(labels, class_rgba: Sequence, mode: str = "label", values=None, predicted=None,
                names: Sequence[str] | None = None,
                colormap: Callable[[str, int], np.ndarray] | None = None) -> PointStyle:
    """The per-point style of ``mode`` for ``labels`` (-1 unlabeled).

    ``class_rgba`` holds one colour per class (RGB or RGBA, 0..255; drawn opaque), ``names``
    their legend names (``class i`` for missing ones). ``prediction`` colours unlabeled points
    by ``predicted`` class; ``confidence`` and ``error`` colour points by ``values`` through
    ``colormap(name, levels)``, which returns an (levels, 4) uint8 lookup table of a named
    colormap (``COLORMAPS``), low to high. Raises ValueError for inputs that do not fit.
    """
    if mode not in MODES:
        raise ValueError(f"unknown colouring {mode!r}; choose one of {', '.join(MODES)}")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array, got shape {labels.shape}")
    labels = labels.astype(np.int64, copy=False)
    n = len(labels)
    k = len(class_rgba)
    if n and labels.max(initial=-1) >= k:
        raise ValueError(f"label {int(labels.max())} has no colour: {k} colours given")
    names = list(names) if names is not None else [f"class {i}" for i in range(k)]
    if len(names) < k:
        names += [f"class {i}" for i in range(len(names), k)]
    class_rgba = [tuple(int(v) for v in c[:3]) + (255,) for c in class_rgba]
    labeled = labels >= 0

    # Symbols: [unlabeled grey, labeled per class ...] then mode-specific ones.
    small = unlabeled_size(n)
    grey = unlabeled_symbol(UNLABELED_RGBA, small)
    symbols: list[Symbol] = [grey] + [labeled_symbol(c) for c in class_rgba]
    ids = np.maximum(labels, -1).astype(np.int32)  # unlabeled (any negative) -> 0, class c -> 1 + c
    ids += 1
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
        if colormap is None:
            raise ValueError(f"mode {mode!r} needs a colormap")
        finite = np.isfinite(v)
        if mode == "confidence":
            lo, hi = 0.0, 1.0
        else:
            fv = v[finite]
            lo = float(fv.min()) if fv.size else 0.0
            hi = float(np.percentile(fv, 99)) if fv.size else 1.0
            if hi <= lo:
                hi = lo + 1.0
        lut = np.asarray(colormap(COLORMAPS[mode], COLOR_LEVELS), np.uint8)
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
                        np.asarray(colormap(COLORMAPS[mode], 256), np.uint8), lo, hi,
                        clipped_high=mode == "error")

    order = None
    k_labeled = int(np.count_nonzero(labeled))
    if k_labeled:  # unlabeled first, then labeled, each in index order (a stable sort)
        order = np.empty(n, np.int64)
        order[n - k_labeled:] = np.flatnonzero(labeled)
        order[:n - k_labeled] = np.flatnonzero(~labeled)
    return PointStyle(n, symbols, ids, order, legend)
