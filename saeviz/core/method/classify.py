"""A linear SVM on latent codes with the paper's normalised confidence (sections 3.3-3.4).

The raw one-vs-rest SVM scores are scaled "between the class centers" into [0, 1]: the mean
score the classes get at their own centers (the mean code of each class's labeled samples)
maps to 1, the mean score they get at the other classes' centers maps to 0, and the result is
clipped. One affine map serves all classes, so the ordering of the classes is the SVM's own
and ``predict`` is always the arg-max of ``confidence`` and ``predict_proba``.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from saeviz.core.errors import DataError

_BLOCK = 1 << 16  # codes scored at a time: the temporaries of a block stay in the cache


class LatentClassifier:
    """Linear SVM on codes; ``labels`` use -1 for unlabeled samples, which are ignored."""

    def __init__(self, C: float = 1.0, max_iter: int = 5000, random_state: int = 0):
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, codes: np.ndarray, labels: np.ndarray) -> "LatentClassifier":
        """Fit the SVM to the labeled ``codes`` (labels >= 0, at least two classes); returns self."""
        codes = np.asarray(codes, np.float64)
        labels = np.asarray(labels)
        if codes.ndim != 2 or len(codes) != len(labels):
            raise DataError(f"{len(labels)} labels for codes of shape {codes.shape}")
        mask = labels >= 0
        classes = np.unique(labels[mask])
        if len(classes) < 2:
            raise DataError("the classifier needs labeled samples of at least two classes")
        Z, y = codes[mask], labels[mask]
        self.scaler_ = StandardScaler().fit(Z)
        self.svm_ = LinearSVC(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.svm_.fit(self.scaler_.transform(Z), y)
        self.classes_ = self.svm_.classes_
        # the scaling folded into the linear map: scores of many codes in one product
        coef = self.svm_.coef_ / self.scaler_.scale_
        self.weights_ = np.ascontiguousarray(coef.T)  # (d, K') with K' = 1 for two classes
        self.bias_ = self.svm_.intercept_ - coef @ self.scaler_.mean_
        self.centers_ = np.stack([Z[y == c].mean(axis=0) for c in self.classes_])
        raw = self._raw(self.centers_)  # (K centers, K scores)
        k = len(self.classes_)
        hi = float(np.trace(raw)) / k
        lo = float(raw.sum() - np.trace(raw)) / (k * (k - 1))
        span = hi - lo
        self.score_low_, self.score_span_ = lo, (span if span > 1e-12 else 1.0)
        return self

    def _raw(self, codes: np.ndarray) -> np.ndarray:
        """The SVM's scores of the scaled codes, (N, K): the scaling and the SVM as one affine
        map, applied block by block (a million float32 codes are never copied whole)."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.weights_.shape[0]:
            raise DataError(f"codes of shape {codes.shape} for a classifier of "
                            f"{self.weights_.shape[0]}-D codes")
        if codes.dtype not in (np.float32, np.float64):
            codes = codes.astype(np.float64)
        k = self.weights_.shape[1]
        scores = np.empty((len(codes), k))
        for start in range(0, len(codes), _BLOCK):
            block = scores[start:start + _BLOCK]
            np.matmul(codes[start:start + _BLOCK].astype(np.float64, copy=False), self.weights_, out=block)
            block += self.bias_
        if k == 1:  # binary: one score, positive for classes_[1]
            scores = np.concatenate([-scores, scores], axis=1)
        return scores

    def decision_function(self, codes: np.ndarray) -> np.ndarray:
        """Raw SVM scores (N, K), one column per class in ``classes_``."""
        return self._raw(codes)

    def confidence(self, codes: np.ndarray) -> np.ndarray:
        """Normalised scores (N, K) in [0, 1]: 1 at a class's own center, 0 at the others'."""
        return self.normalise(self._raw(codes))

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """The normalised scores (see ``confidence``) of raw scores ``raw`` (N, K), computed
        once (``decision_function``); a new array."""
        out = np.subtract(raw, self.score_low_)  # in place from here: few temporaries for a large N
        out /= self.score_span_
        return np.clip(out, 0.0, 1.0, out=out)

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        """Normalised confidences divided by their sum (ties from clipping broken by the raw
        scores, so the arg-max is the SVM's prediction)."""
        raw = self._raw(codes)
        soft = np.exp(raw - raw.max(axis=1, keepdims=True))
        p = self.confidence(codes) + 1e-3 * soft / soft.sum(axis=1, keepdims=True)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """The predicted class of each code."""
        return self.classes_[np.argmax(self._raw(codes), axis=1)]

    def margin(self, codes: np.ndarray) -> np.ndarray:
        """Best minus second-best raw score: small means uncertain (guided labeling)."""
        scores = np.sort(self._raw(codes), axis=1)
        return scores[:, -1] - scores[:, -2]

    def error(self, codes: np.ndarray, y_true: np.ndarray) -> float:
        """The fraction of ``codes`` whose predicted class is not ``y_true``."""
        return float(np.mean(self.predict(codes) != np.asarray(y_true)))
