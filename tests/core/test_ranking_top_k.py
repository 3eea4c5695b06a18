"""Ranking the top k of many samples finds what a full stable sort would, ties in index order."""
from __future__ import annotations

import numpy as np

from saeviz.core.method.ranking import Scores, rank_scores


def scores_with(margin: np.ndarray, confidence: np.ndarray) -> Scores:
    n = len(margin)
    proba = np.full((n, 2), 0.5)
    return Scores(classes=np.array([0, 1]), decision=np.zeros((n, 2)), proba=proba,
                  predicted=np.zeros(n, np.int64), second=np.ones(n, np.int64),
                  confidence=confidence, margin=margin)


def test_top_k_equals_the_head_of_the_full_ranking():
    rng = np.random.default_rng(0)
    n = 50_000
    margin = np.round(rng.random(n), 2)  # many ties
    margin[rng.random(n) < 0.01] = np.nan
    confidence = np.round(rng.random(n), 1)
    labels = np.where(rng.random(n) < 0.3, 1, -1)
    s = scores_with(margin, confidence)
    for strategy in ("margin", "least_confidence", "random"):
        full = rank_scores(s, labels, k=None, strategy=strategy)
        for k in (0, 1, 7, 100, 2000):
            top = rank_scores(s, labels, k=k, strategy=strategy)
            np.testing.assert_array_equal(top.indices, full.indices[:k])
            np.testing.assert_array_equal(top.scores, full.scores[:k])
            assert top.n_pool == full.n_pool


def test_top_k_when_most_keys_are_nan():
    n = 10_000
    margin = np.full(n, np.nan)
    margin[[5, 900, 42]] = [0.3, 0.1, 0.3]
    s = scores_with(margin, np.zeros(n))
    top = rank_scores(s, np.full(n, -1), k=6)
    np.testing.assert_array_equal(top.indices, [900, 5, 42, 0, 1, 2])
