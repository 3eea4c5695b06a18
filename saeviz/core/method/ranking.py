"""Guided labeling (paper section 3.5): which unlabeled samples are worth labeling next.

``score_samples`` turns a fitted ``LatentClassifier`` and latent codes into per-sample
``Scores`` (predicted class, its normalised confidence, the margin between the best and the
second-best raw SVM score, the class probabilities), all vectorised. ``rank_candidates``
(or ``rank_scores`` on scores computed once) orders the *unlabeled* samples by one of
``STRATEGIES``:

``margin``
    the paper's criterion: best minus second-best raw one-vs-rest SVM score; the smallest
    margin comes first.
``least_confidence``
    ``1 - max`` normalised confidence (section 3.4); the largest comes first.
``entropy``
    entropy (nats) of ``predict_proba``; the largest comes first.
``random``
    a uniform random order of the unlabeled samples, reproducible from ``seed``; the score
    is the uniform draw in [0, 1) that sets the order (smallest first).

Ties are broken by sample index, so every ranking is deterministic. Labeled samples
(label >= 0) are never candidates.

``compare_rounds`` measures what a labeling round changed (predictions that flipped, per
class gains and losses, the held-out error before and after). Walking a user through the
candidates one at a time is ``saeviz.core.state.labeling_queue.LabelingQueue``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saeviz.core.errors import DataError
from saeviz.core.state.labels import UNLABELED

STRATEGIES = ("margin", "least_confidence", "entropy", "random")


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Scores:
    """Per-sample classifier output for N samples and the classifier's K classes.

    ``classes`` are the label values of the K columns (the classes that had labeled samples
    when the classifier was fitted); ``predicted`` and ``second`` hold label values.
    """

    classes: np.ndarray     # (K,)
    decision: np.ndarray    # (N, K) raw one-vs-rest SVM scores
    proba: np.ndarray       # (N, K) normalised confidences divided by their sum
    predicted: np.ndarray   # (N,) best class
    second: np.ndarray      # (N,) second-best class
    confidence: np.ndarray  # (N,) normalised confidence of the best class, in [0, 1]
    margin: np.ndarray      # (N,) best minus second-best raw score, >= 0

    def __len__(self) -> int:
        return len(self.predicted)

    @property
    def entropy(self) -> np.ndarray:
        """Entropy of ``proba`` per sample, in nats (0 .. log K)."""
        p = self.proba
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(p), 0.0)
        return -terms.sum(axis=1)


def score_samples(classifier, codes: np.ndarray) -> Scores:
    """Scores of every sample from a fitted ``LatentClassifier``, in one pass over the codes.

    The raw scores are computed once; the normalised confidence and the probabilities follow
    from them exactly as ``LatentClassifier.confidence`` and ``predict_proba`` define them
    (the affine map ``score_low_`` / ``score_span_``, clipped; then normalised by the sum,
    clipping ties broken by a softmax of the raw scores weighted 1e-3).
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise DataError(f"codes must have shape (N, d), got {codes.shape}")
    classes = np.asarray(classifier.classes_)
    n, k = len(codes), len(classes)
    raw, proba = np.empty((n, k)), np.empty((n, k))
    best, second = np.empty(n, np.int64), np.empty(n, np.int64)
    conf_best, margin = np.empty(n), np.empty(n)
    for start in range(0, n, _BLOCK):  # block by block: the temporaries stay in the cache
        end = min(start + _BLOCK, n)
        r = raw[start:end]
        r[...] = classifier.decision_function(codes[start:end])
        flat = r.reshape(-1)  # (row, column) as one index into the block: a cheap gather
        row_start = np.arange(0, (end - start) * k, k)
        b = np.argmax(r, axis=1)
        at = row_start + b
        top = flat[at]
        conf = classifier.normalise(r)
        e = np.subtract(r, top[:, None], dtype=np.float32)  # a tie-breaker weighted 1e-3:
        np.exp(e, out=e)  # float32 is plenty
        e *= np.float32(1e-3) / e.sum(axis=1, keepdims=True)
        p = proba[start:end]
        np.add(conf, e, out=p)
        p /= p.sum(axis=1, keepdims=True)
        conf_best[start:end] = conf.reshape(-1)[at]
        flat[at] = -np.inf  # the runner-up is the best of the rest
        sb = np.argmax(r, axis=1)
        margin[start:end] = top - flat[row_start + sb]
        flat[at] = top
        best[start:end], second[start:end] = b, sb
    return Scores(
        classes=_frozen(classes.copy()), decision=_frozen(raw), proba=_frozen(proba),
        predicted=_frozen(classes[best]), second=_frozen(classes[second]),
        confidence=_frozen(conf_best), margin=_frozen(margin),
    )


_BLOCK = 1 << 13  # samples scored at a time


@dataclass(frozen=True, eq=False)
class Candidates:
    """Unlabeled samples ranked by a strategy, the most worth labeling first."""

    strategy: str
    indices: np.ndarray     # (k,) sample indices
    scores: np.ndarray      # (k,) the strategy's score (see the module docstring)
    best: np.ndarray        # (k,) predicted class
    second: np.ndarray      # (k,) runner-up class
    confidence: np.ndarray  # (k,) normalised confidence of the predicted class
    margin: np.ndarray      # (k,) best minus second-best raw SVM score
    n_pool: int             # unlabeled samples the candidates were chosen from

    def __len__(self) -> int:
        return len(self.indices)


def _strategy_scores(scores: Scores, pool: np.ndarray, strategy: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(score, sort key) of the pool samples: ascending key = most worth labeling first."""
    if strategy == "margin":
        s = scores.margin[pool]
        return s, s
    if strategy == "least_confidence":
        s = 1.0 - scores.confidence[pool]
        return s, -s
    if strategy == "entropy":
        s = scores.entropy[pool]
        return s, -s
    if strategy == "random":
        s = np.random.default_rng(seed).random(len(pool))
        return s, s
    raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")


def _first_k(key: np.ndarray, k: int | None) -> np.ndarray:
    """The positions of the ``k`` smallest keys in ascending order, ties (and NaN, last) in
    position order: ``np.argsort(key, kind="stable")[:k]``, without sorting all of ``key``
    when ``k`` is small (a partition finds the k-th key; only the keys up to it are sorted)."""
    n = len(key)
    if k is None or k >= n // 4:
        return np.argsort(key, kind="stable")[:k]
    if k == 0:
        return np.zeros(0, np.int64)
    kth = np.partition(key, k - 1)[k - 1]
    if np.isnan(kth):  # fewer than k numbers: all of them, then the first NaNs
        head = np.flatnonzero(~np.isnan(key))
        tail = np.flatnonzero(np.isnan(key))[: k - len(head)]
    else:
        head = np.flatnonzero(key < kth)
        tail = np.flatnonzero(key == kth)[: k - len(head)]
    chosen = np.concatenate([head, tail])
    chosen.sort()
    return chosen[np.argsort(key[chosen], kind="stable")]


def rank_scores(scores: Scores, labels: np.ndarray, k: int | None = 100, strategy: str = "margin",
                seed: int = 0) -> Candidates:
    """The ``k`` unlabeled samples (``labels == -1``) ranked first by ``strategy``.

    ``k=None`` ranks the whole unlabeled pool; fewer than ``k`` come back when the pool is
    smaller.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    labels = np.asarray(labels)
    if labels.shape != (len(scores),):
        raise DataError(f"{labels.shape[0] if labels.ndim else 0} labels for {len(scores)} scored samples")
    if k is not None and int(k) < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    pool = np.flatnonzero(labels == UNLABELED)
    values, key = _strategy_scores(scores, pool, strategy, seed)
    order = _first_k(np.asarray(key), None if k is None else int(k))
    idx = pool[order]
    return Candidates(
        strategy=strategy, indices=_frozen(idx), scores=_frozen(np.asarray(values, np.float64)[order]),
        best=_frozen(scores.predicted[idx]), second=_frozen(scores.second[idx]),
        confidence=_frozen(scores.confidence[idx]), margin=_frozen(scores.margin[idx]),
        n_pool=int(len(pool)),
    )


def rank_candidates(classifier, codes: np.ndarray, labels: np.ndarray, k: int | None = 100,
                    strategy: str = "margin", seed: int = 0) -> Candidates:
    """Score all ``codes`` with ``classifier`` and rank the unlabeled ones (``rank_scores``)."""
    codes = np.asarray(codes)
    labels = np.asarray(labels)
    if labels.shape != (len(codes),):
        raise DataError(f"{len(labels)} labels for {len(codes)} codes")
    return rank_scores(score_samples(classifier, codes), labels, k=k, strategy=strategy, seed=seed)


# -- one labeling round against the next ---------------------------------------------------
@dataclass(frozen=True, eq=False)
class RoundComparison:
    """What changed between the predictions of two rounds on the same N samples.

    ``gained[i]`` counts samples predicted ``classes[i]`` after but not before; ``lost[i]``
    those predicted ``classes[i]`` before but not after. The held-out fields are ``None``
    without ground truth; ``fixed`` / ``broken`` count held-out samples that went from wrong
    to right / right to wrong.
    """

    n_samples: int
    flipped: np.ndarray  # indices whose predicted class changed
    classes: np.ndarray
    gained: np.ndarray
    lost: np.ndarray
    heldout_error_before: float | None = None
    heldout_error_after: float | None = None
    fixed: int | None = None
    broken: int | None = None

    @property
    def n_flipped(self) -> int:
        """The number of samples whose predicted class changed."""
        return int(len(self.flipped))

    def to_dict(self) -> dict:
        """The comparison as JSON-ready values."""
        return {
            "n_samples": self.n_samples, "n_flipped": self.n_flipped,
            "classes": self.classes.tolist(), "gained": self.gained.tolist(), "lost": self.lost.tolist(),
            "heldout_error_before": self.heldout_error_before, "heldout_error_after": self.heldout_error_after,
            "fixed": self.fixed, "broken": self.broken,
        }


def compare_rounds(before: Scores, after: Scores, heldout_truth: np.ndarray | None = None,
                   heldout_index: np.ndarray | None = None) -> RoundComparison:
    """Compare two rounds' scores of the same samples.

    ``heldout_index`` picks the held-out samples among the scored ones (default: all of
    them); ``heldout_truth`` holds their true classes, in that order.
    """
    if len(before) != len(after):
        raise DataError(f"the rounds scored different samples ({len(before)} and {len(after)})")
    pb, pa = np.asarray(before.predicted), np.asarray(after.predicted)
    changed = pb != pa
    classes = np.union1d(before.classes, after.classes)
    gained = np.bincount(np.searchsorted(classes, pa[changed]), minlength=len(classes))
    lost = np.bincount(np.searchsorted(classes, pb[changed]), minlength=len(classes))
    err_b = err_a = None
    fixed = broken = None
    if heldout_truth is not None:
        truth = np.asarray(heldout_truth)
        idx = np.arange(len(pb)) if heldout_index is None else np.asarray(heldout_index, np.int64)
        if idx.ndim != 1 or truth.shape != idx.shape:
            raise DataError(f"{truth.size} held-out labels for {idx.size} held-out samples")
        if idx.size and (idx.min() < 0 or idx.max() >= len(pb)):
            raise DataError(f"held-out index out of range 0..{len(pb) - 1}")
        if idx.size:
            right_b, right_a = pb[idx] == truth, pa[idx] == truth
            err_b, err_a = float(1.0 - right_b.mean()), float(1.0 - right_a.mean())
            fixed, broken = int(np.sum(~right_b & right_a)), int(np.sum(right_b & ~right_a))
    return RoundComparison(
        n_samples=len(pb), flipped=_frozen(np.flatnonzero(changed)), classes=_frozen(classes),
        gained=_frozen(gained.astype(np.int64)), lost=_frozen(lost.astype(np.int64)),
        heldout_error_before=err_b, heldout_error_after=err_a, fixed=fixed, broken=broken,
    )
