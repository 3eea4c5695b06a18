"""SMACOF on class-structured dissimilarities: agreement with scikit-learn, fast mode, errors."""
import numpy as np
import pytest
import torch
from sklearn.manifold import smacof

from saeviz.core.errors import DataError
from saeviz.core.method.mds import (
    MDSResult,
    collapse_rates,
    smacof_class_level,
    smacof_exact,
    stress_of,
)

torch.set_num_threads(min(2, torch.get_num_threads()))


def random_distances(rng, k, embed_dim=None, jitter=0.2):
    """Symmetric, zero-diagonal, not exactly Euclidean unless ``jitter`` is 0."""
    points = rng.normal(size=(k, embed_dim or k))
    D = np.linalg.norm(points[:, None] - points[None], axis=-1)
    D *= rng.uniform(1 - jitter, 1 + jitter, size=(k, k))
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    return D


def sklearn_smacof(labels, D, init, max_iter, eps):
    full = D[labels][:, labels]
    return smacof(full, metric=True, init=init, n_init=1, max_iter=max_iter, eps=eps,
                  normalized_stress=False, return_n_iter=True)


def class_means(X, labels, k):
    return np.array([X[labels == a].mean(0) for a in range(k)])


def assert_close_config(X, ref, rtol):
    np.testing.assert_allclose(X, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


# -- exact mode against scikit-learn ---------------------------------------------------------

SKLEARN_CASES = [
    # n, k, d, tile, eps, max_iter
    (60, 3, 2, 7, 1e-6, 300),
    (150, 5, 3, 32, 1e-6, 300),
    (200, 4, 5, 50, 1e-4, 300),
    (257, 2, 4, 100, 1e-6, 300),
    (180, 6, 2, 64, 1e-6, 12),     # stops at max_iter
    (120, 3, 1, 16, 1e-5, 300),    # one dimension
]


@pytest.mark.parametrize("n,k,d,tile,eps,max_iter", SKLEARN_CASES)
def test_exact_matches_sklearn(n, k, d, tile, eps, max_iter):
    rng = np.random.default_rng(n + k + d)
    labels = rng.integers(0, k, n)
    D = random_distances(rng, k)
    init = rng.normal(size=(n, d)) + 2.0          # off-centre on purpose
    X_ref, stress_ref, n_ref = sklearn_smacof(labels, D, init, max_iter, eps)
    assert tile < n
    res = smacof_exact(labels, D, init, max_iter=max_iter, eps=eps, tile=tile, dtype=np.float64)
    assert isinstance(res, MDSResult)
    assert res.X.dtype == np.float64 and res.X.shape == (n, d)
    assert res.n_iter == n_ref
    if max_iter == 12:
        assert n_ref == max_iter
    else:
        assert 2 < n_ref < max_iter                # the stopping test decided
    assert stress_ref > 1e-3
    assert res.stress == pytest.approx(stress_ref, rel=1e-6)
    assert_close_config(res.X, X_ref, 1e-6)


def test_exact_matches_sklearn_with_absent_class_and_zero_distance():
    rng = np.random.default_rng(7)
    k, n, d = 5, 140, 3
    labels = rng.choice([0, 1, 3, 4], size=n)      # class 2 has no samples
    D = random_distances(rng, k)
    D[1, 3] = D[3, 1] = 0.0                        # classes meant to coincide: inside a block
    D[3, 4] = D[4, 3] = 0.0                        # and with no block at all
    init = rng.normal(size=(n, d))
    X_ref, stress_ref, n_ref = sklearn_smacof(labels, D, init, 300, 1e-6)
    res = smacof_exact(labels, D, init, eps=1e-6, tile=33)
    assert res.n_iter == n_ref < 300
    assert res.stress == pytest.approx(stress_of(labels, D, res.X), rel=1e-9)
    assert res.stress == pytest.approx(stress_ref, rel=1e-6)
    assert_close_config(res.X, X_ref, 1e-6)


def test_exact_float32_close_to_float64():
    rng = np.random.default_rng(3)
    n, k, d = 400, 4, 6
    labels = rng.integers(0, k, n)
    D = random_distances(rng, k)
    init = rng.normal(size=(n, d))
    r64 = smacof_exact(labels, D, init, max_iter=40, eps=-np.inf, tile=128)
    r32 = smacof_exact(labels, D, init.astype(np.float32), max_iter=40, eps=-np.inf, tile=128)
    assert r32.X.dtype == np.float32 and r64.X.dtype == np.float64
    assert r32.n_iter == r64.n_iter == 40
    assert r32.stress == pytest.approx(r64.stress, rel=1e-4)
    assert_close_config(r32.X.astype(np.float64), r64.X, 1e-4)
    # the returned stress is that of the returned coordinates, also in float32
    assert r32.stress == pytest.approx(stress_of(labels, D, r32.X), rel=1e-4)


def test_small_stress_stays_accurate_in_float32():
    # an embeddable problem run to a near-perfect fit: the stress must not lose its sign
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 600)
    D = random_distances(rng, 3, jitter=0.0)
    init = rng.normal(size=(600, 4)).astype(np.float32)
    res = smacof_exact(labels, D, init, max_iter=300, eps=1e-9)
    direct = stress_of(labels, D, res.X)
    sum_delta_sq = stress_of(labels, D, np.zeros((600, 4)))
    assert 0.0 <= res.stress < 1e-6 * sum_delta_sq
    assert res.stress == pytest.approx(direct, rel=1e-2, abs=1e-9)


def test_exact_never_forms_the_full_matrix(monkeypatch):
    rng = np.random.default_rng(11)
    n, tile = 300, 40
    labels = rng.integers(0, 3, n)
    D = random_distances(rng, 3)
    largest = []
    real_mm = torch.mm

    def recording_mm(a, b, *args, **kwargs):
        out = real_mm(a, b, *args, **kwargs)
        largest.append(out.numel())
        return out

    monkeypatch.setattr(torch, "mm", recording_mm)
    smacof_exact(labels, D, rng.normal(size=(n, 2)), max_iter=3, tile=tile)
    assert largest and max(largest) <= tile * tile


def test_exact_accepts_tensor_init_and_keeps_sample_order():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 90)
    D = random_distances(rng, 3)
    init = rng.normal(size=(90, 2))
    from_numpy = smacof_exact(labels, D, init, max_iter=20)
    from_tensor = smacof_exact(torch.as_tensor(labels), D, torch.as_tensor(init), max_iter=20)
    np.testing.assert_array_equal(from_numpy.X, from_tensor.X)
    # permuting the samples permutes the result
    perm = rng.permutation(90)
    permuted = smacof_exact(labels[perm], D, init[perm], max_iter=20)
    assert_close_config(permuted.X, from_numpy.X[perm], 1e-10)


def test_exact_runs_all_iterations_with_minus_inf_eps():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 50)
    res = smacof_exact(labels, np.array([[0, 1.0], [1.0, 0]]), rng.normal(size=(50, 3)),
                       max_iter=500, eps=-np.inf)
    assert res.n_iter == 500


# -- class-level mode --------------------------------------------------------------------------

def test_class_level_equals_exact_started_from_collapsed_classes():
    rng = np.random.default_rng(8)
    k, d = 5, 2
    counts = np.array([30, 50, 20, 40, 60])
    labels = rng.permutation(np.repeat(np.arange(k), counts))
    D = random_distances(rng, k)
    centers = rng.normal(size=(k, d))
    fast = smacof_class_level(counts, D, centers, max_iter=300, eps=1e-9)
    exact = smacof_exact(labels, D, centers[labels], max_iter=300, eps=1e-9, tile=64)
    assert fast.n_iter == exact.n_iter < 300
    assert fast.stress == pytest.approx(exact.stress, rel=1e-9)
    assert_close_config(exact.X, fast.X[labels], 1e-9)
    # its stress is the sample-level stress of every sample on its class point
    assert fast.stress == pytest.approx(stress_of(labels, D, fast.X[labels]), rel=1e-12)
    # weighted centring
    np.testing.assert_allclose(counts @ fast.X, 0.0, atol=1e-9)


def test_class_level_leaves_out_empty_classes():
    rng = np.random.default_rng(9)
    D = random_distances(rng, 4)
    counts = np.array([10, 0, 5, 7])
    centers = rng.normal(size=(4, 3))
    centers[1] = np.nan
    res = smacof_class_level(counts, D, centers)
    assert np.all(np.isnan(res.X[1]))
    assert np.all(np.isfinite(res.X[[0, 2, 3]]))
    without = smacof_class_level(counts[[0, 2, 3]], D[np.ix_([0, 2, 3], [0, 2, 3])],
                                 centers[[0, 2, 3]])
    np.testing.assert_allclose(res.X[[0, 2, 3]], without.X)
    assert res.stress == without.stress and res.n_iter == without.n_iter


def test_fast_mode_stress_within_one_percent_of_exact_five_classes_in_2d():
    rng = np.random.default_rng(21)
    k, d = 5, 2
    counts = np.array([40, 25, 60, 35, 50])
    labels = rng.permutation(np.repeat(np.arange(k), counts))
    D = random_distances(rng, k, jitter=0.3)       # unequal, not embeddable in 2-d
    init = rng.normal(size=(k, d))[labels] * 2 + rng.normal(size=(len(labels), d)) * 0.5
    exact = smacof_exact(labels, D, init, max_iter=2000, eps=1e-10)
    fast = smacof_class_level(counts, D, class_means(init, labels, k), max_iter=2000, eps=1e-10)
    sum_delta_sq = stress_of(labels, D, np.zeros((len(labels), d)))
    assert fast.stress > 1e-3 * sum_delta_sq       # clearly nonzero
    assert fast.stress == pytest.approx(exact.stress, rel=1e-2)


def test_class_level_minima_are_stable_for_the_exact_mode():
    # At a class-level local minimum rho_a <= 1 - n_a / N, and an exact run started from split
    # classes comes back to the collapsed solution with the same stress.
    rng = np.random.default_rng(13)
    k, d = 6, 2
    counts = rng.integers(5, 40, k)
    labels = np.repeat(np.arange(k), counts)
    D = random_distances(rng, k, jitter=0.4)
    fast = smacof_class_level(counts, D, rng.normal(size=(k, d)), max_iter=5000, eps=1e-14)
    rates = collapse_rates(counts, D, fast.X)
    assert np.all(rates <= 1 - counts / counts.sum() + 1e-9)
    split = fast.X[labels] + rng.normal(size=(len(labels), d)) * 0.05
    exact = smacof_exact(labels, D, split, max_iter=5000, eps=1e-14)
    assert exact.stress == pytest.approx(fast.stress, rel=1e-6)
    spread = exact.X - class_means(exact.X, labels, k)[labels]
    assert np.abs(spread).max() < 1e-4 * np.abs(exact.X).max()


def test_modes_agree_in_full_dimension_for_any_distances():
    # d >= K - 1: every class-level local minimum is global, so both modes reach the same
    # stress from unrelated starts, even though the distances are not embeddable.
    rng = np.random.default_rng(17)
    k, d = 4, 3
    counts = np.array([20, 35, 15, 30])
    labels = rng.permutation(np.repeat(np.arange(k), counts))
    D = random_distances(rng, k, jitter=0.5)
    D[0, 1] = D[1, 0] = D[0, 2] + D[1, 2] + 1.0    # violates the triangle inequality
    exact = smacof_exact(labels, D, rng.normal(size=(len(labels), d)), max_iter=5000, eps=1e-13)
    fast = smacof_class_level(counts, D, rng.normal(size=(k, d)), max_iter=5000, eps=1e-13)
    assert fast.stress > 1.0
    assert exact.stress == pytest.approx(fast.stress, rel=1e-6)


def test_modes_can_end_in_different_minima_below_k_minus_1_dimensions():
    # Ten equidistant classes in 2-d have several class-level minima with stresses more than
    # 1% apart; each is stable for the exact mode, so which one a run reaches depends on its start.
    k, d = 10, 2
    counts = np.full(k, 12)
    labels = np.repeat(np.arange(k), counts)
    D = np.ones((k, k)) - np.eye(k)
    runs = [smacof_class_level(counts, D, np.random.default_rng(s).normal(size=(k, d)),
                               max_iter=3000, eps=1e-12) for s in range(6)]
    stresses = np.array([r.stress for r in runs])
    worst, best = runs[stresses.argmax()], runs[stresses.argmin()]
    assert worst.stress > 1.01 * best.stress
    assert np.all(collapse_rates(counts, D, worst.X) < 1)
    exact = smacof_exact(labels, D, worst.X[labels], max_iter=3000, eps=1e-12)
    assert exact.stress == pytest.approx(worst.stress, rel=1e-6)


def test_collapse_rates_bound_for_embeddable_distances():
    rng = np.random.default_rng(23)
    k = 4
    points = rng.normal(size=(k, 3))
    D = np.linalg.norm(points[:, None] - points[None], axis=-1)
    counts = np.array([3, 9, 5, 7])
    rates = collapse_rates(counts, D, points)       # d_ab == Delta_ab exactly
    assert np.all(rates <= 1 - counts / counts.sum() + 1e-12)
    absent = collapse_rates(np.array([3, 0, 5, 7]), D, points)
    assert np.isnan(absent[1]) and np.all(np.isfinite(absent[[0, 2, 3]]))


def test_stress_of_matches_direct_sum():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 70)
    D = random_distances(rng, 3)
    X = rng.normal(size=(70, 2))
    full = D[labels][:, labels]
    dist = np.linalg.norm(X[:, None] - X[None], axis=-1)
    assert stress_of(labels, D, X) == pytest.approx(((dist - full) ** 2).sum() / 2, rel=1e-12)


# -- validation -------------------------------------------------------------------------------

@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    return rng.integers(0, 3, 20), random_distances(rng, 3), rng.normal(size=(20, 2))


@pytest.mark.parametrize("change,message", [
    (lambda l, D, X: (l, D, X[:, 0]), "shape"),
    (lambda l, D, X: (l[:-1], D, X), "labels"),
    (lambda l, D, X: (np.where(l == 0, -1, l), D, X), "outside the classes"),
    (lambda l, D, X: (l + 5, D, X), "outside the classes"),
    (lambda l, D, X: (l * 0, D, X), "at least two classes"),
    (lambda l, D, X: (l, D[:2], X), "square"),
    (lambda l, D, X: (l, D + np.eye(3), X), "diagonal"),
    (lambda l, D, X: (l, np.triu(D), X), "symmetric"),
    (lambda l, D, X: (l, D, np.where(X > 1, np.nan, X)), "NaN"),
    (lambda l, D, X: (l.astype(float) + 0.5, D, X), "integer"),
    (lambda l, D, X: (l, D, X.astype(str)), "real numbers"),
])
def test_exact_rejects_bad_input(small, change, message):
    labels, D, X = change(*small)
    with pytest.raises(DataError, match=message):
        smacof_exact(labels, D, X)


@pytest.mark.parametrize("kwargs,message", [
    ({"max_iter": 0}, "max_iter"),
    ({"tile": 0}, "tile"),
    ({"eps": float("nan")}, "eps"),
    ({"dtype": np.int32}, "dtype"),
    ({"dtype": torch.float16}, "dtype"),
])
def test_exact_rejects_bad_settings(small, kwargs, message):
    with pytest.raises(DataError, match=message):
        smacof_exact(*small, **kwargs)


def test_class_level_rejects_bad_input():
    D = np.ones((3, 3)) - np.eye(3)
    with pytest.raises(DataError, match="at least two classes"):
        smacof_class_level([5, 0, 0], D, np.zeros((3, 2)))
    with pytest.raises(DataError, match="counts"):
        smacof_class_level([5, 2], D, np.zeros((3, 2)))
    with pytest.raises(DataError, match="non-negative integers"):
        smacof_class_level([5, -1, 2], D, np.zeros((3, 2)))
    with pytest.raises(DataError, match="shape"):
        smacof_class_level([5, 1, 2], D, np.zeros((2, 2)))
    with pytest.raises(DataError, match="NaN"):
        smacof_class_level([5, 1, 2], D, np.full((3, 2), np.nan))
