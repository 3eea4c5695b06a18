"""Projections of latent codes and frame-to-frame alignment."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from saeviz.core.display.projection import (
    AxesProjector,
    LDAProjector,
    LiveProjection,
    PCAProjector,
    TSNEProjector,
    align_frames,
    make_projector,
    procrustes,
)
from saeviz.core.errors import DataError


def random_orthogonal(k, rng, reflect=False):
    Q, R = np.linalg.qr(rng.normal(size=(k, k)))
    Q = Q * np.sign(np.diag(R))
    if np.linalg.det(Q) < 0:
        Q[:, 0] *= -1
    if reflect:
        Q[:, -1] *= -1
    return Q


def blobs(n_per=40, d=6, k=3, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(k, d))
    X = np.concatenate([c + spread * rng.normal(size=(n_per, d)) for c in centers])
    y = np.repeat(np.arange(k), n_per)
    return X, y


# --------------------------------------------------------------------------- PCA


@pytest.mark.parametrize("k", [2, 3])
def test_pca_matches_the_principal_axes(k):
    from sklearn.decomposition import PCA

    X, _ = blobs(d=7)
    proj = PCAProjector(k)
    Y = proj.fit(X)
    ref = PCA(k).fit(X)
    assert Y.shape == (len(X), k)
    # Same axes up to sign.
    np.testing.assert_allclose(np.abs(proj.components @ ref.components_.T), np.eye(k), atol=1e-8)
    np.testing.assert_allclose(np.abs(Y), np.abs(ref.transform(X)), atol=1e-8)
    np.testing.assert_allclose(proj.components @ proj.components.T, np.eye(k), atol=1e-10)


def test_pca_sign_convention_is_deterministic():
    X, _ = blobs()
    proj = PCAProjector(2)
    a = proj.fit(X)
    for c in proj.components:
        assert c[np.argmax(np.abs(c))] > 0
    # Flipping every code leaves the axes (a property of the covariance) unchanged.
    flipped = PCAProjector(2)
    np.testing.assert_allclose(flipped.fit(-X), -a, atol=1e-10)
    np.testing.assert_allclose(flipped.components, proj.components, atol=1e-12)


def test_pca_inverse_puts_other_components_at_the_mean():
    X, _ = blobs(d=5)
    proj = PCAProjector(2)
    Y = proj.fit(X)
    Z = proj.inverse(Y[:10])
    # The inverse projects back to the same coordinates ...
    np.testing.assert_allclose(proj.transform(Z), Y[:10], atol=1e-10)
    # ... and has no component outside the projection plane (relative to the mean).
    off_plane = (Z - proj.mean) - ((Z - proj.mean) @ proj.components.T) @ proj.components
    np.testing.assert_allclose(off_plane, 0, atol=1e-10)
    np.testing.assert_allclose(proj.inverse(np.zeros(2)), proj.mean)


def test_pca_on_codes_with_fewer_dimensions_than_asked_pads_with_zeros():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    Y = PCAProjector(3).fit(X)
    assert Y.shape == (50, 3)
    np.testing.assert_allclose(Y[:, 2], 0)
    np.testing.assert_allclose(np.linalg.norm(Y[:, :2], axis=1), np.linalg.norm(X - X.mean(0), axis=1))


def test_pca_on_many_samples_uses_a_subset_that_finds_the_same_axes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(45_000, 4)) * np.array([5.0, 3.0, 1.0, 0.5])
    proj = PCAProjector(2)
    proj.fit(X)
    np.testing.assert_allclose(np.abs(proj.components[:, :2]), np.eye(2), atol=0.02)


def test_pca_with_more_dimensions_than_samples():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(8, 30))
    proj = PCAProjector(3)
    Y = proj.fit(X)
    np.testing.assert_allclose(proj.components @ proj.components.T, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(Y, (X - X.mean(0)) @ proj.components.T)


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 3)), np.array([[1.0, np.nan]])])
def test_bad_codes_are_refused_with_a_clear_error(bad):
    with pytest.raises(DataError):
        PCAProjector(2).fit(bad)


def test_only_two_or_three_components():
    with pytest.raises(ValueError, match="2 or 3"):
        PCAProjector(4)


# --------------------------------------------------------------------------- LDA


def discriminant_data(seed=0, n=200):
    """Two classes that differ along a low-variance axis while axis 0 is loud noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4)) * np.array([10.0, 3.0, 0.3, 0.3])
    X[:, 3] += np.where(y == 1, 2.0, -2.0)
    return X, y


def test_lda_finds_the_discriminant_axis_that_pca_misses():
    X, y = discriminant_data()
    lda = LDAProjector(2)
    Y = lda.fit(X, y)
    assert lda.fallback_reason is not None  # 2 classes give one discriminant axis
    assert abs(lda.components[0, 3]) > 0.99
    separation = abs(Y[y == 1, 0].mean() - Y[y == 0, 0].mean()) / Y[:, 0].std()
    pca_first = PCAProjector(2).fit(X)[:, 0]
    pca_separation = abs(pca_first[y == 1].mean() - pca_first[y == 0].mean()) / pca_first.std()
    assert separation > 1.5 > 0.5 > pca_separation
    np.testing.assert_allclose(lda.components @ lda.components.T, np.eye(2), atol=1e-10)


def test_lda_ignores_unlabeled_samples():
    X, y = discriminant_data()
    sparse = np.full_like(y, -1)
    sparse[:20] = y[:20]
    lda = LDAProjector(2)
    lda.fit(X, sparse)
    assert abs(lda.components[0, 3]) > 0.95
    np.testing.assert_allclose(lda.mean, X[:20].mean(axis=0))
    np.testing.assert_allclose(lda.reference, X[:20].mean(axis=0))


def test_lda_with_three_classes_in_3d():
    X, y = blobs(k=3, d=6)
    lda = LDAProjector(3)
    Y = lda.fit(X, y)
    assert Y.shape == (len(X), 3)
    assert "discriminant" in lda.fallback_reason
    np.testing.assert_allclose(lda.components @ lda.components.T, np.eye(3), atol=1e-8)


def test_lda_with_enough_classes_has_no_fallback():
    X, y = blobs(k=4, d=6)
    lda = LDAProjector(3)
    lda.fit(X, y)
    assert lda.fallback_reason is None


@pytest.mark.parametrize("labels", [None, "one", "none"])
def test_lda_falls_back_to_pca_with_a_reason(labels):
    X, y = blobs()
    if labels == "one":
        labels = np.where(y == 0, 0, -1)
    elif labels == "none":
        labels = np.full(len(X), -1)
    lda = LDAProjector(2)
    Y = lda.fit(X, labels)
    assert "PCA" in lda.fallback_reason
    np.testing.assert_allclose(Y, PCAProjector(2).fit(X))


def test_lda_with_one_sample_per_class_still_gives_a_projection():
    X, y = blobs(k=3, d=8)
    labels = np.full(len(X), -1)
    labels[[0, 40, 80]] = [0, 1, 2]
    lda = LDAProjector(2)
    Y = lda.fit(X, labels)
    assert np.isfinite(Y).all()
    # The three labeled samples are fully separated in the view.
    pts = Y[[0, 40, 80]]
    assert min(np.linalg.norm(pts[i] - pts[j]) for i, j in [(0, 1), (0, 2), (1, 2)]) > 1.0


def test_lda_refuses_labels_of_the_wrong_length():
    X, y = blobs()
    with pytest.raises(DataError, match="labels"):
        LDAProjector(2).fit(X, y[:-1])


def test_lda_inverse_round_trip():
    X, y = blobs(k=4, d=5)
    lda = LDAProjector(2)
    Y = lda.fit(X, y)
    np.testing.assert_allclose(lda.transform(lda.inverse(Y[:7])), Y[:7], atol=1e-10)


# --------------------------------------------------------------------------- raw axes


def test_axes_show_the_chosen_codes_and_invert_at_the_data_mean():
    X, _ = blobs(d=5)
    proj = AxesProjector(2, axes=(3, 1))
    Y = proj.fit(X)
    np.testing.assert_array_equal(Y, X[:, [3, 1]])
    Z = proj.inverse([[7.0, -2.0]])
    expected = X.mean(axis=0)
    expected[3], expected[1] = 7.0, -2.0
    np.testing.assert_allclose(Z[0], expected)
    assert proj.axis_labels() == ["z3", "z1"]
    assert not proj.alignable


def test_axes_validation():
    with pytest.raises(ValueError):
        AxesProjector(2, axes=(1, 1))
    with pytest.raises(ValueError):
        AxesProjector(3, axes=(0, 1))
    with pytest.raises(DataError, match="does not exist"):
        AxesProjector(2, axes=(0, 9)).fit(np.zeros((4, 3)))


def test_make_projector():
    assert isinstance(make_projector("PCA", 3), PCAProjector)
    assert make_projector("axes", 2, axes=(1, 0)).axes == (1, 0)
    assert make_projector("tsne").slow
    with pytest.raises(ValueError, match="unknown projection"):
        make_projector("isomap")


# --------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("reflect", [False, True])
def test_a_moved_copy_aligns_back_exactly(k, reflect):
    rng = np.random.default_rng(k + 10 * reflect)
    P = rng.normal(size=(100, k))
    R = random_orthogonal(k, rng, reflect=reflect)
    Q = 3.7 * P @ R + rng.normal(size=k)
    np.testing.assert_allclose(align_frames(P, Q), P, atol=1e-10)


def test_without_scale_only_rotation_and_translation_are_undone():
    rng = np.random.default_rng(5)
    P = rng.normal(size=(50, 2))
    R = random_orthogonal(2, rng, reflect=True)
    Q = 2.0 * P @ R + 1.0
    A = align_frames(P, Q, allow_scale=False)
    np.testing.assert_allclose(np.linalg.norm(A - A.mean(0), axis=1),
                               2.0 * np.linalg.norm(P - P.mean(0), axis=1), atol=1e-10)
    np.testing.assert_allclose(A.mean(0), P.mean(0), atol=1e-10)
    # The orientation is recovered: A is P scaled about its centroid.
    np.testing.assert_allclose(A - A.mean(0), 2.0 * (P - P.mean(0)), atol=1e-10)


frames = st.integers(3, 30).flatmap(
    lambda n: st.tuples(*(arrays(np.float64, (n, 2),
                                 elements=st.floats(-100, 100, allow_nan=False, width=32))
                          for _ in range(2))))


@settings(max_examples=60, deadline=None)
@given(frames, st.booleans())
@example((np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),  # a frame apart by a denormal only:
          np.array([[0.0, 1.4e-45], [1.4e-45, 1.4e-45], [1.4e-45, 1.4e-45]])), True)  # moved, not scaled up
def test_aligning_never_changes_distance_ratios(pair, allow_scale):
    previous, current = pair
    aligned = align_frames(previous, current, allow_scale)

    def dists(A):
        return np.linalg.norm(A[:, None] - A[None], axis=-1)

    d0, d1 = dists(current), dists(aligned)
    scale = d1.max() / d0.max() if d0.max() > 1e-6 else 1.0
    np.testing.assert_allclose(d1, scale * d0, atol=1e-6 * max(1.0, d1.max()))
    if not allow_scale:
        np.testing.assert_allclose(d1, d0, atol=1e-6 * max(1.0, d0.max()))


def test_alignment_inverse_and_non_finite_rows():
    rng = np.random.default_rng(6)
    P = rng.normal(size=(40, 3))
    Q = 0.5 * P @ random_orthogonal(3, rng, True) - 2.0
    Q[3] = np.nan
    T = procrustes(P, Q)
    np.testing.assert_allclose(T.apply(np.delete(Q, 3, 0)), np.delete(P, 3, 0), atol=1e-10)
    np.testing.assert_allclose(T.inverse(T.apply(P)), P, atol=1e-10)


def test_alignment_of_a_collapsed_frame_only_translates():
    P = np.random.default_rng(7).normal(size=(10, 2))
    Q = np.ones((10, 2))
    np.testing.assert_allclose(align_frames(P, Q), np.tile(P.mean(0), (10, 1)))


def test_alignment_needs_matching_shapes():
    with pytest.raises(DataError):
        align_frames(np.zeros((4, 2)), np.zeros((5, 2)))


# --------------------------------------------------------------------------- live frames


def test_live_projection_keeps_consecutive_frames_from_flipping():
    X, y = blobs(d=6)
    live = LiveProjection(PCAProjector(2))
    first = live.update(X)
    # The same codes with every latent axis flipped: PCA would flip the view; alignment does not.
    second = live.update(-X)
    np.testing.assert_allclose(second, first, atol=1e-8)
    # Extra latent points go through the same projection and alignment ...
    np.testing.assert_allclose(live.transform(-X[:5]), first[:5], atol=1e-8)
    # ... and the inverse maps view coordinates back to (in-plane) codes.
    np.testing.assert_allclose(live.transform(live.inverse(second[:5])), second[:5], atol=1e-8)


def test_live_frames_keep_the_codes_scale_while_they_grow_and_turn():
    """Codes that grow and turn over many frames (as in training) are shown at their own size:
    distances in the view are distances between the codes' projections, frame after frame."""
    X, _ = blobs(d=6)
    live = LiveProjection(PCAProjector(2))
    rng = np.random.default_rng(1)
    Z = X.copy()
    for _ in range(30):
        Q, _r = np.linalg.qr(rng.normal(size=(6, 6)))
        Z = 1.1 * (Z + 0.3 * rng.normal(size=Z.shape)) @ (0.9 * np.eye(6) + 0.1 * Q)
        shown = live.update(Z)
        fresh = PCAProjector(2).fit(Z)
        d_shown = np.linalg.norm(shown[:50, None] - shown[None, :50], axis=-1)
        d_fresh = np.linalg.norm(fresh[:50, None] - fresh[None, :50], axis=-1)
        np.testing.assert_allclose(d_shown, d_fresh, rtol=1e-6, atol=1e-9)


def test_live_projection_restarts_when_the_sample_count_changes():
    X, _ = blobs()
    live = LiveProjection(PCAProjector(2))
    live.update(X)
    Y = live.update(X[:50])
    np.testing.assert_allclose(Y, PCAProjector(2).fit(X[:50]))
    np.testing.assert_allclose(live.alignment.rotation, np.eye(2))


def test_live_projection_of_raw_axes_is_not_aligned():
    X, _ = blobs(d=4)
    live = LiveProjection(AxesProjector(2, axes=(0, 1)))
    live.update(X)
    np.testing.assert_array_equal(live.update(-X), -X[:, :2])


def test_live_projection_refuses_slow_methods():
    with pytest.raises(TypeError, match="worker"):
        LiveProjection(TSNEProjector(2))


# --------------------------------------------------------------------------- slow methods


# t-SNE and UMAP themselves: tests/core/test_embedding.py


def test_projection_module_imports_without_qt():
    code = ("import sys, saeviz.core.display.projection; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
