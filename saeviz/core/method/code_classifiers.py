"""Classifiers on the latent codes besides the paper's linear SVM, chosen by name.

``svm`` is the paper's linear SVM with its normalised confidence (``LatentClassifier``, the
default). ``label-spreading`` spreads the labels over a k-nearest-neighbour graph of all
codes, labeled and unlabeled (Zhou et al. 2004, scikit-learn's ``LabelSpreading``), so the
unlabeled codes shape the decision. ``knn`` votes among the nearest labeled codes, weighted
by inverse distance. The two graph classifiers score each class with a probability in
[0, 1], which serves as their raw score and as their normalised confidence; the interface
(``classes_``, ``decision_function``, ``normalise``, ``confidence``, ``predict``,
``predict_proba``, ``margin``, ``error``) is the SVM's, so every view reads them alike.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.semi_supervised import LabelSpreading

from saeviz.core.errors import DataError
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.config import CLASSIFIERS

__all__ = ["CLASSIFIERS", "CLASSIFIER_NAMES", "KnnClassifier", "SpreadingClassifier", "fit_code_classifier",
           "make_classifier", "validate_classifier"]
CLASSIFIER_NAMES = {"svm": "Linear SVM (paper)", "label-spreading": "Label spreading on codes",
                    "knn": "kNN vote of labeled codes"}
NEIGHBORS = 10


def validate_classifier(kind: str) -> str:
    """``kind`` when it names a classifier of ``CLASSIFIERS``; ValueError otherwise."""
    if kind not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {kind!r}")
    return kind


def _labeled(codes, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes = np.asarray(codes, np.float64)
    labels = np.asarray(labels, np.int64)
    if codes.ndim != 2 or len(codes) != len(labels):
        raise DataError(f"{len(labels)} labels for codes of shape {codes.shape}")
    mask = labels >= 0
    if len(np.unique(labels[mask])) < 2:
        raise DataError("the classifier needs labeled samples of at least two classes")
    return codes, labels, mask


class _ProbabilityClassifier:
    """Shared scoring of classifiers whose raw score per class is a probability."""

    classes_: np.ndarray

    def _proba(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def decision_function(self, codes: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K), one column per class in ``classes_``."""
        return self._proba(np.asarray(codes, np.float64))

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """The confidence of raw scores ``raw``: the probabilities themselves, clipped to [0, 1]."""
        return np.clip(np.asarray(raw, np.float64), 0.0, 1.0)

    def confidence(self, codes: np.ndarray) -> np.ndarray:
        """Probabilities (N, K) in [0, 1]."""
        return self.normalise(self.decision_function(codes))

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        """Probabilities (N, K) summing to one per sample."""
        p = self.confidence(codes) + 1e-12
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """The most probable class of each code."""
        return self.classes_[np.argmax(self.decision_function(codes), axis=1)]

    def margin(self, codes: np.ndarray) -> np.ndarray:
        """Best minus second-best probability: small means uncertain."""
        p = np.sort(self.decision_function(codes), axis=1)
        return p[:, -1] - p[:, -2]

    def error(self, codes: np.ndarray, y_true: np.ndarray) -> float:
        """The fraction of ``codes`` whose predicted class is not ``y_true``."""
        return float(np.mean(self.predict(codes) != np.asarray(y_true)))


class SpreadingClassifier(_ProbabilityClassifier):
    """kNN label spreading over all given codes (``labels`` -1 for unlabeled samples)."""

    def __init__(self, n_neighbors: int = NEIGHBORS, alpha: float = 0.2, max_iter: int = 30):
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.max_iter = max_iter

    def fit(self, codes: np.ndarray, labels: np.ndarray) -> SpreadingClassifier:
        """Spread the labels over the kNN graph of ``codes``; returns self."""
        codes, labels, _ = _labeled(codes, labels)
        k = max(1, min(int(self.n_neighbors), len(codes) - 1))
        self.model_ = LabelSpreading(kernel="knn", n_neighbors=k, alpha=float(self.alpha),
                                     max_iter=int(self.max_iter))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(codes, labels)
        self.classes_ = np.asarray(self.model_.classes_)
        return self

    def _proba(self, codes: np.ndarray) -> np.ndarray:
        # scikit-learn's inductive rule (the mean spread distribution of the k nearest fitted
        # codes), without its per-sample Python loop
        m = self.model_
        idx = m.nn_fit.kneighbors(codes, m.n_neighbors, return_distance=False)
        p = m.label_distributions_[idx].sum(axis=1)
        total = p.sum(axis=1, keepdims=True)
        return np.divide(p, total, out=np.full_like(p, 1.0 / len(self.classes_)), where=total > 0)


class KnnClassifier(_ProbabilityClassifier):
    """Distance-weighted vote of the ``n_neighbors`` nearest labeled codes."""

    def __init__(self, n_neighbors: int = NEIGHBORS):
        self.n_neighbors = n_neighbors

    def fit(self, codes: np.ndarray, labels: np.ndarray) -> KnnClassifier:
        """Keep the labeled ``codes`` for the vote; returns self."""
        codes, labels, mask = _labeled(codes, labels)
        k = max(1, min(int(self.n_neighbors), int(mask.sum())))
        self.model_ = KNeighborsClassifier(n_neighbors=k, weights="distance").fit(codes[mask], labels[mask])
        self.classes_ = np.asarray(self.model_.classes_)
        return self

    def _proba(self, codes: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(codes)


def make_classifier(kind: str = "svm", random_state: int = 0):
    """An unfitted classifier of ``kind`` (one of ``CLASSIFIERS``)."""
    validate_classifier(kind)
    if kind == "label-spreading":
        return SpreadingClassifier()
    if kind == "knn":
        return KnnClassifier()
    return LatentClassifier(random_state=random_state)


def fit_code_classifier(codes: np.ndarray, labels: np.ndarray, kind: str = "svm", random_state: int = 0):
    """A classifier of ``kind`` fitted on ``codes`` with ``labels`` (-1 unlabeled)."""
    return make_classifier(kind, random_state).fit(codes, labels)
