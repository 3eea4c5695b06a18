"""Metrics shared by the CLI, the app and the experiments: reconstruction RMSE in data units,
per-sample reconstruction errors, the reconstruction of one sample, the codes (and class
targets) of a trained model, and the held-out error of a linear SVM trained on the codes of the
labeled samples."""
from __future__ import annotations

import numpy as np

from saeviz.core.data.dataset import Dataset
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.config import TrainConfig
from saeviz.core.method.models import Autoencoder
from saeviz.core.method.structure import compute_targets
from saeviz.core.method.training import decode, encode


def rmse(model: Autoencoder, X: np.ndarray, codes: np.ndarray | None = None) -> float:
    """Root-mean-square reconstruction error over all features of ``X``, in data units."""
    if len(X) == 0:
        return float("nan")
    codes = encode(model, X) if codes is None else codes
    diff = decode(model, codes).reshape(len(X), -1) - np.asarray(X, np.float32).reshape(len(X), -1)
    return float(np.sqrt(np.mean(diff.astype(np.float64) ** 2)))


def heldout_error(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
                  test_truth: np.ndarray) -> float:
    """Error of a linear SVM fitted on the labeled train codes, on the test samples."""
    labels = np.asarray(train_labels)
    if len(np.unique(labels[labels >= 0])) < 2 or len(test_codes) == 0:
        return float("nan")
    clf = LatentClassifier().fit(train_codes, labels)
    return clf.error(test_codes, test_truth)


def evaluate(model: Autoencoder, dataset: Dataset, train_labels: np.ndarray,
             train_codes: np.ndarray | None = None, classifier: str = "svm") -> dict[str, float]:
    """RMSE on train and test, and the held-out SVM error (NaN without ground truth); with
    another ``classifier`` (``TrainConfig.classifier``) also its held-out error as
    ``classifier_error``."""
    Xtr, Xte = dataset.X[dataset.train_idx], dataset.X[dataset.test_idx]
    ctr = encode(model, Xtr) if train_codes is None else train_codes
    cte = encode(model, Xte)
    out = {
        "rmse_train": rmse(model, Xtr, ctr),
        "rmse_test": rmse(model, Xte, cte),
        "n_labeled": int(np.sum(np.asarray(train_labels) >= 0)),
        "svm_error": float("nan"),
    }
    if dataset.y is not None:
        truth = dataset.y[dataset.test_idx]
        out["svm_error"] = heldout_error(ctr, train_labels, cte, truth)
        labels = np.asarray(train_labels)
        if classifier != "svm" and len(np.unique(labels[labels >= 0])) >= 2 and len(cte):
            from saeviz.core.method.code_classifiers import fit_code_classifier

            out["classifier_error"] = fit_code_classifier(ctr, labels, classifier).error(cte, truth)
    return out


def encode_codes(model, X: np.ndarray, labels: np.ndarray | None = None, distances=None,
                 config: TrainConfig | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Codes of ``X`` and, when there are labels of two classes or more, the class targets.

    ``config`` is the model's ``TrainConfig``: its MDS settings and target scale
    (``scale_for``) give the targets the model was trained toward, as training computes
    them, so the stars land on the classes they shaped. This is the one place that computes
    the targets of a loaded model's codes (a model file, a reopened project)."""
    codes = encode(model, X)
    class_targets = None
    if labels is not None and distances is not None:
        idx = np.flatnonzero(np.asarray(labels) >= 0)
        if len(np.unique(np.asarray(labels)[idx])) >= 2:
            config = TrainConfig() if config is None else config
            class_targets = compute_targets(codes[idx], np.asarray(labels)[idx], distances, config.mds,
                                            scale=config.scale_for(model.latent_dim)).class_targets
    return codes, class_targets


def reconstruct_sample(model, x: np.ndarray) -> np.ndarray:
    """The reconstruction of one raw sample ``x`` by ``model``, computed on the CPU (what the
    app shows beside a selected sample; it runs on a worker thread)."""
    z = encode(model, np.asarray(x)[None], batch_size=1, device="cpu")
    return decode(model, z, batch_size=1, device="cpu")[0]


def reconstruction_errors(model, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Per-sample reconstruction RMSE of ``X`` in data units."""
    out = np.empty(len(X), np.float32)
    for i in range(0, len(X), batch_size):
        x = np.asarray(X[i:i + batch_size], np.float32)
        r = decode(model, encode(model, x, batch_size), batch_size)
        out[i:i + len(x)] = np.sqrt(np.mean((r - x).reshape(len(x), -1) ** 2, axis=1))
    return out
