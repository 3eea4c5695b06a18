"""Small 8-bit pictures of samples, made with numpy alone (on worker threads).

Images become grayscale thumbnails (block-averaged when large), meshes a front-view
silhouette of their vertices, vectors a curve of their values against the feature index.
``gray8`` maps values to grey levels for every picture of an image sample in the app.
"""
from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict

import numpy as np

__all__ = ["SPARK", "ThumbnailCache", "gray8", "image_thumbnail", "mesh_axes", "mesh_silhouette", "thumbnails",
           "value_range", "vector_sparkline"]

SPARK = 48  # edge of the silhouettes of meshes and the curves of vectors


def gray8(a, lo: float, hi: float) -> np.ndarray:
    """``a`` mapped linearly from ``[lo, hi]`` to 0..255 (clipped), as a contiguous uint8 array;
    an empty range counts as one unit wide."""
    span = hi - lo if hi > lo else 1.0
    u8 = np.clip((np.asarray(a, np.float64) - lo) / span * 255.0, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(u8)


def value_range(X: np.ndarray, n: int = 2000) -> tuple[float, float]:
    """The grey-level range of the first ``n`` samples (as the inspector shows them)."""
    head = np.asarray(X[: min(len(X), n)])
    lo, hi = float(head.min()), float(head.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def image_thumbnail(a: np.ndarray, lo: float, hi: float, max_edge: int = 64) -> np.ndarray:
    """An 8-bit image of a 2-D sample; images larger than ``max_edge`` are block-averaged."""
    a = np.asarray(a, np.float64)
    step = max(1, math.ceil(max(a.shape) / max_edge))
    if step > 1:
        h, w = (a.shape[0] // step) * step, (a.shape[1] // step) * step
        a = a[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))
    return gray8(a, lo, hi)


def mesh_axes(V: np.ndarray) -> tuple[int, int]:
    """(horizontal, up) vertex axes of a front view: up is the longer of y and z, horizontal
    the longer of the remaining two."""
    ext = np.ptp(V.reshape(-1, 3), axis=0)
    up = 1 if ext[1] >= ext[2] else 2
    other = 2 if up == 1 else 1
    return (0 if ext[0] >= ext[other] else other), up


def mesh_silhouette(V: np.ndarray, size: int = SPARK, axes: tuple[int, int] | None = None) -> np.ndarray:
    """A front view of a mesh's vertices as an 8-bit density image of ``size`` x ``size``."""
    V = np.asarray(V, np.float64).reshape(-1, 3)
    h_ax, up_ax = axes if axes is not None else mesh_axes(V)
    x, y = V[:, h_ax], V[:, up_ax]
    cx, cy = 0.5 * (x.min() + x.max()), 0.5 * (y.min() + y.max())
    half = 0.53 * max(np.ptp(x), np.ptp(y), 1e-12)
    ix = np.clip(((x - cx + half) / (2 * half) * size).astype(np.int64), 0, size - 1)
    iy = np.clip(((cy + half - y) / (2 * half) * size).astype(np.int64), 0, size - 1)
    counts = np.bincount(iy * size + ix, minlength=size * size).reshape(size, size).astype(np.float64)
    # a 3 x 3 maximum closes the gaps between vertices of a coarse mesh
    padded = np.pad(counts, 1)
    grown = np.max([padded[i:i + size, j:j + size] for i in range(3) for j in range(3)], axis=0)
    filled = grown[grown > 0]
    top = float(np.percentile(filled, 90)) if filled.size else 1.0
    return np.ascontiguousarray(np.clip(grown / max(top, 1e-12), 0, 1) ** 0.5 * 255).astype(np.uint8)


def vector_sparkline(v: np.ndarray, lo: float, hi: float, size: int = SPARK) -> np.ndarray:
    """A vector sample as an 8-bit picture of its values against the feature index."""
    v = np.asarray(v, np.float64).ravel()
    edges = np.linspace(0, len(v), min(size, len(v)) + 1).astype(np.int64)
    cols = np.add.reduceat(v, edges[:-1]) / np.maximum(np.diff(edges), 1)
    x = np.linspace(0, size - 1, len(cols)).round().astype(np.int64)
    y = np.clip(((hi - cols) / (hi - lo) * (size - 1)).round().astype(np.int64), 0, size - 1)
    img = np.zeros((size, size), np.uint8)
    img[y, x] = 255
    for a, b, ya, yb in zip(x[:-1], x[1:], y[:-1], y[1:]):  # join neighbouring columns
        lo_y, hi_y = min(ya, yb), max(ya, yb)
        img[lo_y:hi_y + 1, a:b + 1] = np.maximum(img[lo_y:hi_y + 1, a:b + 1], 200)
    return img


def thumbnails(X: np.ndarray, indices: np.ndarray, kind: str, lo: float, hi: float,
               mesh_view: tuple[int, int] | None = None) -> tuple[np.ndarray, ...]:
    """One 8-bit picture per sample of ``indices``: the image, a mesh silhouette or a curve."""
    out = []
    for i in np.asarray(indices, np.int64):
        x = X[int(i)]
        if kind == "image":
            out.append(image_thumbnail(x, lo, hi))
        elif kind == "mesh":
            out.append(mesh_silhouette(x, axes=mesh_view))
        else:
            out.append(vector_sparkline(x, lo, hi))
    return tuple(out)


class ThumbnailCache:
    """The thumbnails of one sample array, each made once.

    A thumbnail depends on its sample alone (and on the grey range and view), not on the
    model, so the candidates that change with every epoch mostly find theirs here. The cache
    follows one array (held weakly: a new dataset starts it afresh) and keeps at most
    ``max_items`` pictures, the least recently used going first. Safe to use from any thread.
    """

    def __init__(self, max_items: int = 2048):
        self.max_items = int(max_items)
        self._lock = threading.Lock()
        self._of = None
        self._key: tuple = ()
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()

    def get(self, X: np.ndarray, indices, kind: str, lo: float, hi: float,
            mesh_view: tuple[int, int] | None = None) -> tuple[np.ndarray, ...]:
        """``thumbnails(X, indices, kind, lo, hi, mesh_view)``, from the cache where it can."""
        key = (tuple(X.shape), kind, float(lo), float(hi), mesh_view)
        indices = [int(i) for i in np.asarray(indices, np.int64)]
        with self._lock:
            if self._of is None or self._of() is not X or self._key != key:
                self._of, self._key = weakref.ref(X), key
                self._items = OrderedDict()
            items = self._items
            have = {i: items[i] for i in indices if i in items}
            for i in have:
                items.move_to_end(i)
        missing = [i for i in dict.fromkeys(indices) if i not in have]
        made = dict(zip(missing, thumbnails(X, np.asarray(missing, np.int64), kind, lo, hi, mesh_view)))
        with self._lock:
            if self._items is items:
                items.update(made)
                while len(items) > self.max_items:
                    items.popitem(last=False)
        have.update(made)
        return tuple(have[i] for i in indices)
