"""Continuing, forking and reconfiguring a ``Trainer`` through its methods."""
import copy

import numpy as np
import pytest
import torch

from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.training import ControlToken, Trainer
from saeviz.core.state.labels import LabelStore, Supervision

SMALL = ModelConfig(hidden=(24,), latent_dim=3)
CFG = TrainConfig(batch_size=32, seed=3, lr=2e-3)


def data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 12)).astype(np.float32) + y[:, None] * 0.4
    return X, y


def labels_of(y, fraction, seed=0):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(len(y)) < fraction, y, -1)


def store(labels):
    return LabelStore(len(labels), ["a", "b", "c"], labels=labels)


def state_of(trainer):
    """Everything a fork must not touch, copied."""
    return (copy.deepcopy(trainer.model.state_dict()), copy.deepcopy(trainer.optimizer.state_dict()),
            trainer.epoch, copy.deepcopy(trainer.history), trainer.gamma, trainer.latent_codes())


def same_tensors(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_tensors(x, y) for x, y in zip(a, b))
    return a == b


def test_continuing_equals_an_uninterrupted_run():
    X, y = data()
    sup = store(labels_of(y, 0.3))
    whole = Trainer(X, SMALL, CFG, sup).fit(4)
    parts = Trainer(X, SMALL, CFG, sup).fit(2)
    token = ControlToken()
    assert parts.continue_run(CFG, token=token) is parts and parts.token is token
    parts.fit(2)
    assert parts.epoch == whole.epoch == 4
    assert np.array_equal(parts.latent_codes(), whole.latent_codes())
    assert [h["recon_loss"] for h in parts.history] == [h["recon_loss"] for h in whole.history]


def test_continuing_with_new_settings_uses_them():
    X, y = data()
    tr = Trainer(X, SMALL, CFG, store(labels_of(y, 0.3))).fit(1)
    tr.continue_run(CFG.replace(gamma=0.2, lr=5e-4, batch_size=50))
    assert tr.gamma == 0.2 and tr.config.batch_size == 50
    assert all(g["lr"] == 5e-4 for g in tr.optimizer.param_groups)
    tr.fit(1)
    assert tr.history[-1]["gamma"] == 0.2 and tr.epoch == 2
    tr.reconfigure(gamma=0.9)  # gamma alone; the rest stays
    assert tr.gamma == 0.9 and tr.config.batch_size == 50 and tr.optimizer.param_groups[0]["lr"] == 5e-4
    with pytest.raises(ValueError, match="gamma"):
        tr.reconfigure(gamma=1.5)
    with pytest.raises(ValueError, match="learning rate"):
        tr.reconfigure(lr=0.0)
    assert tr.gamma == 0.9 and tr.optimizer.param_groups[0]["lr"] == 5e-4


def test_a_fork_leaves_the_original_untouched():
    X, y = data()
    original = Trainer(X, SMALL, CFG, store(labels_of(y, 0.2))).fit(2)
    original.gamma = 0.7
    before = state_of(original)
    more = Supervision(labels_of(y, 0.6, seed=1), ("a", "b", "c"), ("#000", "#111", "#222"),
                       np.ones((3, 3)) - np.eye(3), 0)
    fork = original.fork(more, config=CFG.replace(seed=11))
    assert fork.model is not original.model and fork.epoch == 2 and fork.gamma == 0.7
    assert fork.history == original.history and fork.history is not original.history
    assert same_tensors(fork.optimizer.state_dict()["state"], original.optimizer.state_dict()["state"])
    fork.fit(2)
    after = state_of(original)
    assert same_tensors(before[0], after[0]) and same_tensors(before[1], after[1])
    assert before[2:5] == after[2:5] and np.array_equal(before[5], after[5])
    assert fork.epoch == 4 and [h["epoch"] for h in fork.history] == [1, 2, 3, 4]
    assert fork.history[:2] == original.history
    assert fork.history[-1]["n_labeled"] > original.history[-1]["n_labeled"]  # the fork's labels
    assert not np.array_equal(fork.latent_codes(), original.latent_codes())


def test_forks_with_the_same_seed_see_the_same_batches():
    X, y = data()
    base = Trainer(X, SMALL, CFG, store(labels_of(y, 0.2))).fit(1)
    sup = store(labels_of(y, 0.4))
    a = base.fork(sup, config=CFG.replace(seed=5)).fit(1)
    b = base.fork(sup, config=CFG.replace(seed=5)).fit(1)
    c = base.fork(store(labels_of(y, 0.4, seed=9)), config=CFG.replace(seed=5)).fit(1)
    assert np.array_equal(a.latent_codes(), b.latent_codes())
    assert not np.array_equal(a.latent_codes(), c.latent_codes())


def test_a_run_starts_from_a_history():
    X, y = data()
    first = Trainer(X, SMALL, CFG, store(labels_of(y, 0.3))).fit(2)
    model = copy.deepcopy(first.model)
    later = Trainer(X, SMALL, CFG, store(labels_of(y, 0.3)), model=model)
    assert later.start_from_history(first.history) is later
    assert later.epoch == 2 and later.history == first.history and later.history[0] is not first.history[0]
    later.fit(1)
    assert [h["epoch"] for h in later.history] == [1, 2, 3] and len(first.history) == 2
    assert Trainer(X, SMALL, CFG).start_from_history(first.history, epoch=7).epoch == 7
