"""t-SNE (openTSNE) and UMAP (umap-learn) of latent codes: progress, partial layouts,
interruption, warm starts and the nearest-neighbour graph kept across epochs."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from saeviz.core.display.embedding import (
    NeighborGraph,
    TSNEProjector,
    run_tsne,
    run_umap,
)
from saeviz.core.display.projection import (
    Interrupted,
    ProgressState,
    ProjectionUnavailable,
    align_frames,
    make_projector,
)
from saeviz.core.errors import DataError


def blobs(n_per=40, d=6, k=3, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(k, d))
    X = np.concatenate([c + spread * rng.normal(size=(n_per, d)) for c in centers])
    return X, np.repeat(np.arange(k), n_per)


def nearest_neighbour_agreement(Y, y):
    D = np.linalg.norm(Y[:, None] - Y[None], axis=-1)
    np.fill_diagonal(D, np.inf)
    return np.mean(y[D.argmin(1)] == y)


def disparity(A, B):
    """How far ``B`` is from ``A`` once rotated/scaled onto it, relative to ``A``'s spread."""
    return np.linalg.norm(align_frames(A, B) - A) / np.linalg.norm(A - A.mean(0))


# --------------------------------------------------------------------------- neighbours


def test_neighbor_graph_is_exact_then_reused_with_fresh_distances():
    from sklearn.neighbors import NearestNeighbors

    X, _ = blobs(n_per=30)
    graph = NeighborGraph(refresh_every=3)
    idx, dist = graph.neighbors(X, 8)
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=8).fit(X).kneighbors()
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist)
    assert not (idx == np.arange(len(X))[:, None]).any()  # never the sample itself
    # moved codes: the same neighbours, their distances measured on the new codes, nearest first
    X2 = X + 0.2 * np.random.default_rng(1).normal(size=X.shape)
    idx2, dist2 = graph.neighbors(X2, 8)
    assert graph.reused == 1
    np.testing.assert_array_equal(np.sort(idx2, 1), np.sort(idx, 1))
    np.testing.assert_allclose(dist2, np.linalg.norm(X2[idx2] - X2[:, None], axis=2))
    assert (np.diff(dist2, axis=1) >= 0).all()
    graph.neighbors(X2, 8)
    assert graph.reused == 2
    idx3, _ = graph.neighbors(X2, 8)  # the third use after a search searches again
    assert graph.reused == 0
    np.testing.assert_array_equal(idx3, NearestNeighbors(n_neighbors=8).fit(X2).kneighbors()[1])
    graph.neighbors(X2[:50], 8)  # other samples: a new search
    assert graph.indices.shape == (50, 8) and graph.reused == 0


# --------------------------------------------------------------------------- t-SNE


def test_tsne_reports_every_few_iterations_and_separates_blobs():
    X, y = blobs(n_per=20, d=5)
    partial, progress = [], []
    state = ProgressState(on_partial=partial.append, on_progress=progress.append)
    Y = run_tsne(X, state, max_iter=150, report_every=10, perplexity=10)
    assert Y.shape == (len(X), 2)
    assert len(partial) >= 15  # one layout per 10 iterations, and the result
    assert progress == sorted(progress) and progress[0] == 0.0 and progress[-1] == 100.0
    assert len(set(progress)) >= 15
    np.testing.assert_array_equal(partial[-1], Y)
    assert partial[0] is not partial[1] and not np.array_equal(partial[0], partial[-1])
    assert nearest_neighbour_agreement(Y, y) > 0.95


def test_tsne_is_deterministic_for_a_seed():
    X, _ = blobs(n_per=15, d=4)
    a = run_tsne(X, max_iter=60, perplexity=8, random_state=3)
    b = run_tsne(X, max_iter=60, perplexity=8, random_state=3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("k, gradient", [(2, "fft"), (3, "auto")])
def test_tsne_other_gradients_and_three_dimensions(k, gradient):
    X, y = blobs(n_per=20, d=5)
    Y = run_tsne(X, n_components=k, gradient=gradient, max_iter=150, perplexity=10)
    assert Y.shape == (len(X), k) and np.isfinite(Y).all()
    assert nearest_neighbour_agreement(Y, y) > 0.9


def test_tsne_refinement_starts_from_the_previous_layout():
    X, _ = blobs(n_per=20, d=5)
    first = run_tsne(X, max_iter=300, perplexity=10, random_state=0)
    moved = X + 0.05 * np.random.default_rng(2).normal(size=X.shape)
    graph = NeighborGraph()
    warm = run_tsne(moved, previous=first, perplexity=10, random_state=1, graph=graph)
    cold = run_tsne(moved, max_iter=100, perplexity=10, random_state=1)
    assert disparity(first, warm) < 0.15
    assert disparity(first, warm) < 0.5 * disparity(first, cold)
    # a refinement of the refinement reuses the graph and stays close again
    again = run_tsne(moved, previous=warm, perplexity=10, random_state=1, graph=graph)
    assert graph.reused >= 1 and disparity(warm, again) < 0.15
    # a previous layout of other samples is no start: a fresh run
    assert run_tsne(X[:30], previous=first, max_iter=30, perplexity=5).shape == (30, 2)


def test_tsne_stops_soon_after_an_interruption():
    X, _ = blobs(n_per=20, d=5)

    class StopAtFirstLayout(ProgressState):
        def set_partial_result(self, result):
            super().set_partial_result(result)
            self.request_interruption()

    state = StopAtFirstLayout()
    with pytest.raises(Interrupted):
        run_tsne(X, state, max_iter=1000, report_every=10, perplexity=10)
    assert state.partial is not None and state.progress == 1.0  # 10 of 1,000 iterations
    stopped = ProgressState()
    stopped.request_interruption()
    with pytest.raises(Interrupted):
        run_tsne(X, stopped)


def test_tsne_projector_and_bad_input():
    X, _ = blobs(n_per=10, d=4)
    state = ProgressState()
    projector = make_projector("tsne", 3, max_iter=60, perplexity=5)
    assert isinstance(projector, TSNEProjector) and projector.slow
    Y = projector.fit(X, state=state)
    assert Y.shape == (len(X), 3) and state.progress == 100.0
    assert projector.axis_labels() == ["t-SNE 1", "t-SNE 2", "t-SNE 3"]
    with pytest.raises(DataError, match="at least 5"):
        run_tsne(X[:4])
    with pytest.raises(DataError, match="NaN"):
        run_tsne(np.full((10, 3), np.nan))


def test_tsne_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "openTSNE", None)
    with pytest.raises(ProjectionUnavailable, match="openTSNE"):
        run_tsne(np.zeros((10, 3)))


# --------------------------------------------------------------------------- UMAP


def test_umap_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)
    with pytest.raises(ProjectionUnavailable, match="umap-learn"):
        run_umap(np.zeros((10, 3)))
    with pytest.raises(ImportError):  # still an ImportError for callers that expect one
        make_projector("umap").fit(np.zeros((10, 3)))


def digit_codes(n=400):
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    digits = load_digits()
    return PCA(10, random_state=0).fit_transform(digits.data[:n]), digits.target[:n]


def test_umap_progress_refinement_and_interruption():
    pytest.importorskip("umap")
    X, y = digit_codes()
    progress = []
    state = ProgressState(on_progress=progress.append)
    Y = run_umap(X, state, n_neighbors=10, n_epochs=100)
    assert Y.shape == (len(X), 2) and nearest_neighbour_agreement(Y, y) > 0.9
    assert progress == sorted(progress) and progress[-1] == 100.0 and len(set(progress)) >= 3
    np.testing.assert_array_equal(state.partial, Y)
    # a refinement on moved codes starts from the previous layout
    moved = X + 0.05 * X.std() * np.random.default_rng(2).normal(size=X.shape)
    graph = NeighborGraph()
    warm = run_umap(moved, previous=Y, n_neighbors=10, graph=graph)
    cold = run_umap(moved, n_neighbors=10, n_epochs=100, random_state=5)
    assert disparity(Y, warm) < 0.6 * disparity(Y, cold)
    assert graph.indices is not None

    class StopAtFirstReport(ProgressState):
        def set_progress_value(self, percent):
            super().set_progress_value(percent)
            if percent > 0:
                self.request_interruption()

    stopping = StopAtFirstReport()
    with pytest.raises(Interrupted):
        run_umap(X, stopping, n_neighbors=10, n_epochs=300)
    assert 0 < stopping.progress < 100 and stopping.partial is None
    # the interrupted run left tqdm's global lock free: another thread takes it at once
    from tqdm import tqdm

    taken = []

    def take_and_release():
        for lock in tqdm.get_lock().locks:  # its thread lock and its process lock
            taken.append(lock.acquire(timeout=5))
            if taken[-1]:
                lock.release()

    other = threading.Thread(target=take_and_release)
    other.start()
    other.join()
    assert taken and all(taken)
