"""Training on the generated bodies: the SAE separates the sexes in the codes of held-out
bodies where a plain autoencoder does not, and the ``bodies`` dataset names load."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import silhouette_score

from saeviz.core.data import load_dataset, reveal_labels
from saeviz.core.data.bodies import load_bodies
from saeviz.core.errors import DataError
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.evaluate import heldout_error, rmse
from saeviz.core.method.training import Trainer, encode
from saeviz.core.state.labels import Supervision, default_color, equal_distances


@pytest.fixture(scope="module")
def small_bodies(anny_cache, tmp_path_factory):
    return load_bodies(600, seed=0, resolution="reduced", cache_dir=tmp_path_factory.mktemp("bodies"))


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: threads only add overhead
    yield
    torch.set_num_threads(before)


def _train(ds, labels, gamma):
    X = ds.X[ds.train_idx]
    sup = Supervision(labels, ds.class_names, (default_color(0), default_color(1)), equal_distances(2), 0)
    model = ModelConfig(architecture="basis", basis_size=128, hidden=(256, 64), latent_dim=30)
    trainer = Trainer(X, model, TrainConfig(gamma=gamma, epochs=40, batch_size=32, seed=0), sup)
    trainer.fit()
    codes_test = encode(trainer.model, ds.X[ds.test_idx])
    return trainer, codes_test


@pytest.mark.slow
def test_sae_separates_the_sexes_of_held_out_bodies(small_bodies, one_thread):
    """600 bodies (480 for training, a quarter of them labeled): the pose hides the sex from a
    plain autoencoder; the SAE's codes of the 120 held-out bodies cluster by sex."""
    ds = small_bodies
    y_train, y_test = ds.y[ds.train_idx], ds.y[ds.test_idx]
    labels = reveal_labels(y_train, np.arange(len(y_train)), 0.25, seed=0)
    results = {}
    for gamma in (0.0, 0.1):
        trainer, codes_test = _train(ds, labels, gamma)
        results[gamma] = {
            "silhouette": silhouette_score(codes_test, y_test),
            "error": heldout_error(trainer.latent_codes(), labels, codes_test, y_test),
            "rmse": rmse(trainer.model, ds.X[ds.test_idx], codes_test),
        }
    plain, sae = results[0.0], results[0.1]
    # measured: silhouette 0.02 and 0.37, error 0.19 and 0.075, RMSE 26.6 and 28.1 mm
    assert plain["silhouette"] < 0.1, results
    assert sae["silhouette"] > 0.25 and sae["silhouette"] > plain["silhouette"] + 0.2, results
    assert sae["error"] < 0.5 * plain["error"], results
    assert sae["rmse"] < 1.3 * plain["rmse"] and sae["rmse"] < 0.04, results  # metres


@pytest.mark.slow
def test_bodies_names_load_the_generated_bodies(anny_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("SAEVIZ_CACHE_DIR", str(tmp_path))
    ds = load_dataset("bodies:6:reduced")
    assert ds.source == {"loader": "bodies", "count": 6, "seed": 0, "model": "anny", "resolution": "reduced"}
    assert np.array_equal(ds.X, load_bodies(6, 0, resolution="reduced").X)
    assert load_dataset("bodies:4").source["resolution"] == "full"


@pytest.mark.parametrize("name", ["bodies:", "bodies:reduced:60", "bodies:60:coarse", "bodies:-3",
                                  "bodies:60:full:1"])
def test_malformed_bodies_names_are_refused(name, monkeypatch):
    from saeviz.core.data import registry

    def no_loading(*args, **kwargs):
        raise AssertionError("a malformed name must not reach the loader")

    monkeypatch.setitem(registry.LOADERS, "bodies", no_loading)
    with pytest.raises(DataError, match="bodies:COUNT"):
        load_dataset(name)


def test_bodies_names_pass_count_and_resolution(monkeypatch):
    from saeviz.core.data import registry

    calls = []
    monkeypatch.setitem(registry.LOADERS, "bodies", lambda **kw: calls.append(kw))
    for name in ("bodies", "bodies:2000", "bodies:reduced", "bodies:2000:reduced"):
        load_dataset(name)
    assert calls == [{}, {"count": 2000}, {"resolution": "reduced"}, {"count": 2000, "resolution": "reduced"}]


def test_basis_networks_see_coordinates_of_unit_size():
    """The basis model's MLPs divide and multiply by sqrt(D / k): its layers see basis
    coordinates of about unit RMS whatever the number of features, and the reconstruction
    is the same function of the coordinates."""
    from saeviz.core.method.models import build_autoencoder

    rng = np.random.default_rng(0)
    for n_features in (300, 3000):
        X = (rng.normal(size=(200, 8)) @ rng.normal(size=(8, n_features))).astype(np.float32)
        model = build_autoencoder(ModelConfig(architecture="basis", hidden=(16,), latent_dim=2, basis_size=8), X)
        expected = (n_features / 8) ** 0.5
        assert float(model.encoder.coef_scale) == pytest.approx(expected)
        assert float(model.decoder.coef_scale) == pytest.approx(expected)
        coef, _ = model.basis_coefficients(torch.from_numpy(X))
        assert float(coef.pow(2).mean().sqrt() / model.encoder.coef_scale) == pytest.approx(1.0, rel=1e-3)
        with torch.no_grad():
            z = model.encode(torch.from_numpy(X[:5]))
            inner = torch.nn.Sequential(*model.decoder)(z)  # the MLP's layers alone
            out = model.decode_normalized(z).reshape(5, -1)
            assert torch.allclose(out, (inner * model.decoder.coef_scale) @ model.basis.T, atol=1e-5)


def test_basis_checkpoints_without_a_coefficient_scale_load_unscaled(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from saeviz.core.io.checkpoint import load_checkpoint, save_checkpoint
    from saeviz.core.method.models import build_autoencoder

    X = np.random.default_rng(1).normal(size=(40, 30)).astype(np.float32)
    model = build_autoencoder(ModelConfig(architecture="basis", hidden=(8,), latent_dim=2, basis_size=6), X)
    path = save_checkpoint(tmp_path / "m", model, train_config=TrainConfig())
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys() if not k.endswith("coef_scale")}
    save_file(tensors, str(path), metadata=meta)
    loaded = load_checkpoint(path).model
    assert float(loaded.encoder.coef_scale) == 1.0 and float(loaded.decoder.coef_scale) == 1.0
    with torch.no_grad():
        z = loaded.encode(torch.from_numpy(X[:3]))
        flat = loaded.normalize(torch.from_numpy(X[:3])).flatten(1) @ loaded.basis
        assert torch.allclose(z, torch.nn.Sequential(*model.encoder)(flat), atol=1e-5)  # unscaled layers
