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
