"""Nonlinear embeddings of latent codes for display: t-SNE (openTSNE) and UMAP (umap-learn).

Both are slow next to a linear projection and run on a worker. They report to a ``TaskState``
(status, progress in percent, partial layouts) and stop when it asks for interruption
(``Interrupted`` is raised):

- ``run_tsne``: openTSNE, Barnes-Hut or FFT-interpolated gradients, a partial layout and a
  progress report every ``report_every`` iterations; the interruption is checked there too.
- ``run_umap``: umap-learn on a precomputed neighbour graph; progress and interruption once
  per optimisation epoch (umap-learn reports no intermediate layouts).

Live refinement while a model trains: given ``previous`` (the last layout of the same
samples), an embedding starts from it, skips t-SNE's early exaggeration and runs a short
optimisation, so the picture moves from where it was instead of being redrawn from a random
start. A ``NeighborGraph`` passed along keeps the nearest-neighbour indices across such calls
and only measures the distances to the same neighbours on the new codes; it searches the
neighbours again every ``refresh_every`` uses, as training moves the codes.
"""
from __future__ import annotations

import os
import re
import warnings

import numpy as np

from saeviz.core.display.projection import (
    Interrupted,
    ProjectionUnavailable,
    Projector,
    TaskState,
    _as_codes,
    _check_k,
    _NullState,
)
from saeviz.core.errors import DataError

#: From this many samples on, 2-D t-SNE uses FFT-interpolated gradients (cost linear in N);
#: with ``FFT_GRID`` that is faster than Barnes-Hut already on the 1,438 digits (1.8 against
#: 3.2 s on 2 cores). 3-D t-SNE is always Barnes-Hut (openTSNE's FFT is 1-D/2-D).
FFT_MIN_SAMPLES = 1_000
#: openTSNE's FFT grid: two units of the layout per interval (instead of one), at least 10
#: intervals and linear interpolation in each (2 points instead of 3): about half the cost per
#: iteration, the same 1-NN class agreement of the layouts (0.982 on the digits).
FFT_GRID = {"ints_in_interval": 2, "min_num_intervals": 10, "n_interpolation_points": 2}
#: Iterations of a t-SNE from scratch (a third of them with early exaggeration) and of a
#: refinement from a previous layout.
TSNE_ITERATIONS = 500
TSNE_REFINE_ITERATIONS = 100
#: Optimisation epochs of a UMAP from scratch and of a refinement from a previous layout.
UMAP_EPOCHS = 200
UMAP_REFINE_EPOCHS = 40
#: UMAP's initial learning rate of a refinement (1.0 from scratch): smaller steps keep the
#: layout near the previous one.
UMAP_REFINE_LEARNING_RATE = 0.3
#: Up to this many samples a UMAP from scratch starts from a spectral layout (umap-learn's
#: default); above, from the principal axes: the eigen-solver takes minutes on 10,000 points
#: whose graph has many components.
UMAP_SPECTRAL_MAX_SAMPLES = 5_000


def _embedding_input(method: str, codes, state: TaskState | None, n_components: int, minimum: int):
    """The state to report to (one that ignores reports for ``None``), the codes as an array
    and the checked number of components, or a ``DataError`` when ``method`` has fewer than
    ``minimum`` samples to embed."""
    X = _as_codes(codes)
    k = _check_k(n_components)
    if len(X) < minimum:
        raise DataError(f"{method} needs at least {minimum} samples, got {len(X)}")
    return state or _NullState(), X, k


def _warm_start(previous, n: int, k: int) -> np.ndarray | None:
    if previous is None:
        return None
    P = np.asarray(previous, dtype=np.float64)
    if P.shape != (n, k) or not np.isfinite(P).all():
        return None
    return P.copy()


# --------------------------------------------------------------------------- neighbours

_DIST_BLOCK_VALUES = 1 << 22  # differences held at once when measuring known neighbours (32 MB)


class NeighborGraph:
    """The ``k`` nearest neighbours of every sample (self excluded), kept across calls.

    ``neighbors(X, k)`` searches them exactly (scikit-learn) the first time, when the number
    of samples or ``k`` changed, and every ``refresh_every`` calls; in between it keeps the
    indices and measures the distances on the new ``X``, re-sorted per row.
    """

    def __init__(self, refresh_every: int = 5):
        self.refresh_every = max(1, int(refresh_every))
        self.indices: np.ndarray | None = None
        self.reused = 0  # calls answered from the kept indices since the last search

    def neighbors(self, X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices (N, k) and Euclidean distances (N, k) of each row's nearest other rows,
        nearest first."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        n = len(X)
        k = int(min(k, n - 1))
        if (self.indices is not None and self.indices.shape == (n, k)
                and self.reused < self.refresh_every - 1):
            self.reused += 1
            idx = self.indices
            dist = np.empty((n, k))
            rows = max(1, _DIST_BLOCK_VALUES // max(1, k * X.shape[1]))
            for s in range(0, n, rows):
                diff = X[idx[s:s + rows]] - X[s:s + rows, None, :]
                dist[s:s + rows] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
            order = np.argsort(dist, axis=1, kind="stable")
            return np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)
        from sklearn.neighbors import NearestNeighbors

        dist, idx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors()
        self.indices = idx
        self.reused = 0
        return idx, dist


# --------------------------------------------------------------------------- t-SNE


def _import_opentsne():
    try:
        import openTSNE
    except ImportError as exc:
        raise ProjectionUnavailable(
            "t-SNE needs the optional package openTSNE (pip install openTSNE)") from exc
    return openTSNE


def _installed(module: str) -> bool:
    """Whether ``module`` is installed, without importing it (umap-learn's import takes seconds,
    and the latent panel asks while the window is built)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def tsne_available() -> bool:
    """Whether openTSNE is installed, so the t-SNE projection can be offered (a broken install
    raises ``ProjectionUnavailable`` when it is used)."""
    return _installed("openTSNE")


def run_tsne(codes, state: TaskState | None = None, *, n_components: int = 2, previous=None,
             perplexity: float = 30.0, max_iter: int | None = None, report_every: int = 10,
             gradient: str = "auto", n_jobs: int | None = None, random_state: int = 0,
             graph: NeighborGraph | None = None) -> np.ndarray:
    """t-SNE (openTSNE) of the codes, reported every ``report_every`` iterations.

    From scratch: a PCA initialisation, a third of ``max_iter`` (default ``TSNE_ITERATIONS``)
    with early exaggeration, the rest without. With ``previous`` (an earlier layout of the
    same samples): it is the start, there is no exaggeration, and ``max_iter`` defaults to
    ``TSNE_REFINE_ITERATIONS``. ``gradient`` is "bh" (Barnes-Hut), "fft" (2-D only) or
    "auto" (FFT from ``FFT_MIN_SAMPLES`` samples on). Every report publishes a copy of the
    layout with ``state.set_partial_result`` and the share of iterations done, and checks
    ``state.is_interruption_requested()`` (``Interrupted`` is raised). ``n_jobs`` threads
    (default: every core). The result is deterministic for a given ``random_state`` and
    ``n_jobs``.
    """
    _import_opentsne()
    from openTSNE import TSNEEmbedding, affinity, initialization
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    state, X, k = _embedding_input("t-SNE", codes, state, n_components, minimum=5)
    n = len(X)
    n_jobs = int(n_jobs) if n_jobs is not None else max(1, os.cpu_count() or 1)
    perplexity = float(max(1.0, min(perplexity, (n - 1) / 3.0)))
    Y0 = _warm_start(previous, n, k)
    warm = Y0 is not None
    total = int(max_iter if max_iter is not None else (TSNE_REFINE_ITERATIONS if warm else TSNE_ITERATIONS))
    total = max(1, total)
    early = 0 if warm else total // 3
    if gradient == "auto":
        gradient = "fft" if (k == 2 and n >= FFT_MIN_SAMPLES) else "bh"
    if gradient not in ("bh", "fft"):
        raise ValueError(f"t-SNE gradient is 'bh', 'fft' or 'auto', got {gradient!r}")
    if gradient == "fft" and k != 2:
        gradient = "bh"
    if state.is_interruption_requested():
        raise Interrupted
    state.set_status("t-SNE: nearest neighbours")
    state.set_progress_value(0.0)
    idx, dist = (graph or NeighborGraph()).neighbors(X, min(n - 1, int(3 * perplexity)))
    P = affinity.PerplexityBasedNN(knn_index=PrecomputedNeighbors(idx, dist), perplexity=perplexity,
                                   n_jobs=n_jobs, verbose=False)
    if warm:
        init = Y0
    else:
        init = initialization.pca(X, n_components=k, random_state=random_state, verbose=False)
    embedding = TSNEEmbedding(init, P, n_jobs=n_jobs, random_state=random_state,
                              negative_gradient_method=gradient, verbose=False,
                              **(FFT_GRID if gradient == "fft" else {}))
    every = max(1, int(report_every))
    done = [0]

    def report(iteration, _error, Y):
        state.set_partial_result(np.array(Y, dtype=np.float64))
        state.set_progress_value(100.0 * min(done[0] + iteration, total) / total)
        return state.is_interruption_requested()

    state.set_status("t-SNE")
    for steps, exaggeration, momentum in ((early, 12.0, 0.5), (total - early, 1.0, 0.8)):
        if steps <= 0:
            continue
        embedding = embedding.optimize(steps, exaggeration=exaggeration, momentum=momentum,
                                       callbacks=report, callbacks_every_iters=min(every, steps))
        if state.is_interruption_requested():
            raise Interrupted
        done[0] += steps
    Y = np.array(embedding, dtype=np.float64)
    state.set_partial_result(Y.copy())
    state.set_progress_value(100.0)
    return Y


# --------------------------------------------------------------------------- UMAP


def _import_umap():
    try:
        import umap
    except ImportError as exc:
        raise ProjectionUnavailable(
            "UMAP needs the optional package umap-learn (pip install umap-learn)") from exc
    return umap


def umap_available() -> bool:
    """Whether umap-learn is installed, so the UMAP projection can be offered (a broken install
    raises ``ProjectionUnavailable`` when it is used)."""
    return _installed("umap")


class _EpochReport:
    """A file for umap-learn's epoch counter (tqdm): turns "12/200" into progress, and stops
    reporting once interruption is asked.

    It never raises: tqdm writes while holding its global lock and does not release it when
    the write fails, so an exception here would leave the lock held for ever and hang the
    next progress bar anywhere in the process (including a bar's clean-up on another
    thread). An interrupted UMAP therefore finishes its layout and is discarded."""

    _COUNT = re.compile(r"(\d+)/(\d+)")

    def __init__(self, state: TaskState):
        self.state = state
        self.stopped = False

    def write(self, text: str) -> int:
        """Report the last "done/total" count in ``text`` until interruption is asked."""
        if self.stopped:
            return len(text)
        if self.state.is_interruption_requested():
            self.stopped = True
            return len(text)
        found = self._COUNT.findall(text)
        if found:
            done, total = (int(v) for v in found[-1])
            if total > 0:
                self.state.set_progress_value(100.0 * done / total)
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""


def run_umap(codes, state: TaskState | None = None, *, n_components: int = 2, previous=None,
             n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int | None = None,
             learning_rate: float | None = None, random_state: int | None = 0, graph: NeighborGraph | None = None) -> np.ndarray:
    """UMAP (umap-learn) of the codes on an exact nearest-neighbour graph (``graph`` keeps it
    across calls), initialised with ``previous`` when its shape matches.

    ``n_epochs`` defaults to ``UMAP_EPOCHS`` from scratch and ``UMAP_REFINE_EPOCHS`` from a
    previous layout, ``learning_rate`` to 1.0 and ``UMAP_REFINE_LEARNING_RATE``. Progress is
    reported per epoch; an interruption stops the reports and raises ``Interrupted`` when the
    layout returns (umap-learn's loop offers no safe place to stop earlier). The first UMAP in a process compiles umap-learn's kernels
    (numba), which takes far longer than later ones.
    """
    umap = _import_umap()
    state, X, k = _embedding_input("UMAP", codes, state, n_components, minimum=4)
    n = len(X)
    init = _warm_start(previous, n, k)
    if state.is_interruption_requested():
        raise Interrupted
    state.set_status("UMAP: nearest neighbours")
    state.set_progress_value(0.0)
    n_neighbors = int(max(2, min(n_neighbors, n - 1)))
    idx, dist = (graph or NeighborGraph()).neighbors(X, n_neighbors - 1)
    # umap-learn counts the sample itself as its first neighbour
    idx = np.hstack([np.arange(n)[:, None], idx])
    dist = np.hstack([np.zeros((n, 1)), dist]).astype(np.float32)
    if n_epochs is None:
        n_epochs = UMAP_EPOCHS if init is None else UMAP_REFINE_EPOCHS
    if learning_rate is None:
        learning_rate = 1.0 if init is None else UMAP_REFINE_LEARNING_RATE
    if init is None:
        if n <= n_neighbors + k + 1:
            start = "random"
        else:
            start = "spectral" if n <= UMAP_SPECTRAL_MAX_SAMPLES else "pca"
    else:
        start = init
    writer = _EpochReport(state)
    reducer = umap.UMAP(n_components=k, n_neighbors=n_neighbors, min_dist=min_dist,
                        n_epochs=int(max(1, n_epochs)), learning_rate=float(learning_rate),
                        init=start, random_state=random_state,
                        precomputed_knn=(idx, dist, None), verbose=False,
                        tqdm_kwds={"disable": False, "file": writer, "mininterval": 0, "miniters": 1,
                                   "ascii": True, "leave": False})
    state.set_status("UMAP")
    with warnings.catch_warnings():
        # the precomputed graph has no search index (no transform of new points: not needed),
        # and a seed makes umap-learn run its layout on one thread
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        warnings.filterwarnings("ignore", message=".*overridden to 1 by setting random_state.*")
        Y = np.asarray(reducer.fit_transform(X), dtype=np.float64)
    if state.is_interruption_requested():
        raise Interrupted
    state.set_partial_result(Y.copy())
    state.set_progress_value(100.0)
    return Y


# --------------------------------------------------------------------------- projectors


class _EmbeddingProjector(Projector):
    """A slow, nonlinear embedding run in steps with progress; ``params`` go to the method."""

    slow = True
    #: The axis names: "<axis_name> 1", "<axis_name> 2", ...
    axis_name = ""

    def __init__(self, n_components: int = 2, **params):
        super().__init__(n_components)
        self.params = params

    def _run(self, codes, state: TaskState | None, **params) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, codes, labels=None, previous=None, state: TaskState | None = None) -> np.ndarray:
        """The embedding of ``codes``, started from ``previous`` when given; ``state`` reports
        progress and partial results and may interrupt it."""
        self.fallback_reason = None
        return self._run(codes, state, n_components=self.n_components, previous=previous, **self.params)

    def axis_labels(self) -> list[str]:
        """"<method> 1", "<method> 2", ... one per component."""
        return [f"{self.axis_name} {i + 1}" for i in range(self.n_components)]


class TSNEProjector(_EmbeddingProjector):
    """t-SNE of the codes (``run_tsne``)."""

    name = "tsne"
    axis_name = "t-SNE"

    def _run(self, codes, state, **params) -> np.ndarray:
        return run_tsne(codes, state, **params)


class UMAPProjector(_EmbeddingProjector):
    """UMAP of the codes (``run_umap``)."""

    name = "umap"
    axis_name = "UMAP"

    def _run(self, codes, state, **params) -> np.ndarray:
        return run_umap(codes, state, **params)


__all__ = ["FFT_MIN_SAMPLES", "NeighborGraph", "TSNEProjector", "UMAPProjector", "run_tsne",
           "run_umap", "tsne_available", "umap_available"]
