"""Guided labeling: scores, rankings and round comparisons (``saeviz.core.method.ranking``),
and the labeling queue walking through a ranking (``saeviz.core.state.labeling_queue``, whose
cursor is tested in ``test_labeling_queue.py``)."""
import numpy as np
import pytest

from saeviz.core.errors import DataError
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.ranking import (
    STRATEGIES,
    Scores,
    compare_rounds,
    rank_candidates,
    rank_scores,
    score_samples,
)
from saeviz.core.state.labeling_queue import LabelingQueue
from saeviz.core.state.labels import LabelStore


def blobs(seed=0, k=4, n=40, d=3, spread=1.2):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 3
    y = np.repeat(np.arange(k), n)
    return centers[y] + rng.normal(size=(k * n, d)) * spread, y


@pytest.fixture
def fitted():
    Z, y = blobs()
    labels = np.full(len(y), -1)
    labels[::5] = y[::5]
    return LatentClassifier().fit(Z, labels), Z, y, labels


def test_margin_ranking_is_top1_minus_top2_of_the_raw_svm_scores(fitted):
    clf, Z, _, labels = fitted
    raw = clf.decision_function(Z)
    top = np.sort(raw, axis=1)
    margin = top[:, -1] - top[:, -2]
    pool = np.flatnonzero(labels < 0)
    expected = pool[np.argsort(margin[pool], kind="stable")][:15]
    cand = rank_candidates(clf, Z, labels, k=15, strategy="margin")
    assert cand.indices.tolist() == expected.tolist()
    assert np.allclose(cand.scores, margin[expected])
    assert np.allclose(cand.margin, margin[expected])
    assert np.all(np.diff(cand.scores) >= 0)
    order = np.argsort(-raw[expected], axis=1)
    assert cand.best.tolist() == clf.classes_[order[:, 0]].tolist()
    assert cand.second.tolist() == clf.classes_[order[:, 1]].tolist()
    assert cand.n_pool == len(pool)


def test_margin_on_a_hand_computed_example():
    # Two classes on a line: the SVM's score is monotone in x, so the sample nearest the
    # boundary between the labeled groups has the smallest margin.
    Z = np.array([[-3.0], [-2.0], [-0.2], [0.05], [0.6], [2.0], [3.0]])
    labels = np.array([0, 0, -1, -1, -1, 1, 1])
    clf = LatentClassifier().fit(Z, labels)
    s = clf.decision_function(Z)
    boundary = -clf.svm_.intercept_[0] / clf.svm_.coef_[0, 0] * clf.scaler_.scale_[0] + clf.scaler_.mean_[0]
    cand = rank_candidates(clf, Z, labels, k=3)
    assert cand.indices.tolist() == sorted([2, 3, 4], key=lambda i: abs(Z[i, 0] - boundary))
    assert np.allclose(cand.scores, np.abs(s[cand.indices, 1] - s[cand.indices, 0]))


def test_labeled_samples_are_never_candidates(fitted):
    clf, Z, _, labels = fitted
    labeled = set(np.flatnonzero(labels >= 0).tolist())
    for strategy in STRATEGIES:
        everything = rank_candidates(clf, Z, labels, k=None, strategy=strategy)
        assert sorted(everything.indices.tolist()) == np.flatnonzero(labels < 0).tolist()
        top = rank_candidates(clf, Z, labels, k=10, strategy=strategy)
        assert len(top) == 10 and not labeled & set(top.indices.tolist())
    few = labels.copy()
    few[:-3] = np.where(few[:-3] < 0, 0, few[:-3])  # only the last three unlabeled
    few[-3:] = -1
    assert sorted(rank_candidates(clf, Z, few, k=100).indices.tolist()) == [len(Z) - 3, len(Z) - 2, len(Z) - 1]
    assert len(rank_candidates(clf, Z, np.zeros(len(Z), int), k=5)) == 0


def test_each_strategy_ranks_as_defined(fitted):
    clf, Z, _, labels = fitted
    pool = np.flatnonzero(labels < 0)
    conf = clf.confidence(Z)
    proba = clf.predict_proba(Z)
    lc = 1 - conf[np.arange(len(Z)), np.searchsorted(clf.classes_, clf.predict(Z))]
    ent = -(proba * np.log(proba)).sum(1)
    for strategy, values in (("least_confidence", lc), ("entropy", ent)):
        cand = rank_candidates(clf, Z, labels, k=None, strategy=strategy)
        assert np.allclose(cand.scores, values[cand.indices])
        assert np.all(np.diff(cand.scores) <= 1e-12)
        assert cand.indices[0] == pool[np.argmax(values[pool])]
    a = rank_candidates(clf, Z, labels, k=20, strategy="random", seed=3)
    b = rank_candidates(clf, Z, labels, k=20, strategy="random", seed=3)
    c = rank_candidates(clf, Z, labels, k=20, strategy="random", seed=4)
    assert a.indices.tolist() == b.indices.tolist() != c.indices.tolist()
    assert np.all(np.diff(a.scores) >= 0)
    with pytest.raises(ValueError, match="unknown strategy"):
        rank_candidates(clf, Z, labels, strategy="biggest")


def test_ties_are_broken_by_sample_index(fitted):
    clf, Z, _, labels = fitted
    Zt = np.repeat(Z[:1], 6, axis=0)  # six identical codes: identical scores
    cand = rank_candidates(clf, Zt, np.full(6, -1), k=4, strategy="margin")
    assert cand.indices.tolist() == [0, 1, 2, 3]


def test_scores_agree_with_the_classifier(fitted):
    clf, Z, _, _ = fitted
    s = score_samples(clf, Z)
    assert s.predicted.tolist() == clf.predict(Z).tolist()
    assert np.allclose(s.margin, clf.margin(Z))
    assert np.allclose(s.proba, clf.predict_proba(Z))
    cols = np.searchsorted(clf.classes_, s.predicted)
    assert np.allclose(s.confidence, clf.confidence(Z)[np.arange(len(Z)), cols])
    assert np.all(s.second != s.predicted)
    assert not s.margin.flags.writeable
    ranked = rank_scores(s, np.full(len(Z), -1), k=5)
    assert ranked.indices.tolist() == rank_candidates(clf, Z, np.full(len(Z), -1), k=5).indices.tolist()


def test_binary_and_partial_classes():
    Z, y = blobs(k=3)
    labels = np.where(y == 2, -1, y)  # class 2 never labeled: a two-class SVM
    clf = LatentClassifier().fit(Z, labels)
    s = score_samples(clf, Z)
    assert set(np.unique(s.predicted)) <= {0, 1}
    assert np.allclose(s.margin, np.abs(s.decision[:, 1] - s.decision[:, 0]))
    with pytest.raises(DataError):
        rank_candidates(clf, Z, labels[:-1])


def fake_scores(predicted, classes=(0, 1, 2)):
    predicted = np.asarray(predicted)
    n, k = len(predicted), len(classes)
    return Scores(classes=np.asarray(classes), decision=np.zeros((n, k)), proba=np.full((n, k), 1 / k),
                  predicted=predicted, second=predicted, confidence=np.ones(n), margin=np.zeros(n))


def test_compare_rounds_counts_flips_and_per_class_changes():
    before = fake_scores([0, 0, 1, 1, 2, 2, 0])
    after = fake_scores([0, 1, 1, 2, 2, 0, 0])
    cmp = compare_rounds(before, after)
    assert cmp.n_flipped == 3 and cmp.flipped.tolist() == [1, 3, 5]
    assert cmp.gained.tolist() == [1, 1, 1]  # 5 -> 0, 1 -> 1, 3 -> 2
    assert cmp.lost.tolist() == [1, 1, 1]
    assert cmp.heldout_error_before is None
    truth = np.array([0, 1, 1, 1, 2])
    held = np.array([0, 1, 2, 3, 4])
    cmp = compare_rounds(before, after, heldout_truth=truth, heldout_index=held)
    assert cmp.heldout_error_before == pytest.approx(1 / 5)  # sample 1 wrong
    assert cmp.heldout_error_after == pytest.approx(1 / 5)   # sample 3 wrong
    assert (cmp.fixed, cmp.broken) == (1, 1)
    assert cmp.to_dict()["n_flipped"] == 3
    with pytest.raises(DataError):
        compare_rounds(before, fake_scores([0, 1]))
    with pytest.raises(DataError):
        compare_rounds(before, after, heldout_truth=truth[:3], heldout_index=held)


def test_compare_rounds_on_real_classifiers_sees_classes_appear():
    Z, y = blobs(k=3)
    few = np.full(len(y), -1)
    few[[0, 1, 40, 41]] = y[[0, 1, 40, 41]]  # classes 0 and 1 only
    more = few.copy()
    more[[80, 81]] = 2
    b = score_samples(LatentClassifier().fit(Z, few), Z)
    a = score_samples(LatentClassifier().fit(Z, more), Z)
    cmp = compare_rounds(b, a, heldout_truth=y)
    assert cmp.classes.tolist() == [0, 1, 2]
    assert cmp.gained[2] > 30 and cmp.lost[2] == 0
    assert cmp.heldout_error_after < cmp.heldout_error_before
    assert cmp.n_flipped == int(np.sum(b.predicted != a.predicted))


def test_queue_from_candidates(fitted):
    clf, Z, _, labels = fitted
    cand = rank_candidates(clf, Z, labels, k=5)
    store = LabelStore(len(Z), ["a", "b", "c", "d"], labels=labels)
    q = LabelingQueue(cand, store)
    assert q.items == tuple(cand.indices.tolist())
    q.assign(3)
    assert store.labels[cand.indices[0]] == 3
    again = rank_candidates(clf, Z, store.labels, k=5)
    assert cand.indices[0] not in again.indices
