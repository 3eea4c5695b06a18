"""A project: one folder holding everything a labeling session needs to continue, Qt-free.

Layout of a project folder::

    project.json                 the manifest: dataset reference (its ``source`` dict), class
                                 names, colours and distances, model and training settings,
                                 training history, view settings (``ViewState.to_dict``),
                                 and the data files below with their size and SHA-256
    labels-000007.npz            the labels (one per training sample, -1 unlabeled)
    model-000007.safetensors     the model checkpoint (``checkpoint.save_checkpoint``), if any
    autosave/labels.npz          labels autosaved after the last change (see below)

Saving is atomic as a whole. Each save writes its data files under a new generation number
(every file through ``fileio``: temporary file, fsync, rename), then replaces ``project.json``
the same way. Replacing the manifest is the commit: a process killed at any moment leaves
either the previous manifest, whose files are still there, or the new one, whose files are
complete. Files no manifest refers to are removed after the commit (or at the next save).

Autosave: after every change the app writes the labels, classes and distances to
``autosave/labels.npz`` of the open project, or, for a session not saved as a project yet,
to ``session-<pid>-<id>.npz`` in a per-user recovery folder (``default_recovery_dir``). A
project save removes them. ``Project.has_recovery()`` tells whether unsaved changes were left
behind (the app was killed, or closed without saving after a crash) and ``recover()`` reads
them back. Nothing here unpickles: NPZ files are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saeviz.core.errors import (
    CheckpointBudgetError,
    CheckpointError,
    DataError,
    MemoryBudgetError,
)
from saeviz.core.io.budget import check_budget
from saeviz.core.io.fileio import (
    atomic_write_bytes,
    atomic_write_text,
    json_safe,
    load_json,
    pid_alive,
    remove_stale_temp_files,
)
from saeviz.core.io.validate import (
    MAX_SEED,
    check_source,
    is_int,
    is_number,
    model_config_from_doc,
    train_config_from_doc,
)
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.state.labels import Supervision, validate_distances, validate_labels
from saeviz.core.state.view_state import ViewState

FORMAT = "saeviz-project"
#: Format 2 stores the view as a versioned ``ViewState.to_dict()``; format 1 stored a flat
#: ``view`` object, which is read and migrated (``ViewState.from_dict``).
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
AUTOSAVE_VERSION = 1
MANIFEST = "project.json"
AUTOSAVE_FORMAT = "saeviz-autosave"
AUTOSAVE_DIR = "autosave"
AUTOSAVE_FILE = "labels.npz"
RECOVERY_ENV = "SAEVIZ_RECOVERY_DIR"
_DATA_FILE = re.compile(r"^(labels|model)-(\d{6,})\.(npz|safetensors)$")


def default_recovery_dir() -> Path:
    """Where unsaved sessions autosave: ``$SAEVIZ_RECOVERY_DIR``, else the per-user state folder."""
    env = os.environ.get(RECOVERY_ENV)
    if env:
        return Path(env)
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or home / ".local" / "state")
    return base / "saeviz" / "recovery"


# -- the state a project holds ----------------------------------------------------------------------
@dataclass
class ProjectState:
    """Everything saved in a project. ``checkpoint`` is set by ``load_project`` when there is a model."""

    dataset_source: dict[str, Any]
    labels: np.ndarray
    class_names: tuple[str, ...]
    colors: tuple[str, ...]
    distances: np.ndarray
    model_config: ModelConfig = field(default_factory=ModelConfig)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    label_fraction: float = 0.0
    label_seed: int = 0
    history: list[dict] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)
    dataset_name: str = ""
    checkpoint: Any = None
    generation: int | None = None  # the save it was read from

    @property
    def supervision(self) -> Supervision:
        """The saved labels, classes, colours and distances as a ``Supervision`` (copies)."""
        return Supervision(np.asarray(self.labels, np.int64).copy(), tuple(self.class_names),
                           tuple(self.colors), np.asarray(self.distances, float).copy(), 0)


def state_from_session(session, view: dict[str, Any] | None = None) -> ProjectState:
    """The project state of a ``Session`` (its dataset must have a ``source`` to reopen it)."""
    if session.dataset is None or session.labels is None:
        raise DataError("there is no dataset open to save")
    source = dict(session.dataset.source or {})
    if not source:
        raise DataError(f"the dataset {session.dataset.name!r} was not loaded from a file or a demo, "
                        "so a project cannot refer to it")
    sup = session.labels.snapshot()
    return ProjectState(
        dataset_source=source, labels=sup.labels, class_names=sup.class_names, colors=sup.colors,
        distances=sup.distances, model_config=session.model_config,
        train_config=session.train_config.replace(snapshot_every=0),
        label_fraction=float(session.label_fraction), label_seed=int(session.label_seed),
        history=[dict(h) for h in session.history], view=dict(view or {}),
        dataset_name=str(session.dataset.name))


def model_of_session(session) -> dict[str, Any]:
    """Keyword arguments for ``save_project``: the newest weights and, when a trainer is idle,
    its optimizer state and training state (so training continues where it stopped)."""
    trainer = None if session.training else session.trainer
    if trainer is not None:
        return {"model": trainer.model, "optimizer": trainer.optimizer, "train_state": trainer.training_state()}
    if session.model is not None:
        return {"model": session.model}
    return {}


# -- JSON helpers -----------------------------------------------------------------------------------------
def _plain(value):
    """JSON-safe copy (``fileio.json_safe``); what cannot be stored is a ``DataError``."""
    try:
        return json_safe(value)
    except TypeError as exc:
        raise DataError(f"cannot store it in the project file: {exc}") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# -- saving ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SaveInfo:
    """Where a project was saved, and its generation there."""

    folder: Path
    generation: int


def _check_folder_for_saving(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: a file is in the way; a project is a folder")
    if folder.is_dir() and not (folder / MANIFEST).exists():
        others = [p.name for p in folder.iterdir() if not p.name.startswith(".") and p.name != AUTOSAVE_DIR]
        if others:
            raise DataError(f"{folder}: the folder holds other files ({', '.join(sorted(others)[:3])}"
                            f"{', …' if len(others) > 3 else ''}); save a project into an empty or new folder")


def _next_generation(folder: Path) -> int:
    gen = 0
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        gen = int(doc.get("generation", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    if folder.is_dir():
        for p in folder.iterdir():
            m = _DATA_FILE.match(p.name)
            if m:
                gen = max(gen, int(m.group(2)))  # never overwrite a file, not even a left-over one
    return gen + 1


def save_project(folder, state: ProjectState, *, model=None, optimizer=None,
                 train_state: dict | None = None) -> SaveInfo:
    """Save ``state`` (and ``model``, an ``Autoencoder``) into ``folder`` atomically (module docstring)."""
    from saeviz.core.io.checkpoint import save_checkpoint

    folder = Path(folder)
    _check_folder_for_saving(folder)
    labels = validate_labels(state.labels, len(np.asarray(state.labels)), len(state.class_names))
    D = validate_distances(state.distances, len(state.class_names))
    names = [str(n) for n in state.class_names]
    colors = [str(c) for c in state.colors]
    if len(colors) != len(names):
        raise DataError(f"{len(colors)} colours for {len(names)} classes")
    if not state.dataset_source:
        raise DataError("a project needs the dataset's source to reopen it")
    folder.mkdir(parents=True, exist_ok=True)
    gen = _next_generation(folder)

    labels_name = f"labels-{gen:06d}.npz"
    data = _npz_bytes(labels=labels)
    atomic_write_bytes(folder / labels_name, data)
    files = {"labels": {"file": labels_name, "bytes": len(data), "sha256": _sha256(data),
                        "n": int(len(labels))}}
    if model is not None:
        model_name = f"model-{gen:06d}.safetensors"
        extra = {}
        if optimizer is not None:
            extra["optimizer"] = optimizer
        if train_state is not None:
            extra["train_state"] = train_state
        save_checkpoint(folder / model_name, model, train_config=state.train_config,
                        supervision=state.supervision, dataset_source=state.dataset_source,
                        history=state.history, **extra)
        path = folder / model_name
        files["model"] = {"file": model_name, "bytes": path.stat().st_size, "sha256": _file_sha256(path)}

    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "generation": gen,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dataset": _plain(state.dataset_source),
        "dataset_name": str(state.dataset_name),
        "classes": {"names": names, "colors": colors, "distances": D.tolist()},
        "settings": {"model": _plain(state.model_config.to_dict()),
                     "train": _plain(state.train_config.to_dict()),
                     "label_fraction": float(state.label_fraction),
                     "label_seed": int(state.label_seed)},
        "history": _plain(list(state.history)),
        "view": _plain(ViewState.from_dict(state.view).to_dict()),
        "files": files,
    }
    text = json.dumps(doc, indent=1, allow_nan=False)
    atomic_write_text(folder / MANIFEST, text + "\n")  # the commit
    _remove_stale(folder, {f["file"] for f in files.values()})
    _remove_autosave(folder)
    return SaveInfo(folder, gen)


def _unlink(path: Path) -> None:
    """Remove ``path`` itself (a symbolic link there is removed, never what it points to)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # left for the next save


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def _own_path(folder: Path, *parts: str) -> Path:
    """``folder/parts`` when nothing on the way below ``folder`` is a symbolic link, so the path
    cannot lead outside the project folder; otherwise a ``DataError`` naming the link."""
    path = folder
    for part in parts:
        path = path / part
        if _is_link(path):
            raise DataError(f"{path}: a symbolic link inside the project folder; a project holds "
                            "only its own files, so it is neither followed nor written through")
    return path


def _remove_autosave(folder: Path) -> None:
    """Remove the project's autosave file. A symbolic link in its place (as ``autosave/`` or
    the file) is removed itself: what it points to is never touched."""
    adir = folder / AUTOSAVE_DIR
    if _is_link(adir):
        _unlink(adir)
        return
    _unlink(adir / AUTOSAVE_FILE)


def _remove_stale(folder: Path, keep: set[str]) -> None:
    """Data files no manifest refers to, and temporary files of interrupted writes."""
    for p in folder.iterdir():
        name = p.name
        if _DATA_FILE.match(name) and name not in keep:
            _unlink(p)
        elif name.startswith(".") and name.endswith(".tmp") and (p.is_file() or _is_link(p)):
            _unlink(p)


# -- loading --------------------------------------------------------------------------------------------------
def _fail(folder: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"{folder}: {problem}")


def is_project(folder) -> bool:
    """True when ``folder`` holds a project file."""
    return (Path(folder) / MANIFEST).is_file()


MAX_MANIFEST_BYTES = 256 << 20
JSON_BYTES_FACTOR = 16  # memory of parsed JSON per byte of text, at most (lists of small numbers)


def _read_npz(path: Path, kinds: dict[str, str], what: str) -> dict[str, np.ndarray]:
    """All arrays in ``kinds`` of a project's or autosave's ``.npz``, through the budgeted reader."""
    from saeviz.core.data.arrays import read_npz_arrays

    try:
        return read_npz_arrays(path, kinds, required=tuple(kinds))
    except MemoryBudgetError as exc:
        raise CheckpointBudgetError(str(exc)) from None
    except DataError as exc:
        raise CheckpointError(f"{what} cannot be read: {exc}") from None


def read_manifest(folder) -> dict[str, Any]:
    """The project file of ``folder``, checked for format and version (``CheckpointError`` otherwise)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise _fail(folder, "no such project folder")
    if _is_link(path):
        raise _fail(folder, f"{MANIFEST} is a symbolic link; a project holds only its own files")
    if not path.is_file():
        raise _fail(folder, f"not a saeviz project (no {MANIFEST})")
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise _fail(folder, f"{MANIFEST} is {size:,} bytes, more than a project file holds "
                                f"({MAX_MANIFEST_BYTES:,})")
        check_budget(JSON_BYTES_FACTOR * size, path, "reading the project file", CheckpointBudgetError)
        doc = load_json(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _fail(folder, f"{MANIFEST} is not text") from None
    except ValueError as exc:  # json.JSONDecodeError, JSONLimitError
        raise _fail(folder, f"{MANIFEST} is damaged or beyond limits: {exc}") from None
    except OSError as exc:
        raise _fail(folder, f"{MANIFEST} cannot be read: {exc.strerror or exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _fail(folder, f"{MANIFEST} is not a saeviz project file")
    version = doc.get("version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        newer = is_int(version) and version > FORMAT_VERSION
        raise _fail(folder, f"project format version {version!r} is not supported (this saeviz reads "
                            f"{', '.join(map(str, READABLE_VERSIONS))}"
                            f"{'; the project was saved by a newer saeviz' if newer else ''})")
    return doc


def _data_file(folder: Path, entry, what: str) -> Path:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise _fail(folder, f"{MANIFEST} does not describe the {what} file")
    name = entry["file"]
    if not _DATA_FILE.match(name):
        raise _fail(folder, f"{MANIFEST} names an unexpected {what} file {name!r}")
    path = folder / name
    if _is_link(path):
        raise _fail(folder, f"the {what} file {name} is a symbolic link; a project holds only its own "
                            "files, so it is not followed")
    if not path.is_file():
        raise _fail(folder, f"the {what} file {name} is missing")
    if path.stat().st_size != entry.get("bytes") or _file_sha256(path) != entry.get("sha256"):
        raise _fail(folder, f"the {what} file {name} does not match {MANIFEST} (changed or damaged)")
    return path


def load_project(folder, *, load_model: bool = True) -> ProjectState:
    """Read a project saved by ``save_project``; every file is checked before use."""
    from saeviz.core.io.checkpoint import load_checkpoint

    folder = Path(folder)
    doc = read_manifest(folder)
    try:
        cls = doc["classes"]
        names = tuple(str(n) for n in cls["names"])
        colors = tuple(str(c) for c in cls["colors"])
        if not names or len(colors) != len(names):
            raise ValueError("every class needs a name and a colour")
        if len(set(names)) != len(names):
            raise ValueError("class names repeat")
        distances = validate_distances(cls["distances"], len(names))
        source = doc["dataset"]
        if not isinstance(source, dict) or not source:
            raise ValueError("the dataset reference is missing")
        source = check_source(source)
        settings = doc.get("settings") or {}
        if not isinstance(settings, dict):
            raise ValueError("the settings are not a JSON object")
        model_config = model_config_from_doc(settings.get("model") or {})
        train_config = train_config_from_doc(settings.get("train") or {})
        fraction = settings.get("label_fraction", 0.0)
        if not is_number(fraction) or not 0 <= fraction <= 1:
            raise ValueError(f"label_fraction must be a number in [0, 1], got {fraction!r}"[:200])
        seed = settings.get("label_seed", 0)
        if not is_int(seed) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"label_seed must be a whole number in [0, 2**63), got {seed!r}"[:200])
        fraction = float(fraction)
        history = doc.get("history") or []
        # any stored form (format 1's flat object included); invalid values fall back to defaults
        view = ViewState.from_dict(doc.get("view")).to_dict()
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise ValueError("the training history is not a list of records")
        files = doc["files"]
        if not isinstance(files, dict):
            raise ValueError("the file table is not a JSON object")
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(folder, f"{MANIFEST} is invalid: {exc}") from None
    labels_path = _data_file(folder, files.get("labels"), "labels")
    labels = _read_npz(labels_path, {"labels": "iu"}, "the labels file")["labels"]
    n = files["labels"].get("n")
    if labels.ndim != 1 or len(labels) != n:
        raise _fail(folder, f"the labels file holds shape {labels.shape}, {MANIFEST} says {n} labels")
    try:
        labels = validate_labels(labels, len(labels), len(names))
    except DataError as exc:
        raise _fail(folder, f"the labels file {labels_path.name}: {exc}") from None
    checkpoint = None
    if files.get("model") is not None and load_model:
        model_path = _data_file(folder, files["model"], "model")
        checkpoint = load_checkpoint(model_path)
    return ProjectState(
        dataset_source=dict(source), labels=labels, class_names=names, colors=colors, distances=distances,
        model_config=model_config, train_config=train_config, label_fraction=fraction, label_seed=seed,
        history=[dict(h) for h in history], view=dict(view), dataset_name=str(doc.get("dataset_name", "")),
        checkpoint=checkpoint, generation=_int_or_none(doc.get("generation")))


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- autosave and recovery ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recovery:
    """Labels, classes and distances left behind by an autosave."""

    path: Path
    supervision: Supervision
    dataset_source: dict[str, Any]
    dataset_name: str
    saved_at: float
    base_generation: int | None

    @property
    def n_labeled(self) -> int:
        """The number of labeled samples in the autosave."""
        return int(np.count_nonzero(self.supervision.labels >= 0))

    def describe(self) -> str:
        """One line for the user: how many labels, of which dataset, autosaved when."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        name = self.dataset_name or self.dataset_source.get("loader", "dataset")
        return f"{self.n_labeled:,} labeled samples of {name}, autosaved {when}"


def write_autosave(path, supervision: Supervision, dataset_source: dict, *, dataset_name: str = "",
                   base_generation: int | None = None) -> None:
    """Write an autosave file atomically."""
    meta = {"format": AUTOSAVE_FORMAT, "version": AUTOSAVE_VERSION, "saved_at": time.time(),
            "dataset": _plain(dict(dataset_source)), "dataset_name": str(dataset_name),
            "base_generation": base_generation, "pid": os.getpid()}
    data = _npz_bytes(
        labels=np.asarray(supervision.labels, np.int64),
        class_names=np.array([str(n) for n in supervision.class_names], dtype=np.str_),
        colors=np.array([str(c) for c in supervision.colors], dtype=np.str_),
        distances=np.asarray(supervision.distances, np.float64),
        meta=np.array(json.dumps(meta, allow_nan=False), dtype=np.str_))
    atomic_write_bytes(path, data)


def read_autosave(path) -> Recovery:
    """The labels and classes of the autosave at ``path``, checked (``CheckpointError`` or ``DataError``
    otherwise).
    """
    path = Path(path)
    data = _read_npz(path, {"labels": "iu", "class_names": "US", "colors": "US", "distances": "iuf",
                            "meta": "U"}, "the autosave")
    try:
        for key in ("labels", "class_names", "colors"):
            if data[key].ndim != 1:
                raise ValueError(f"{key!r} must be one-dimensional, got shape {data[key].shape}")
        if data["meta"].ndim != 0:
            raise ValueError("'meta' must be one text")
        labels = data["labels"]
        names = tuple(str(n) for n in data["class_names"].tolist())
        colors = tuple(str(c) for c in data["colors"].tolist())
        distances = data["distances"]
        meta = load_json(str(data["meta"]))
    except ValueError as exc:
        raise CheckpointError(f"{path}: the autosave cannot be read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != AUTOSAVE_FORMAT:
        raise CheckpointError(f"{path}: not a saeviz autosave")
    try:
        if len(colors) != len(names) or not names:
            raise DataError("every class needs a name and a colour")
        D = validate_distances(distances, len(names))
        labels = validate_labels(labels, len(labels), len(names))
        source = meta.get("dataset") or {}
        if not isinstance(source, dict):
            raise DataError("the dataset reference is not a JSON object")
        source = check_source(source) if source else {}
        base = meta.get("base_generation")
        if base is not None and (not is_int(base) or not 0 <= base <= MAX_SEED):
            raise ValueError(f"invalid base generation {base!r}"[:200])
        saved_at = meta.get("saved_at", 0.0)
        if not is_number(saved_at):
            raise ValueError(f"invalid time {saved_at!r}"[:200])
        saved_at = float(saved_at)
    except (DataError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the autosave is invalid: {exc}") from None
    return Recovery(path, Supervision(labels, names, colors, D, 0), dict(source),
                    str(meta.get("dataset_name", "")), saved_at, None if base is None else int(base))


_SESSION_FILE = re.compile(r"^session-(\d+)-([0-9a-f]{8,32})\.npz$")


class Project:
    """The project a session works in: a folder, or none yet (an unsaved session).

    It knows where to autosave and whether changes were left behind; saving and opening go
    through ``save`` and ``Project.open``.
    """

    def __init__(self, folder=None, generation: int | None = None, *, recovery_dir=None):
        self.folder: Path | None = None if folder is None else Path(folder)
        self.generation = generation
        self.recovery_dir = Path(recovery_dir) if recovery_dir is not None else default_recovery_dir()
        self._token = uuid.uuid4().hex[:16]

    @property
    def name(self) -> str:
        """The project folder's name (empty for an unsaved project)."""
        return "" if self.folder is None else self.folder.name

    @property
    def autosave_path(self) -> Path:
        """Where the labels are autosaved: in the project folder, or in the recovery folder when unsaved."""
        if self.folder is not None:
            return self.folder / AUTOSAVE_DIR / AUTOSAVE_FILE
        return self.recovery_dir / f"session-{os.getpid()}-{self._token}.npz"

    # -- saving and opening ---------------------------------------------------------------------------------
    def save(self, state: ProjectState, folder=None, **model) -> SaveInfo:
        """Save into ``folder`` (default: this project's); the unsaved session's autosave goes away."""
        target = Path(folder) if folder is not None else self.folder
        if target is None:
            raise DataError("choose a folder for the project first")
        before = self.autosave_path
        info = save_project(target, state, **model)
        old_folder = self.folder
        self.folder, self.generation = info.folder, info.generation
        if before != self.autosave_path:
            if old_folder is not None:
                _remove_autosave(old_folder)
            else:
                _unlink(before)
        return info

    @classmethod
    def open(cls, folder, *, recovery_dir=None, load_model: bool = True) -> tuple["Project", ProjectState]:
        """Open the project in ``folder``: the project and its saved state."""
        folder = Path(folder)
        state = load_project(folder, load_model=load_model)
        return cls(folder, state.generation, recovery_dir=recovery_dir), state

    # -- autosave ------------------------------------------------------------------------------------------------
    def autosave(self, supervision: Supervision, dataset_source: dict, dataset_name: str = "") -> Path:
        """Write the autosave; in a project folder never through a symbolic link (``DataError``)."""
        if self.folder is not None:
            path = _own_path(self.folder, AUTOSAVE_DIR, AUTOSAVE_FILE)
            try:
                os.mkdir(path.parent)  # not through a link: a link in its place was refused above
            except FileExistsError:
                if _is_link(path.parent) or not path.parent.is_dir():
                    raise DataError(f"{path.parent}: not a folder of the project") from None
        else:
            path = self.autosave_path
        write_autosave(path, supervision, dataset_source, dataset_name=dataset_name,
                       base_generation=self.generation)
        return path

    def discard_autosave(self) -> None:
        """Remove this session's own autosave (after a save, or when the user discards changes)."""
        if self.folder is not None:
            _remove_autosave(self.folder)
        else:
            _unlink(self.autosave_path)

    def _orphans(self) -> list[Path]:
        if not self.recovery_dir.is_dir():
            return []
        remove_stale_temp_files(self.recovery_dir)  # autosaves cut short by a kill
        out = []
        for p in self.recovery_dir.iterdir():
            m = _SESSION_FILE.match(p.name)
            if m and p != self.autosave_path and not (int(m.group(1)) == os.getpid()) \
                    and not pid_alive(int(m.group(1))):
                out.append(p)
        return sorted(out, key=lambda p: p.stat().st_mtime, reverse=True)

    def has_recovery(self) -> bool:
        """Unsaved changes left behind: the project's autosave of its current save, or (for an
        unsaved session) the autosave of a session that ended without saving."""
        try:
            self.recover()
        except CheckpointError:
            return False
        return True

    def recover(self) -> Recovery:
        """The left-behind autosave (see ``has_recovery``); ``CheckpointError`` if there is none."""
        if self.folder is not None:
            try:
                path = _own_path(self.folder, AUTOSAVE_DIR, AUTOSAVE_FILE)
            except DataError as exc:
                raise CheckpointError(str(exc)) from None
            if not path.is_file():
                raise CheckpointError(f"{self.folder}: no autosaved changes")
            rec = read_autosave(path)
            if rec.base_generation != self.generation:
                raise CheckpointError(f"{self.folder}: the autosave belongs to an older save of the project")
            return rec
        for path in self._orphans():
            try:
                return read_autosave(path)
            except CheckpointError:
                continue
        raise CheckpointError(f"{self.recovery_dir}: no autosaved session to recover")

    def discard_recovery(self) -> None:
        """Forget left-behind changes (the project's autosave, or every ended session's)."""
        if self.folder is not None:
            _remove_autosave(self.folder)
            return
        for path in self._orphans():
            _unlink(path)


__all__ = ["ProjectState", "Project", "Recovery", "SaveInfo", "save_project", "load_project",
           "read_manifest", "is_project", "state_from_session", "model_of_session", "write_autosave",
           "read_autosave", "default_recovery_dir", "MANIFEST"]
