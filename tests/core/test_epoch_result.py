"""The per-epoch result: one SVM fit, everything read from it, the test split measured once."""
import numpy as np

from saeviz.core.method.config import ModelConfig
from saeviz.core.method.models import build_autoencoder
from saeviz.core.method.training import encode
from saeviz.core.state.results import compute_epoch_result


def _data(seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 120)
    X = (rng.normal(size=(120, 6)) + 3.0 * y[:, None]).astype(np.float32)
    return X, y


def test_the_result_reads_prediction_confidence_and_margin_from_its_scores():
    X, y = _data()
    labels = np.where(np.arange(len(y)) % 4 == 0, y, -1)
    res = compute_epoch_result(X, labels, 3, y_true=y)
    assert np.array_equal(res.predicted, res.classifier.predict(X))
    assert np.allclose(res.margin, res.classifier.margin(X))
    assert np.allclose(res.class_scores, res.classifier.confidence(X))
    assert np.allclose(res.confidence, res.class_scores[np.arange(len(X)), res.predicted])
    assert res.train_error is not None and res.train_error < 0.2


def test_test_codes_of_a_result_give_the_same_evaluation_as_encoding_again():
    X, y = _data(1)
    model = build_autoencoder(ModelConfig(architecture="mlp", hidden=(8,), latent_dim=3), X)
    train, test = np.arange(90), np.arange(90, 120)
    codes = encode(model, X[train])
    labels = np.where(train % 3 == 0, y[train], -1)
    first = compute_epoch_result(codes, labels, 3, model=model, X_all=X, test_idx=test, y_test=y[test])
    assert first.test_codes is not None and first.test_codes.shape == (30, 3)
    again = compute_epoch_result(codes, labels, 3, X_all=X, test_idx=test, y_test=y[test],
                                 test_codes=first.test_codes)
    assert again.test_error == first.test_error
    assert np.array_equal(again.heldout.predicted, first.heldout.predicted)
