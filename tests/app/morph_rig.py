"""The morph tests' rig (test_morph_panel, test_morph_drag): a small trained bodies SAE and a
session around it. The fixtures built on it, ``trained`` and ``rig``, are in conftest.py."""
from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets

from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.training import Trainer
from saeviz.core.state.results import compute_epoch_result
from saeviz.core.state.session import Session, SessionDefaults, frozen_model

MODEL = ModelConfig(architecture="basis", hidden=(64, 32), latent_dim=8, basis_size=32)
TRAIN = TrainConfig(gamma=0.5, epochs=4, batch_size=16, device="cpu", seed=0)
DEFAULTS = SessionDefaults(label_fraction=0.25, model=MODEL, train=TRAIN)
ATOL = 1e-5  # float32 rounding of a reordered sum (bodies are about 1.7 m tall)


def train_small(dataset, model_cfg=MODEL, train_cfg=TRAIN):
    s = Session(SessionDefaults(label_fraction=0.25, model=model_cfg, train=train_cfg))
    s.set_dataset(dataset)
    trainer = Trainer(s.X, model_cfg, train_cfg, supervision=s.labels)
    trainer.fit()
    return frozen_model(trainer.model), trainer.latent_codes()


def make_session(dataset, trained_result, defaults=DEFAULTS):
    model, codes = trained_result
    s = Session(defaults)
    s.set_dataset(dataset)  # the same revealed labels as in training (fixed seed)
    s.accept_model(model, defaults.model)
    s.accept_codes(codes)
    # the epoch's classifier result, as the window's training flow computes it
    s.set_classifier(compute_epoch_result(codes, s.labels.labels, s.labels.n_classes, epoch=s.epoch))
    return s


def labeled(s, cls):
    return int(np.flatnonzero(np.asarray(s.labels.labels) == cls)[0])


def centers01(s):
    """Mean codes of the labeled samples of classes 0 and 1, computed here from scratch."""
    labels = np.asarray(s.labels.labels)
    codes = np.asarray(s.codes, np.float64)
    return codes[labels == 0].mean(axis=0), codes[labels == 1].mean(axis=0)


def wait_frame(qtbot, panel, t):
    qtbot.waitUntil(lambda: panel.last_frame is not None and abs(panel.last_frame.t - t) < 1e-9, timeout=10000)
    QtWidgets.QApplication.processEvents()
