"""The structure span: the structural loss over the whole code (the paper) or only within the
directions in which the class targets differ (an extension), in the trainer, the estimator,
the command line and the checkpoint."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.svm import LinearSVC

from saeviz import cli
from saeviz.cli import main
from saeviz.core.io.checkpoint import load_checkpoint
from saeviz.core.method import config
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.structure import class_span
from saeviz.core.method.training import Trainer
from saeviz.core.state.labels import Supervision, default_color, equal_distances
from saeviz.estimator import StructuringAutoencoder

ABC = np.array([0, 0, 2, 2, 1, 2, 1, 2, 1, 0])  # digit -> A (0, 1, 9), B (4, 6, 8), C (2, 3, 5, 7)


def test_the_class_span_is_an_orthonormal_basis_of_the_differences_between_class_targets():
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(4, 6))
    targets[2] = np.nan  # a class without labeled samples takes no part
    U = class_span(targets)
    assert U.shape == (6, 2)  # three present classes differ in two directions
    np.testing.assert_allclose(U.T @ U, np.eye(2), atol=1e-12)
    present = targets[[0, 1, 3]]
    diffs = present[1:] - present[0]
    np.testing.assert_allclose(diffs @ U @ U.T, diffs, atol=1e-12)  # every difference lies in it
    assert class_span(targets[:1]).shape == (6, 0)
    assert class_span(np.ones((3, 6))).shape == (6, 0)  # classes at one point differ nowhere


def _digits():
    X, y = load_digits(return_X_y=True)
    X, y = (X / 16).astype(np.float32)[:600], ABC[y[:600]]
    labels = np.where(np.random.default_rng(0).random(len(y)) < 0.5, y, -1)
    return X, y, labels


@pytest.mark.parametrize("seed", [0, 3])
def test_the_class_span_leaves_the_other_directions_to_the_reconstruction(seed):
    X, y, labels = _digits()
    sup = Supervision(labels, ("A", "B", "C"), tuple(default_color(i) for i in range(3)), equal_distances(3), 0)
    result = {}
    for span in config.STRUCTURE_SPANS:
        trainer = Trainer(X, ModelConfig(hidden=(64,), latent_dim=6),
                          TrainConfig(batch_size=32, seed=seed, gamma=0.8, structure_span=span), supervision=sup)
        trainer.fit(6)
        Z = trainer.encode(X)
        targets = trainer.last_targets
        U = class_span(targets.class_targets)
        offset = Z[labels >= 0] - targets.targets
        inside = float(((offset @ U) ** 2).sum(1).mean())
        outside = float((offset ** 2).sum(1).mean()) - inside
        result[span] = dict(recon=float(((trainer.decode(Z) - X) ** 2).mean()), inside=inside, outside=outside,
                            accuracy=LinearSVC().fit(Z[labels >= 0], labels[labels >= 0]).score(Z, y))
    paper, span = result["latent"], result["classes"]
    # the paper's loss also pulls the codes' offsets outside the class directions to zero; the span leaves them
    assert span["outside"] > 2 * paper["outside"]
    assert span["inside"] == pytest.approx(paper["inside"], rel=0.2)  # the classes' layout is pulled alike
    assert span["recon"] < paper["recon"]  # the free directions serve the reconstruction
    assert span["accuracy"] >= paper["accuracy"] - 0.03


def test_the_structure_span_is_a_setting_of_the_estimator_the_command_line_and_the_checkpoint(tmp_path):
    assert cli.STRUCTURE_SPANS == config.STRUCTURE_SPANS and cli.CLASSIFIERS == config.CLASSIFIERS
    assert TrainConfig().structure_span == "latent"  # the paper's method by default
    with pytest.raises(ValueError, match="structure_span"):
        TrainConfig(structure_span="diagonal")
    assert TrainConfig.from_dict({k: v for k, v in TrainConfig().to_dict().items()
                                  if k != "structure_span"}).structure_span == "latent"  # older files
    X, y, labels = _digits()
    est = StructuringAutoencoder(hidden_sizes=(32,), latent_dim=4, epochs=1, batch_size=64, random_state=0,
                                 structure_span="classes").fit(X, labels)
    assert est.trainer_config_.structure_span == "classes" and clone(est).get_params()["structure_span"] == "classes"
    with pytest.raises(ValueError, match="structure_span"):
        StructuringAutoencoder(hidden_sizes=(32,), epochs=1, structure_span="all").fit(X, labels)
    out = tmp_path / "run.safetensors"
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--hidden", "32", "--latent", "4",
                 "--structure-span", "classes", "--quiet", "--out", str(out)]) == 0
    assert load_checkpoint(out).train_config.structure_span == "classes"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "digits", "--structure-span", "all", "--out", str(out)])
    assert exit_.value.code == 2
