"""Labeling rounds without widgets (``saeviz.core.state.rounds``)."""
from types import SimpleNamespace

import numpy as np
import pytest

from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.ranking import score_samples
from saeviz.core.state.rounds import PendingChange, RoundTracker

NAMES = ("a", "b", "c")
COLORS = ("#E69F00", "#56B4E9", "#009E73")


def clusters(n=240, spread=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    codes = np.eye(3, 4)[y] * 4.0 + spread * rng.normal(size=(n, 4))
    return codes, y


def heldout_test(clf, test_codes, truth, index):
    scores = score_samples(clf, test_codes)
    pred = np.asarray(scores.predicted)
    err = float(np.mean(pred != truth))
    return SimpleNamespace(source="test", n=len(truth), error=err, scores=scores, index=index, truth=truth,
                           describe=lambda: f"test split, {len(truth)} samples")


def ranking(codes, labels, version, epoch, test=None):
    """A guided-labeling result as the tracker reads it: request, scores, held-out predictions."""
    clf = LatentClassifier().fit(codes, labels)
    heldout = None if test is None else heldout_test(clf, *test)
    req = SimpleNamespace(n=len(codes), epoch=epoch, label_version=version, labels=labels.copy(),
                          class_names=NAMES, class_colors=COLORS)
    return SimpleNamespace(request=req, scores=score_samples(clf, codes), heldout=heldout)


def test_a_round_waits_for_an_epoch_trained_with_the_new_labels():
    codes, y = clusters()
    labels = np.full(len(y), -1)
    labels[:6] = y[:6]
    t = RoundTracker()
    assert t.add(ranking(codes, labels, 1, epoch=2)) is None and t.rounds == []
    labels[6:40] = y[6:40]
    t.labels_changed(version=2, completed_epochs=2, training=True)
    assert t.pending == PendingChange(2, 4)  # epoch 3 was running with the old labels
    t.labels_changed(version=3, completed_epochs=2, training=False)
    assert t.pending == PendingChange(3, 4)  # a later change never brings the round forward
    assert t.add(ranking(codes, labels, 2, epoch=4)) is None  # an older label version
    assert t.add(ranking(codes, labels, 3, epoch=3)) is None  # not trained in yet
    rnd = t.add(ranking(codes, labels, 3, epoch=4))
    assert rnd is not None and rnd.number == 1 and (rnd.epoch_before, rnd.epoch_after) == (2, 4)
    assert rnd.new_labels == 34 and rnd.class_names == NAMES and rnd.class_colors == COLORS
    assert t.pending is None and t.rounds == [rnd]
    assert rnd.heldout_before is None and rnd.fixed is None  # no held-out samples given


def test_labels_that_came_back_close_no_round_and_a_fresh_model_starts_over():
    codes, y = clusters()
    labels = np.where(np.arange(len(y)) < 30, y, -1)
    t = RoundTracker()
    t.add(ranking(codes, labels, 1, epoch=5))
    t.labels_changed(version=2, completed_epochs=5, training=False)
    assert t.add(ranking(codes, labels, 2, epoch=6)) is None and t.pending is None  # same labels
    t.labels_changed(version=3, completed_epochs=6, training=False)
    assert t.add(ranking(codes, labels, 3, epoch=1)) is None  # trained afresh: all forgotten
    assert t.pending is None and t.rounds == [] and t.base.request.epoch == 1


def test_on_the_test_split_a_round_counts_fixed_and_broken_samples():
    codes, y = clusters(spread=1.3, seed=2)
    test_codes, truth = clusters(n=150, spread=1.3, seed=3)
    index = np.arange(len(truth))
    labels = np.full(len(y), -1)
    for c in range(3):  # one label per class: a rough classifier
        labels[np.flatnonzero(y == c)[0]] = c
    t = RoundTracker()
    before = ranking(codes, labels, 1, epoch=1, test=(test_codes, truth, index))
    t.add(before)
    labels[:] = y  # every sample labeled
    t.labels_changed(version=2, completed_epochs=1, training=False)
    after = ranking(codes, labels, 2, epoch=2, test=(test_codes, truth, index))
    rnd = t.add(after)
    pb = np.asarray(before.heldout.scores.predicted)
    pa = np.asarray(after.heldout.scores.predicted)
    assert rnd.fixed == int(np.sum((pb != truth) & (pa == truth)))
    assert rnd.broken == int(np.sum((pb == truth) & (pa != truth)))
    assert rnd.heldout_before == pytest.approx(before.heldout.error)
    assert rnd.heldout_after == pytest.approx(after.heldout.error) and rnd.heldout_after < rnd.heldout_before
    assert rnd.heldout_source == "test split, 150 samples"
    flipped = np.flatnonzero(np.asarray(before.scores.predicted) != np.asarray(after.scores.predicted))
    assert np.array_equal(rnd.comparison.flipped, flipped)
