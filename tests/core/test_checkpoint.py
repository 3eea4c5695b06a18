import json
import pickle
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from saeviz.core.errors import CheckpointError
from saeviz.core.io.checkpoint import load_checkpoint, read_header, save_checkpoint
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.models import build_autoencoder
from saeviz.core.method.training import encode
from saeviz.core.state.labels import Supervision


@pytest.fixture
def saved(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((40, 8, 8)).astype(np.float32)
    model = build_autoencoder(ModelConfig(architecture="conv", latent_dim=5), X)
    labels = np.where(rng.random(40) < 0.5, rng.integers(0, 3, 40), -1)
    sup = Supervision(labels, ("a", "b", "c"), ("#ff0000", "#00ff00", "#0000ff"),
                      np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]], float), 3)
    path = save_checkpoint(tmp_path / "m", model, train_config=TrainConfig(gamma=0.3), supervision=sup,
                           dataset_source={"loader": "digits"}, history=[{"epoch": 1, "rmse": 0.5}])
    return path, model, X, sup


def test_round_trip(saved):
    path, model, X, sup = saved
    assert path.suffix == ".safetensors"
    ck = load_checkpoint(path)
    assert np.array_equal(encode(ck.model, X), encode(model, X))
    assert ck.train_config.gamma == 0.3 and ck.model_config.architecture == "conv"
    assert np.array_equal(ck.supervision.labels, sup.labels)
    assert ck.supervision.class_names == sup.class_names and ck.supervision.colors == sup.colors
    assert np.array_equal(ck.supervision.distances, sup.distances)
    assert ck.dataset_source == {"loader": "digits"} and ck.history == [{"epoch": 1, "rmse": 0.5}]


def _rewrite_doc(path, change):
    doc, _ = read_header(path)
    change(doc)
    from safetensors import safe_open
    with safe_open(str(path), "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    save_file(tensors, str(path), metadata={"saeviz": json.dumps(doc)})


def test_tampered_shapes_are_refused_before_loading(saved):
    path = saved[0]
    _rewrite_doc(path, lambda d: d["model"].update(latent_dim=4096))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path)


def test_huge_sample_shape_is_refused_without_allocating(saved):
    path = saved[0]
    _rewrite_doc(path, lambda d: d.update(sample_shape=[10**6, 10**6]))
    with pytest.raises(CheckpointError, match="sample shape"):
        load_checkpoint(path)


@pytest.mark.parametrize("cut", [4, 100, -50])
def test_truncated_file(saved, cut):
    path = saved[0]
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match=str(path.name)):
        load_checkpoint(path)


def test_other_files_are_refused(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(missing)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(plain))
    with pytest.raises(CheckpointError, match="not a saeviz checkpoint"):
        load_checkpoint(plain)


class Payload:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_a_pickle_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    torch_file = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, torch_file)
    with pytest.raises(CheckpointError):
        load_checkpoint(torch_file)
    assert not (tmp_path / "PWNED").exists()


def test_header_claiming_terabytes(tmp_path):
    bad = tmp_path / "huge.safetensors"
    bad.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(bad)


def test_save_is_atomic_and_keeps_old_file_on_failure(saved, monkeypatch):
    path, model, X, sup = saved
    before = path.read_bytes()
    import saeviz.core.io.checkpoint as ck

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ck, "st_save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, model, train_config=TrainConfig())
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.fixture
def resumable(tmp_path):
    from saeviz.core.method.training import Trainer

    X = np.random.default_rng(1).normal(size=(64, 6)).astype(np.float32)
    cfg = TrainConfig(batch_size=16, device="cpu")
    trainer = Trainer(X, ModelConfig(hidden=(8,), latent_dim=2), cfg).fit(1)
    path = save_checkpoint(tmp_path / "r", trainer, train_config=cfg, optimizer=trainer.optimizer,
                           train_state=trainer.training_state())
    return path, trainer


def test_optimizer_and_training_state_round_trip(resumable, saved):
    path, trainer = resumable
    ck = load_checkpoint(path)
    names = [n for n, _ in trainer.model.named_parameters()]
    assert sorted(ck.optimizer_state["state"]) == sorted(names)
    for name, param in trainer.model.named_parameters():
        for key, value in trainer.optimizer.state[param].items():
            assert torch.equal(ck.optimizer_state["state"][name][key], value)
    assert ck.optimizer_state["group"]["betas"] == (0.9, 0.999) and ck.optimizer_state["group"]["lr"] == 1e-3
    assert ck.train_state["epoch"] == 1 and ck.train_state["rng"] == trainer.training_state()["rng"]
    plain = load_checkpoint(saved[0])  # written without them
    assert plain.optimizer_state is None and plain.train_state == {}


def _rewrite(path, change):
    from safetensors import safe_open
    doc, _ = read_header(path)
    with safe_open(str(path), "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    change(tensors, doc)
    save_file(tensors, str(path), metadata={"saeviz": json.dumps(doc)})


@pytest.mark.parametrize("change, message", [
    (lambda t, d: t.update({"optimizer.encoder.0.weight.exp_avg": torch.zeros(3, 3)}), "shape"),
    (lambda t, d: t.update({"optimizer.encoder.0.weight.step": torch.zeros(2)}), "shape"),
    (lambda t, d: t.update({"optimizer.mean.exp_avg": torch.zeros(6)}), "unexpected optimizer tensor"),
    (lambda t, d: t.update({"optimizer.encoder.0.weight.secret": torch.zeros(8, 6)}), "unexpected optimizer tensor"),
    (lambda t, d: t.update({"optimizer.encoder.0.bias.exp_avg": torch.zeros(8, dtype=torch.float64)}), "dtype"),
    (lambda t, d: t.pop("optimizer.encoder.0.weight.exp_avg_sq"), "incomplete"),
    (lambda t, d: t.update({"optimizer.encoder.0.bias.exp_avg": torch.full((8,), float("nan"))}), "NaN"),
    (lambda t, d: d.pop("optimizer"), "without an optimizer description"),
    (lambda t, d: d["optimizer"].update(type="SGD"), "not that of Adam"),
    (lambda t, d: d["optimizer"]["group"].update(lr=-1.0), "learning rate"),
    (lambda t, d: d["optimizer"]["group"].update(betas={"a": 1}), "not a number"),
    (lambda t, d: d["train_state"].update(epoch=-2), "epoch"),
    (lambda t, d: d["train_state"].update(rng={"bit_generator": "PCG64", "state": "x"}), "generator state"),
    (lambda t, d: d["train_state"].update(rng={"bit_generator": "MT19937", "state": {}}), "generator state"),
])
def test_tampered_optimizer_or_training_state_is_refused(resumable, change, message):
    path = resumable[0]
    _rewrite(path, change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)
