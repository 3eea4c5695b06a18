import numpy as np
import pytest
import torch

from saeviz.core.method.config import ModelConfig
from saeviz.core.method.models import Autoencoder, build_autoencoder, normalization


@pytest.mark.parametrize("shape", [(8, 8), (28, 28), (7, 10)])
def test_conv_net_mirrors_the_encoder(shape):
    X = np.random.default_rng(0).random((5, *shape)).astype(np.float32)
    model = build_autoencoder(ModelConfig(architecture="conv", latent_dim=6), X)
    z, xhat = model(torch.from_numpy(X))
    assert z.shape == (5, 6)
    assert xhat.shape == (5, *shape)
    convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32]
    assert all(c.kernel_size == (3, 3) for c in convs)


@pytest.mark.parametrize("shape", [(28, 28), (8, 8), (13, 7)])
def test_conv_net_computes_the_layers_it_declares(shape):
    """The conv net's faster forward pass (channels-last, pooling before the ReLU, doubling
    levels of the decoder at the low resolution) is the function of its declared layers run
    one after the other, values and gradients: a checkpoint means what it always meant."""
    torch.manual_seed(0)
    model = Autoencoder(ModelConfig(architecture="conv", latent_dim=6), shape)
    x = torch.rand(9, *shape)
    z, xhat = model(x, normalized=True)
    enc, dec = model.encoder, model.decoder
    z_ref = enc.head(enc.features(model.normalize(x).unsqueeze(1)).flatten(1))
    xhat_ref = dec.body(dec.head(z_ref).view(-1, *dec.shape0)).squeeze(1)
    torch.testing.assert_close(z, z_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(xhat, xhat_ref, rtol=1e-5, atol=1e-5)
    params = list(model.parameters())
    grads = torch.autograd.grad(xhat.square().sum() + z.square().sum(), params)
    grads_ref = torch.autograd.grad(xhat_ref.square().sum() + z_ref.square().sum(), params)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-5 * float(g_ref.abs().max()))
    assert not any("phase" in key for key in model.state_dict())  # nothing new to save or load


def test_conv_rejects_vectors():
    X = np.zeros((4, 10), np.float32)
    with pytest.raises(ValueError, match="conv architecture needs images"):
        build_autoencoder(ModelConfig(architecture="conv"), X)


def test_normalisation_lives_in_the_model():
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(50, 12)) * 7 + 100).astype(np.float32)
    mean, scale = normalization(X)
    model = build_autoencoder(ModelConfig(hidden=(16,), latent_dim=3), X)
    xn = model.normalize(torch.from_numpy(X))
    assert abs(float(xn.mean())) < 1e-4
    assert float(xn.pow(2).mean().sqrt()) == pytest.approx(1.0, rel=1e-4)
    assert torch.allclose(model.denormalize(xn), torch.from_numpy(X), atol=1e-3)
    assert float(model.scale) == pytest.approx(scale)


def test_basis_is_orthonormal_and_reconstructs_low_rank_data():
    rng = np.random.default_rng(2)
    X = (rng.normal(size=(80, 4)) @ rng.normal(size=(4, 60))).astype(np.float32)
    model = build_autoencoder(ModelConfig(architecture="basis", hidden=(8,), latent_dim=2, basis_size=4), X)
    B = model.basis.numpy()
    assert np.allclose(B.T @ B, np.eye(4), atol=1e-4)
    xn = model.normalize(torch.from_numpy(X)).numpy()
    assert np.allclose(xn @ B @ B.T, xn, atol=1e-3)  # the 4-dim data lies in the basis


def test_basis_size_is_capped_by_the_samples():
    X = np.random.default_rng(3).normal(size=(10, 30)).astype(np.float32)
    model = build_autoencoder(ModelConfig(architecture="basis", hidden=(8,), basis_size=50), X)
    assert model.basis.shape == (30, 10)
    assert model.config.basis_size == 10


def test_same_seed_same_weights():
    X = np.random.default_rng(4).normal(size=(10, 6)).astype(np.float32)
    a = build_autoencoder(ModelConfig(hidden=(5,), latent_dim=2), X, seed=3)
    b = build_autoencoder(ModelConfig(hidden=(5,), latent_dim=2), X, seed=3)
    c = build_autoencoder(ModelConfig(hidden=(5,), latent_dim=2), X, seed=4)
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(va, vb)
    assert not all(torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


def test_empty_buffers_for_loading():
    model = Autoencoder(ModelConfig(architecture="basis", hidden=(4,), basis_size=3), (5, 3))
    assert model.basis.shape == (15, 3)
    assert model.mean.shape == (5, 3)
