"""What the window shows before anything is trained, and the defaults a dataset kind needs.

* The latent view is never empty while a dataset is open: before the first training it
  shows the codes of the network the training will start from (built with the same seed,
  so the first epoch continues from exactly these points), or, for an embedded demo at the
  first start, the codes of the demo's shipped pretrained model (``models/<demo>.safetensors``).
  A hint over the view says how to go on; it goes when training starts.
* Meshes train on the basis network (a fixed linear basis of principal directions under an
  MLP), which is what the shipped bodies model uses: fast, and smooth bodies. The plain MLP
  on raw vertices is slow and gives crumpled bodies; the convolutional network needs images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from saeviz.app.common.wording import counted
from saeviz.core.method.config import ModelConfig

MODELS = Path(__file__).resolve().parents[3] / "models"


def untrained_codes(model_config: ModelConfig, X: np.ndarray, seed: int) -> np.ndarray:
    """Codes of ``X`` by the freshly initialised network a training with ``seed`` starts from
    (runs on a worker thread)."""
    from saeviz.core.method.models import build_autoencoder
    from saeviz.core.method.training import encode

    model = build_autoencoder(model_config, X, seed=seed)
    return encode(model, X, device="cpu")


def pretrained_model(demo) -> Path | None:
    """The shipped checkpoint of an embedded demo (``"digits"`` -> ``models/digits.safetensors``)."""
    if not isinstance(demo, str) or not demo.isidentifier():
        return None
    path = MODELS / f"{demo}.safetensors"
    return path if path.is_file() else None


def architecture_for(kind: str, current: ModelConfig) -> ModelConfig:
    """The model settings to use on a new dataset of ``kind``: the basis network for meshes,
    the plain MLP instead of the basis network or the convolutional one where those do not
    belong; otherwise ``current`` unchanged."""
    if kind == "mesh" and current.architecture != "basis":
        return current.replace(architecture="basis")
    if kind != "mesh" and current.architecture == "basis":
        return current.replace(architecture="mlp")
    if kind != "image" and current.architecture == "conv":
        return current.replace(architecture="mlp")
    return current


def untrained_hint(train_key: str) -> str:
    return (f"These are the codes of the untrained network. Press {train_key} to train "
            "and watch the classes take shape.")


def pretrained_hint(epochs: int, train_key: str, reset_key: str) -> str:
    return (f"The pretrained demo model ({counted(epochs, 'epoch')}). Press {train_key} to train on, "
            f"{reset_key} to start again from an untrained network.")


__all__ = ["untrained_codes", "pretrained_model", "architecture_for", "untrained_hint", "pretrained_hint"]
