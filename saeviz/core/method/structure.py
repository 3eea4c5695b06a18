"""The structuring step of the SAE: where each labeled sample should sit in the latent space.

Once per epoch the trainer encodes the labeled samples and calls ``compute_targets``:

1. centre the codes ``Z`` (mean ``m``);
2. run metric MDS on the dissimilarities ``scale * Delta[c_i, c_j]``, started from the centred
   codes (``exact`` mode, every sample) or from the class means of the centred codes (``class``
   mode, one weighted point per class, see ``saeviz.core.method.mds``);
3. turn the MDS result onto the centred codes with an orthogonal map (``procrustes`` or the
   paper's variant, see ``saeviz.core.method.align``). In ``class`` mode the map is fitted to the class
   points weighted by class sizes, which is the same problem as fitting it to all samples since
   ``sum_i z_i t_{c_i}^T = sum_a n_a mu_a t_a^T``;
4. add ``m`` back.

Classes without labeled samples take no part; with fewer than two labeled classes there is
nothing to structure and a ``DataError`` says so (the trainer then trains reconstruction only).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saeviz.core.errors import DataError
from saeviz.core.method.align import paper_rotation, procrustes_rotation
from saeviz.core.method.config import MDSConfig
from saeviz.core.method.mds import smacof_class_level, smacof_exact
from saeviz.core.state.labels import validate_distances

__all__ = ["StructureTargets", "class_span", "compute_targets"]

_ALIGNERS = {"procrustes": procrustes_rotation, "paper": paper_rotation}


@dataclass(frozen=True)
class StructureTargets:
    """Targets of one structuring step.

    ``targets``: (n_l, d) float32, the desired code of each labeled sample, in the order given.
    ``class_targets``: (K, d) float32, the mean target per class; NaN rows for classes without
    labeled samples. ``stress``: raw MDS stress at the scaled distances. ``n_iter``: MDS
    iterations. ``rotation``: (d, d) orthogonal, ``targets = mds_coordinates @ rotation + m``.
    """

    targets: np.ndarray
    class_targets: np.ndarray
    stress: float
    n_iter: int
    rotation: np.ndarray


def class_span(class_targets: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """An orthonormal basis (d, r) of the directions in which the class targets differ.

    ``class_targets`` is the (K, d) array of ``StructureTargets.class_targets`` (NaN rows for
    classes without samples are left out). The span of the differences between the present
    classes' targets has rank ``r <= K - 1``; a code's offset from its target orthogonal to it
    changes no distance between classes. Directions whose singular value is below ``rtol``
    times the largest are dropped.
    """
    T = np.asarray(class_targets, np.float64)
    T = T[np.all(np.isfinite(T), axis=1)]
    d = T.shape[1] if T.ndim == 2 else 0
    if len(T) < 2:
        return np.zeros((d, 0))
    _, s, vt = np.linalg.svd(T - T.mean(0), full_matrices=False)
    keep = s > rtol * s[0] if s[0] > 0 else np.zeros_like(s, bool)
    return np.ascontiguousarray(vt[keep].T)


def _check_codes(codes) -> np.ndarray:
    try:
        Z = np.asarray(codes)
    except (TypeError, ValueError) as exc:
        raise DataError(f"latent codes are not numbers: {exc}") from None
    if not np.issubdtype(Z.dtype, np.number) or np.iscomplexobj(Z):
        raise DataError(f"latent codes must be real numbers, got dtype {Z.dtype}")
    if Z.ndim != 2 or Z.shape[1] < 1:
        raise DataError(f"latent codes must have shape (n, d), got {Z.shape}")
    if not np.all(np.isfinite(Z)):
        raise DataError("latent codes contain NaN or infinite values")
    return Z if Z.dtype in (np.float32, np.float64) else Z.astype(np.float32)


def compute_targets(codes, labels, class_distances, config: MDSConfig | None = None, *,
                    scale: float = 1.0, device=None) -> StructureTargets:
    """Targets for the labeled samples' codes.

    Parameters
    ----------
    codes : (n_l, d) current latent codes of the labeled samples (float32 or float64).
    labels : (n_l,) their classes, integers in ``[0, K)``.
    class_distances : (K, K) class-distance matrix.
    config : MDS settings (mode, iterations, tolerance, tile, alignment); default ``MDSConfig()``.
    scale : positive factor applied to ``class_distances``.
    device : torch device for the exact mode (default CPU). It runs in float64 for float64
        codes and in float32 otherwise; the class mode always runs in float64.
    """
    config = MDSConfig() if config is None else config
    Z = _check_codes(codes)
    n, d = Z.shape
    delta = validate_distances(class_distances)
    k = delta.shape[0]
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise DataError(f"expected {n} labels for {n} codes, got shape {lab.shape}")
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        raise DataError("labels must be integer class indices")
    lab = lab.astype(np.int64)
    if lab.size and (lab.min() < 0 or lab.max() >= k):
        raise DataError(f"labels must lie in 0..{k - 1} (pass the labeled samples only)")
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise DataError(f"scale must be a positive number, got {scale}")
    counts = np.bincount(lab, minlength=k)
    present = np.flatnonzero(counts)
    if present.size < 2:
        raise DataError("structuring needs labeled samples of at least two classes; "
                        f"{'no class has' if present.size == 0 else 'only one class has'} any")
    align = _ALIGNERS[config.alignment]

    mean = Z.mean(0, dtype=np.float64)
    Zc = Z - mean.astype(Z.dtype)
    Zc64 = Zc.astype(np.float64)
    if config.mode == "exact":
        result = smacof_exact(lab, delta * scale, Zc, max_iter=config.max_iter, eps=config.eps,
                              tile=config.tile, device=device)
        mds = result.X.astype(np.float64)
        rotation = align(mds, Zc64)
        targets = mds @ rotation + mean
        sums = np.zeros((k, d))
        np.add.at(sums, lab, targets)
        with np.errstate(invalid="ignore", divide="ignore"):
            class_targets = sums / counts[:, None]
    else:
        class_means = np.full((k, d), np.nan)
        sums = np.zeros((k, d))
        np.add.at(sums, lab, Zc64)
        class_means[present] = sums[present] / counts[present, None]
        result = smacof_class_level(counts, delta * scale, class_means,
                                    max_iter=config.max_iter, eps=config.eps)
        rotation = align(result.X[present], class_means[present], weights=counts[present])
        class_targets = result.X @ rotation + mean
        targets = class_targets[lab]
    return StructureTargets(
        targets=np.ascontiguousarray(targets, dtype=np.float32),
        class_targets=class_targets.astype(np.float32),
        stress=float(result.stress),
        n_iter=int(result.n_iter),
        rotation=rotation,
    )
