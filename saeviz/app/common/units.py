"""The unit in which a dataset's errors are shown ("RMSE 12.3 mm").

A dataset declares the unit of its values with a ``unit`` attribute (``"m"``, ``"mm"``, ...)
when it has one; the generated bodies (anny or SMPL, in metres) are known to be in metres
without it. Lengths in metres are shown in millimetres, the scale of a reconstruction error
of a body. Datasets without a known unit (images, vectors, meshes read from files) show
plain numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

# unit of the data -> (unit shown, shown units per data unit)
LENGTHS = {"m": ("mm", 1000.0), "cm": ("mm", 10.0), "mm": ("mm", 1.0)}
METRE_LOADERS = ("bodies",)  # ``Dataset.source["loader"]`` of datasets in metres


@dataclass(frozen=True)
class Unit:
    """``name`` is shown after values multiplied by ``scale`` ("" and 1: a plain number)."""

    name: str = ""
    scale: float = 1.0

    def format(self, value: float, digits: int = 4) -> str:
        v = float(value) * self.scale
        text = f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:,.0f}"
        return f"{text} {self.name}" if self.name else text


PLAIN = Unit()


def data_unit(dataset) -> Unit:
    """The unit errors of ``dataset`` are shown in (``PLAIN`` when unknown or no dataset)."""
    if dataset is None:
        return PLAIN
    declared = getattr(dataset, "unit", None)
    if isinstance(declared, str) and declared:
        name, scale = LENGTHS.get(declared, (declared, 1.0))
        return Unit(name, scale)
    source = getattr(dataset, "source", None) or {}
    if getattr(dataset, "kind", None) == "mesh" and source.get("loader") in METRE_LOADERS:
        return Unit(*LENGTHS["m"])
    return PLAIN


__all__ = ["Unit", "PLAIN", "data_unit"]
