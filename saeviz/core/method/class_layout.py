"""Class-distance presets and where MDS puts the class targets for a distance matrix.

``PRESETS`` are the distance matrices offered to the user: equal distances, the paper's
decompositions (MNIST A=(0,1,9), B=(4,6,8), C=(2,3,5,7); Fashion-MNIST summer / winter /
all-year) with a distance of 1 between classes, and a seasons variant with all-year fashion
halfway between summer and winter.

``class_layout`` is what structuring does to the class points, on the K points alone: the
class-level SMACOF of ``saeviz.core.method.mds`` (weights ``n_a n_b`` from the label counts),
started from classical MDS, in the latent dimension. It also gives the achieved distances, the
raw and normalised stress, and the layout in its two principal directions for display. For K
classes it is a K-point problem (milliseconds for twenty classes).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

from saeviz.core.data.digits import DECOMPOSITIONS
from saeviz.core.method.mds import classical_mds, smacof_class_level

__all__ = ["Preset", "PRESETS", "Layout", "class_layout", "seasons_between"]


@dataclass(frozen=True)
class Preset:
    """A named class-distance preset.

    ``names`` are the classes it is made for (None: the current classes, whatever they are),
    ``distances`` its matrix (None: equal distances of 1), ``decomposition`` the key in
    ``DECOMPOSITIONS`` that sets up its classes from the ten base classes.
    """

    key: str
    text: str
    names: tuple[str, ...] | None
    distances: np.ndarray | None
    decomposition: str | None = None


def seasons_between() -> np.ndarray:
    """Distances of summer, winter and all-year fashion, all-year halfway between the seasons."""
    return np.array([[0.0, 2.0, 1.0], [2.0, 0.0, 1.0], [1.0, 1.0, 0.0]])


PRESETS: tuple[Preset, ...] = (
    Preset("equal", "Equal distances (1 between all classes)", None, None),
    Preset("abc", "MNIST A=(0,1,9) B=(4,6,8) C=(2,3,5,7), equal (paper)",
           DECOMPOSITIONS["abc"].class_names, None, "abc"),
    Preset("seasons", "Fashion-MNIST summer / winter / all-year, equal (paper)",
           DECOMPOSITIONS["seasons"].class_names, None, "seasons"),
    Preset("seasons-between", "Fashion-MNIST seasons, all-year between summer and winter",
           DECOMPOSITIONS["seasons"].class_names, seasons_between(), "seasons"),
)


@dataclass(frozen=True)
class Layout:
    """Class targets for a distance matrix.

    ``positions`` (K, dim) are the MDS coordinates, ``plane`` (K, 2) the centred positions in
    their two principal directions (for display), ``achieved`` (K, K) their distances,
    ``stress`` the raw weighted stress ``sum_{a<b} w_a w_b (d_ab - D_ab)^2``,
    ``normalized_stress`` its square root relative to ``sum_{a<b} w_a w_b D_ab^2``, and
    ``seconds`` the time taken.
    """

    positions: np.ndarray
    plane: np.ndarray
    achieved: np.ndarray
    stress: float
    normalized_stress: float
    seconds: float


def _plane(X: np.ndarray) -> np.ndarray:
    """The centred rows of ``X`` in their two principal directions (zero-padded below 2-d)."""
    k = len(X)
    Xc = X - X.mean(0)
    if Xc.shape[1] >= 2 and k > 1:
        _u, _s, vt = np.linalg.svd(Xc, full_matrices=False)
        return Xc @ vt[:2].T
    plane = np.zeros((k, 2))
    plane[:, : Xc.shape[1]] = Xc[:, :2]
    return plane


def class_layout(D, counts=None, latent_dim: int = 2, max_iter: int = 300, eps: float = 1e-6) -> Layout:
    """Where MDS puts the class targets of distances ``D`` in ``latent_dim`` dimensions.

    ``counts`` are the labels per class (weights ``n_a n_b``; classes without labels count as
    one, so every class gets a place); None weighs all classes alike. The dimension is capped at
    ``K - 1``, where every distance matrix of K Euclidean points can be reached. ``max_iter``
    and ``eps`` are the SMACOF settings (training's ``MDSConfig`` by default).
    """
    t0 = time.perf_counter()
    D = np.asarray(D, np.float64)
    k = len(D)
    w = np.ones(k) if counts is None else np.maximum(np.asarray(counts, np.float64), 1.0)
    dim = max(1, min(int(latent_dim), k - 1))
    if k == 1:
        X = np.zeros((1, dim))
        stress = 0.0
    else:
        res = smacof_class_level(w, D, classical_mds(D, dim), max_iter=max_iter, eps=eps)
        X = np.asarray(res.X, np.float64)
        stress = float(res.stress)
    achieved = cdist(X, X)
    W = np.outer(w, w)
    np.fill_diagonal(W, 0)
    denom = 0.5 * float((W * D ** 2).sum())
    normalized = float(np.sqrt(stress / denom)) if denom > 0 else 0.0
    return Layout(X, _plane(X), achieved, stress, normalized, time.perf_counter() - t0)
