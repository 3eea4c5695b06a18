"""Self-training: confident predictions join the structural targets as pseudo-labels.

``SelfTraining`` wraps a supervision source (what the ``Trainer`` reads at every epoch
start). From the epoch ``warmup`` on it fits a classifier on the labeled codes of the
trainer's current codes, takes the unlabeled samples whose predicted class has a confidence
of at least ``threshold`` and hands the trainer a copy of the supervision with those samples
labeled, so their codes get MDS targets like the labeled ones, their structural loss scaled by
``weight`` (1: as much as a given label's). The pseudo-labels live only in
that copy: the label store, or the labels given to an estimator, never see them, and they
are recomputed from scratch every epoch (a sample may lose its pseudo-label again).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from saeviz.core.method.code_classifiers import fit_code_classifier, validate_classifier
from saeviz.core.state.labels import Supervision


def pseudo_labels(codes: np.ndarray, labels: np.ndarray, threshold: float, classifier: str = "svm") -> np.ndarray:
    """``labels`` (-1 unlabeled) with the unlabeled samples whose predicted class has a
    confidence of at least ``threshold`` set to that class; a new array. The labeled samples
    keep their labels; with fewer than two labeled classes nothing is added."""
    labels = np.array(labels, np.int64, copy=True)
    mask = labels < 0
    if not mask.any() or len(np.unique(labels[~mask])) < 2:
        return labels
    clf = fit_code_classifier(codes, labels, classifier)
    conf = clf.normalise(np.asarray(clf.decision_function(np.asarray(codes)[mask]), np.float64))
    best = np.argmax(conf, axis=1)
    sure = conf[np.arange(len(best)), best] >= float(threshold)
    rows = np.flatnonzero(mask)[sure]
    labels[rows] = np.asarray(clf.classes_, np.int64)[best[sure]]
    return labels


def _in_unit_interval(value, what: str) -> float:
    number = float(value)
    if not 0.0 < number <= 1.0:
        raise ValueError(f"{what} must lie in (0, 1], got {value}")
    return number


def validate_threshold(threshold: float) -> float:
    """``threshold`` as a float in (0, 1]; ValueError otherwise."""
    return _in_unit_interval(threshold, "the self-training confidence threshold")


def validate_pseudo_weight(weight: float) -> float:
    """``weight`` (of a pseudo-label's structural loss) as a float in (0, 1]; ValueError otherwise."""
    return _in_unit_interval(weight, "the pseudo-label weight")


class SelfTraining:
    """A supervision source adding confident pseudo-labels (see the module docstring).

    ``source`` returns the user's ``Supervision`` (or None); ``attach`` gives the trainer
    whose ``epoch`` and ``latent_codes()`` are read. ``n_pseudo`` is the number of
    pseudo-labels handed out at the last epoch start.
    """

    def __init__(self, source: Callable[[], Supervision | None], threshold: float = 0.9,
                 classifier: str = "svm", warmup: int = 1, weight: float = 1.0):
        self.source = source
        self.threshold = validate_threshold(threshold)
        self.weight = validate_pseudo_weight(weight)
        self.classifier = validate_classifier(classifier)
        self.warmup = int(warmup)
        self.n_pseudo = 0
        self._trainer = None

    def attach(self, trainer) -> SelfTraining:
        """Read codes and epochs from ``trainer`` from now on; returns self."""
        self._trainer = trainer
        return self

    def __call__(self) -> Supervision | None:
        """The user's supervision, with pseudo-labels once the warm-up epochs are done."""
        sup = self.source()
        trainer = self._trainer
        self.n_pseudo = 0
        if sup is None or trainer is None or trainer.epoch < self.warmup:
            return sup
        labels = pseudo_labels(trainer.latent_codes(), sup.labels, self.threshold, self.classifier)
        given = np.asarray(sup.labels) >= 0
        self.n_pseudo = int(np.sum(labels >= 0) - np.sum(given))
        weights = None if self.weight == 1.0 else np.where(given, 1.0, self.weight).astype(np.float32)
        return Supervision(labels, sup.class_names, sup.colors, sup.distances, sup.version, weights)


def with_self_training(source: Callable[[], Supervision | None], train_config):
    """What a run learns from: ``source`` itself, or (when ``train_config.self_training`` is
    above 0) a ``SelfTraining`` around it with the configured pseudo-labeler, to be attached to
    the trainer once it exists."""
    if float(train_config.self_training) <= 0:
        return source
    return SelfTraining(source, train_config.self_training,
                        train_config.pseudo_labeler or train_config.classifier,
                        weight=train_config.pseudo_weight)
