import numpy as np
import pytest

from saeviz.core.errors import DataError
from saeviz.core.method.calibration import (
    classifier_reliability,
    confidence_histogram,
    expected_calibration_error,
    outcome_pairs,
    reliability_diagram,
)
from saeviz.core.method.classify import LatentClassifier


def test_perfectly_calibrated_sample_has_ece_near_zero():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 200_000)
    right = rng.uniform(0, 1, conf.size) < conf
    rel = reliability_diagram(conf, right, n_bins=10)
    assert rel.ece < 0.01
    assert np.allclose(rel.accuracy, rel.confidence, atol=0.02)
    assert rel.counts.sum() == conf.size


def test_overconfident_sample_has_a_large_ece():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.8, 1.0, 50_000)
    right = rng.uniform(0, 1, conf.size) < 0.6  # right 60% of the time whatever it claims
    ece = expected_calibration_error(conf, right)
    assert ece == pytest.approx(0.9 - 0.6, abs=0.02)
    rel = reliability_diagram(conf, right)
    assert np.all(rel.gap[rel.counts > 0] < 0)  # overconfident in every filled bin
    assert rel.mce >= rel.ece


def test_hand_computed_bins():
    conf = np.array([0.15, 0.15, 0.85, 0.85, 1.0])
    right = np.array([0, 1, 1, 1, 1])
    rel = reliability_diagram(conf, right, n_bins=10)
    assert rel.counts.tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 2, 1]  # 1.0 falls in the last bin
    assert rel.accuracy[1] == pytest.approx(0.5) and rel.confidence[1] == pytest.approx(0.15)
    assert np.isnan(rel.accuracy[0]) and np.isnan(rel.confidence[5])
    assert rel.ece == pytest.approx((2 * 0.35 + 2 * 0.15 + 0.0) / 5)
    assert rel.mce == pytest.approx(0.35)
    d = rel.to_dict()
    assert d["accuracy"][0] is None and d["counts"][1] == 2


def test_invalid_input_is_refused():
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        reliability_diagram([0.5, 1.2], [1, 0])
    with pytest.raises(DataError, match="NaN"):
        reliability_diagram([0.5, np.nan], [1, 0])
    with pytest.raises(DataError, match="outcomes"):
        reliability_diagram([0.5, 0.4], [1, 0, 1])
    with pytest.raises(DataError, match="booleans"):
        reliability_diagram([0.5, 0.4], [1, 2])
    with pytest.raises(ValueError):
        reliability_diagram([0.5], [1], n_bins=0)


def test_confidence_histogram():
    conf = np.array([0.0, 0.04, 0.5, 0.51, 0.99, 1.0])
    h = confidence_histogram(conf, n_bins=4)
    assert h.counts.tolist() == [2, 0, 2, 2] and h.right is None
    h = confidence_histogram(conf, n_bins=4, correct=[1, 0, 1, 1, 0, 1])
    assert h.right.tolist() == [1, 0, 2, 1] and h.wrong.tolist() == [1, 0, 0, 1]
    assert h.to_dict()["wrong"] == [1, 0, 0, 1]


def test_pairs_and_classifier_reliability():
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(3, 4)) * 3
    y = np.repeat(np.arange(3), 80)
    Z = centers[y] + rng.normal(size=(len(y), 4)) * 1.5
    clf = LatentClassifier().fit(Z, y)
    conf, right = outcome_pairs(clf.confidence(Z), clf.classes_, y, predicted=clf.predict(Z))
    assert right.mean() == pytest.approx(1 - clf.error(Z, y))
    top = classifier_reliability(clf, Z, y)
    assert top.n == len(y) and top.counts.sum() == len(y)
    per = classifier_reliability(clf, Z, y, kind="per_class")
    assert per.n == 3 * len(y)
    # every sample belongs to exactly one class: a third of the pairs are "right"
    assert np.nansum(per.accuracy * per.counts) == pytest.approx(len(y))
    with pytest.raises(ValueError, match="unknown kind"):
        outcome_pairs(clf.confidence(Z), clf.classes_, y, kind="macro")
    with pytest.raises(DataError):
        outcome_pairs(clf.confidence(Z), clf.classes_, y[:-1])
