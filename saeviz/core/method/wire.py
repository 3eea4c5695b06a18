"""Messages between the window's process and its training process, without pickle.

A message is a frame: two little-endian 64-bit lengths, a JSON document (its ``kind`` and its
scalar fields) and a safetensors buffer with its arrays (empty when it has none). Nothing in
a frame is executed when it is read: the JSON parser and safetensors build plain numbers,
strings, lists and tensors, and every object is rebuilt from those by the functions below
(snapshots, labels, configurations, networks, optimizer states).

``write_frame`` and ``read_frame`` work on file descriptors (pipes); ``FrameReader`` also
tells whether a frame is waiting without blocking.
"""
from __future__ import annotations

import json
import os
import select
import struct
from dataclasses import fields
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from saeviz.core.io.checkpoint import optimizer_state_from_tensors, optimizer_tensors
from saeviz.core.io.validate import model_config_from_doc, train_config_from_doc
from saeviz.core.method.models import Autoencoder
from saeviz.core.state.labels import Supervision

_LENGTHS = struct.Struct("<QQ")
MAX_HEADER = 64 << 20       # bytes of JSON in one frame
SMALL_BUFFER = 65536        # buffers up to this many values travel with every epoch's weights


class ChannelClosed(Exception):
    """The other end of the pipe is gone."""


# -- frames ------------------------------------------------------------------------------------
def _tensor(value) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
    return t.detach().to("cpu").contiguous().clone()


def encode_frame(kind: str, header: dict | None = None, arrays: dict | None = None) -> bytes:
    """One frame: ``kind`` and the JSON-able ``header``, and ``arrays`` (numpy or torch)."""
    doc = json.dumps(jsonable({"kind": kind, **(header or {})})).encode()
    blob = st_save({k: _tensor(v) for k, v in arrays.items()}) if arrays else b""
    return _LENGTHS.pack(len(doc), len(blob)) + doc + blob


def _read_exact(fd: int, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 24))
        if not chunk:
            raise ChannelClosed("the pipe closed")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def write_frame(fd: int, frame: bytes) -> None:
    """Write ``frame`` (``encode_frame``) to the pipe ``fd``; ``ChannelClosed`` when it is gone."""
    view = memoryview(frame)
    try:
        while view:
            view = view[os.write(fd, view):]
    except (BrokenPipeError, OSError) as exc:
        raise ChannelClosed(str(exc)) from None


def read_frame(fd: int) -> tuple[str, dict, dict[str, torch.Tensor]]:
    """The next frame from the pipe ``fd``: (kind, header, tensors). Blocks until it is there;
    ``ChannelClosed`` when the pipe closed, ``ValueError`` for a frame that is not one."""
    try:
        n_doc, n_blob = _LENGTHS.unpack(_read_exact(fd, _LENGTHS.size))
        if n_doc > MAX_HEADER:
            raise ValueError(f"a message header of {n_doc} bytes")
        doc = json.loads(_read_exact(fd, n_doc))
        blob = _read_exact(fd, n_blob) if n_blob else b""
    except OSError as exc:
        raise ChannelClosed(str(exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        raise ValueError("a message without a kind")
    kind = doc.pop("kind")
    return kind, doc, (st_load(blob) if blob else {})


def waiting(fd: int, timeout: float = 0.0) -> bool:
    """A frame (or the end of the pipe) can be read from ``fd`` within ``timeout`` seconds."""
    ready, _, _ = select.select([fd], [], [], timeout)
    return bool(ready)


# -- what travels in frames ---------------------------------------------------------------------
def prefixed(prefix: str, arrays: dict) -> dict:
    """``arrays`` with ``prefix`` before every name (several parts in one frame)."""
    return {prefix + k: v for k, v in arrays.items()}


def unprefixed(prefix: str, arrays: dict) -> dict:
    """The arrays of ``arrays`` whose names start with ``prefix``, without it."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def supervision_parts(sup: Supervision | None) -> tuple[dict, dict]:
    """The header fields and arrays of a ``Supervision`` (or of none)."""
    if sup is None:
        return {"supervision": None}, {}
    return ({"supervision": {"class_names": list(sup.class_names), "colors": list(sup.colors),
                             "version": int(sup.version)}},
            {"sup.labels": np.asarray(sup.labels, np.int64), "sup.distances": np.asarray(sup.distances, np.float64)})


def supervision_from(header: dict, arrays: dict) -> Supervision | None:
    """The ``Supervision`` of ``supervision_parts`` (None when none was sent)."""
    doc = header.get("supervision")
    if doc is None:
        return None
    return Supervision(arrays["sup.labels"].numpy().copy(), tuple(doc["class_names"]), tuple(doc["colors"]),
                       arrays["sup.distances"].numpy().copy(), int(doc["version"]))


_SNAPSHOT_ARRAYS = ("codes", "class_targets", "target_index", "targets")


def snapshot_parts(snap) -> tuple[dict, dict]:
    """The header fields (numbers, losses, history) and arrays (codes, targets) of a ``Snapshot``."""
    doc = {f.name: getattr(snap, f.name) for f in fields(snap) if f.name not in _SNAPSHOT_ARRAYS}
    doc["batch_losses"] = [list(p) for p in snap.batch_losses]
    doc["history"] = [dict(h) for h in snap.history]
    arrays = {f"snap.{k}": getattr(snap, k) for k in _SNAPSHOT_ARRAYS if getattr(snap, k) is not None}
    return {"snapshot": doc}, arrays


def snapshot_from(header: dict, arrays: dict):
    """The ``Snapshot`` of ``snapshot_parts``."""
    from saeviz.core.method.training import Snapshot

    doc = dict(header["snapshot"])
    doc["batch_losses"] = tuple(tuple(p) for p in doc["batch_losses"])
    doc["history"] = tuple(doc["history"])
    for k in _SNAPSHOT_ARRAYS:
        t = arrays.get(f"snap.{k}")
        doc[k] = None if t is None else t.numpy()
    return Snapshot(**doc)


def model_parts(model: Autoencoder, prefix: str = "model.") -> tuple[dict, dict]:
    """A network: its configuration and sample shape, and all its weights and buffers."""
    return ({"model": model.config.to_dict(), "sample_shape": list(model.sample_shape)},
            prefixed(prefix, model.state_dict()))


def model_from(header: dict, arrays: dict, prefix: str = "model.") -> Autoencoder:
    """A frozen network (eval mode, no gradients) from ``model_parts``."""
    model = Autoencoder(model_config_from_doc(header["model"]), tuple(header["sample_shape"]))
    model.load_state_dict(unprefixed(prefix, arrays), strict=True)
    return freeze(model)


def freeze(model):
    """``model`` in eval mode without gradients (returned)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def epoch_weights(model) -> dict:
    """What changes when a network trains: its parameters and small buffers."""
    params = {name for name, _ in model.named_parameters()}
    return {k: v for k, v in model.state_dict().items() if k in params or v.numel() <= SMALL_BUFFER}


def with_weights(template: Autoencoder, weights: dict) -> Autoencoder:
    """A frozen copy of ``template`` with ``weights`` (``epoch_weights``); its large buffers
    (fixed during training, such as a basis) are shared with the template, not copied."""
    import copy

    memo = {id(b): b for name, b in template.named_buffers() if name not in weights}
    model = copy.deepcopy(template, memo)
    model.load_state_dict(weights, strict=False)
    return freeze(model)


def configs_parts(model_config, train_config) -> dict:
    """The header fields of a run's model and training settings."""
    return {"model_config": model_config.to_dict(), "train_config": train_config.to_dict()}


def configs_from(header: dict):
    """(ModelConfig, TrainConfig) of ``configs_parts``, every field checked."""
    return model_config_from_doc(header["model_config"]), train_config_from_doc(header["train_config"])


def trainer_parts(trainer) -> tuple[dict, dict]:
    """Everything a new ``Trainer`` needs to go on from ``trainer`` (as ``Trainer.restore`` reads
    it): weights, optimizer state, history, epoch count, shuffling, gamma and settings."""
    opt_arrays, opt_doc = optimizer_tensors(trainer.model, trainer.optimizer)
    head, arrays = model_parts(trainer.model)
    head.update(configs_parts(trainer.model_config, trainer.config))
    head.update({"optimizer": opt_doc, "history": [dict(h) for h in trainer.history], "epoch": int(trainer.epoch),
                 "gamma": float(trainer.gamma), "train_state": dict(trainer.training_state())})
    arrays.update(opt_arrays)
    return {"trainer": head}, arrays


def remote_state_from(header: dict, arrays: dict, key: int, pid: int):
    """The ``RemoteTrainer`` described by ``trainer_parts``."""
    from saeviz.core.method.training_process import RemoteTrainer

    doc = header["trainer"]
    model = model_from(doc, arrays)
    model_config, train_config = configs_from(doc)
    opt = optimizer_state_from_tensors(doc["optimizer"], arrays)
    return RemoteTrainer(key=key, pid=pid, model=model, model_config=model_config, config=train_config,
                         history=[dict(h) for h in doc["history"]], epoch=int(doc["epoch"]),
                         gamma=float(doc["gamma"]), optimizer_state=opt, train_state=dict(doc["train_state"]))


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars made Python numbers (for a header)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
