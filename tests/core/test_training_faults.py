"""Weights that are not finite are never committed as a completed epoch."""
import copy

import numpy as np
import pytest
import torch

from saeviz.core.errors import TrainingError
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.training import Trainer
from saeviz.core.state.labels import Supervision, equal_distances


def make_trainer(lr=1e-3, batch_size=64):
    rng = np.random.default_rng(0)
    X = rng.random((48, 10)).astype(np.float32)
    labels = np.arange(48) % 3
    sup = Supervision(labels, ("a", "b", "c"), ("#f00", "#0f0", "#00f"), equal_distances(3), 0)
    return Trainer(X, ModelConfig(hidden=(16,), latent_dim=2),
                   TrainConfig(epochs=1, batch_size=batch_size, lr=lr, seed=0), supervision=sup)


def weights(trainer):
    return copy.deepcopy(trainer.model.state_dict())


@pytest.mark.parametrize("lr", [float("inf"), 1e30])
def test_a_huge_learning_rate_in_the_last_step_keeps_the_last_completed_epoch(lr):
    # One batch per epoch: the step that ruins the weights is the epoch's last.
    trainer = make_trainer(batch_size=64)
    trainer.fit(1)
    good = weights(trainer)
    good_rng = copy.deepcopy(trainer._rng.bit_generator.state)
    for group in trainer.optimizer.param_groups:
        group["lr"] = lr
    with pytest.raises(TrainingError, match="NaN or infinite.*last completed epoch"):
        trainer.fit(1)
    assert trainer.epoch == 1 and len(trainer.history) == 1
    for key, value in good.items():
        assert torch.equal(trainer.model.state_dict()[key], value), key
    assert trainer._rng.bit_generator.state == good_rng  # the failed epoch's shuffle was undone
    assert np.isfinite(trainer.latent_codes()).all()


def test_a_huge_learning_rate_from_the_start_keeps_the_initial_weights():
    trainer = make_trainer(lr=float("inf"))
    initial = weights(trainer)
    with pytest.raises(TrainingError, match="initial weights"):
        trainer.fit(2)
    assert trainer.epoch == 0 and trainer.history == []
    for key, value in initial.items():
        assert torch.equal(trainer.model.state_dict()[key], value), key


def test_a_failure_after_a_completed_epoch_does_not_undo_it(monkeypatch):
    trainer = make_trainer()
    trainer.fit(1)
    done = weights(trainer)

    def no_memory(*args, **kwargs):
        raise MemoryError("simulated")

    monkeypatch.setattr(trainer, "_targets", no_memory)  # fails before the next epoch starts
    with pytest.raises(TrainingError, match="out of memory in epoch 2"):
        trainer.fit(1)
    assert trainer.epoch == 1
    for key, value in done.items():
        assert torch.equal(trainer.model.state_dict()[key], value), key
