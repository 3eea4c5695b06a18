"""The result of one epoch's latent classifier, computed once and read by every view (Qt-free).

After each epoch (and after the labels change while no training runs) one linear SVM is fitted
on the labeled codes (``compute_epoch_result``, run off the UI thread). Its ``EpochResult``
holds the fitted ``LatentClassifier``, the ``Scores`` of every code, the prediction, confidence
and margin per sample, the errors measured against the ground truth and, when a model can
encode the test split, the held-out evaluation on it. The session keeps the newest one
(``Session.classifier``); the latent view, the inspector, the guided-labeling candidates and
metrics and the class transitions all read it instead of fitting their own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.code_classifiers import fit_code_classifier
from saeviz.core.method.heldout import Heldout, heldout_from_codes
from saeviz.core.method.ranking import Scores, score_samples
from saeviz.core.method.training import encode


@dataclass(frozen=True, eq=False)
class EpochResult:
    """A linear SVM fitted on the labeled codes of one epoch, applied to every code.

    ``codes`` and ``labels`` are what it was fitted on (positions in the training split;
    ``label_version`` is the label store's version then). ``scores`` are the ``Scores`` of
    every code; ``class_scores`` (N, K) the normalised confidence per class of the label
    store's K classes (0 for classes without labels). ``predicted`` is the arg-max class,
    ``confidence`` its normalised confidence and ``margin`` the best minus the second-best raw
    score. ``train_error`` compares predictions of unlabeled training samples with the ground
    truth, ``test_error`` those of the test split (None without ground truth or test codes);
    ``heldout`` is the test split's evaluation (None without one) and ``test_codes`` the
    codes it was measured on (reused while the model stays the same).
    """

    epoch: int
    label_version: int
    codes: np.ndarray
    labels: np.ndarray
    classifier: LatentClassifier
    scores: Scores
    class_scores: np.ndarray
    train_error: float | None = None
    test_error: float | None = None
    heldout: Heldout | None = None
    test_codes: np.ndarray | None = None  # the test split's codes it was measured on
    kind: str = "svm"  # which classifier (TrainConfig.classifier)

    @property
    def predicted(self) -> np.ndarray:
        """The predicted class of every code (``scores.predicted``)."""
        return self.scores.predicted

    @property
    def confidence(self) -> np.ndarray:
        """The normalised confidence of the predicted class (``scores.confidence``)."""
        return self.scores.confidence

    @property
    def margin(self) -> np.ndarray:
        """Best minus second-best raw score (``scores.margin``)."""
        return self.scores.margin

    @property
    def n(self) -> int:
        """Number of scored codes."""
        return len(self.predicted)


def compute_epoch_result(codes: np.ndarray, labels: np.ndarray, n_classes: int, *, epoch: int = 0,
                         label_version: int = 0, y_true: np.ndarray | None = None, model=None,
                         X_all: np.ndarray | None = None, test_idx: np.ndarray | None = None,
                         y_test: np.ndarray | None = None,
                         test_codes: np.ndarray | None = None, classifier: str = "svm") -> EpochResult | None:
    """Fit the classifier once on the labeled ``codes`` and derive everything from it.

    ``classifier`` names it (``TrainConfig.classifier``): the paper's linear SVM
    (``LatentClassifier``, the default), label spreading over the codes or a kNN vote
    (``saeviz.core.method.code_classifiers``); all score alike.

    None when fewer than two classes are labeled. With ``model`` and the test split
    (``X_all``, ``test_idx``, ``y_test``) the test codes are encoded once and give both
    ``test_error`` and ``heldout``; ``test_codes`` may be passed instead of the model.
    """
    codes = np.asarray(codes)
    labels = np.array(labels, np.int64, copy=True)
    if len(np.unique(labels[labels >= 0])) < 2:
        return None
    clf = fit_code_classifier(codes, labels, classifier)
    scores = score_samples(clf, codes)
    predicted = scores.predicted
    class_scores = np.zeros((len(codes), n_classes), np.float32)
    class_scores[:, np.asarray(clf.classes_, np.int64)] = clf.normalise(scores.decision)
    train_error = test_error = None
    if y_true is not None:
        mask = labels < 0
        if mask.any():
            train_error = float(np.mean(predicted[mask] != y_true[mask]))
    heldout = None
    has_test = test_idx is not None and len(test_idx) and y_test is not None
    if test_codes is None and has_test and model is not None and X_all is not None:
        test_codes = encode(model, X_all[test_idx])
    if test_codes is not None and has_test and len(test_codes):
        heldout = heldout_from_codes(clf, test_codes, test_idx, y_test)
        test_error = heldout.error
    return EpochResult(
        epoch=int(epoch), label_version=int(label_version), codes=codes, labels=labels, classifier=clf,
        scores=scores, class_scores=class_scores, train_error=train_error, test_error=test_error, heldout=heldout,
        test_codes=test_codes, kind=classifier)
