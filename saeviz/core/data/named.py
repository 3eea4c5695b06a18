"""MNIST and Fashion-MNIST by name: where their IDX files are looked for, and their class groupings.

``"mnist"`` and ``"fashion-mnist"`` name the two datasets; their four IDX files (raw or
``.gz``) are searched, in this order, in

1. the folder named by an environment variable (``SAEVIZ_MNIST_DIR``,
   ``SAEVIZ_FASHION_MNIST_DIR``); when it is set, only there;
2. the user's data folder for saeviz (``~/.local/share/saeviz/datasets/mnist`` on Linux,
   ``.../fashion-mnist`` for Fashion-MNIST, see ``user_data_dir``);
3. system folders: Debian's ``dataset-fashion-mnist`` package installs Fashion-MNIST in
   ``/usr/share/datasets/fashion-mnist``.

A folder can always be given as a path instead of a name.

Class groupings (``CLASS_GROUPINGS``): ``"ten"`` keeps the ten classes, ``"abc"`` is the
paper's A = (0, 1, 9), B = (4, 6, 8), C = (2, 3, 5, 7) for digits, ``"seasons"`` the paper's
summer / winter / all-year for Fashion-MNIST. A name without a grouping uses the paper's.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from saeviz.core.data.dataset import Dataset
from saeviz.core.data.digits import DECOMPOSITIONS
from saeviz.core.data.idx import _PARTS, _candidates, find_idx_files, load_mnist_folder
from saeviz.core.errors import DataError


@dataclass(frozen=True)
class IdxDataset:
    """A dataset distributed as four IDX files, found by name."""

    name: str                      # "mnist", "fashion-mnist"
    variant: str                   # the IDX loader's variant: "mnist" or "fashion"
    env: str                       # environment variable naming its folder
    system_dirs: tuple[str, ...]   # folders where a system package installs it
    default_grouping: str          # the paper's grouping


IDX_DATASETS: dict[str, IdxDataset] = {
    "mnist": IdxDataset("mnist", "mnist", "SAEVIZ_MNIST_DIR", (), "abc"),
    "fashion-mnist": IdxDataset("fashion-mnist", "fashion", "SAEVIZ_FASHION_MNIST_DIR",
                                ("/usr/share/datasets/fashion-mnist",), "seasons"),
}

# Class groupings offered by name: "ten" keeps the ten base classes.
CLASS_GROUPINGS: tuple[str, ...] = ("ten", *DECOMPOSITIONS)


def user_data_dir() -> Path:
    """The platform's per-user data folder for saeviz (datasets live in its ``datasets`` folder)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "saeviz"


def _complete(folder: Path) -> bool:
    try:
        return folder.is_dir() and all(p is not None for p in find_idx_files(folder).values())
    except OSError:
        return False


def search_folders(name: str) -> list[Path]:
    """The folders searched for the named IDX dataset, in order (see the module documentation)."""
    info = IDX_DATASETS[name]
    env = os.environ.get(info.env)
    if env:
        return [Path(env).expanduser()]
    return [user_data_dir() / "datasets" / name, *(Path(d) for d in info.system_dirs)]


def find_idx_dataset(name: str) -> Path | None:
    """The first folder holding all four IDX files of ``name``, or None."""
    return next((folder for folder in search_folders(name) if _complete(folder)), None)


def idx_dataset_folder(name: str) -> Path:
    """The folder of the named IDX dataset; a ``DataError`` says where to put the files if none is found."""
    if name not in IDX_DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of {', '.join(IDX_DATASETS)}")
    folder = find_idx_dataset(name)
    if folder is not None:
        return folder
    info = IDX_DATASETS[name]
    files = ", ".join(_candidates(*part)[2] for part in _PARTS.values())
    looked = search_folders(name)
    where = (f"${info.env} names {looked[0]}, which does not hold them" if os.environ.get(info.env)
             else f"looked in {', '.join(str(p) for p in looked)}")
    package = " (or install Debian's dataset-fashion-mnist package)" if name == "fashion-mnist" else ""
    raise DataError(f"{name}: the four IDX files ({files}) were not found ({where}). Put them in "
                    f"{looked[0]}, set {info.env} to the folder that holds them{package}, or give "
                    "the folder's path instead of the name")


def grouping_decomposition(grouping: str | None, base: str) -> str | None:
    """The ``decomposition`` option of a loader for class grouping ``grouping`` of ``base`` labels.

    ``None`` and ``"ten"`` keep the ten classes. Raises ``DataError`` for an unknown grouping
    or one that groups other labels (e.g. ``"seasons"`` of digits).
    """
    if grouping in (None, "ten"):
        return None
    dec = DECOMPOSITIONS.get(grouping)
    if dec is None:
        raise DataError(f"unknown class grouping {grouping!r}; expected one of {', '.join(CLASS_GROUPINGS)}")
    if dec.base != base:
        kind = "Fashion-MNIST items" if dec.base == "fashion" else "digits"
        raise DataError(f"the class grouping {grouping!r} groups {kind} and does not apply to this dataset")
    return grouping


def load_idx_dataset(name: str, grouping: str | None = None) -> Dataset:
    """MNIST or Fashion-MNIST by name (``"mnist"``, ``"fashion-mnist"``), ``grouping`` as in ``CLASS_GROUPINGS``.

    ``grouping=None`` is the paper's grouping (A/B/C for MNIST, seasons for Fashion-MNIST).
    The dataset's ``source`` names the dataset, not the folder, so a checkpoint made on one
    machine finds the files on another.
    """
    folder = idx_dataset_folder(name)
    info = IDX_DATASETS[name]
    grouping = info.default_grouping if grouping is None else grouping
    ds = load_mnist_folder(folder, variant=info.variant,
                           decomposition=grouping_decomposition(grouping, info.variant))
    return dataclasses.replace(ds, source={"loader": "idx-named", "name": name, "grouping": grouping})


__all__ = ["IDX_DATASETS", "CLASS_GROUPINGS", "IdxDataset", "find_idx_dataset", "idx_dataset_folder",
           "grouping_decomposition", "load_idx_dataset", "search_folders", "user_data_dir"]
