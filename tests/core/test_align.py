"""Orthogonal alignment: Procrustes and the paper's pseudo-inverse variant."""
import numpy as np
import pytest
from scipy.stats import ortho_group

from saeviz.core.errors import DataError
from saeviz.core.method.align import paper_rotation, procrustes_rotation

ALIGNERS = [procrustes_rotation, paper_rotation]


def centred(a):
    return a - a.mean(0)


def anisotropic_cloud(rng, n, d):
    return centred(rng.normal(size=(n, d)) * np.linspace(3.0, 0.3, d))


def assert_orthogonal(R):
    np.testing.assert_allclose(R.T @ R, np.eye(R.shape[0]), atol=1e-12)


@pytest.mark.parametrize("align", ALIGNERS)
@pytest.mark.parametrize("d", [2, 3, 7])
@pytest.mark.parametrize("reflect", [False, True])
def test_recovers_a_known_orthogonal_map(align, d, reflect):
    rng = np.random.default_rng(d + 10 * reflect)
    Q = ortho_group.rvs(d, random_state=rng)
    if np.linalg.det(Q) < 0:
        Q[:, 0] *= -1
    if reflect:
        Q = Q @ np.diag([-1.0] + [1.0] * (d - 1))
    S = anisotropic_cloud(rng, 50, d)
    R = align(S, S @ Q)
    np.testing.assert_allclose(R, Q, atol=1e-10)
    assert np.linalg.det(R) == pytest.approx(-1.0 if reflect else 1.0)


@pytest.mark.parametrize("align", ALIGNERS)
def test_orthogonal_on_noisy_data(align):
    rng = np.random.default_rng(1)
    S = anisotropic_cloud(rng, 80, 5)
    T = S @ ortho_group.rvs(5, random_state=rng) * 1.7 + rng.normal(size=(80, 5))
    assert_orthogonal(align(S, T))
    assert_orthogonal(align(S, T, weights=rng.uniform(0.1, 3.0, 80)))


@pytest.mark.parametrize("seed", range(5))
def test_procrustes_is_never_worse_than_the_paper_variant(seed):
    rng = np.random.default_rng(seed)
    S = anisotropic_cloud(rng, 60, 4)
    T = S @ ortho_group.rvs(4, random_state=rng) + rng.normal(size=(60, 4)) * 2.0
    residual = {f.__name__: np.linalg.norm(S @ f(S, T) - T) for f in ALIGNERS}
    assert residual["procrustes_rotation"] <= residual["paper_rotation"] + 1e-12
    # with an anisotropic source and this much noise the two really differ
    assert not np.allclose(procrustes_rotation(S, T), paper_rotation(S, T), atol=1e-3)


def test_procrustes_beats_random_rotations():
    rng = np.random.default_rng(4)
    S = anisotropic_cloud(rng, 40, 3)
    T = rng.normal(size=(40, 3))
    best = np.linalg.norm(S @ procrustes_rotation(S, T) - T)
    others = [np.linalg.norm(S @ ortho_group.rvs(3, random_state=rng) - T) for _ in range(200)]
    assert best <= min(others)


def test_variants_agree_on_isotropic_source():
    rng = np.random.default_rng(5)
    # S^T S a multiple of the identity: orthonormal columns, scaled
    S = np.linalg.qr(centred(rng.normal(size=(30, 4))))[0] * 2.5
    T = rng.normal(size=(30, 4))
    np.testing.assert_allclose(paper_rotation(S, T), procrustes_rotation(S, T), atol=1e-10)


@pytest.mark.parametrize("align", ALIGNERS)
def test_weights_act_like_repeated_rows(align):
    rng = np.random.default_rng(6)
    S = rng.normal(size=(5, 3))
    T = rng.normal(size=(5, 3))
    counts = np.array([1, 4, 2, 7, 3])
    weighted = align(S, T, weights=counts)
    repeated = align(np.repeat(S, counts, axis=0), np.repeat(T, counts, axis=0))
    np.testing.assert_allclose(weighted, repeated, atol=1e-10)


@pytest.mark.parametrize("align", ALIGNERS)
def test_rank_deficient_source_maps_its_span_exactly(align):
    # three class points in 5-d span only 2 dimensions; S @ R is still determined
    rng = np.random.default_rng(7)
    Q = ortho_group.rvs(5, random_state=rng)
    S = centred(rng.normal(size=(3, 5)))
    R = align(S, S @ Q)
    assert_orthogonal(R)
    np.testing.assert_allclose(S @ R, S @ Q, atol=1e-10)


@pytest.mark.parametrize("align", ALIGNERS)
@pytest.mark.parametrize("args,message", [
    ((np.zeros((4, 2)), np.zeros((4, 3))), "same shape"),
    ((np.zeros(4), np.zeros(4)), "shape"),
    ((np.full((4, 2), np.nan), np.zeros((4, 2))), "NaN"),
    ((np.ones((4, 2)), np.ones((4, 2)), np.ones(3)), "weights"),
    ((np.ones((4, 2)), np.ones((4, 2)), -np.ones(4)), "non-negative"),
    ((np.ones((4, 2)), np.ones((4, 2)), np.zeros(4)), "not all zero"),
])
def test_rejects_bad_input(align, args, message):
    with pytest.raises(DataError, match=message):
        align(*args)
