"""Class-distance presets and the MDS layout of class targets (``saeviz.core.method.class_layout``)."""
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from saeviz.core.data.digits import DECOMPOSITIONS
from saeviz.core.method.class_layout import PRESETS, class_layout, seasons_between
from saeviz.core.method.mds import classical_mds
from saeviz.core.state.labels import validate_distances


def euclidean(k: int, d: int, seed: int = 0) -> np.ndarray:
    P = np.random.default_rng(seed).normal(size=(k, d))
    return cdist(P, P)


def test_classical_mds_reproduces_euclidean_distances():
    D = euclidean(7, 3)
    X = classical_mds(D, 3)
    assert X.shape == (7, 3)
    assert np.allclose(cdist(X, X), D, atol=1e-9)
    # all points at one place: a tiny spread that SMACOF can move apart, not zeros
    Z = classical_mds(np.zeros((4, 4)), 2)
    assert Z.shape == (4, 2) and np.abs(Z).max() > 0 and np.abs(Z).max() < 1e-2


@pytest.mark.parametrize("k,d", [(3, 2), (6, 3), (10, 5)])
def test_class_layout_achieves_an_exact_metric(k, d):
    D = euclidean(k, d, seed=k)
    counts = np.arange(1, k + 1) * 10
    lay = class_layout(D, counts, latent_dim=d)
    assert lay.positions.shape == (k, d)
    assert np.allclose(lay.achieved, D, atol=1e-4)
    assert lay.stress < 1e-6 and lay.normalized_stress < 1e-4
    # the plane keeps the distances when the layout is planar
    if d == 2:
        assert np.allclose(cdist(lay.plane, lay.plane), D, atol=1e-4)
    assert lay.plane.shape == (k, 2) and np.allclose(lay.plane.mean(0), 0, atol=1e-9)
    assert lay.seconds >= 0


def test_class_layout_caps_the_dimension_at_k_minus_one():
    D = euclidean(4, 3)
    lay = class_layout(D, latent_dim=10)
    assert lay.positions.shape == (4, 3)
    assert np.allclose(lay.achieved, D, atol=1e-4)
    one = class_layout(np.zeros((1, 1)), latent_dim=5)
    assert one.positions.shape == (1, 1) and one.stress == 0 and one.normalized_stress == 0


def test_class_layout_reports_the_weighted_stress_of_a_non_metric():
    D = np.array([[0.0, 1.0, 3.5], [1.0, 0.0, 1.0], [3.5, 1.0, 0.0]])  # breaks the triangle inequality
    counts = np.array([5, 1, 2])
    lay = class_layout(D, counts, latent_dim=2)
    W = np.outer(counts, counts).astype(float)
    np.fill_diagonal(W, 0)
    expected = 0.5 * float((W * (lay.achieved - D) ** 2).sum())
    assert lay.stress > 0.01
    assert lay.stress == pytest.approx(expected, rel=1e-9)
    assert lay.normalized_stress == pytest.approx(np.sqrt(expected / (0.5 * (W * D ** 2).sum())), rel=1e-9)
    # no layout can do better than the three points on a line, which is what SMACOF finds
    assert np.linalg.matrix_rank(lay.plane - lay.plane[0], tol=1e-6) == 1


def test_heavier_classes_get_their_distances_more_nearly():
    A = np.random.default_rng(3).random((5, 5)) + 0.5
    D = A + A.T
    np.fill_diagonal(D, 0)
    even = class_layout(D, np.ones(5, int), latent_dim=2)
    heavy = class_layout(D, np.array([200, 200, 1, 1, 1]), latent_dim=2)
    assert abs(heavy.achieved[0, 1] - D[0, 1]) < abs(even.achieved[0, 1] - D[0, 1])
    assert abs(heavy.achieved[0, 1] - D[0, 1]) < 1e-2


def test_presets_are_valid_distance_matrices_for_their_classes():
    keys = [p.key for p in PRESETS]
    assert len(set(keys)) == len(keys) and "equal" in keys
    for p in PRESETS:
        if p.names is None:
            assert p.distances is None and p.decomposition is None
            continue
        assert p.names == DECOMPOSITIONS[p.decomposition].class_names
        if p.distances is not None:
            validate_distances(p.distances)
            assert p.distances.shape == (len(p.names), len(p.names))
    # all-year halfway between summer and winter: the three classes lie on a line
    lay = class_layout(seasons_between(), latent_dim=2)
    assert np.allclose(lay.achieved, seasons_between(), atol=1e-4)
    assert np.allclose(lay.plane[2], 0.5 * (lay.plane[0] + lay.plane[1]), atol=1e-4)
