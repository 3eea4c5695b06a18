"""The per-epoch structuring step: MDS targets aligned to the current codes."""
import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from saeviz.core.errors import DataError
from saeviz.core.method.config import MDSConfig
from saeviz.core.method.structure import StructureTargets, compute_targets

torch.set_num_threads(min(2, torch.get_num_threads()))

TIGHT = dict(max_iter=3000, eps=1e-13)


def clustered_codes(rng, counts, d, spread=0.3, sep=3.0, dtype=np.float64):
    labels = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    centers = rng.normal(size=(len(counts), d)) * sep
    codes = centers[labels] + rng.normal(size=(len(labels), d)) * spread + 5.0
    return codes.astype(dtype), labels


def pairwise(a):
    return np.linalg.norm(a[:, None] - a[None], axis=-1)


def embeddable_distances(rng, k):
    points = rng.normal(size=(k, k - 1))
    return pairwise(points)


@pytest.mark.parametrize("mode", ["class", "exact"])
@pytest.mark.parametrize("alignment", ["procrustes", "paper"])
def test_targets_preserve_class_distances(mode, alignment):
    rng = np.random.default_rng(0)
    k, d, scale = 4, 5, 2.5                        # d >= K - 1: Delta is embeddable
    D = embeddable_distances(rng, k)
    codes, labels = clustered_codes(rng, [30, 20, 25, 15], d)
    config = MDSConfig(mode=mode, alignment=alignment, tile=32, **TIGHT)
    out = compute_targets(codes, labels, D, config, scale=scale)
    assert isinstance(out, StructureTargets)
    assert out.targets.shape == (90, d) and out.targets.dtype == np.float32
    assert out.class_targets.shape == (k, d)
    np.testing.assert_allclose(pairwise(out.class_targets), D * scale, atol=1e-3 * scale)
    # each sample's target is its class target
    np.testing.assert_allclose(out.targets, out.class_targets[labels], atol=1e-4)
    R = out.rotation
    np.testing.assert_allclose(R.T @ R, np.eye(d), atol=1e-10)
    sum_delta_sq = ((scale * D[labels][:, labels]) ** 2).sum() / 2
    assert out.stress < 1e-8 * sum_delta_sq
    assert 1 <= out.n_iter <= config.max_iter


@pytest.mark.parametrize("mode", ["class", "exact"])
def test_rotating_the_codes_rotates_the_targets(mode):
    rng = np.random.default_rng(1)
    k, d = 5, 3
    D = np.ones((k, k)) - np.eye(k)                # not embeddable in 3-d
    codes, labels = clustered_codes(rng, [12, 18, 10, 14, 16], d)
    Q = ortho_group.rvs(d, random_state=rng)
    config = MDSConfig(mode=mode, **TIGHT)
    base = compute_targets(codes, labels, D, config)
    turned = compute_targets(codes @ Q, labels, D, config)
    np.testing.assert_allclose(turned.targets, base.targets @ Q, atol=1e-4)
    assert turned.stress == pytest.approx(base.stress, rel=1e-6)


def test_exact_and_class_modes_agree_on_well_separated_classes():
    rng = np.random.default_rng(2)
    d = 4
    D = np.array([[0, 1.0, 2.0], [1.0, 0, 1.5], [2.0, 1.5, 0]])
    codes, labels = clustered_codes(rng, [40, 25, 35], d, spread=0.1, sep=2.0)
    exact = compute_targets(codes, labels, D, MDSConfig(mode="exact", **TIGHT))
    fast = compute_targets(codes, labels, D, MDSConfig(mode="class", **TIGHT))
    np.testing.assert_allclose(exact.class_targets, fast.class_targets, atol=1e-4)
    assert exact.stress == pytest.approx(fast.stress, rel=1e-4, abs=1e-8)


def test_targets_stay_close_to_the_codes():
    # the targets are the MDS solution turned and shifted towards the codes: when the codes
    # already have the wanted structure, the targets are (almost) the class means of the codes
    rng = np.random.default_rng(3)
    k, d = 3, 2
    centers = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    D = pairwise(centers)
    labels = rng.permutation(np.repeat(np.arange(k), 20))
    codes = centers[labels] + rng.normal(size=(60, d)) * 1e-3 + np.array([4.0, -2.0])
    for mode in ("class", "exact"):
        out = compute_targets(codes, labels, D, MDSConfig(mode=mode, **TIGHT))
        means = np.array([codes[labels == a].mean(0) for a in range(k)])
        np.testing.assert_allclose(out.class_targets, means, atol=1e-2)


@pytest.mark.parametrize("mode", ["class", "exact"])
def test_classes_without_labels_are_left_out(mode):
    rng = np.random.default_rng(4)
    D = np.ones((4, 4)) - np.eye(4)
    codes, labels = clustered_codes(rng, [10, 15, 12], 3)
    labels = np.array([0, 2, 3])[labels]           # class 1 has no labeled sample
    out = compute_targets(codes, labels, D, MDSConfig(mode=mode, **TIGHT))
    assert np.all(np.isnan(out.class_targets[1]))
    present = out.class_targets[[0, 2, 3]]
    assert np.all(np.isfinite(present)) and np.all(np.isfinite(out.targets))
    np.testing.assert_allclose(pairwise(present), np.ones((3, 3)) - np.eye(3), atol=1e-3)


def test_float32_codes_give_float32_targets_in_both_modes():
    rng = np.random.default_rng(5)
    D = np.ones((3, 3)) - np.eye(3)
    codes, labels = clustered_codes(rng, [50, 60, 40], 6, dtype=np.float32)
    exact = compute_targets(codes, labels, D, MDSConfig(mode="exact"))
    fast = compute_targets(codes, labels, D, MDSConfig(mode="class"))
    assert exact.targets.dtype == fast.targets.dtype == np.float32
    np.testing.assert_allclose(exact.class_targets, fast.class_targets, atol=1e-3)


def test_fewer_than_two_labeled_classes_is_a_data_error():
    D = np.ones((3, 3)) - np.eye(3)
    codes = np.random.default_rng(6).normal(size=(8, 2))
    with pytest.raises(DataError, match="at least two classes"):
        compute_targets(codes, np.full(8, 2), D)
    with pytest.raises(DataError, match="at least two classes"):
        compute_targets(codes[:0], np.zeros(0, dtype=int), D)


@pytest.mark.parametrize("codes,labels,scale,message", [
    (np.zeros((4, 2)), np.array([0, 1, 0]), 1.0, "labels"),
    (np.zeros((4, 2)), np.array([0, 1, 0, 3]), 1.0, r"0\.\.2"),
    (np.zeros((4, 2)), np.array([0, 1, 0, -1]), 1.0, r"0\.\.2"),
    (np.zeros(4), np.array([0, 1, 0, 1]), 1.0, "shape"),
    (np.full((4, 2), np.nan), np.array([0, 1, 0, 1]), 1.0, "NaN"),
    (np.zeros((4, 2)), np.array([0.0, 1, 0, 1]), 1.0, "integer"),
    (np.zeros((4, 2)), np.array([0, 1, 0, 1]), 0.0, "scale"),
    (np.zeros((4, 2)), np.array([0, 1, 0, 1]), np.inf, "scale"),
])
def test_rejects_bad_input(codes, labels, scale, message):
    with pytest.raises(DataError, match=message):
        compute_targets(codes, labels, np.ones((3, 3)) - np.eye(3), scale=scale)
