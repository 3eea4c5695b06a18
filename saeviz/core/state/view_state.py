"""How the data is shown, Qt-free and observable: the ``ViewState``.

The view state is what a user chooses about the picture rather than the data: the projection
and its dimensions, what the points are coloured by, what structure is drawn over them, how
guided labeling ranks and rings its candidates, and the labeling tool in hand. Widgets show it
and change it; code that decides what to compute reads it. Each field has its own event in
``ViewState.events``, emitted with the new value only when the value really changes.

It is stored in one versioned form, ``to_dict()``, both in the application's settings and in
project files. ``from_dict()`` reads every form saved so far:

* version 0: the separate settings keys of earlier releases (``view/projection``,
  ``view/color``, ``guided/k``, ``guided/strategy``, ``guided/highlight``);
* version 1: the ``view`` object of project files of format 1 (``projection``, ``dims``,
  ``color``, ``anchors``, ``lines``, ``axes``, ``tool``, ``brush_radius``, ``current_class``);
* version 2: the current form (``version`` and the field names of ``ViewState``).

A value that is unknown or invalid is left at its default (and logged), never an error: an old
or hand-edited file always opens.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psygnal import Signal, SignalGroup

from saeviz.core.method.ranking import STRATEGIES

log = logging.getLogger(__name__)

#: The version ``to_dict`` writes.
VERSION = 2
#: Projection methods, in menu order.
PROJECTIONS = ("pca", "lda", "axes", "umap", "tsne")
#: What the points can be coloured by.
COLOR_MODES = ("label", "prediction", "confidence", "recon", "wrong")
#: Labeling tools.
TOOLS = ("navigate", "click", "brush", "lasso", "rectangle", "eraser")
#: Number of guided-labeling candidates: default and largest.
GUIDED_K_DEFAULT, GUIDED_K_MAX = 100, 2000
#: Brush radius in screen pixels: smallest, largest and default.
BRUSH_MIN, BRUSH_MAX, BRUSH_DEFAULT = 2.0, 400.0, 24.0
#: Largest latent axis index accepted for the "latent axes" projection.
MAX_AXIS = 1 << 16
#: Largest class index accepted as the current class.
MAX_CLASS = 1 << 16


# -- validation --------------------------------------------------------------------------------------------
def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}"[:200])
        return value
    return check


def _int_in(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"expected a whole number in [{lo}, {hi}], got {value!r}"[:200])
        return int(value)
    return check


def _dims(value: Any) -> int:
    if isinstance(value, bool) or value not in (2, 3):
        raise ValueError(f"expected 2 or 3 dimensions, got {value!r}"[:200])
    return int(value)


def _flag(value: Any) -> bool:
    if value is not True and value is not False:
        raise ValueError(f"expected true or false, got {value!r}"[:200])
    return value


def _axes(value: Any) -> tuple[int, int, int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(f"expected three latent axis indices, got {value!r}"[:200])
    check = _int_in(0, MAX_AXIS)
    return tuple(check(v) for v in value)  # type: ignore[return-value]


def _radius(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not BRUSH_MIN <= value <= BRUSH_MAX:
        raise ValueError(f"expected a radius in [{BRUSH_MIN:g}, {BRUSH_MAX:g}], got {value!r}"[:200])
    return float(value)


@dataclass(frozen=True)
class _Field:
    name: str
    default: Any
    check: Callable[[Any], Any]
    kind: type
    doc: str


#: The fields: name, default, check of a value, type and meaning.
FIELDS: tuple[_Field, ...] = (
    _Field("projection", "pca", _choice(PROJECTIONS), str, "projection method (``PROJECTIONS``)"),
    _Field("dims", 2, _dims, int, "projected dimensions shown: 2 or 3"),
    _Field("axes", (0, 1, 2), _axes, tuple, "latent axes shown by the 'axes' projection (x, y, z)"),
    _Field("color", "label", _choice(COLOR_MODES), str, "what the points are coloured by (``COLOR_MODES``)"),
    _Field("show_targets", True, _flag, bool, "draw the class targets of the structure"),
    _Field("show_lines", False, _flag, bool, "draw lines from labeled samples to their targets"),
    _Field("guided_strategy", "margin", _choice(STRATEGIES), str, "how guided labeling ranks candidates"),
    _Field("guided_k", GUIDED_K_DEFAULT, _int_in(1, GUIDED_K_MAX), int, "number of guided-labeling candidates"),
    _Field("guided_highlight", True, _flag, bool, "ring the candidates in the latent view"),
    _Field("tool", "navigate", _choice(TOOLS), str, "labeling tool in hand (``TOOLS``)"),
    _Field("brush_radius", BRUSH_DEFAULT, _radius, float, "brush radius in screen pixels"),
    _Field("current_class", 0, _int_in(0, MAX_CLASS), int, "class the labeling tools paint"),
)
_BY_NAME = {f.name: f for f in FIELDS}


class ViewStateEvents(SignalGroup):
    """One signal per ``ViewState`` field, named like the field, carrying the new value."""

    projection = Signal(str)
    dims = Signal(int)
    axes = Signal(tuple)
    color = Signal(str)
    show_targets = Signal(bool)
    show_lines = Signal(bool)
    guided_strategy = Signal(str)
    guided_k = Signal(int)
    guided_highlight = Signal(bool)
    tool = Signal(str)
    brush_radius = Signal(float)
    current_class = Signal(int)


# -- migration of older forms -------------------------------------------------------------------------------
_SETTINGS_KEYS = {"view/projection": "projection", "view/color": "color", "guided/k": "guided_k",
                  "guided/strategy": "guided_strategy", "guided/highlight": "guided_highlight"}
#: The separate settings keys of version 0, replaced by one key holding ``to_dict()``.
SETTINGS_KEYS_V0 = tuple(_SETTINGS_KEYS)


def _settings_bool(value: Any) -> Any:
    """A flag as INI settings files give it back (``"true"``/``"false"``)."""
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def _settings_int(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return value
    return value


def _migrate_0(doc: dict) -> dict:
    """Version 0 (separate settings keys, values as strings) to version 1 names."""
    out = {_SETTINGS_KEYS[k]: v for k, v in doc.items() if k in _SETTINGS_KEYS}
    if "guided_k" in out:
        out["guided_k"] = _settings_int(out["guided_k"])
    if "guided_highlight" in out:
        out["guided_highlight"] = _settings_bool(out["guided_highlight"])
    return out


def _migrate_1(doc: dict) -> dict:
    """Version 1 (a format-1 project's ``view`` object) to version 2 names."""
    renames = {"anchors": "show_targets", "lines": "show_lines"}
    return {renames.get(k, k): v for k, v in doc.items()}


_MIGRATIONS: dict[int, Callable[[dict], dict]] = {0: _migrate_0, 1: _migrate_1}


def _version_of(doc: Mapping) -> int | None:
    if "version" in doc:
        v = doc["version"]
        return int(v) if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None
    return 0 if any(isinstance(k, str) and "/" in k for k in doc) else 1


def migrate(doc: Any) -> dict:
    """``doc`` in any form ``from_dict`` reads, brought to the current version's names (values
    not checked yet; unknown keys kept). Not a mapping, or an unreadable version: ``{}``."""
    if not isinstance(doc, Mapping):
        if doc is not None:
            log.warning("ignoring view settings that are not an object: %.80r", doc)
        return {}
    version = _version_of(doc)
    if version is None:
        log.warning("ignoring view settings of unknown version %.40r", doc.get("version"))
        return {}
    out = {k: v for k, v in doc.items() if k != "version"}
    if version > VERSION:
        log.info("view settings of a newer version (%d): reading the fields this version knows", version)
    while version < VERSION:
        out = _MIGRATIONS[version](out)
        version += 1
    return out


# -- the model ---------------------------------------------------------------------------------------------------
class ViewState:
    """How the data is shown (see the module docstring). Fields are plain attributes; setting
    one checks the value (``ValueError`` if invalid) and emits ``events.<field>`` with the new
    value when it differs from the old. ``FIELDS`` lists the fields with their defaults."""

    __slots__ = ("_values", "events")

    def __init__(self, **values: Any):
        """Defaults, then ``values`` (checked: ``ValueError`` for an unknown field or bad value)."""
        object.__setattr__(self, "_values", {f.name: f.default for f in FIELDS})
        object.__setattr__(self, "events", ViewStateEvents())
        self.update(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return object.__getattribute__(self, "_values")[name]
        except KeyError:
            raise AttributeError(f"ViewState has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        field = _BY_NAME.get(name)
        if field is None:
            raise AttributeError(f"ViewState has no field {name!r}; fields: {', '.join(_BY_NAME)}")
        try:
            value = field.check(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        if self._values[name] == value:
            return
        self._values[name] = value
        getattr(self.events, name).emit(value)

    def update(self, values: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Set several fields; every value is checked before any is set (one bad value sets
        none). Events follow for the fields that changed, in ``FIELDS`` order."""
        items = {**(values or {}), **more}
        checked = {}
        for name, value in items.items():
            field = _BY_NAME.get(name)
            if field is None:
                raise AttributeError(f"ViewState has no field {name!r}; fields: {', '.join(_BY_NAME)}")
            try:
                checked[name] = field.check(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        for field in FIELDS:
            if field.name in checked:
                setattr(self, field.name, checked[field.name])

    def assign(self, other: ViewState) -> None:
        """Take every field of ``other`` (events for those that change)."""
        self.update(other._values)

    def reset(self) -> None:
        """Every field back to its default."""
        self.update({f.name: f.default for f in FIELDS})

    def copy(self) -> ViewState:
        """An independent copy with the same values (and its own events)."""
        return ViewState(**self._values)

    def to_dict(self) -> dict[str, Any]:
        """The current form: ``version`` and every field, JSON-ready (tuples as lists)."""
        out: dict[str, Any] = {"version": VERSION}
        for name, value in self._values.items():
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, doc: Any) -> ViewState:
        """A ``ViewState`` from any stored form (module docstring). Unknown keys and invalid
        values are left out, with a warning; this never raises for bad input."""
        state = cls()
        values = {}
        for name, value in migrate(doc).items():
            field = _BY_NAME.get(name)
            if field is None:
                log.info("ignoring unknown view setting %.40r", name)
                continue
            try:
                values[name] = field.check(value)
            except ValueError as exc:
                log.warning("ignoring view setting %s: %s", name, exc)
        state.update(values)
        return state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ViewState) and self._values == other._values

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return "ViewState(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"


__all__ = ["BRUSH_DEFAULT", "BRUSH_MAX", "BRUSH_MIN", "COLOR_MODES", "FIELDS", "GUIDED_K_DEFAULT",
           "GUIDED_K_MAX", "PROJECTIONS", "SETTINGS_KEYS_V0", "TOOLS", "VERSION", "ViewState", "ViewStateEvents",
           "migrate"]
