"""Orthogonal maps that turn an MDS configuration towards the current latent codes.

MDS fixes the targets only up to a rotation or reflection (and translation). The structuring
step picks the orthogonal ``R`` that brings the MDS result ``S`` (rows are samples, centred)
closest to the current centred codes ``T``, so that the targets move the codes as little as
possible. Both functions return ``R`` (d x d, orthogonal) to be applied as ``S @ R``.

``procrustes_rotation`` solves the orthogonal Procrustes problem (Schoenemann, 1966):
``min ||S R - T||_F`` over orthogonal ``R`` is attained at ``R = U V^T`` for the SVD
``S^T T = U Sigma V^T``, i.e. the orthogonal polar factor of ``S^T T``.

``paper_rotation`` follows the paper literally. In its column notation (``Z = P Z*``) it takes
the least-squares linear map ``P* = Z Z*^+`` with the Moore-Penrose pseudo-inverse and replaces
its singular values by 1. Since ``Z*^+ = Z*^T (Z* Z*^T)^-1`` when ``Z*`` has full row rank,
``P* = (Z Z*^T)(Z* Z*^T)^-1``: the polar factor of Procrustes' ``Z Z*^T`` after a
right-multiplication by ``(Z* Z*^T)^-1``. In row notation this is ``M = S^+ T =
(S^T S)^-1 S^T T`` and ``R = polar(M)``. The two rotations coincide when ``S^T S`` is a
multiple of the identity (an isotropic configuration) and whenever the codes are an exact
rotation of the configuration (``T = S R``, then ``M = R``); otherwise the paper's ``R`` is
not the best rotation, because it polarises the best *linear* fit rather than solving the
orthogonal problem. For a rank-deficient ``S`` (fewer independent classes than dimensions)
both maps are unique only on the span of ``S``; every completion gives the same ``S @ R``.

Both accept per-row weights ``w`` (minimising ``sum_i w_i ||s_i R - t_i||^2``), which lets a
configuration of class points with weights equal to class sizes stand for all samples. Inputs
are used as given: the rotation is about the origin, so centre them first.
"""
from __future__ import annotations

import numpy as np

from saeviz.core.errors import DataError

__all__ = ["procrustes_rotation", "paper_rotation"]


def _check(source, target, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        S = np.asarray(source, dtype=np.float64)
        T = np.asarray(target, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"configurations to align are not numbers: {exc}") from None
    if S.ndim != 2 or S.shape[0] < 1 or S.shape[1] < 1:
        raise DataError(f"source must have shape (n, d), got {S.shape}")
    if T.shape != S.shape:
        raise DataError(f"source {S.shape} and target {T.shape} must have the same shape")
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(T))):
        raise DataError("configurations to align contain NaN or infinite values")
    if weights is None:
        return S, T, None
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"weights are not numbers: {exc}") from None
    if w.shape != (S.shape[0],):
        raise DataError(f"expected {S.shape[0]} weights, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise DataError("weights must be finite, non-negative and not all zero")
    return S, T, w


def _polar(M: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(M)
    return U @ Vt


def procrustes_rotation(source, target, weights=None) -> np.ndarray:
    """Orthogonal ``R`` minimising ``sum_i w_i ||source_i @ R - target_i||^2`` (Schoenemann).

    ``source`` and ``target`` are (n, d) arrays; ``R`` may be a reflection (det -1) when that
    fits better. Returns a float64 (d, d) array.
    """
    S, T, w = _check(source, target, weights)
    if w is not None:
        T = T * w[:, None]
    return _polar(S.T @ T)


def paper_rotation(source, target, weights=None) -> np.ndarray:
    """The paper's ``R``: the least-squares map ``source^+ @ target`` with unit singular values.

    With weights the map is the weighted least-squares fit ``(S^T W S)^+ S^T W T``. Returns a
    float64 (d, d) orthogonal array; see the module docstring for how it differs from
    ``procrustes_rotation``.
    """
    S, T, w = _check(source, target, weights)
    if w is not None:
        root = np.sqrt(w)[:, None]
        S, T = S * root, T * root
    return _polar(np.linalg.pinv(S) @ T)
