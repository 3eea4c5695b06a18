"""Reconstructions and their errors (``saeviz.core.method.evaluate``)."""
from __future__ import annotations

import numpy as np

from saeviz.core.method.config import ModelConfig
from saeviz.core.method.evaluate import reconstruct_sample, reconstruction_errors, rmse
from saeviz.core.method.models import build_autoencoder
from saeviz.core.method.training import decode, encode


def test_one_sample_reconstructs_as_in_a_batch_and_its_error_matches():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 5, 4)).astype(np.float32)
    model = build_autoencoder(ModelConfig(hidden=(16,), latent_dim=3), X, seed=0).eval()
    batch = decode(model, encode(model, X))
    one = reconstruct_sample(model, X[7])
    assert one.shape == (5, 4)
    np.testing.assert_allclose(one, batch[7], rtol=1e-5, atol=1e-5)
    errors = reconstruction_errors(model, X, batch_size=5)
    assert errors.shape == (12,)
    assert abs(errors[7] - np.sqrt(np.mean((one - X[7]) ** 2))) < 1e-5
    assert abs(rmse(model, X) - np.sqrt(np.mean(errors.astype(np.float64) ** 2))) < 1e-5
