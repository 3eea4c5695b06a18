"""A folder of mesh files sharing one topology as a mesh dataset, and writing meshes.

``load_mesh_folder`` reads every ``.obj``, ``.ply``, ``.off`` and ``.stl`` file of a folder
(hidden files skipped), in sorted file-name order, with trimesh and without any processing:
vertices keep the file's order and are never merged (``process=False``,
``maintain_order=True``), so vertex ``i`` means the same point on every mesh. All files must
have the first file's vertex count and triangle list; a file that does not is an error naming
it, or, with ``skip_bad=True``, is left out and listed in ``source["skipped"]``.

Labels: a CSV file with rows ``filename,label`` (a header row ``filename,label`` is
optional) gives the ground truth ``y``; the class names are the distinct labels in sorted
order. By default the loader looks for ``<folder>.csv`` next to the folder, then
``labels.csv`` inside it.
"""
from __future__ import annotations

import csv
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from saeviz.core.data.dataset import Dataset
from saeviz.core.errors import DataError
from saeviz.core.io.fileio import atomic_path

MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl")


def _read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    try:
        loaded = trimesh.load(path, process=False, maintain_order=True, force="mesh")
    except Exception as exc:  # trimesh raises many kinds of errors on malformed files
        raise DataError(f"{path}: cannot read the mesh ({type(exc).__name__}: {exc})") from exc
    if not isinstance(loaded, trimesh.Trimesh):
        raise DataError(f"{path}: holds no single triangle mesh")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
        raise DataError(f"{path}: the mesh has no vertices")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise DataError(f"{path}: the mesh has no triangles")
    if not np.all(np.isfinite(vertices)):
        raise DataError(f"{path}: vertex coordinates contain NaN or infinite values")
    return vertices, faces


def mesh_files(folder: str | os.PathLike) -> list[Path]:
    """The mesh files of ``folder`` in sorted name order."""
    folder = Path(folder)
    try:
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if not e.name.startswith(".")
                           and e.name.lower().endswith(MESH_SUFFIXES) and e.is_file())
    except NotADirectoryError:
        raise DataError(f"{folder}: not a folder") from None
    except FileNotFoundError:
        raise DataError(f"{folder}: no such folder") from None
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from exc
    return [folder / n for n in names]


def _find_labels(folder: Path) -> Path | None:
    for candidate in (folder.parent / f"{folder.name}.csv", folder / "labels.csv"):
        if candidate.is_file():
            return candidate
    return None


def read_labels_csv(path: str | os.PathLike) -> dict[str, str]:
    """``filename -> label`` from a CSV file of ``filename,label`` rows."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except FileNotFoundError:
        raise DataError(f"{path}: no such label file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the label file ({exc})") from exc
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["filename", "label"]:
        rows = rows[1:]
    labels: dict[str, str] = {}
    for line, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise DataError(f"{path}: row {line} is not 'filename,label': {row!r}")
        name, label = row[0].strip(), row[1].strip()
        if name in labels and labels[name] != label:
            raise DataError(f"{path}: {name} has two labels ({labels[name]!r} and {label!r})")
        labels[name] = label
    return labels


def load_mesh_folder(folder: str | os.PathLike, labels_csv: str | os.PathLike | None = None,
                     skip_bad: bool = False, skipped: list[str] | None = None) -> Dataset:
    """Load a folder of meshes with one topology (see the module documentation).

    ``skipped`` is accepted so that a dataset's ``source`` loads again as it is; it is only a
    record of an earlier load, and the files are checked afresh.
    """
    folder = Path(folder)
    files = mesh_files(folder)
    if not files:
        raise DataError(f"{folder}: no mesh files ({', '.join(MESH_SUFFIXES)})")
    verts: list[np.ndarray] = []
    kept: list[Path] = []
    skipped = []
    ref_faces: np.ndarray | None = None
    ref_name = ""
    for path in files:
        try:
            v, f = _read_mesh(path)
            if ref_faces is not None:
                if len(v) != len(verts[0]):
                    raise DataError(f"{path}: {len(v)} vertices, but {ref_name} has {len(verts[0])}; "
                                    "all meshes must share one topology")
                if not np.array_equal(f, ref_faces):
                    raise DataError(f"{path}: its triangles differ from those of {ref_name}; all "
                                    "meshes must share one topology")
        except DataError:
            if not skip_bad:
                raise
            skipped.append(path.name)
            continue
        if ref_faces is None:
            ref_faces, ref_name = f, path.name
        verts.append(v)
        kept.append(path)
    if not verts:
        raise DataError(f"{folder}: no mesh could be read (skipped: {', '.join(skipped)})")
    X = np.stack(verts).astype(np.float32)

    y = None
    class_names: tuple[str, ...] = ()
    csv_path = Path(labels_csv) if labels_csv is not None else _find_labels(folder)
    if csv_path is not None:
        table = read_labels_csv(csv_path)
        missing = [p.name for p in kept if p.name not in table]
        if missing:
            raise DataError(f"{csv_path}: no label for {', '.join(missing[:5])}"
                            f"{' and others' if len(missing) > 5 else ''}")
        names = [table[p.name] for p in kept]
        class_names = tuple(sorted(set(names)))
        lookup = {c: i for i, c in enumerate(class_names)}
        y = np.array([lookup[n] for n in names], dtype=np.int64)

    source: dict = {"loader": "meshes", "path": str(folder), "skip_bad": bool(skip_bad)}
    if labels_csv is not None:
        source["labels_csv"] = str(labels_csv)
    if skipped:
        source["skipped"] = skipped
    return Dataset(name=folder.name or str(folder), X=X, kind="mesh", y=y, class_names=class_names,
                   faces=ref_faces, source=source)


@contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A temporary path in ``path``'s folder to write; on success it is fsynced and renamed
    over ``path``, on error removed (``fileio.atomic_path``: the umask's permissions, stale
    temporary files of killed writers cleaned). ``suffix`` is accepted for older callers."""
    with atomic_path(path) as tmp:
        yield tmp


def write_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez`` (uncompressed) written atomically to ``path``."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return Path(path)


def save_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write a triangle mesh as ``.ply`` or ``.obj`` (by the file's suffix), atomically,
    keeping the vertex order."""
    import trimesh

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".ply", ".obj"):
        raise DataError(f"{path}: meshes are saved as .ply or .obj, not {suffix or 'no suffix'}")
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise DataError(f"{path}: vertices must have shape (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or faces.max() >= len(vertices))):
        raise DataError(f"{path}: faces must be (F, 3) indices into {len(vertices)} vertices")
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False, maintain_order=True)
    with atomic_output(path) as tmp:
        if suffix == ".obj":
            text = trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_texture=False,
                                                   include_color=False, digits=9)
            tmp.write_text(text, encoding="utf-8")
        else:
            tmp.write_bytes(trimesh.exchange.ply.export_ply(mesh, encoding="binary"))
    return path


__all__ = ["load_mesh_folder", "save_mesh", "read_labels_csv", "mesh_files", "atomic_output",
           "write_npz_atomic",
           "MESH_SUFFIXES"]
