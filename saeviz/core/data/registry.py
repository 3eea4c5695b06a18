"""``load_dataset``: one entry point from a name, a path or a ``source`` dict to a ``Dataset``.

A spec is either

* a string or path: ``"digits"`` (A/B/C), ``"digits10"`` (ten digits), ``"mnist"`` and
  ``"fashion-mnist"`` (the IDX files found as ``named`` describes), ``"bodies"`` (the
  generated 3D bodies, see below), an ``.npz`` file, a folder with MNIST-style IDX files, a
  folder of images (or class subfolders of images), or a folder of mesh files when the mesh
  loader is installed (a demo name wins over a file or folder of the same name: write
  ``./digits`` for the folder); or
* a dict ``{"loader": name, **options}``, the form stored in ``Dataset.source``. A
  ``"path"`` option is passed as the loader's first argument.

``"digits"``, ``"mnist"`` and ``"fashion-mnist"`` take a class grouping after a colon:
``"mnist:ten"`` (the ten digits), ``"mnist:abc"`` (the paper's A/B/C, the default),
``"fashion-mnist:seasons"`` (the default) or ``"fashion-mnist:ten"``; ``load_dataset``'s
``classes`` argument does the same for these names and for IDX folders.

``"bodies"`` is 6,000 bodies at full resolution, seed 0; ``"bodies:COUNT"``,
``"bodies:RESOLUTION"`` and ``"bodies:COUNT:RESOLUTION"`` change the count and the resolution
(``full`` or ``reduced``), e.g. ``"bodies:2000:reduced"``.

Loaders live in ``LOADERS``. Optional loaders (``"meshes"``, ``"bodies"``) sit in their own
modules and are imported the first time they are asked for (see ``OPTIONAL_LOADERS``);
any other loader can be added with ``register_loader``.
"""
from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from saeviz.core.data.arrays import load_npz
from saeviz.core.data.dataset import Dataset
from saeviz.core.data.digits import load_digits
from saeviz.core.data.idx import find_idx_files, load_mnist_folder
from saeviz.core.data.images import IMAGE_SUFFIXES, load_image_folder
from saeviz.core.data.named import (
    CLASS_GROUPINGS,
    IDX_DATASETS,
    grouping_decomposition,
    load_idx_dataset,
)
from saeviz.core.errors import DataError
from saeviz.core.io.validate import check_source

Loader = Callable[..., Dataset]

LOADERS: dict[str, Loader] = {
    "digits": load_digits,
    "idx": load_mnist_folder,
    "npz": load_npz,
    "images": load_image_folder,
    "idx-named": load_idx_dataset,
}

# name -> (module under saeviz.core.data, function); imported on first use
OPTIONAL_LOADERS: dict[str, tuple[str, str]] = {
    "meshes": ("meshes", "load_mesh_folder"),
    "bodies": ("bodies", "load_bodies"),
}

# The embedded demo datasets the app offers without any file.
DATASETS: tuple[str, ...] = ("digits", "digits10")
# Datasets known by name whose files are installed apart from saeviz (see ``named``).
FILE_DATASETS: tuple[str, ...] = tuple(IDX_DATASETS)
_NAMED: dict[str, dict[str, Any]] = {
    "digits": {"loader": "digits", "decomposition": "abc"},
    "digits10": {"loader": "digits", "decomposition": "digits"},
}

BODY_RESOLUTIONS = ("full", "reduced")


def _named_spec(text: str) -> dict[str, Any] | None:
    """The spec of a demo name (``digits``, ``bodies:2000:reduced``, ...), or None."""
    if text in _NAMED:
        return dict(_NAMED[text])
    name, sep, rest = text.partition(":")
    if name in IDX_DATASETS or (name == "digits" and sep):
        if sep and rest not in CLASS_GROUPINGS:
            raise DataError(f"{text!r}: expected {name!r} or '{name}:GROUPING' with a class grouping of "
                            f"{', '.join(CLASS_GROUPINGS)}")
        if name == "digits":
            return {"loader": "digits", "decomposition": "digits" if rest == "ten" else rest}
        return {"loader": "idx-named", "name": name, "grouping": rest or None}
    if name != "bodies":
        return None
    spec: dict[str, Any] = {"loader": "bodies"}
    for part in rest.split(":") if sep else ():
        if part in BODY_RESOLUTIONS and "resolution" not in spec:
            spec["resolution"] = part
        elif part.isdigit() and "count" not in spec and "resolution" not in spec:
            spec["count"] = int(part)
        else:
            raise DataError(f"{text!r}: expected 'bodies', 'bodies:COUNT', 'bodies:RESOLUTION' or "
                            f"'bodies:COUNT:RESOLUTION' (resolution {' or '.join(BODY_RESOLUTIONS)})")
    return spec


# Suffixes of the mesh files that make a folder a mesh folder.
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off")


def register_loader(name: str, loader: Loader) -> None:
    """Make ``loader`` available to ``load_dataset`` as ``{"loader": name, ...}``."""
    if not callable(loader):
        raise TypeError(f"loader {name!r} must be callable")
    LOADERS[name] = loader


def get_loader(name: str) -> Loader:
    """The loader called ``name``, importing an optional loader's module if needed."""
    if name in LOADERS:
        return LOADERS[name]
    if name in OPTIONAL_LOADERS:
        module_name, func_name = OPTIONAL_LOADERS[name]
        full = f"{__package__}.{module_name}"
        try:
            module = importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name == full:
                raise DataError(f"the {name!r} loader is not part of this installation") from exc
            raise DataError(f"the {name!r} loader needs the package {exc.name!r}, "
                            "which is not installed") from exc
        if name not in LOADERS:  # the module may have registered itself on import
            register_loader(name, getattr(module, func_name))
        return LOADERS[name]
    known = sorted(set(LOADERS) | set(OPTIONAL_LOADERS))
    raise DataError(f"unknown dataset loader {name!r}; known loaders: {', '.join(known)}")


def _check_path(path: Path) -> None:
    try:
        os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file or folder") from None
    except OSError as exc:  # e.g. a symbolic link loop, permission denied
        raise DataError(f"{path}: cannot access ({exc.strerror or exc})") from None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a link loop: the chosen loader reports it with the file's name
        return False


def _folder_loader(folder: Path) -> str:
    """Which loader reads ``folder``: IDX files first, then images, then meshes."""
    if any(p is not None for p in find_idx_files(folder).values()):
        return "idx"
    try:
        with os.scandir(folder) as it:
            names = [(e.name, _is_dir(e)) for e in it if not e.name.startswith(".")]
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from exc
    files = [n.lower() for n, is_dir in names if not is_dir]
    if any(n.endswith(IMAGE_SUFFIXES) for n in files):
        return "images"
    if any(n.endswith(MESH_SUFFIXES) for n in files):
        return "meshes"
    subdirs = [folder / n for n, is_dir in names if is_dir and n != "__MACOSX"]
    for sub in subdirs:  # class folders of images
        try:
            with os.scandir(sub) as it:
                if any(e.name.lower().endswith(IMAGE_SUFFIXES) for e in it):
                    return "images"
        except OSError:
            continue
    raise DataError(f"{folder}: found no IDX files, images ({', '.join(IMAGE_SUFFIXES)}), class "
                    f"subfolders of images or mesh files ({', '.join(MESH_SUFFIXES)})")


def _spec_from_path(path: Path) -> dict[str, Any]:
    _check_path(path)
    if path.is_dir():
        loader = _folder_loader(path)
        spec: dict[str, Any] = {"loader": loader, "path": str(path)}
        if loader == "idx":
            # The four files are named the same in MNIST and Fashion-MNIST; the usual folder
            # names (fashion-mnist, FashionMNIST/raw) tell them apart.
            names = (path.resolve().name.lower(), path.resolve().parent.name.lower())
            spec["variant"] = "fashion" if any("fashion" in n for n in names) else "mnist"
        return spec
    if path.suffix.lower() == ".npz":
        return {"loader": "npz", "path": str(path)}
    raise DataError(f"{path}: unsupported file type; expected an .npz file or a folder "
                    "(IDX files, images or meshes)")


def _apply_classes(loader: str, spec: dict[str, Any], classes: str) -> None:
    """Set the option of ``loader`` that selects the class grouping ``classes`` (see ``CLASS_GROUPINGS``)."""
    if loader == "digits":
        spec["decomposition"] = grouping_decomposition(classes, "mnist") or "digits"
    elif loader == "idx":
        spec["decomposition"] = grouping_decomposition(classes, spec.get("variant", "mnist"))
    elif loader == "idx-named":
        grouping_decomposition(classes, IDX_DATASETS[spec["name"]].variant)  # validates
        spec["grouping"] = classes
    else:
        raise DataError(f"a class grouping ({classes!r}) applies to digits, MNIST and Fashion-MNIST "
                        f"(IDX) datasets only, not to {loader!r} data")


def load_dataset(spec: str | os.PathLike | Mapping[str, Any], classes: str | None = None,
                 **options: Any) -> Dataset:
    """Load a dataset from a demo name, a path or a ``source`` dict (see the module documentation).

    ``classes`` chooses the class grouping of digits, MNIST and Fashion-MNIST data: one of
    ``CLASS_GROUPINGS`` (``"ten"``, ``"abc"``, ``"seasons"``); ``None`` keeps the spec's.
    ``options`` are passed to the loader and override those of ``spec``, e.g.
    ``load_dataset("data/fashion", variant="fashion", decomposition="seasons")``. For every
    dataset ``ds`` returned, ``load_dataset(ds.source)`` loads the same data again.
    """
    if isinstance(spec, Mapping):
        spec = dict(spec)
        if "loader" not in spec:
            raise DataError(f"dataset spec {spec!r} names no 'loader'"[:300])
        try:  # a reference (e.g. from a checkpoint or project): types and ranges checked
            check_source(spec)
        except ValueError as exc:
            raise DataError(f"invalid dataset reference: {exc}") from None
    elif isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        named = _named_spec(text) if isinstance(spec, str) else None
        if named is not None:
            spec = named
        else:
            spec = _spec_from_path(Path(text).expanduser())
    else:
        raise DataError(f"a dataset spec is a name, a path or a dict, got {type(spec).__name__}")
    spec.update(options)
    if classes is not None:
        _apply_classes(spec["loader"], spec, classes)
    name = spec.pop("loader")
    loader = get_loader(name)
    args: tuple[Any, ...] = ()
    if "path" in spec:
        path = Path(os.fspath(spec.pop("path"))).expanduser()
        _check_path(path)
        args = (path,)
    try:
        inspect.signature(loader).bind(*args, **spec)
    except TypeError as exc:
        raise DataError(f"dataset loader {name!r} does not accept these options "
                        f"({', '.join(map(repr, spec)) or 'none'}): {exc}") from None
    return loader(*args, **spec)


__all__ = ["load_dataset", "get_loader", "register_loader", "LOADERS", "OPTIONAL_LOADERS",
           "DATASETS", "FILE_DATASETS", "CLASS_GROUPINGS", "MESH_SUFFIXES"]
