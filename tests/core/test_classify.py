import numpy as np
import pytest

from saeviz.core.errors import DataError
from saeviz.core.method.classify import LatentClassifier


def blobs(seed=0, k=3, n=60, spread=0.3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, 4)) * 3
    y = np.repeat(np.arange(k), n)
    return centers[y] + rng.normal(size=(k * n, 4)) * spread, y, centers


def test_confidence_is_one_at_centers_and_ordered_like_the_svm():
    Z, y, _ = blobs()
    clf = LatentClassifier().fit(Z, y)
    conf = clf.confidence(clf.centers_)
    assert np.all(np.argmax(conf, axis=1) == np.arange(3))
    assert np.all((conf >= 0) & (conf <= 1))
    assert np.mean(np.diag(conf)) > 0.9
    rng = np.random.default_rng(5)
    probe = rng.normal(size=(500, 4)) * 4
    assert np.array_equal(np.argmax(clf.predict_proba(probe), 1), np.searchsorted(clf.classes_, clf.predict(probe)))
    assert np.allclose(clf.predict_proba(probe).sum(1), 1)


def test_binary_confidence_rises_between_the_centers():
    Z, y, centers = blobs(k=2)
    clf = LatentClassifier().fit(Z, y)
    t = np.linspace(0, 1, 11)[:, None]
    path = centers[0] + t * (centers[1] - centers[0])
    p1 = clf.confidence(path)[:, 1]
    assert np.all(np.diff(p1) >= -1e-12)
    assert p1[0] < 0.1 and p1[-1] > 0.9


def test_margin_is_top1_minus_top2():
    Z, y, _ = blobs(k=4)
    clf = LatentClassifier().fit(Z, y)
    s = clf.decision_function(Z[:7])
    top = np.sort(s, axis=1)
    assert np.allclose(clf.margin(Z[:7]), top[:, -1] - top[:, -2])


def test_unlabeled_ignored_and_single_class_refused():
    Z, y, _ = blobs(k=2)
    y2 = y.copy()
    y2[::2] = -1
    assert LatentClassifier().fit(Z, y2).error(Z, y) < 0.05
    with pytest.raises(DataError, match="at least two classes"):
        LatentClassifier().fit(Z, np.where(y == 0, 0, -1))


@pytest.mark.parametrize("k", [2, 4])
def test_scores_of_many_codes_are_the_scaled_svm_scores_in_float32_and_float64(k):
    """The scaling is folded into the SVM and codes are scored block by block: the same
    scores as scikit-learn's scaler and SVM, for more codes than one block, float32 or not."""
    from saeviz.core.method.ranking import score_samples

    Z, y, _ = blobs(k=k, n=40)
    clf = LatentClassifier().fit(Z + 10.0, y)  # off-centre codes: the folded offset matters
    probe32 = (np.random.default_rng(6).normal(size=(150_000, 4)) * 3 + 10.0).astype(np.float32)
    probe = probe32.astype(np.float64)
    want = clf.svm_.decision_function(clf.scaler_.transform(probe))
    want = np.stack([-want, want], axis=1) if k == 2 else want
    np.testing.assert_allclose(clf.decision_function(probe), want, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(clf.decision_function(probe32), clf.decision_function(probe))
    s = score_samples(clf, probe32)
    np.testing.assert_array_equal(s.predicted, clf.classes_[np.argmax(want, axis=1)])
    top2 = np.sort(want, axis=1)[:, -2:]
    np.testing.assert_allclose(s.margin, top2[:, 1] - top2[:, 0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(s.proba, clf.predict_proba(probe), atol=1e-6)
    with pytest.raises(DataError, match="4-D codes"):
        clf.decision_function(probe[:, :3])
