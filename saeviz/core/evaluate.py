"""Metrics shared by the CLI, the app and the experiments: reconstruction RMSE in data units
and the held-out error of a linear SVM trained on the codes of the labeled samples."""
from __future__ import annotations

import numpy as np

from .classify import LatentClassifier
from .data.dataset import Dataset
from .models import Autoencoder
from .training import decode, encode


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
             train_codes: np.ndarray | None = None) -> dict[str, float]:
    """RMSE on train and test, and the held-out SVM error (NaN without ground truth)."""
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
        out["svm_error"] = heldout_error(ctr, train_labels, cte, dataset.y[dataset.test_idx])
    return out
