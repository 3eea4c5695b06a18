"""Classifier options on the codes (SVM, label spreading, kNN) and self-training, through the
core, the estimator, the per-epoch result and the CLI."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

from saeviz.core.data import load_dataset
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.code_classifiers import (
    CLASSIFIERS,
    KnnClassifier,
    SpreadingClassifier,
    fit_code_classifier,
)
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.self_training import SelfTraining, pseudo_labels
from saeviz.core.method.training import Trainer
from saeviz.core.state.labels import Supervision, default_color, equal_distances
from saeviz.core.state.results import compute_epoch_result
from saeviz.estimator import StructuringAutoencoder


def two_arcs(n=300):
    """Two interleaved half moons, 10 points labeled; the unlabeled points connect each moon."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n, noise=0.05, random_state=0)
    labels = np.full(n, -1)
    known = np.random.default_rng(0).choice(n, 10, replace=False)
    labels[known] = y[known]
    return X, y, labels


def test_label_spreading_uses_the_unlabeled_codes_where_the_svm_cannot():
    X, y, labels = two_arcs()
    svm = fit_code_classifier(X, labels, "svm")
    spread = fit_code_classifier(X, labels, "label-spreading")
    assert isinstance(svm, LatentClassifier) and isinstance(spread, SpreadingClassifier)
    assert spread.error(X, y) < 0.05 < svm.error(X, y)


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_every_classifier_scores_like_the_svm(kind):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    codes = np.eye(3)[y] * 4 + rng.normal(size=(300, 3))
    labels = np.where(rng.random(300) < 0.2, y, -1)
    clf = fit_code_classifier(codes, labels, kind)
    assert list(clf.classes_) == [0, 1, 2]
    raw = clf.decision_function(codes)
    conf = clf.normalise(raw)
    assert raw.shape == conf.shape == (300, 3) and ((conf >= 0) & (conf <= 1)).all()
    assert np.array_equal(clf.predict(codes), clf.classes_[np.argmax(raw, 1)])
    assert np.allclose(clf.predict_proba(codes).sum(1), 1)
    assert (clf.margin(codes) >= 0).all()
    assert clf.error(codes, y) < 0.1


def test_an_unknown_classifier_is_refused():
    with pytest.raises(ValueError, match="classifier must be one of"):
        fit_code_classifier(np.zeros((4, 2)), np.array([0, 1, -1, -1]), "forest")
    with pytest.raises(ValueError, match="classifier"):
        TrainConfig(classifier="forest")
    with pytest.raises(ValueError, match="self_training"):
        TrainConfig(self_training=1.5)


def test_pseudo_labels_add_only_confident_unlabeled_samples_and_keep_the_given_labels():
    X, y, labels = two_arcs()
    before = labels.copy()
    out = pseudo_labels(X, labels, 0.9, "label-spreading")
    assert np.array_equal(labels, before)  # the input is not touched
    given = before >= 0
    assert np.array_equal(out[given], before[given])
    added = (out >= 0) & ~given
    assert added.sum() > 50
    assert np.mean(out[added] == y[added]) > 0.95
    assert np.array_equal(pseudo_labels(X, labels, 1.0, "svm")[given], before[given])


def small_digits(n=300):
    X, y = load_digits(return_X_y=True)
    X = (X[:n] / 16.0).astype(np.float32)
    y = y[:n] % 3
    labels = np.full(n, -1)
    labels[::10] = y[::10]
    return X, y, labels


def test_self_training_hands_pseudo_labels_to_the_trainer_only():
    X, _, labels = small_digits()
    given = labels.copy()
    sup = Supervision(labels, ("a", "b", "c"), tuple(default_color(i) for i in range(3)), equal_distances(3), 0)
    source = SelfTraining(lambda: sup, threshold=0.5, classifier="svm")
    trainer = Trainer(X, ModelConfig(hidden=(32,), latent_dim=4), TrainConfig(epochs=2, batch_size=64, seed=0),
                      source)
    source.attach(trainer)
    snaps = [s for s in trainer.iter_epochs(2) if s.final]
    assert len(snaps[0].target_index) == int((given >= 0).sum())  # epoch 1: the warm-up, labels only
    assert source.n_pseudo > 0
    assert len(snaps[1].target_index) == int((given >= 0).sum()) + source.n_pseudo
    assert np.array_equal(sup.labels, given)  # the user's labels never change


def test_the_estimator_takes_both_options_and_round_trips_them():
    X, _, labels = small_digits()
    est = StructuringAutoencoder(hidden_sizes=(32,), latent_dim=4, epochs=2, batch_size=64, random_state=0,
                                 classifier="knn", self_training=0.5)
    params = est.get_params()
    assert params["classifier"] == "knn" and params["self_training"] == 0.5
    copy = clone(est).set_params(classifier="label-spreading")
    assert copy.get_params()["classifier"] == "label-spreading" and copy.get_params()["self_training"] == 0.5
    y_given = labels.copy()
    est.fit(X, labels)
    assert isinstance(est.classifier_, KnnClassifier)
    assert est.n_pseudo_labels_ > 0
    assert np.array_equal(labels, y_given) and np.array_equal(est._labels, y_given)  # no pseudo-label leaks
    assert np.array_equal(est.predict(X), est.classifier_.predict(est.transform(X)))
    paper = StructuringAutoencoder(hidden_sizes=(32,), latent_dim=4, epochs=2, batch_size=64,
                                   random_state=0).fit(X, labels)
    assert isinstance(paper.classifier_, LatentClassifier) and paper.n_pseudo_labels_ == 0
    with pytest.raises(ValueError, match="classifier"):
        clone(est).set_params(classifier="forest").fit(X, labels)


def test_the_epoch_result_uses_the_chosen_classifier():
    X, y, labels = two_arcs()
    res = compute_epoch_result(X, labels, 2, y_true=y, classifier="label-spreading")
    assert res.kind == "label-spreading" and isinstance(res.classifier, SpreadingClassifier)
    assert res.train_error < 0.05
    assert compute_epoch_result(X, labels, 2, y_true=y).train_error > res.train_error


def test_cli_train_with_label_spreading_and_self_training(tmp_path, capsys):
    from saeviz.cli import build_parser, main
    from saeviz.core.data import reveal_labels
    from saeviz.core.io.checkpoint import load_checkpoint

    args = build_parser().parse_args(["train", "--classifier", "knn", "--self-training", "0.7", "--out", "x"])
    assert args.classifier == "knn" and args.self_training == 0.7
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--classifier", "forest", "--out", "x"])
    out = tmp_path / "run.safetensors"
    assert main(["train", "--dataset", "digits", "--epochs", "2", "--hidden", "32", "--latent", "4",
                 "--classifier", "label-spreading", "--self-training", "0.6", "--quiet", "--out", str(out)]) == 0
    err = capsys.readouterr()
    assert "classifier_error" in err.out
    ckpt = load_checkpoint(out)
    assert ckpt.train_config.classifier == "label-spreading" and ckpt.train_config.self_training == 0.6
    ds = load_dataset("digits")
    expected = reveal_labels(ds.y[ds.train_idx], np.arange(len(ds.train_idx)), 0.1, seed=0)
    assert np.array_equal(ckpt.supervision.labels, expected)  # pseudo-labels are not saved as labels


def test_the_pseudo_labeler_may_differ_from_the_classifier_everywhere(tmp_path, monkeypatch):
    from saeviz.cli import main
    from saeviz.core.io.checkpoint import load_checkpoint
    from saeviz.core.method import self_training as st

    X, _, labels = small_digits()
    cfg = TrainConfig(self_training=0.8, classifier="svm", pseudo_labeler="label-spreading")
    source = st.with_self_training(lambda: None, cfg)
    assert isinstance(source, SelfTraining) and source.classifier == "label-spreading"
    assert st.with_self_training(lambda: None, cfg.replace(pseudo_labeler="")).classifier == "svm"
    assert st.with_self_training(print, cfg.replace(self_training=0.0)) is print  # off: the paper's method
    with pytest.raises(ValueError, match="pseudo_labeler"):
        TrainConfig(pseudo_labeler="forest")
    # the estimator: label spreading makes the pseudo-labels, the SVM reads the codes
    used = []
    real = st.pseudo_labels
    monkeypatch.setattr(st, "pseudo_labels", lambda *a: used.append(a[3]) or real(*a))
    est = StructuringAutoencoder(hidden_sizes=(32,), latent_dim=4, epochs=2, batch_size=64, random_state=0,
                                 self_training=0.5, pseudo_labeler="label-spreading").fit(X, labels)
    assert used == ["label-spreading"] and est.n_pseudo_labels_ > 0
    assert isinstance(est.classifier_, LatentClassifier)
    assert clone(est).get_params()["pseudo_labeler"] == "label-spreading"
    # the command line keeps it in the checkpoint's settings
    out = tmp_path / "run.safetensors"
    assert main(["train", "--dataset", "digits", "--epochs", "2", "--hidden", "32", "--latent", "4",
                 "--self-training", "0.6", "--pseudo-labeler", "label-spreading", "--quiet", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt.train_config.pseudo_labeler == "label-spreading" and ckpt.train_config.classifier == "svm"


def test_pseudo_labels_pull_with_their_own_weight_everywhere(tmp_path):
    import torch

    from saeviz.cli import main
    from saeviz.core.io.checkpoint import load_checkpoint
    from saeviz.core.method import self_training as st
    from saeviz.core.method.training import sae_loss

    # the loss: a pseudo-label of weight w trains at gamma * w
    rec, struct = torch.tensor([1.0, 1.0, 1.0]), torch.tensor([3.0, 3.0, 3.0])
    loss = sae_loss(rec, struct, torch.tensor([1.0, 0.25, 0.0]), 0.5)
    torch.testing.assert_close(loss, torch.tensor([2.0, 0.125 * 3 + 0.875, 1.0]))
    # self-training hands its pseudo-labels that weight, the given labels keep 1
    X, _, labels = small_digits()
    trainer = Trainer(X, ModelConfig(hidden=(32,), latent_dim=4), TrainConfig(batch_size=64), supervision=None)
    trainer.fit(1)
    k = int(labels.max()) + 1
    sup = Supervision(labels, tuple("abcdefghij"[:k]), tuple(default_color(i) for i in range(k)),
                      equal_distances(k), 0)
    source = st.with_self_training(lambda: sup, TrainConfig(self_training=0.3, pseudo_weight=0.25))
    got = source.attach(trainer)()
    given, pseudo = labels >= 0, (got.labels >= 0) & (labels < 0)
    assert source.n_pseudo > 0 and pseudo.sum() == source.n_pseudo
    assert (got.weights[given] == 1.0).all() and (got.weights[pseudo] == 0.25).all()
    assert st.with_self_training(lambda: sup, TrainConfig(self_training=0.3)).attach(trainer)().weights is None
    # weights of 1 train exactly as no weights (the paper's loss); smaller ones train otherwise
    def trained(weights):
        t = Trainer(X, ModelConfig(hidden=(32,), latent_dim=4), TrainConfig(batch_size=64, seed=3),
                    supervision=Supervision(got.labels, got.class_names, got.colors, got.distances, 0, weights))
        return t.fit(1).model.state_dict()
    plain, ones, light = trained(None), trained(np.ones(len(X), np.float32)), trained(got.weights)
    assert all(torch.equal(plain[n], ones[n]) for n in plain)
    assert not all(torch.equal(plain[n], light[n]) for n in plain)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="pseudo_weight"):
            TrainConfig(pseudo_weight=bad)
    # the estimator and the command line carry it into training and the checkpoint
    est = StructuringAutoencoder(hidden_sizes=(32,), latent_dim=4, epochs=1, batch_size=64, random_state=0,
                                 self_training=0.5, pseudo_weight=0.25).fit(X, labels)
    assert est.trainer_config_.pseudo_weight == 0.25 and clone(est).get_params()["pseudo_weight"] == 0.25
    with pytest.raises(ValueError, match="pseudo_weight"):
        StructuringAutoencoder(hidden_sizes=(32,), epochs=1, pseudo_weight=0.0).fit(X, labels)
    out = tmp_path / "run.safetensors"
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--hidden", "32", "--latent", "4",
                 "--self-training", "0.6", "--pseudo-weight", "0.25", "--quiet", "--out", str(out)]) == 0
    assert load_checkpoint(out).train_config.pseudo_weight == 0.25
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "digits", "--pseudo-weight", "0", "--out", str(out)])
    assert exit_.value.code == 2
