"""Checkpoints: one safetensors file holding the weights, the labels and a JSON document.

The JSON (in the safetensors header's metadata under ``"saeviz"``) describes the
architecture, dims, class names, colours, distances, the dataset's identity, the training
settings and history. Loading never unpickles: the header is parsed by safetensors, every
tensor's shape and dtype is checked against what the JSON implies before the weights are
read, and a tampered or truncated file raises ``CheckpointError`` naming the problem.

A checkpoint written during training can also carry what resuming the run needs: the Adam
state as tensors named ``optimizer.<parameter>.<state>`` (``step``, ``exp_avg``,
``exp_avg_sq``, checked against the parameter's shape like the weights), the optimizer's
scalar settings in the JSON document (``"optimizer"``), and the epoch count and the state of
the sample-shuffling generator (``"train_state"``).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from saeviz.core.errors import CheckpointBudgetError, CheckpointError
from saeviz.core.io.budget import check_budget
from saeviz.core.io.fileio import atomic_write_bytes, json_safe, load_json
from saeviz.core.io.validate import (
    check_source,
    is_int,
    model_config_from_doc,
    train_config_from_doc,
)
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.models import Autoencoder
from saeviz.core.state.labels import Supervision, validate_distances, validate_labels

FORMAT = "saeviz-checkpoint"
FORMAT_VERSION = 1
LABELS_KEY = "supervision.labels"
MODEL_PREFIX = "model."
OPTIMIZER_PREFIX = "optimizer."
OPTIMIZER_TYPE = "Adam"
# Adam's per-parameter state: the step count (a scalar) and moments shaped like the parameter.
_OPTIMIZER_STATE = {"step": "scalar", "exp_avg": "param", "exp_avg_sq": "param", "max_exp_avg_sq": "param"}
SUFFIX = ".safetensors"
MAX_SAMPLE_SIDE = 1 << 24


@dataclass
class Checkpoint:
    """A trained model with everything needed to use, show or resume it: its configurations,
    the supervision it was trained with, where its data came from, the training history and
    metrics, and (for resuming) the optimizer and training state."""
    model: Autoencoder
    model_config: ModelConfig
    train_config: TrainConfig
    supervision: Supervision | None = None
    dataset_source: dict[str, Any] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    # For resuming: {"type", "group": scalar settings, "state": {parameter name: {name: tensor}}}
    optimizer_state: dict[str, Any] | None = None
    train_state: dict[str, Any] = field(default_factory=dict)  # "epoch", "rng", "world_size"


def checkpoint_path(path: str | os.PathLike) -> Path:
    """``path`` with the ``.safetensors`` suffix added when it has none."""
    path = Path(path)
    return path if path.suffix else path.with_suffix(SUFFIX)


def optimizer_tensors(model: Autoencoder, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Adam's state keyed by parameter name, and its scalar settings for the JSON document."""
    if type(optimizer).__name__ != OPTIMIZER_TYPE or len(optimizer.param_groups) != 1:
        raise ValueError(f"only a single-group {OPTIMIZER_TYPE} optimizer can be saved")
    names = {id(p): name for name, p in model.named_parameters()}
    tensors = {}
    for param in optimizer.param_groups[0]["params"]:
        if id(param) not in names:
            raise ValueError("the optimizer holds a parameter that is not the model's")
        for key, value in optimizer.state.get(param, {}).items():
            if key not in _OPTIMIZER_STATE:
                raise ValueError(f"unexpected optimizer state {key!r}")
            value = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{OPTIMIZER_PREFIX}{names[id(param)]}.{key}"] = value.detach().to("cpu", torch.float32).contiguous()
    group = {k: (list(v) if isinstance(v, tuple) else v)
             for k, v in optimizer.param_groups[0].items() if k != "params"}
    # how this process ran the step (fused or not) is no setting of the run: a resumed run
    # picks its own
    group.update({k: None for k in ("foreach", "fused") if k in group})
    return tensors, {"type": OPTIMIZER_TYPE, "group": group}


def optimizer_state_from_tensors(doc: dict, tensors: dict) -> dict:
    """The optimizer state that ``Trainer.restore`` reads, from the JSON part ``doc`` and the
    tensors of ``optimizer_tensors`` (other tensors in ``tensors`` are ignored)."""
    per_param: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(OPTIMIZER_PREFIX):
            param, name = key[len(OPTIMIZER_PREFIX):].rsplit(".", 1)
            per_param.setdefault(param, {})[name] = value
    group = {k: (tuple(v) if isinstance(v, list) else v) for k, v in doc["group"].items()}
    return {"type": OPTIMIZER_TYPE, "group": group, "state": per_param}


def save_checkpoint(path, model, *, train_config: TrainConfig, supervision: Supervision | None = None,
                    dataset_source: dict | None = None, history: list | None = None,
                    metrics: dict | None = None, optimizer: torch.optim.Optimizer | None = None,
                    train_state: dict | None = None) -> Path:
    """Write a checkpoint atomically; ``model`` is an ``Autoencoder`` or a ``Trainer``.

    To make it resumable pass the trainer's ``optimizer`` and ``training_state()``.
    """
    model = getattr(model, "model", model)
    path = checkpoint_path(path)
    tensors = {MODEL_PREFIX + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": model.config.to_dict(),
        "sample_shape": list(model.sample_shape),
        "train": train_config.to_dict(),
        "dataset": dataset_source or {},
        "history": list(history or []),
        "metrics": metrics or {},
    }
    if optimizer is not None:
        opt_tensors, doc["optimizer"] = optimizer_tensors(model, optimizer)
        tensors.update(opt_tensors)
    if train_state is not None:
        doc["train_state"] = dict(train_state)
    if supervision is not None:
        tensors[LABELS_KEY] = torch.as_tensor(np.asarray(supervision.labels, np.int64))
        doc["classes"] = {
            "names": list(supervision.class_names),
            "colors": list(supervision.colors),
            "distances": np.asarray(supervision.distances, float).tolist(),
        }
    data = st_save(tensors, metadata={"saeviz": json.dumps(json_safe(doc), allow_nan=False)})
    atomic_write_bytes(path, data)
    return path




def _fail(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"{path}: {problem}")


def _expected_shapes(config: ModelConfig, sample_shape) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Shapes of every tensor a model of this config holds (prefixed keys), and of its
    parameters (plain names), computed without allocating."""
    with torch.device("meta"):
        skeleton = Autoencoder(config, sample_shape)
    return ({MODEL_PREFIX + k: tuple(v.shape) for k, v in skeleton.state_dict().items()},
            {k: tuple(v.shape) for k, v in skeleton.named_parameters()})


def _is_float32(dtype: str) -> bool:
    return dtype in ("F32", "float32", "torch.float32")


def _finite_number(low: float, strict: bool = False):
    def check(v) -> bool:
        return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                and (v > low if strict else v >= low))
    return check


# Adam's settings as the JSON document may hold them: name -> (check, description)
_ADAM_SETTINGS = {
    "lr": (_finite_number(0, strict=True), "a positive number (the learning rate)"),
    "betas": (lambda v: isinstance(v, list) and len(v) == 2
              and all(_finite_number(0)(b) and b < 1 for b in v), "a pair of numbers in [0, 1)"),
    "eps": (_finite_number(0), "a non-negative number"),
    "weight_decay": (_finite_number(0), "a non-negative number"),
    "amsgrad": (lambda v: isinstance(v, bool), "true or false"),
    "maximize": (lambda v: isinstance(v, bool), "true or false"),
    "decoupled_weight_decay": (lambda v: isinstance(v, bool), "true or false"),
    "foreach": (lambda v: v is None or isinstance(v, bool), "null, true or false"),
    "capturable": (lambda v: v is False, "false"),
    "differentiable": (lambda v: v is False, "false"),
    "fused": (lambda v: v is None or v is False, "null or false"),
}


def _check_optimizer(path: Path, doc: dict, infos: dict, param_shapes: dict) -> dict[str, tuple[str, str]]:
    """Validate the optimizer entries before reading any; map tensor key -> (parameter, state)."""
    keys = [k for k in infos if k.startswith(OPTIMIZER_PREFIX)]
    opt = doc.get("optimizer")
    if opt is None:
        if keys:
            raise _fail(path, "optimizer tensors without an optimizer description")
        return {}
    if not isinstance(opt, dict) or opt.get("type") != OPTIMIZER_TYPE or not isinstance(opt.get("group"), dict):
        raise _fail(path, f"the optimizer description is not that of {OPTIMIZER_TYPE}")
    for name, value in opt["group"].items():
        scalar = value is None or isinstance(value, (bool, int, float))
        pair = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if not (scalar or pair):
            raise _fail(path, f"optimizer setting {name!r} is not a number")
        check = _ADAM_SETTINGS.get(name)
        if check is not None and not check[0](value):
            raise _fail(path, f"optimizer setting {name!r} must be {check[1]}, got {value!r}"[:300])
    lr = opt["group"].get("lr")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
        raise _fail(path, "the optimizer's learning rate is missing or not positive")
    amsgrad = bool(opt["group"].get("amsgrad", False))
    complete = {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if amsgrad else set())
    found: dict[str, tuple[str, str]] = {}
    per_param: dict[str, set[str]] = {}
    for key in keys:
        param, _, state = key[len(OPTIMIZER_PREFIX):].rpartition(".")
        if param not in param_shapes or state not in _OPTIMIZER_STATE:
            raise _fail(path, f"unexpected optimizer tensor {key}")
        shape, dtype = infos[key]
        want = () if _OPTIMIZER_STATE[state] == "scalar" else param_shapes[param]
        if shape != want:
            raise _fail(path, f"tensor {key} has shape {shape}, the model needs {want}")
        if not _is_float32(dtype):
            raise _fail(path, f"tensor {key} has dtype {dtype}, expected float32")
        found[key] = (param, state)
        per_param.setdefault(param, set()).add(state)
    if len({frozenset(s) for s in per_param.values()}) > 1:
        raise _fail(path, "the optimizer state is incomplete for some parameters")
    for states in per_param.values():
        if states != complete:
            raise _fail(path, f"the optimizer state holds {sorted(states)}, Adam "
                              f"{'with' if amsgrad else 'without'} amsgrad needs {sorted(complete)}")
    return found


def _check_train_state(path: Path, doc: dict) -> dict:
    state = doc.get("train_state") or {}
    if not isinstance(state, dict):
        raise _fail(path, "the training state is not a JSON object")
    epoch = state.get("epoch", 0)
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= 10 ** 9:
        raise _fail(path, f"invalid epoch count {epoch!r} in the training state")
    world = state.get("world_size", 1)
    if not isinstance(world, int) or isinstance(world, bool) or not 1 <= world <= 1 << 20:
        raise _fail(path, f"invalid process count {world!r} in the training state")
    if "rng" in state:
        try:
            np.random.PCG64().state = state["rng"]
        except (TypeError, ValueError, KeyError) as exc:
            raise _fail(path, f"invalid generator state in the training state: {exc}") from None
    return state


def read_header(path) -> tuple[dict, dict[str, tuple[tuple[int, ...], str]]]:
    """The JSON document and the tensors' (shape, dtype), without reading any weight."""
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    if not path.is_file():
        raise _fail(path, "not a file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            infos = {}
            for key in fh.keys():
                sl = fh.get_slice(key)
                infos[key] = (tuple(int(s) for s in sl.get_shape()), str(sl.get_dtype()))
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors raises its own error type for corrupt headers
        raise _fail(path, f"not a readable checkpoint (truncated or corrupt): {exc}") from None
    if "saeviz" not in meta:
        raise _fail(path, "a safetensors file, but not a saeviz checkpoint (no 'saeviz' document)")
    try:
        doc = load_json(meta["saeviz"])
    except ValueError as exc:  # json.JSONDecodeError, JSONLimitError
        raise _fail(path, f"the checkpoint's JSON document is corrupt or beyond limits: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _fail(path, "the JSON document is not a saeviz checkpoint")
    if doc.get("version") != FORMAT_VERSION:
        raise _fail(path, f"checkpoint format version {doc.get('version')!r} is not supported (expected {FORMAT_VERSION})")
    return doc, infos


def load_checkpoint(path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint written by ``save_checkpoint``; see the module docstring."""
    path = checkpoint_path(path)
    doc, infos = read_header(path)
    try:
        model_config = model_config_from_doc(doc["model"])
        train_config = train_config_from_doc(doc["train"])
        shape = doc["sample_shape"]
        if not isinstance(shape, list) or not 1 <= len(shape) <= 4 \
                or not all(is_int(s) and 1 <= s <= MAX_SAMPLE_SIDE for s in shape):
            raise ValueError(f"invalid sample shape {shape!r}"[:200])
        sample_shape = tuple(shape)
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"invalid model description in the JSON document: {exc}") from None
    check_budget(4 * math.prod(sample_shape), path, f"the sample shape {sample_shape}", CheckpointBudgetError)
    if "model.mean" not in infos or infos["model.mean"][0] != sample_shape:
        raise _fail(path, f"the weights do not match the described sample shape {sample_shape}")
    try:
        expected, param_shapes = _expected_shapes(model_config, sample_shape)
    except (ValueError, RuntimeError) as exc:
        raise _fail(path, f"the described model cannot be built: {exc}") from None
    present = {k: v for k, v in infos.items() if k.startswith(MODEL_PREFIX)}
    missing, extra = set(expected) - set(present), set(present) - set(expected)
    # basis models written before their MLPs had a coefficient scale: they ran without one
    unscaled = {MODEL_PREFIX + "encoder.coef_scale", MODEL_PREFIX + "decoder.coef_scale"}
    if model_config.architecture == "basis" and missing == unscaled:
        expected = {k: v for k, v in expected.items() if k not in unscaled}
        missing = set()
    if missing or extra:
        raise _fail(path, f"weights do not match the described model (missing {sorted(missing)[:3]}, unexpected {sorted(extra)[:3]})")
    for key, shape in expected.items():
        got_shape, dtype = present[key]
        if got_shape != shape:
            raise _fail(path, f"tensor {key} has shape {got_shape}, the model needs {shape}")
        if not _is_float32(dtype):
            raise _fail(path, f"tensor {key} has dtype {dtype}, expected float32")
    opt_keys = _check_optimizer(path, doc, infos, param_shapes)
    train_state = _check_train_state(path, doc)
    source = doc.get("dataset") or {}
    try:
        source = check_source(source) if source else {}
    except ValueError as exc:
        raise _fail(path, f"invalid dataset reference: {exc}") from None
    metrics = doc.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise _fail(path, "the metrics are not a JSON object")
    supervision = None
    if "classes" in doc:
        if LABELS_KEY not in infos or len(infos[LABELS_KEY][0]) != 1:
            raise _fail(path, "class information without a label vector")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            state = {k[len(MODEL_PREFIX):]: fh.get_tensor(k) for k in expected}
            for key in unscaled - set(expected) if model_config.architecture == "basis" else ():
                state[key[len(MODEL_PREFIX):]] = torch.ones(())
            labels = fh.get_tensor(LABELS_KEY).numpy() if "classes" in doc else None
            opt_tensors = {k: fh.get_tensor(k) for k in opt_keys}
    except Exception as exc:
        raise _fail(path, f"the weights cannot be read (truncated or corrupt): {exc}") from None
    for k, v in [*state.items(), *opt_tensors.items()]:
        if not torch.all(torch.isfinite(v)):
            raise _fail(path, f"tensor {k} contains NaN or infinite values")
    optimizer_state = optimizer_state_from_tensors(doc["optimizer"], opt_tensors) if "optimizer" in doc else None
    model = Autoencoder(model_config, sample_shape)
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    if labels is not None:
        try:
            cls = doc["classes"]
            if not isinstance(cls["names"], list) or not isinstance(cls["colors"], list):
                raise ValueError("class names and colours must be lists")
            names = tuple(str(n) for n in cls["names"])
            colors = tuple(str(c) for c in cls["colors"])
            if len(colors) != len(names):
                raise ValueError("one colour per class is needed")
            distances = validate_distances(cls["distances"], len(names))
            labels = validate_labels(labels, len(labels), len(names))
        except (KeyError, TypeError, ValueError) as exc:
            raise _fail(path, f"invalid class information: {exc}") from None
        supervision = Supervision(labels, names, colors, distances, 0)
    history = doc.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise _fail(path, "the training history is not a list of records")
    return Checkpoint(model=model, model_config=model_config, train_config=train_config,
                      supervision=supervision, dataset_source=source,
                      history=history, metrics=dict(metrics),
                      created=str(doc.get("created", "")), optimizer_state=optimizer_state,
                      train_state=train_state)
