"""How the latent SVM does on samples it did not train on (held-out evaluation), Qt-free.

Held-out samples are the test split when the dataset has a ground truth and a model can encode
it (the paper's setting, ``heldout_test``); otherwise the labeled samples themselves, each
predicted by an SVM fitted without it (stratified cross-validation, ``heldout_cv``), so the
numbers exist for data without ground truth too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saeviz.core.method.calibration import (
    ReliabilityDiagram,
    outcome_pairs,
    reliability_diagram,
)
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.ranking import Scores, score_samples
from saeviz.core.method.training import encode
from saeviz.core.state.labels import UNLABELED

CV_FOLDS = 5
RELIABILITY_BINS = 10


@dataclass(frozen=True, eq=False)
class Heldout:
    """Predictions of samples the SVM did not train on, with their true classes.

    ``source`` is ``"test"`` (the test split, ``index`` into the dataset) or ``"cv"`` (labeled
    training samples, ``index`` their positions, each predicted by an SVM fitted without it).
    ``confidence`` holds the normalised confidence of every class (columns ``classes``).
    ``scores`` are the test split's full scores (``None`` for cross-validation).
    """

    source: str
    index: np.ndarray
    truth: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    classes: np.ndarray
    folds: int = 0
    scores: Scores | None = None

    @property
    def n(self) -> int:
        """Number of held-out samples."""
        return len(self.truth)

    @property
    def error(self) -> float:
        """Fraction of held-out samples predicted wrong (NaN without any)."""
        return float(np.mean(self.predicted != self.truth)) if self.n else float("nan")

    def describe(self) -> str:
        """Where the held-out samples come from, for display."""
        if self.source == "test":
            return f"test split, {self.n:,} samples"
        return f"{self.folds}-fold cross-validation of {self.n:,} labels"

    def reliability(self, kind: str = "top_label", n_bins: int = RELIABILITY_BINS) -> ReliabilityDiagram:
        """The reliability diagram of the held-out predictions (``kind``: see ``outcome_pairs``)."""
        conf, right = outcome_pairs(self.confidence, self.classes, self.truth, kind,
                                    predicted=self.predicted if kind == "top_label" else None)
        return reliability_diagram(conf, right, n_bins)


def heldout_from_codes(clf: LatentClassifier, test_codes: np.ndarray, test_idx: np.ndarray,
                       y_test: np.ndarray) -> Heldout:
    """The fitted SVM on the (already encoded) codes of the test split."""
    scores = score_samples(clf, test_codes)
    return Heldout("test", np.asarray(test_idx, np.int64), np.asarray(y_test, np.int64),
                   np.asarray(scores.predicted, np.int64), clf.normalise(scores.decision),
                   np.asarray(clf.classes_), scores=scores)


def heldout_test(clf: LatentClassifier, model, X_all: np.ndarray, test_idx: np.ndarray,
                 y_test: np.ndarray) -> Heldout:
    """The fitted SVM on the codes of the test split (encoded with ``model``)."""
    return heldout_from_codes(clf, encode(model, X_all[test_idx]), test_idx, y_test)


def heldout_cv(codes: np.ndarray, labels: np.ndarray, n_folds: int = CV_FOLDS) -> Heldout | None:
    """Out-of-fold predictions of the labeled samples (folds stratified by class, in index order).

    None with fewer than two labeled classes or fewer than four labels. A fold whose
    training part holds a single class is left out.
    """
    labels = np.asarray(labels)
    L = np.flatnonzero(labels >= 0)
    y = labels[L]
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2 or len(L) < 4:
        return None
    folds = int(min(n_folds, max(2, counts.max())))
    fold = np.empty(len(L), np.int64)
    for c in classes:
        sel = np.flatnonzero(y == c)
        fold[sel] = np.arange(len(sel)) % folds
    conf = np.zeros((len(L), len(classes)))
    pred = np.full(len(L), UNLABELED, np.int64)
    done = np.zeros(len(L), bool)
    for f in range(folds):
        test = fold == f
        if not test.any() or len(np.unique(y[~test])) < 2:
            continue
        clf = LatentClassifier().fit(codes[L[~test]], y[~test])
        cols = np.searchsorted(classes, clf.classes_)
        Z = codes[L[test]]
        rows = np.flatnonzero(test)
        conf[np.ix_(rows, cols)] = clf.confidence(Z)
        pred[rows] = clf.predict(Z)
        done[rows] = True
    if not done.any():
        return None
    return Heldout("cv", L[done], y[done], pred[done], conf[done], classes, folds=folds)
