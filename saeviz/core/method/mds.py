"""Metric SMACOF for dissimilarities that depend only on the classes of the two samples.

The structuring step of the SAE embeds the labeled samples so that the distance between
samples ``i`` and ``j`` approaches ``Delta[c_i, c_j]``, a K x K class-distance matrix with a
zero diagonal. Two solvers are offered.

``smacof_exact``
    SMACOF over every sample, with the semantics of
    ``sklearn.manifold.smacof(D, metric=True, init=init, n_init=1, normalized_stress=False)``
    for ``D[i, j] = Delta[c_i, c_j]``: each iteration applies the Guttman transform
    ``X <- B(X) X / N`` (``B_ij = -D_ij / d_ij`` off the diagonal, zero row sums), then
    evaluates the raw stress ``sum_{i<j} (d_ij - D_ij)^2`` of the new ``X`` and stops when
    ``(previous stress - stress) / sum_{i<j} d_ij^2 < eps``. It returns the last ``X``, its
    stress and the number of iterations, as scikit-learn does.

    The N x N matrix is never formed. Samples are sorted by class once; pairs within a class
    have ``D_ij = 0`` and add nothing to ``B(X) X``, so only blocks whose rows belong to one
    class ``a`` and whose columns belong to the classes after it are visited, each of at most
    ``tile^2`` pairs (wider than ``tile`` when class ``a`` is small, so that small classes
    need few calls), and each block serves both its rows and its columns (``B`` is
    symmetric). Per block: one matrix product gives the squared distances (``[x, |x|^2, 1]``
    against ``[-2x, 1, |x|^2]``), an in-place clamp and ``rsqrt`` turn them into ``1 / d``,
    and one product with ``[x, |x|^2, 1]`` scaled by the column weights ``Delta[a, c_j]``
    accumulates, per sample, ``sum_j D_ij x_j / d_ij``, ``sum_j D_ij |x_j|^2 / d_ij`` and
    ``sum_j D_ij / d_ij`` (the columns get theirs from one more product). From these come the
    Guttman transform and ``sum_j D_ij d_ij`` (hence the stress); the sum of all squared
    distances is ``N sum_i |x_i - mean|^2``. One pass over the pairs thus yields the stress
    of the current ``X`` and the next ``X``. Memory is O(N (d + K) + tile^2).

    Pairs closer than ``1e-5`` are treated as ``1e-5`` apart (scikit-learn replaces exact
    zeros by ``1e-5``); otherwise the iterates agree with scikit-learn to rounding. Block
    products are summed in float64 whatever the working dtype. The stress used by the stopping
    test is ``sum d^2 - 2 sum D d + sum D^2``; in float32 it carries an absolute error of about
    1e-7 of ``sum D^2``, below the default ``eps``. The stress returned is evaluated once more
    at the end term by term, ``sum (d - D)^2``, and stays accurate when it is small.

``smacof_class_level``
    The fast mode: weighted SMACOF on the K class points with weights ``w_ab = n_a n_b``,
    which is exact SMACOF restricted to configurations where every sample sits on its class
    point (the Guttman transform of such a configuration is again of that form, and
    ``V^+ B(Y) Y`` reduces to ``diag(n)^-1 B(Y) Y / N``). Its stress is the sample-level
    stress of that configuration, so both solvers report comparable numbers.

How do the two relate? Started from collapsed classes (every sample on its class point), the
exact iterates are the class-level iterates, with the same stresses and iteration count. From
any other start the exact mode first has to pull each class together: linearising the Guttman
transform around collapsed classes ``Y``, the spread ``f_i`` of a sample of class ``a`` around
its class point evolves as ``f <- M_a f / N`` with

    ``M_a = sum_{b != a} n_b (Delta_ab / d_ab) (I - u_ab u_ab^T)``,  ``u_ab = (y_a - y_b) / d_ab``,

and the stress grows along such a split by ``f^T (N I - M_a) f``, while moving class ``a`` as a
whole changes the class-level stress by ``m^T ((N - n_a) I - M_a) m`` per sample.
``collapse_rates`` returns ``rho_a = lambda_max(M_a) / N``. At a local minimum of the
class-level stress the second form is positive semi-definite, hence
``rho_a <= 1 - n_a / N < 1``: every class-level local minimum is also a local minimum of the
sample-level stress, the spread decays by at least ``rho`` per iteration, and both modes report
the same stress there. They differ only when they end in different local minima. With
``d >= K - 1`` (K the classes present) the class-level stress is a convex function of the Gram
matrix of the class points over all of its values, so every local minimum is global and the two
modes agree at convergence for any ``Delta``. With fewer dimensions there can be several
minima (ten equidistant classes in two dimensions have minima about 1% apart in stress), and
a run of either mode lands in the one its start leads to.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.distance import cdist

from saeviz.core.errors import DataError
from saeviz.core.state.labels import validate_distances

MIN_DISTANCE = 1e-5  # distances below this are replaced by it in the Guttman transform

__all__ = ["MDSResult", "smacof_exact", "smacof_class_level", "collapse_rates", "stress_of",
           "classical_mds"]


@dataclass(frozen=True)
class MDSResult:
    """Coordinates, raw stress (``sum_{i<j} (d_ij - D_ij)^2``) and iterations run."""

    X: np.ndarray
    stress: float
    n_iter: int


# -- validation ------------------------------------------------------------------------------

def _check_labels(labels, k: int, n: int | None = None) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise DataError(f"labels must be a 1-d array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise DataError(f"{arr.shape[0]} labels for {n} samples")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) \
                or np.any(arr != np.round(arr)):
            raise DataError("labels must be integer class indices")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= k)
    if np.any(bad):
        raise DataError(f"{int(bad.sum())} labels are outside the classes 0..{k - 1} "
                        "(pass the labeled samples only)")
    return arr


def _positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise DataError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_iterations(max_iter, eps) -> tuple[int, float]:
    max_iter = _positive_int(max_iter, "max_iter")
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise DataError(f"eps must be a number, got {eps!r}") from None
    if np.isnan(eps):
        raise DataError("eps must be a number, got NaN")
    return max_iter, eps


def _present_classes(counts: np.ndarray) -> np.ndarray:
    present = np.flatnonzero(counts > 0)
    if present.size < 2:
        raise DataError(f"MDS needs labeled samples of at least two classes, got {present.size}")
    return present


def _torch_dtype(dtype, default: torch.dtype) -> torch.dtype:
    if dtype is None:
        return default
    if isinstance(dtype, torch.dtype):
        out = dtype
    else:
        try:
            out = {np.dtype(np.float32): torch.float32,
                   np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
        except (TypeError, KeyError):
            raise DataError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if out not in (torch.float32, torch.float64):
        raise DataError(f"dtype must be float32 or float64, got {dtype!r}")
    return out


def _stop(old_stress: float | None, stress: float, half_sum_sq: float, eps: float) -> bool:
    """scikit-learn's test, including its NaN/inf behaviour when all points coincide."""
    if old_stress is None:
        return False
    with np.errstate(divide="ignore", invalid="ignore"):
        return bool(np.float64(old_stress - stress) / np.float64(half_sum_sq) < eps)


# -- exact (sample-level) SMACOF ---------------------------------------------------------------

_MAX_WIDTH_TILES = 16  # a block is at most tile x (16 tile) pairs, and tile^2 in all


def _block_layout(counts: np.ndarray, delta: np.ndarray, tile: int):
    """Blocks ``(p0, p1, q0, q1, a)``: rows ``p0:p1`` of class ``a``, columns ``q0:q1`` after it.

    Samples are sorted by class, so the classes after ``a`` occupy ``bounds[a + 1]:N`` and a
    block's columns may span several of them. Rows come in tiles of at most ``tile``; columns
    in chunks of ``tile^2 / rows`` (so small classes get wide blocks and few calls). Classes
    whose distances to all later classes are 0 get no blocks. Returns the blocks, the first
    column of each class's blocks, and ``covered[a, b]``: the pair of classes is in a block.
    """
    k = len(counts)
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    n = int(bounds[-1])
    blocks, col_start = [], np.full(k, n)
    covered = np.zeros((k, k), dtype=bool)
    for a in range(k):
        later = [b for b in range(a + 1, k) if counts[b] and delta[a, b] != 0]
        if counts[a] == 0 or not later:
            continue
        col_start[a] = c0 = int(bounds[a + 1])
        covered[a, a + 1:] = True
        rows = min(tile, int(counts[a]))
        width = min(max(tile, tile * tile // rows), _MAX_WIDTH_TILES * tile, n - c0)
        for p0 in range(int(bounds[a]), int(bounds[a + 1]), rows):
            p1 = min(p0 + rows, int(bounds[a + 1]))
            for q0 in range(c0, n, width):
                blocks.append((p0, p1, q0, min(q0 + width, n), a))
    return blocks, col_start, covered


class _ExactSmacof:
    """Passes over the blocks of two classes for class-sorted samples ``X``.

    ``step`` gives the Guttman transform of ``X`` and its stress from the expanded form
    ``sum d^2 - 2 sum D d + sum D^2`` (one distance evaluation per pair); ``stress`` evaluates
    ``sum (d - D)^2`` term by term, which keeps its accuracy when the stress is small.
    Block products are summed into float64 accumulators.
    """

    def __init__(self, labels_sorted: np.ndarray, counts: np.ndarray, delta: np.ndarray,
                 tile: int, d: int, dtype, device):
        self.counts = counts
        self.delta = delta
        self.bounds = np.concatenate([[0], np.cumsum(counts)]).astype(int)
        self.blocks, self.col_start, self.covered = _block_layout(counts, delta, tile)
        self.n = int(counts.sum())
        self.d = d
        upper = np.triu(np.outer(counts, counts).astype(np.float64), 1)
        self.sum_delta_sq = float((upper * delta ** 2).sum())
        # column weights Delta[a, c_j] of the samples after class a
        delta_t = torch.as_tensor(delta, dtype=dtype, device=device)
        lab_t = torch.as_tensor(labels_sorted, device=device)
        self.weights = [delta_t[a][lab_t[int(c0):]] for a, c0 in enumerate(self.col_start)]
        shapes = [(p1 - p0, q1 - q0) for p0, p1, q0, q1, _ in self.blocks]
        rows = max((r for r, _ in shapes), default=1)
        cols = max((c for _, c in shapes), default=1)
        self.buf = torch.empty(max((r * c for r, c in shapes), default=1), dtype=dtype,
                               device=device)
        self.part = torch.empty(rows * (d + 2), dtype=dtype, device=device)
        self.part_t = torch.empty((d + 2) * cols, dtype=dtype, device=device)
        self.scaled = torch.empty(cols * (d + 2), dtype=dtype, device=device)
        self.acc = torch.empty(self.n, d + 2, dtype=torch.float64, device=device)

    @staticmethod
    def _expanded(X: torch.Tensor):
        sq_norm = (X * X).sum(1, keepdim=True)
        ones = torch.ones_like(sq_norm)
        rows = torch.cat([X, sq_norm, ones], 1)          # [x, |x|^2, 1]
        cols = torch.cat([-2.0 * X, ones, sq_norm], 1)   # [-2x, 1, |x|^2]
        return rows, cols

    @staticmethod
    def _view(buf: torch.Tensor, m: int, n: int) -> torch.Tensor:
        return buf[: m * n].view(m, n)

    def _block(self, rows, cols, p0, p1, q0, q1, a):
        blk = self._view(self.buf, p1 - p0, q1 - q0)
        torch.mm(rows[p0:p1], cols[q0:q1].T, out=blk)   # squared distances
        c0 = int(self.col_start[a])
        return blk, self.weights[a][q0 - c0:q1 - c0]

    def step(self, X: torch.Tensor) -> tuple[torch.Tensor, float, float]:
        n, d = self.n, self.d
        rows, cols = self._expanded(X)
        acc = self.acc.zero_()
        min_sq = MIN_DISTANCE ** 2
        for p0, p1, q0, q1, a in self.blocks:
            blk, w = self._block(rows, cols, p0, p1, q0, q1, a)
            blk.clamp_(min=min_sq).rsqrt_()                     # 1 / d
            # rows: sum_j w_j y_j / d_ij, with the column weights folded into y
            scaled = torch.mul(rows[q0:q1], w[:, None],
                               out=self._view(self.scaled, q1 - q0, d + 2))
            acc[p0:p1] += torch.mm(blk, scaled, out=self._view(self.part, p1 - p0, d + 2))
            # columns: w_j sum_i y_i / d_ij; (y^T B) reads the block in its own layout
            part_t = torch.mm(rows[p0:p1].T, blk, out=self._view(self.part_t, d + 2, q1 - q0))
            acc[q0:q1].addcmul_(part_t.T, w[:, None])
        X64 = X.to(torch.float64)
        px = acc[:, :d]             # sum_j D_ij x_j / d_ij
        pq = acc[:, d]              # sum_j D_ij |x_j|^2 / d_ij
        pr = acc[:, d + 1:]         # sum_j D_ij / d_ij
        # sum_j D_ij d_ij = sum_j (D_ij / d_ij) |x_i - x_j|^2
        dd = (X64 * X64).sum(1) * pr[:, 0] + pq - 2.0 * (X64 * px).sum(1)
        sum_dd = 0.5 * float(dd.sum())
        half_sum_sq = n * float(((X64 - X64.mean(0)) ** 2).sum())
        stress = half_sum_sq - 2.0 * sum_dd + self.sum_delta_sq
        nxt = ((X64 * pr - px) / n).to(X.dtype)
        return nxt, stress, half_sum_sq

    def stress(self, X: torch.Tensor) -> float:
        rows, cols = self._expanded(X)
        total = torch.zeros((), dtype=torch.float64, device=X.device)
        for p0, p1, q0, q1, a in self.blocks:
            blk, w = self._block(rows, cols, p0, p1, q0, q1, a)
            blk.clamp_(min=0.0).sqrt_().sub_(w)
            total += torch.linalg.vector_norm(blk, dtype=torch.float64) ** 2
        # pairs in no block (same class, or classes at distance 0 to all later ones), in
        # closed form: n_a n_b |mu_a - mu_b|^2 + n_b S_a + n_a S_b, S = spread about the mean
        X64 = X.to(torch.float64)
        k = len(self.counts)
        means = torch.zeros(k, self.d, dtype=torch.float64, device=X.device)
        spread = torch.zeros(k, dtype=torch.float64, device=X.device)
        for a in range(k):
            if self.counts[a]:
                xa = X64[self.bounds[a]:self.bounds[a + 1]]
                means[a] = xa.mean(0)
                spread[a] = ((xa - means[a]) ** 2).sum()
        counts = torch.as_tensor(self.counts, dtype=torch.float64, device=X.device)
        total += (counts * spread).sum()
        for a in range(k):
            for b in range(a + 1, k):
                if not self.covered[a, b] and self.counts[a] and self.counts[b]:
                    total += (counts[a] * counts[b] * ((means[a] - means[b]) ** 2).sum()
                              + counts[b] * spread[a] + counts[a] * spread[b])
        return float(total)


def smacof_exact(labels, class_distances, init, *, max_iter: int = 300, eps: float = 1e-6,
                 tile: int = 1024, dtype=None, device=None) -> MDSResult:
    """Metric SMACOF on ``D[i, j] = class_distances[labels[i], labels[j]]``, in tiles.

    Parameters
    ----------
    labels : (N,) integers in ``[0, K)``; every sample must be labeled.
    class_distances : (K, K) symmetric, non-negative, zero diagonal.
    init : (N, d) starting configuration (NumPy array or torch tensor).
    max_iter, eps : as in ``sklearn.manifold.smacof``; ``eps=-numpy.inf`` runs exactly
        ``max_iter`` iterations.
    tile : block size; besides O(N (d + K)) arrays the working memory is ``tile^2`` numbers
        (and ``16 tile (d + 2)``). Around 1024 suits CPUs; GPUs want larger blocks.
    dtype : float32 or float64 (NumPy or torch); default: float64 for a float64 ``init``,
        float32 otherwise.
    device : torch device for the computation (default: that of a tensor ``init``, else CPU).

    Returns
    -------
    MDSResult with ``X`` (N, d) in the order of ``labels`` (a NumPy array of the computation
    dtype), the raw stress of ``X`` and the number of iterations, all as
    ``sklearn.manifold.smacof(D, metric=True, init=init, n_init=1, max_iter=max_iter, eps=eps,
    normalized_stress=False, return_n_iter=True)`` would return them.
    """
    delta = validate_distances(class_distances)
    k = delta.shape[0]
    if isinstance(init, torch.Tensor):
        init_device = init.device
        init_dtype = init.dtype
        init = init.detach()
    else:
        init_device = None
        try:
            init = np.asarray(init)
        except (TypeError, ValueError) as exc:
            raise DataError(f"init is not an array of numbers: {exc}") from None
        if not (np.issubdtype(init.dtype, np.number) and not np.iscomplexobj(init)):
            raise DataError(f"init must hold real numbers, got dtype {init.dtype}")
        init_dtype = torch.float64 if init.dtype == np.float64 else torch.float32
    if init.ndim != 2 or init.shape[1] < 1:
        raise DataError(f"init must have shape (N, d) with d >= 1, got {tuple(init.shape)}")
    n, d = int(init.shape[0]), int(init.shape[1])
    labels = _check_labels(labels, k, n)
    max_iter, eps = _check_iterations(max_iter, eps)
    tile = _positive_int(tile, "tile")
    tdtype = _torch_dtype(dtype, init_dtype if init_dtype == torch.float64 else torch.float32)
    dev = torch.device(device) if device is not None else (init_device or torch.device("cpu"))

    counts = np.bincount(labels, minlength=k)
    _present_classes(counts)
    order = np.argsort(labels, kind="stable")
    with torch.no_grad():
        if isinstance(init, torch.Tensor):
            X = init.to(device=dev, dtype=tdtype)[torch.as_tensor(order, device=dev)]
        else:
            X = torch.as_tensor(init[order], device=dev).to(tdtype)
        if not bool(torch.isfinite(X).all()):
            raise DataError("init contains NaN or infinite values")
        solver = _ExactSmacof(labels[order], counts, delta, tile, d, tdtype, dev)
        # The Guttman transform and the distances do not depend on a translation of X;
        # centring keeps the expanded squared distances accurate.
        X = X - X.mean(0)
        X, _, _ = solver.step(X)
        old_stress = None
        for it in range(max_iter):
            X -= X.mean(0)
            nxt, stress, half_sum_sq = solver.step(X)
            if _stop(old_stress, stress, half_sum_sq, eps) or it == max_iter - 1:
                break
            old_stress = stress
            X = nxt
        stress = solver.stress(X)
        out = torch.empty_like(X)
        out[torch.as_tensor(order, device=dev)] = X
        return MDSResult(out.cpu().numpy(), stress, it + 1)


# -- class-level (fast) SMACOF -----------------------------------------------------------------

def _pairwise(Y: np.ndarray) -> np.ndarray:
    diff = Y[:, None, :] - Y[None, :, :]
    return np.sqrt((diff * diff).sum(-1))


def _check_counts(counts, k: int) -> np.ndarray:
    c = np.asarray(counts)
    if c.shape != (k,):
        raise DataError(f"counts must have shape ({k},) to match the class distances, "
                        f"got {c.shape}")
    if not np.issubdtype(c.dtype, np.number) or not np.all(np.isfinite(c)) or np.any(c < 0) \
            or np.any(c != np.round(c)):
        raise DataError("counts must be non-negative integers")
    return c.astype(np.float64)


def _check_centers(centers, k: int, present: np.ndarray) -> np.ndarray:
    try:
        Y = np.asarray(centers, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"class centers are not numbers: {exc}") from None
    if Y.ndim != 2 or Y.shape[0] != k or Y.shape[1] < 1:
        raise DataError(f"class centers must have shape ({k}, d) with d >= 1, got {Y.shape}")
    if not np.all(np.isfinite(Y[present])):
        raise DataError("class centers of classes with samples contain NaN or infinite values")
    return Y


def smacof_class_level(counts, class_distances, init_centers, *, max_iter: int = 300,
                       eps: float = 1e-6) -> MDSResult:
    """Weighted SMACOF on the class points, weights ``n_a n_b`` (the fast mode).

    ``counts`` are the samples per class; classes with count 0 take no part, and their rows of
    ``init_centers`` are ignored (they may be NaN). Returns ``X`` (K, d) float64 with NaN rows
    for those classes; the present rows are centred with weights ``counts``. ``stress`` is the
    sample-level stress of every sample sitting on its class point,
    ``sum_{a<b} n_a n_b (d_ab - Delta_ab)^2``, and the stopping test is scikit-learn's applied
    to that configuration; started from collapsed classes, ``smacof_exact`` follows the same
    iterates.
    """
    delta_all = validate_distances(class_distances)
    k = delta_all.shape[0]
    max_iter, eps = _check_iterations(max_iter, eps)
    counts = _check_counts(counts, k)
    present = _present_classes(counts)
    Y_all = _check_centers(init_centers, k, present)
    n = counts[present]
    total = n.sum()
    delta = delta_all[np.ix_(present, present)]
    W = np.outer(n, n)
    np.fill_diagonal(W, 0.0)
    WD = W * delta
    Y = Y_all[present].copy()
    Y -= (n @ Y) / total
    old_stress = None
    for it in range(max_iter):
        dist = _pairwise(Y)
        ratio = WD / np.maximum(dist, MIN_DISTANCE)
        BY = ratio.sum(1)[:, None] * Y - ratio @ Y
        Y = BY / (total * n[:, None])
        dist = _pairwise(Y)
        stress = 0.5 * float((W * (dist - delta) ** 2).sum())
        half_sum_sq = 0.5 * float((W * dist ** 2).sum())
        if _stop(old_stress, stress, half_sum_sq, eps):
            break
        old_stress = stress
    X = np.full_like(Y_all, np.nan)
    X[present] = Y
    return MDSResult(X, stress, it + 1)


def classical_mds(distances, dim: int) -> np.ndarray:
    """Classical (Torgerson) MDS of a K x K distance matrix in ``dim`` dimensions.

    Double-centres the squared distances and keeps the ``dim`` leading eigenvectors scaled by
    the square roots of their (non-negative) eigenvalues: exact for Euclidean distances, and a
    good start for SMACOF otherwise. When every eigenvalue is zero (all points coincide) the
    result is a tiny seeded random configuration, so that SMACOF can still move the points apart.
    """
    D = np.asarray(distances, np.float64)
    k = len(D)
    J = np.eye(k) - 1.0 / k
    B = -0.5 * J @ (D ** 2) @ J
    vals, vecs = np.linalg.eigh(B)
    order = np.argsort(vals)[::-1][:dim]
    X = vecs[:, order] * np.sqrt(np.clip(vals[order], 0, None))
    if not np.any(np.abs(X) > 1e-12):
        X = np.random.default_rng(0).normal(scale=1e-3, size=(k, dim))
    return X


# -- diagnostics -------------------------------------------------------------------------------

def stress_of(labels, class_distances, X) -> float:
    """Raw sample-level stress of ``X`` (N, d), in blocks (float64, no N x N matrix)."""
    delta = validate_distances(class_distances)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise DataError(f"X must have shape (N, d), got {X.shape}")
    labels = _check_labels(labels, delta.shape[0], X.shape[0])
    total = 0.0
    step = max(1, min(1024, 4_000_000 // max(len(X), 1)))
    for s in range(0, len(X), step):
        dist = cdist(X[s:s + step], X)
        target = delta[labels[s:s + step][:, None], labels[None, :]]
        total += float(((dist - target) ** 2).sum())
    return 0.5 * total


def collapse_rates(counts, class_distances, centers) -> np.ndarray:
    """``rho_a = lambda_max(M_a) / N`` per class (NaN for classes without samples).

    The factor by which the exact-mode Guttman transform shrinks the spread of class ``a``
    around its point ``centers[a]`` per iteration, to first order. ``rho_a < 1`` for every
    class means the collapsed configuration is stable against splitting any class; at a local
    minimum of the class-level stress ``rho_a <= 1 - n_a / N`` always holds. See the module
    docstring for the derivation.
    """
    delta_all = validate_distances(class_distances)
    k = delta_all.shape[0]
    counts = _check_counts(counts, k)
    present = _present_classes(counts)
    Y_all = _check_centers(centers, k, present)
    Y = Y_all[present]
    n = counts[present]
    delta = delta_all[np.ix_(present, present)]
    dist = _pairwise(Y)
    d = Y.shape[1]
    rates = np.full(k, np.nan)
    for ia, a in enumerate(present):
        M = np.zeros((d, d))
        for ib in range(len(present)):
            if ib == ia or delta[ia, ib] == 0:
                continue
            dab = max(dist[ia, ib], MIN_DISTANCE)
            u = (Y[ia] - Y[ib]) / dab
            M += n[ib] * delta[ia, ib] / dab * (np.eye(d) - np.outer(u, u))
        rates[a] = np.linalg.eigvalsh(M)[-1] / n.sum()
    return rates
