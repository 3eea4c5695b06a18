"""Projections of latent codes to 2 or 3 display dimensions, and frame-to-frame alignment.

Every method is a ``Projector`` with ``fit(codes, labels=None, previous=None) -> coords``
of shape (N, k), k in {2, 3}:

- ``PCAProjector`` (the default): cheap enough to refit on every live frame.
- ``LDAProjector``: the orthogonal projection onto the discriminant subspace of the current
  labels (label -1 is ignored). With fewer than two labeled classes it shows PCA and says why
  in ``fallback_reason``; when the classes give fewer than k discriminant axes the remaining
  axes are the principal axes of what is left.
- ``AxesProjector``: raw latent axes chosen by index (no alignment: the axes mean something).
- ``UMAPProjector`` / ``TSNEProjector``: slow, for a background worker; they live in
  ``saeviz.core.display.embedding`` (re-exported here) with the plain functions ``run_umap``
  and ``run_tsne``, which take a ``state`` object (Orange3 style: status, progress, partial
  results, interruption), testable without a thread.

The linear projectors expose ``components`` (k, d), ``mean`` (d,) and ``reference`` (d,) and
``inverse(coords) -> codes``: the point whose projection is ``coords`` and whose other
components are those of ``reference`` (the data mean; the labeled mean for LDA). This is
what "decode anywhere in the view" needs.

Consecutive frames of a refitted projection may rotate or flip. ``align_frames`` (orthogonal
Procrustes with reflection, optional isotropic scale, and translation) maps the new frame onto
the previous one; ``LiveProjection`` does fit + align per frame and maps extra latent points
(MDS anchors, targets) through the same transform.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from saeviz.core.errors import DataError, SaevizError

METHODS = ("pca", "lda", "axes", "umap", "tsne")

# Above this many samples the PCA covariance is estimated from an evenly strided subset:
# the principal axes of 20,000 samples are as good as those of all of them for display.
PCA_MAX_FIT_SAMPLES = 20_000


class ProjectionUnavailable(SaevizError, ImportError):
    """A projection method needs an optional package that is not installed."""


class Interrupted(Exception):
    """Raised by a slow projection when its state asked for interruption."""


# --------------------------------------------------------------------------- helpers


def _as_codes(codes, float32: bool = False) -> np.ndarray:
    """``codes`` checked as a finite 2-D array, as float64; float32 codes stay float32 with
    ``float32`` (a million 16-D codes are 64 MB as float32, 128 MB more as a float64 copy)."""
    X = np.asarray(codes)
    if X.ndim != 2:
        raise DataError(f"latent codes must be a 2-D array (samples x dimensions), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"latent codes are empty: shape {X.shape}")
    if not (float32 and X.dtype == np.float32):
        X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise DataError("latent codes contain NaN or infinite values")
    return X


def _check_k(k: int) -> int:
    if k not in (2, 3):
        raise ValueError(f"a projection has 2 or 3 components, got {k}")
    return int(k)


def _as_labels(labels, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise DataError(f"labels must have shape ({n},) to match the codes, got {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError("labels must be integers (class index, or -1 for unlabeled)")
    return y.astype(np.int64, copy=False)


def _sign_fix(components: np.ndarray) -> np.ndarray:
    """Flip each row so that its largest-magnitude entry is positive (deterministic output)."""
    if components.size == 0:
        return components
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


# Row block for products of many points with a small matrix. Multi-threaded BLAS splits a
# tall-skinny product (60,000 x 16 @ 16 x 2) across threads; when the cores are busy (the
# training thread runs torch next to the GUI) that takes 20-30 ms instead of 0.5 ms. Blocks of
# this size stay in BLAS's single-thread regime and keep the per-frame cost flat.
_ROW_BLOCK = 8192


def matmul_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` as float64 for a tall ``A`` (N, d) and a small ``B`` (d, k), computed in row
    blocks. A float32 ``A`` (many codes) is multiplied in float32: display precision, and no
    float64 copy of it."""
    A = np.asarray(A)
    dtype = np.float32 if A.dtype == np.float32 else np.float64
    A = A.astype(dtype, copy=False)
    B = np.asarray(B, dtype=dtype)
    out = np.empty((A.shape[0], B.shape[1]))
    block = np.empty((min(_ROW_BLOCK, A.shape[0]), B.shape[1]), dtype)
    for start in range(0, A.shape[0], _ROW_BLOCK):
        rows = A[start:start + _ROW_BLOCK]
        part = block[:len(rows)]
        np.dot(rows, B, out=part)
        out[start:start + len(rows)] = part
    return out


def column_mean(X: np.ndarray) -> np.ndarray:
    """The mean of each column of ``X`` (zeros for no rows), without a float64 copy of ``X``."""
    return np.einsum("ij->j", X) / max(len(X), 1)


def fit_rows(n: int, max_samples: int = PCA_MAX_FIT_SAMPLES) -> slice:
    """An evenly strided subset of at most ``max_samples`` rows (all rows when fewer)."""
    return slice(None, None, max(1, int(np.ceil(n / max_samples))))


def principal_axes(Xc: np.ndarray, k: int, max_samples: int = PCA_MAX_FIT_SAMPLES) -> np.ndarray:
    """The top-``k`` principal axes (k, d) of centred data ``Xc``; zero rows past its rank."""
    Xc = Xc[fit_rows(len(Xc), max_samples)]
    n, d = Xc.shape
    m = min(k, d)
    if d <= n:
        w, V = np.linalg.eigh(Xc.T @ Xc)
        order = np.argsort(w)[::-1][:m]
        comps = V[:, order].T
    else:
        _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
        comps = Vt[:m]
    comps = _sign_fix(comps)
    if m < k:
        comps = np.vstack([comps, np.zeros((k - m, d))])
    return comps


# --------------------------------------------------------------------------- alignment


@dataclass(frozen=True)
class Alignment:
    """A similarity transform ``Y = scale * X @ rotation + translation`` (rows are points).

    ``rotation`` is orthogonal and may include a reflection.
    """

    rotation: np.ndarray
    scale: float
    translation: np.ndarray

    @classmethod
    def identity(cls, k: int) -> "Alignment":
        """The alignment that leaves ``k``-D coordinates where they are."""
        return cls(np.eye(k), 1.0, np.zeros(k))

    def apply(self, X) -> np.ndarray:
        """``X`` (one point or rows of points) rotated, scaled and translated by this alignment."""
        X = np.asarray(X, dtype=np.float64)
        one = X.ndim == 1
        Y = matmul_rows(np.atleast_2d(X), self.scale * self.rotation)
        Y += self.translation
        return Y[0] if one else Y

    def inverse(self, Y) -> np.ndarray:
        """The points whose ``apply`` gives ``Y``."""
        Y = np.asarray(Y, dtype=np.float64)
        one = Y.ndim == 1
        X = matmul_rows(np.atleast_2d(Y) - self.translation, self.rotation.T / self.scale)
        return X[0] if one else X


COLLAPSED = 1e-6  # RMS spread (relative to the reference's, when that is above 1) of a collapsed frame


def procrustes(reference, moving, allow_scale: bool = True) -> Alignment:
    """The similarity transform that best maps ``moving`` onto ``reference`` (least squares).

    Both are (N, k) arrays of the same points. Rows with a non-finite value in either are
    left out of the fit. Reflections are allowed (a projection's sign is arbitrary).
    """
    P = np.asarray(reference, dtype=np.float64)
    Q = np.asarray(moving, dtype=np.float64)
    if P.shape != Q.shape or P.ndim != 2:
        raise DataError(f"cannot align frames of shapes {Q.shape} and {P.shape}")
    k = P.shape[1]
    if not (np.isfinite(P).all() and np.isfinite(Q).all()):  # flat checks first: cheap
        ok = np.isfinite(P).all(axis=1) & np.isfinite(Q).all(axis=1)
        P, Q = P[ok], Q[ok]
    n = len(P)
    if n == 0:
        return Alignment.identity(k)
    mp, mq = column_mean(P), column_mean(Q)
    P0, Q0 = P - mp, Q - mq
    # einsum, not BLAS: a threaded (N x k)^T (N x k) product stalls on busy cores.
    norm_q = float(np.einsum("ij,ij->", Q0, Q0))
    norm_p = float(np.einsum("ij,ij->", P0, P0))
    # A collapsed frame only moves: its points are one point, or apart by no more than
    # rounding (a spread 1e-6 times the reference's, or 1e-6 when that is smaller than 1),
    # which a scale would blow up to the reference's size.
    if norm_p <= np.finfo(float).tiny or norm_q <= (COLLAPSED * max(1.0, norm_p / n) ** 0.5) ** 2 * n:
        return Alignment(np.eye(k), 1.0, mp - mq)
    M = np.einsum("ij,ik->jk", Q0, P0)
    U, S, Vt = np.linalg.svd(M)
    R = U @ Vt
    s = float(S.sum() / norm_q) if allow_scale else 1.0
    if not np.isfinite(s) or s <= 0:
        s = 1.0
    return Alignment(R, s, mp - s * (mq @ R))


def align_frames(previous, current, allow_scale: bool = True) -> np.ndarray:
    """``current`` moved (rotated/reflected, scaled, translated) to best match ``previous``.

    Pairwise distance ratios within ``current`` are unchanged, so nothing about the
    projection is distorted; only its pose on screen follows the previous frame.
    """
    return procrustes(previous, current, allow_scale).apply(current)


# --------------------------------------------------------------------------- projectors


class Projector:
    """Maps latent codes (N, d) to display coordinates (N, k)."""

    name = "projection"
    #: True for methods too slow for the GUI thread (run them in a worker).
    slow = False
    #: True when consecutive frames may be freely rotated/scaled onto each other.
    alignable = True

    def __init__(self, n_components: int = 2):
        self.n_components = _check_k(n_components)
        #: Why the method could not be applied as asked (and what is shown instead), or None.
        self.fallback_reason: str | None = None

    def fit(self, codes, labels=None, previous=None) -> np.ndarray:  # pragma: no cover - abstract
        """Fit the projection to ``codes`` (N, d) and return their display coordinates (N, k).

        ``labels`` (-1: unlabeled) are used by supervised methods; ``previous`` coordinates, when
        given, may start an iterative method near the last frame.
        """
        raise NotImplementedError

    def axis_labels(self) -> list[str]:
        """The names of the display axes, one per component."""
        return [f"{self.name.upper()} {i + 1}" for i in range(self.n_components)]


class LinearProjector(Projector):
    """A projector ``coords = (codes - mean) @ components.T`` with an ``inverse``."""

    def __init__(self, n_components: int = 2):
        super().__init__(n_components)
        self.components: np.ndarray | None = None  # (k, d), orthonormal (or zero) rows
        self.mean: np.ndarray | None = None  # (d,)
        self.reference: np.ndarray | None = None  # (d,) the point inverse() starts from

    def _check_fitted(self) -> None:
        if self.components is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet")

    def transform(self, codes) -> np.ndarray:
        """Project new codes (e.g. MDS targets) with the fitted map."""
        self._check_fitted()
        Z = np.asarray(codes)
        if Z.dtype != np.float32:
            Z = Z.astype(np.float64, copy=False)
        one = Z.ndim == 1
        Z = np.atleast_2d(Z)
        if Z.shape[1] != self.components.shape[1]:
            raise DataError(f"codes have {Z.shape[1]} dimensions, the projection was fitted on "
                            f"{self.components.shape[1]}")
        Y = matmul_rows(Z, self.components.T)
        Y -= self.mean @ self.components.T
        return Y[0] if one else Y

    def inverse(self, coords) -> np.ndarray:
        """Codes that project to ``coords``; other components are those of ``reference``."""
        self._check_fitted()
        Y = np.asarray(coords, dtype=np.float64)
        one = Y.ndim == 1
        Y = np.atleast_2d(Y)
        if Y.shape[1] != self.n_components:
            raise DataError(f"coordinates have {Y.shape[1]} columns, the projection has "
                            f"{self.n_components}")
        C = self.components
        base = (self.reference - self.mean) @ C.T
        Z = self.reference + (Y - base) @ C
        return Z[0] if one else Z


class PCAProjector(LinearProjector):
    """Principal axes of all codes (centred at the data mean)."""

    name = "pca"

    def fit(self, codes, labels=None, previous=None) -> np.ndarray:
        X = _as_codes(codes, float32=True)
        self.fallback_reason = None
        # mean and axes of at most PCA_MAX_FIT_SAMPLES evenly strided codes (all of them for
        # fewer): as good for display, and a million codes are not copied
        Xs = X[fit_rows(len(X))].astype(np.float64)
        self.mean = column_mean(Xs)
        self.reference = self.mean
        self.components = principal_axes(Xs - self.mean, self.n_components)
        return self.transform(X)

    def axis_labels(self) -> list[str]:
        return [f"PC {i + 1}" for i in range(self.n_components)]


class LDAProjector(LinearProjector):
    """Orthogonal projection onto the linear discriminant subspace of the labeled codes.

    The discriminant directions solve ``S_b v = lambda S_w v`` with the within-class scatter
    shrunk towards a multiple of the identity (Ledoit-Wolf), so a handful of labels per class
    in a many-dimensional latent space still gives a stable answer. The directions are then
    orthonormalised in order (QR), so the view is a true orthogonal projection: the first axis
    is the most discriminant direction and distances are not stretched.
    """

    name = "lda"

    def fit(self, codes, labels=None, previous=None) -> np.ndarray:
        X = _as_codes(codes)
        n, d = X.shape
        k = self.n_components
        self.fallback_reason = None
        if labels is None:
            return self._fallback(X, "LDA needs labels; showing PCA")
        y = _as_labels(labels, n)
        mask = y >= 0
        classes = np.unique(y[mask])
        if len(classes) < 2:
            return self._fallback(
                X, f"LDA needs labeled samples of at least 2 classes (found {len(classes)}); showing PCA")
        Xl, yl = X[mask], y[mask]
        mean = Xl.mean(axis=0)
        means = np.stack([Xl[yl == c].mean(axis=0) for c in classes])
        counts = np.array([np.sum(yl == c) for c in classes], dtype=np.float64)
        within = Xl - means[np.searchsorted(classes, yl)]
        Sw = within.T @ within / len(Xl)
        D = means - mean
        Sb = (D * counts[:, None]).T @ D / len(Xl)
        Sw = self._shrink(within, Sw)
        from scipy.linalg import eigh

        w, V = eigh(Sb, Sw)
        m = min(k, len(classes) - 1, d)
        V = V[:, np.argsort(w)[::-1][:m]]
        Q, _ = np.linalg.qr(V)
        comps = _sign_fix(Q.T)
        self.mean = mean
        self.reference = mean
        if m < k:
            reason = (f"{len(classes)} classes give {m} discriminant axis"
                      f"{'' if m == 1 else 'es'}; the other axes are principal axes")
            if m == d:
                reason = f"the codes have {d} dimensions; the other axes are zero"
            Xc = X[fit_rows(n)] - mean
            rest = Xc - (Xc @ comps.T) @ comps
            extra = principal_axes(rest, k - m)
            # Principal axes of the residual are orthogonal to comps up to rounding.
            extra = extra - (extra @ comps.T) @ comps
            norms = np.linalg.norm(extra, axis=1, keepdims=True)
            extra = np.where(norms > 1e-12, extra / np.where(norms > 0, norms, 1), 0.0)
            comps = np.vstack([comps, extra])
            self.fallback_reason = reason
        self.components = comps
        return self.transform(X)

    @staticmethod
    def _shrink(within: np.ndarray, Sw: np.ndarray) -> np.ndarray:
        d = Sw.shape[0]
        mu = float(np.trace(Sw)) / d
        if mu <= np.finfo(float).tiny:
            return np.eye(d)
        if len(within) > 1:
            from sklearn.covariance import ledoit_wolf_shrinkage

            alpha = float(ledoit_wolf_shrinkage(within, assume_centered=True))
        else:
            alpha = 1.0
        alpha = min(max(alpha, 1e-3), 1.0)
        return (1.0 - alpha) * Sw + alpha * mu * np.eye(d)

    def _fallback(self, X: np.ndarray, reason: str) -> np.ndarray:
        pca = PCAProjector(self.n_components)
        Y = pca.fit(X)
        self.components, self.mean, self.reference = pca.components, pca.mean, pca.reference
        self.fallback_reason = reason
        return Y

    def axis_labels(self) -> list[str]:
        return [f"LD {i + 1}" for i in range(self.n_components)]


class AxesProjector(LinearProjector):
    """Raw latent axes chosen by index; ``inverse`` keeps the other axes at the data mean."""

    name = "axes"
    alignable = False

    def __init__(self, n_components: int = 2, axes: Sequence[int] | None = None):
        super().__init__(n_components)
        axes = tuple(range(self.n_components)) if axes is None else tuple(int(a) for a in axes)
        if len(axes) != self.n_components:
            raise ValueError(f"choose {self.n_components} axes, got {len(axes)}: {axes}")
        if len(set(axes)) != len(axes) or min(axes) < 0:
            raise ValueError(f"axes must be distinct non-negative indices, got {axes}")
        self.axes = axes

    def fit(self, codes, labels=None, previous=None) -> np.ndarray:
        X = _as_codes(codes)
        d = X.shape[1]
        if max(self.axes) >= d:
            raise DataError(f"axis {max(self.axes)} does not exist: the codes have {d} dimensions")
        self.fallback_reason = None
        C = np.zeros((self.n_components, d))
        C[np.arange(self.n_components), self.axes] = 1.0
        self.components = C
        self.mean = np.zeros(d)
        self.reference = X.mean(axis=0)
        return X[:, self.axes].copy()

    def axis_labels(self) -> list[str]:
        return [f"z{a}" for a in self.axes]


# --------------------------------------------------------------------------- slow methods


class TaskState(Protocol):
    """What a slow projection reports to and asks of its runner (Orange3's TaskState)."""

    def set_status(self, text: str) -> None:
        """Report what the computation is doing now."""

    def set_progress_value(self, percent: float) -> None:
        """Report the progress, in percent."""

    def set_partial_result(self, result: Any) -> None:
        """Hand over an intermediate result that may be shown before the end."""

    def is_interruption_requested(self) -> bool:
        """True once the runner asks the computation to stop."""


class ProgressState:
    """A thread-safe ``TaskState`` holding the latest status, progress and partial result.

    Optional callbacks are called from the computing thread: a GUI must hand them over to its
    own thread (a worker re-emits them as queued signals).
    """

    def __init__(self, on_progress=None, on_partial=None, on_status=None):
        self._interrupt = threading.Event()
        self._lock = threading.Lock()
        self.status = ""
        self.progress = 0.0
        self.partial = None
        self._on_progress, self._on_partial, self._on_status = on_progress, on_partial, on_status

    def set_status(self, text: str) -> None:
        """Keep ``text`` as the status and pass it to the status callback."""
        with self._lock:
            self.status = text
        if self._on_status is not None:
            self._on_status(text)

    def set_progress_value(self, percent: float) -> None:
        """Keep ``percent`` as the progress and pass it to the progress callback."""
        with self._lock:
            self.progress = float(percent)
        if self._on_progress is not None:
            self._on_progress(float(percent))

    def set_partial_result(self, result) -> None:
        """Keep ``result`` as the latest partial result and pass it to the partial-result callback."""
        with self._lock:
            self.partial = result
        if self._on_partial is not None:
            self._on_partial(result)

    def request_interruption(self) -> None:
        """Ask the computation to stop at its next check."""
        self._interrupt.set()

    def is_interruption_requested(self) -> bool:
        """True once ``request_interruption`` was called."""
        return self._interrupt.is_set()


class _NullState:
    def set_status(self, text):
        pass

    def set_progress_value(self, percent):
        pass

    def set_partial_result(self, result):
        pass

    def is_interruption_requested(self):
        return False


# t-SNE and UMAP live in ``saeviz.core.display.embedding``; their names are re-exported here
# on first use (that module imports this one).
_EMBEDDING_NAMES = ("NeighborGraph", "TSNEProjector", "UMAPProjector", "run_tsne", "run_umap",
                    "tsne_available", "umap_available")


def __getattr__(name: str):
    if name in _EMBEDDING_NAMES:
        from saeviz.core.display import embedding

        return getattr(embedding, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_projector(method: str = "pca", n_components: int = 2, **params) -> Projector:
    """A projector by name: one of ``METHODS``. ``params`` go to the projector."""
    method = method.lower()
    if method == "pca":
        return PCAProjector(n_components)
    if method == "lda":
        return LDAProjector(n_components)
    if method == "axes":
        return AxesProjector(n_components, **params)
    if method in ("tsne", "umap"):
        from saeviz.core.display.embedding import TSNEProjector, UMAPProjector

        return (TSNEProjector if method == "tsne" else UMAPProjector)(n_components, **params)
    raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")


# --------------------------------------------------------------------------- live frames


class LiveProjection:
    """Fit a fast linear projection per frame and keep it aligned with the previous frame.

    A frame is turned, reflected and moved onto the previous one, not scaled (unless
    ``allow_scale``): its coordinates stay in the codes' units, so the axes read as distances
    in the latent space. (A least-squares scale shrinks every frame a little towards the last
    one where the two differ, and over a training it compounded: after ten epochs the view
    showed the codes at a tenth of their size.)

    ``update(codes, labels)`` returns the display coordinates; ``transform(Z)`` maps other
    latent points (class anchors, MDS targets) through the same projection and alignment;
    ``inverse(coords)`` maps display coordinates back to codes. A change in the number of
    samples (or ``reset()``) starts a fresh, unaligned sequence.
    """

    def __init__(self, projector: LinearProjector | None = None, align: bool | None = None,
                 allow_scale: bool = False):
        self.projector = projector if projector is not None else PCAProjector(2)
        if not isinstance(self.projector, LinearProjector):
            raise TypeError("LiveProjection needs a linear projector (PCA, LDA or axes); run "
                            "t-SNE and UMAP in a worker and align their results with align_frames")
        self.align = self.projector.alignable if align is None else bool(align)
        self.allow_scale = allow_scale
        self.coords: np.ndarray | None = None
        self.alignment = Alignment.identity(self.projector.n_components)

    @property
    def n_components(self) -> int:
        """The number of display dimensions."""
        return self.projector.n_components

    def reset(self) -> None:
        """Forget the last frame: the next ``update`` starts a fresh, unaligned sequence."""
        self.coords = None
        self.alignment = Alignment.identity(self.n_components)

    def update(self, codes, labels=None) -> np.ndarray:
        """Fit the projection to ``codes`` and return their coordinates, aligned with the last frame."""
        Y = self.projector.fit(codes, labels)
        previous = self.coords
        if self.align and previous is not None and previous.shape == Y.shape:
            # fitted on a strided subset of at most PCA_MAX_FIT_SAMPLES points, as the axes
            rows = fit_rows(len(Y))
            self.alignment = procrustes(previous[rows], Y[rows], self.allow_scale)
            Y = self.alignment.apply(Y)
        else:
            self.alignment = Alignment.identity(self.n_components)
        self.coords = Y
        return Y

    def transform(self, codes) -> np.ndarray:
        """Coordinates of further latent points through the current projection and alignment."""
        return self.alignment.apply(self.projector.transform(codes))

    def inverse(self, coords) -> np.ndarray:
        """The latent codes at display coordinates ``coords``."""
        return self.projector.inverse(self.alignment.inverse(coords))


@dataclass(frozen=True)
class ProjectionFrame:
    """Display coordinates of one frame and of the structure drawn over it.

    ``anchors`` are the projected class targets (NaN rows for classes without labels),
    ``line_src``/``line_dst`` the labeled samples and their projected targets.
    """

    coords: np.ndarray
    anchors: np.ndarray | None = None
    line_src: np.ndarray | None = None
    line_dst: np.ndarray | None = None
    note: str | None = None
    seconds: float = 0.0


def project_linear(live, codes: np.ndarray, labels: np.ndarray | None,
                   class_targets: np.ndarray | None = None, target_index: np.ndarray | None = None,
                   targets: np.ndarray | None = None) -> ProjectionFrame:
    """Fit ``live`` (a ``LiveProjection``) to ``codes``, aligned with its previous frame, and
    map the class targets and per-sample targets through the same projection."""
    import time

    t0 = time.perf_counter()
    coords = live.update(codes, labels)
    anchors = src = dst = None
    if class_targets is not None and len(class_targets):
        ct = np.asarray(class_targets, np.float64)
        anchors = np.full((len(ct), coords.shape[1]), np.nan)
        ok = np.isfinite(ct).all(axis=1)
        if ok.any():
            anchors[ok] = live.transform(ct[ok])
    if targets is not None and target_index is not None and len(target_index):
        src = coords[np.asarray(target_index)]
        dst = live.transform(np.asarray(targets, np.float64))
    return ProjectionFrame(coords, anchors, src, dst, live.projector.fallback_reason,
                           time.perf_counter() - t0)
