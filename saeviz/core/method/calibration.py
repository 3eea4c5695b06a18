"""How far a confidence can be trusted: reliability diagrams, calibration error, histograms.

The paper (section 3.4, Figs. 8 and 9) bins the normalised SVM scores and compares each bin's
mean score with the precision actually reached there, and shows the distribution of the
scores. Two ways of pairing scores with outcomes are offered:

``top_label``
    one pair per sample: the normalised confidence of the predicted class and whether the
    prediction is right (the usual reliability diagram; the fraction right is the bin's
    accuracy).
``per_class``
    one pair per sample and class: the normalised confidence of class *c* and whether the
    sample belongs to *c* (the paper's Fig. 8 for two classes; the fraction is the bin's
    precision for "belongs to *c*").

Bins are equally wide on [0, 1]; a confidence of exactly 1 falls in the last bin. The
expected calibration error (ECE) is the count-weighted mean of ``|fraction right - mean
confidence|`` over the bins, the maximum calibration error (MCE) the largest one.

The normalised confidence is a scaled SVM score, not a probability: 1 at a class center and
clipped there, so an ECE well above zero says how far the score is from a probability, and
the diagram shows whether higher scores still mean more reliable decisions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saeviz.core.errors import DataError

KINDS = ("top_label", "per_class")


def _check(confidence, correct=None) -> tuple[np.ndarray, np.ndarray | None]:
    conf = np.asarray(confidence, np.float64).ravel()
    if not np.all(np.isfinite(conf)):
        raise DataError("confidences contain NaN or infinite values")
    if conf.size and (conf.min() < 0.0 or conf.max() > 1.0):
        raise DataError(f"confidences must lie in [0, 1], got {conf.min():g} .. {conf.max():g}")
    if correct is None:
        return conf, None
    right = np.asarray(correct).ravel()
    if right.shape != conf.shape:
        raise DataError(f"{right.size} outcomes for {conf.size} confidences")
    if right.dtype != bool:
        if right.size and not np.all((right == 0) | (right == 1)):
            raise DataError("outcomes must be booleans (or 0/1)")
        right = right.astype(bool)
    return conf, right


def _bin_of(conf: np.ndarray, n_bins: int) -> np.ndarray:
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    return np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)


@dataclass(frozen=True, eq=False)
class ReliabilityDiagram:
    """Per bin: how many pairs, their mean confidence and the fraction that were right."""

    edges: np.ndarray       # (B + 1,)
    counts: np.ndarray      # (B,)
    confidence: np.ndarray  # (B,) mean confidence, NaN for an empty bin
    accuracy: np.ndarray    # (B,) fraction right (accuracy or precision), NaN for an empty bin
    ece: float
    mce: float
    n: int

    @property
    def centers(self) -> np.ndarray:
        """The centre of each confidence bin."""
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    @property
    def gap(self) -> np.ndarray:
        """``accuracy - confidence`` per bin (negative: overconfident); NaN when empty."""
        return self.accuracy - self.confidence

    def to_dict(self) -> dict:
        """The diagram as JSON-ready values (empty bins as ``None``)."""
        def listed(a):
            return [None if not np.isfinite(v) else float(v) for v in a]
        return {"edges": self.edges.tolist(), "counts": self.counts.tolist(),
                "confidence": listed(self.confidence), "accuracy": listed(self.accuracy),
                "ece": self.ece, "mce": self.mce, "n": self.n}


def reliability_diagram(confidence, correct, n_bins: int = 10) -> ReliabilityDiagram:
    """Bin ``confidence`` (values in [0, 1]) and compare with the outcomes ``correct``."""
    conf, right = _check(confidence, correct)
    b = _bin_of(conf, n_bins)
    counts = np.bincount(b, minlength=n_bins)
    sum_conf = np.bincount(b, weights=conf, minlength=n_bins)
    sum_right = np.bincount(b, weights=right.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, sum_conf / counts, np.nan)
        acc = np.where(counts > 0, sum_right / counts, np.nan)
    filled = counts > 0
    gaps = np.abs(acc[filled] - mean_conf[filled])
    n = int(conf.size)
    ece = float(np.sum(counts[filled] * gaps) / n) if n else float("nan")
    mce = float(gaps.max()) if gaps.size else float("nan")
    return ReliabilityDiagram(edges=np.linspace(0.0, 1.0, n_bins + 1), counts=counts.astype(np.int64),
                              confidence=mean_conf, accuracy=acc, ece=ece, mce=mce, n=n)


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """Count-weighted mean over bins of ``|fraction right - mean confidence|``."""
    return reliability_diagram(confidence, correct, n_bins).ece


@dataclass(frozen=True, eq=False)
class ConfidenceHistogram:
    """How the confidences are distributed (the paper's Fig. 9), split by outcome if known."""

    edges: np.ndarray
    counts: np.ndarray
    right: np.ndarray | None = None  # counts of pairs that were right, per bin
    wrong: np.ndarray | None = None

    def to_dict(self) -> dict:
        """The histogram as JSON-ready values."""
        out = {"edges": self.edges.tolist(), "counts": self.counts.tolist()}
        if self.right is not None:
            out.update(right=self.right.tolist(), wrong=self.wrong.tolist())
        return out


def confidence_histogram(confidence, n_bins: int = 20, correct=None) -> ConfidenceHistogram:
    """Counts of ``confidence`` in equal bins on [0, 1] (and right/wrong counts if given)."""
    conf, right = _check(confidence, correct)
    b = _bin_of(conf, n_bins)
    counts = np.bincount(b, minlength=n_bins).astype(np.int64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    if right is None:
        return ConfidenceHistogram(edges, counts)
    r = np.bincount(b[right], minlength=n_bins).astype(np.int64)
    return ConfidenceHistogram(edges, counts, r, counts - r)


def outcome_pairs(confidence: np.ndarray, classes: np.ndarray, truth: np.ndarray,
                  kind: str = "top_label", predicted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, right) pairs from normalised confidences ``(N, K)`` whose columns are
    ``classes`` and true classes ``truth`` (N,), as ``kind`` describes (module docstring).

    For ``top_label`` the predicted classes default to the arg-max of ``confidence``; pass
    the classifier's ``predicted`` classes to follow its raw scores where clipping ties.
    """
    conf = np.asarray(confidence, np.float64)
    classes = np.asarray(classes)
    truth = np.asarray(truth)
    if conf.ndim != 2 or conf.shape[1] != len(classes) or len(truth) != len(conf):
        raise DataError(f"confidences of shape {conf.shape} do not match {len(classes)} classes "
                        f"and {len(truth)} true labels")
    if kind == "top_label":
        if predicted is None:
            col = np.argmax(conf, axis=1)
        else:
            predicted = np.asarray(predicted)
            col = np.searchsorted(classes, predicted)
            if predicted.shape != truth.shape or np.any(classes[np.minimum(col, len(classes) - 1)] != predicted):
                raise DataError("predicted classes must be one per sample, among the classes")
        return conf[np.arange(len(conf)), col], classes[col] == truth
    if kind == "per_class":
        return conf.ravel(), (truth[:, None] == classes[None, :]).ravel()
    raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")


def classifier_reliability(classifier, codes: np.ndarray, truth: np.ndarray, n_bins: int = 10,
                           kind: str = "top_label") -> ReliabilityDiagram:
    """Reliability of a fitted ``LatentClassifier``'s normalised confidence on ``codes``."""
    conf, right = outcome_pairs(classifier.confidence(codes), classifier.classes_, truth, kind,
                                predicted=classifier.predict(codes) if kind == "top_label" else None)
    return reliability_diagram(conf, right, n_bins)
