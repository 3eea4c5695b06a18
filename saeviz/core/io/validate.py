"""Validation of what documents read from files hold: settings and dataset references.

Checkpoints, projects and autosaves carry settings (``ModelConfig``, ``TrainConfig``) and a
dataset reference (a loader name and its options). Both are checked here by type and range
before anything is built from them, so a tampered file gives a named error instead of a
network of a billion units, a 30000 x 30000 resize or a traceback.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Mapping

from saeviz.core.method.config import MDSConfig, ModelConfig, TrainConfig

MAX_WIDTH = 1 << 16          # units of a hidden layer, components of a basis
MAX_LATENT = 4096
MAX_CHANNELS = 4096
MAX_LAYERS = 16
MAX_COUNT = 10 ** 7          # epochs, batch size, MDS iterations, ...
MAX_SEED = (1 << 63) - 1
MAX_IMAGE_SIDE = 16384
MAX_BODIES = 1_000_000
MAX_PATH = 4096

# field -> (low, high) for the integer settings; others: see _check_value
INT_RANGES: dict[str, tuple[int, int]] = {
    "latent_dim": (1, MAX_LATENT), "basis_size": (1, MAX_WIDTH), "epochs": (0, MAX_COUNT),
    "batch_size": (1, MAX_COUNT), "seed": (0, MAX_SEED), "snapshot_every": (0, MAX_COUNT),
    "max_iter": (1, MAX_COUNT), "tile": (1, MAX_COUNT),
}
TUPLE_RANGES: dict[str, tuple[int, int, int]] = {  # field -> (low, high, max length)
    "hidden": (1, MAX_WIDTH, MAX_LAYERS), "conv_channels": (1, MAX_CHANNELS, MAX_LAYERS),
}


def is_int(value) -> bool:
    """Whether ``value`` is an integer (booleans are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """Whether ``value`` is a finite integer or float (booleans are not)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def _check_value(cls_name: str, name: str, hint, value) -> Any:
    where = f"{cls_name}.{name}"
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]
        if not is_int(value) or not lo <= value <= hi:
            raise ValueError(f"{where} must be a whole number in [{lo}, {hi}], got {value!r}")
        return value
    if name in TUPLE_RANGES:
        lo, hi, length = TUPLE_RANGES[name]
        if not isinstance(value, list) or len(value) > length \
                or not all(is_int(v) and lo <= v <= hi for v in value):
            raise ValueError(f"{where} must be a list of at most {length} whole numbers in "
                             f"[{lo}, {hi}], got {value!r}"[:300])
        return tuple(value)
    if hint is float:
        if not is_number(value):
            raise ValueError(f"{where} must be a finite number, got {value!r}"[:300])
        return float(value)
    if hint is str:
        if not isinstance(value, str) or len(value) > 256:
            raise ValueError(f"{where} must be a short text, got {value!r}"[:300])
        return value
    if hint is MDSConfig:
        return config_from_doc(MDSConfig, value)
    raise ValueError(f"{where}: unexpected setting")  # pragma: no cover - every field is covered


def config_from_doc(cls, data):
    """``cls`` (``ModelConfig``, ``TrainConfig``, ``MDSConfig``) from a JSON object read from a
    file, every field checked by type and range; ``ValueError`` naming the field otherwise."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown settings {sorted(map(str, unknown))[:5]}")
    values = {k: _check_value(cls.__name__, k, hints[k], v) for k, v in data.items()}
    return cls(**values)


def model_config_from_doc(data) -> ModelConfig:
    """A ``ModelConfig`` from a JSON document, every field checked (``config_from_doc``)."""
    return config_from_doc(ModelConfig, data)


def train_config_from_doc(data) -> TrainConfig:
    """A ``TrainConfig`` from a JSON document, every field checked (``config_from_doc``)."""
    return config_from_doc(TrainConfig, data)


# -- dataset references --------------------------------------------------------------------------------------
_PATH = "path"
_FRACTION = "fraction"
_SEED = "seed"
_BOOL = "bool"
# loader -> option -> kind (or a tuple of accepted values)
SOURCE_OPTIONS: dict[str, dict[str, Any]] = {
    "digits": {"decomposition": ("abc", "seasons", "digits", None), "test_fraction": _FRACTION, "seed": _SEED},
    "npz": {"path": _PATH, "test_fraction": _FRACTION, "seed": _SEED},
    "idx": {"path": _PATH, "variant": ("mnist", "fashion"), "decomposition": (None, "abc", "seasons")},
    "images": {"path": _PATH, "size": "size", "test_fraction": _FRACTION, "seed": _SEED},
    "meshes": {"path": _PATH, "labels_csv": _PATH, "skip_bad": _BOOL, "skipped": "names"},
    "bodies": {"count": "count", "seed": _SEED, "model": _PATH, "resolution": ("full", "reduced")},
}


def _check_option(loader: str, key: str, kind, value) -> None:
    what = f"option {key!r} of the {loader!r} loader"
    if isinstance(kind, tuple):
        if value not in kind:
            raise ValueError(f"{what} must be one of {', '.join(map(repr, kind))}, got {value!r}"[:300])
    elif kind == _PATH:
        if not isinstance(value, str) or not value or len(value) > MAX_PATH or "\0" in value:
            raise ValueError(f"{what} must be a path, got {value!r}"[:300])
    elif kind == _FRACTION:
        if not is_number(value) or not 0 <= value < 1:
            raise ValueError(f"{what} must be a number in [0, 1), got {value!r}"[:300])
    elif kind == _SEED:
        if not is_int(value) or not 0 <= value <= MAX_SEED:
            raise ValueError(f"{what} must be a whole number in [0, 2**63), got {value!r}"[:300])
    elif kind == _BOOL:
        if not isinstance(value, bool):
            raise ValueError(f"{what} must be true or false, got {value!r}"[:300])
    elif kind == "count":
        if not is_int(value) or not 1 <= value <= MAX_BODIES:
            raise ValueError(f"{what} must be a whole number in [1, {MAX_BODIES:,}], got {value!r}"[:300])
    elif kind == "names":
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= MAX_PATH for v in value):
            raise ValueError(f"{what} must be a list of file names")
    elif kind == "size":
        if value is not None and (not isinstance(value, (list, tuple)) or len(value) != 2
                                  or not all(is_int(v) and 1 <= v <= MAX_IMAGE_SIDE for v in value)):
            raise ValueError(f"{what} must be null or [height, width], each in [1, {MAX_IMAGE_SIDE}], "
                             f"got {value!r}"[:300])


def _check_plain(key: str, value, depth: int = 0) -> None:
    """Options of loaders not listed in ``SOURCE_OPTIONS``: plain, small JSON values."""
    if value is None or isinstance(value, bool):
        return
    if is_int(value):
        if abs(value) > MAX_SEED:
            raise ValueError(f"option {key!r} is out of range: {value!r}"[:300])
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"option {key!r} is not a finite number")
    elif isinstance(value, str):
        if len(value) > MAX_PATH or "\0" in value:
            raise ValueError(f"option {key!r} is not a usable text")
    elif isinstance(value, (list, tuple)) and depth == 0 and len(value) <= 16:
        for v in value:
            _check_plain(key, v, depth + 1)
    else:
        raise ValueError(f"option {key!r} must be a number, a text or a short list, got "
                         f"{type(value).__name__}")


def check_source(source: Mapping[str, Any]) -> dict[str, Any]:
    """A dataset reference (``{"loader": name, **options}``) checked by type and range; options
    of the built-in loaders are limited to those a reference may set. ``ValueError`` otherwise."""
    if not isinstance(source, Mapping):
        raise ValueError(f"the dataset reference must be a JSON object, got {type(source).__name__}")
    loader = source.get("loader")
    if not isinstance(loader, str) or not loader or len(loader) > 64:
        raise ValueError(f"the dataset reference names no loader ({loader!r})"[:300])
    for key in source:
        if not isinstance(key, str):
            raise ValueError(f"the dataset reference has a key {key!r} that is not a text")
    options = {k: v for k, v in source.items() if k != "loader"}
    known = SOURCE_OPTIONS.get(loader)
    if known is None:
        for key, value in options.items():
            _check_plain(key, value)
        return dict(source)
    for key, value in options.items():
        if key not in known:
            raise ValueError(f"the dataset reference sets {key!r}, which the {loader!r} loader "
                             f"does not take from a reference (it takes {', '.join(known)})")
        _check_option(loader, key, known[key], value)
    return dict(source)


__all__ = ["config_from_doc", "model_config_from_doc", "train_config_from_doc", "check_source",
           "SOURCE_OPTIONS", "INT_RANGES", "TUPLE_RANGES", "MAX_LATENT", "MAX_WIDTH", "MAX_BODIES",
           "MAX_IMAGE_SIDE"]
