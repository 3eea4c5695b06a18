"""The state of one interactive session, Qt-free.

A ``Session`` owns what the user works on: the dataset, the sparse labels of its training
samples (a ``LabelStore``), the model and training settings, the newest training snapshot,
the newest latent classifier result (``EpochResult``), the training state and the selected
sample. Views observe it through its psygnal signals and command it through its methods;
they never keep their own copy.

Rows of the ``LabelStore``, of ``Snapshot.codes`` and of classifier results are *positions*
in the training split (``dataset.train_idx``); ``dataset_index`` and ``position_of``
convert between positions and indices into the whole dataset, which is what users see.

While training runs (``training_state``, see ``begin_training`` and ``finish_training``),
the ``Trainer`` belongs to the training thread; the session keeps a frozen copy of the newest
weights (``model``) for reading (decoding a sample, saving a checkpoint, encoding the test
split) and gets the trainer back when training ends.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from saeviz.core.data.dataset import Dataset, reveal_labels
from saeviz.core.errors import DataError
from saeviz.core.io.fileio import atomic_path
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.state.labels import UNLABELED, LabelStore
from saeviz.core.state.results import EpochResult
from saeviz.core.state.training_state import IDLE, TrainingState

SNAPSHOT_SAMPLES = 512  # live updates inside an epoch every this many samples (at least)


@dataclass(frozen=True)
class SessionDefaults:
    """Settings a new session starts from (see ``load_defaults``)."""

    dataset: Any = "digits"
    label_fraction: float = 0.1
    label_seed: int = 0
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SessionDefaults":
        """Defaults from saved settings: missing ones as shipped; unknown or out-of-range ones are
        a ``ValueError``."""
        known = {"dataset", "label_fraction", "label_seed", "model", "train"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown default settings {sorted(unknown)}")
        base = cls()
        fraction = float(data.get("label_fraction", base.label_fraction))
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"label_fraction must lie in [0, 1], got {fraction}")
        return cls(
            dataset=data.get("dataset", base.dataset),
            label_fraction=fraction,
            label_seed=int(data.get("label_seed", base.label_seed)),
            model=ModelConfig.from_dict(data["model"]) if "model" in data else base.model,
            train=TrainConfig.from_dict(data["train"]) if "train" in data else base.train,
        )

    def to_dict(self) -> dict[str, Any]:
        """The defaults as JSON-ready values."""
        return {"dataset": self.dataset, "label_fraction": self.label_fraction,
                "label_seed": self.label_seed, "model": self.model.to_dict(),
                "train": self.train.to_dict()}


def load_defaults(path: str | os.PathLike | None) -> SessionDefaults:
    """Defaults from a JSON file; the built-in ones when ``path`` is None or missing."""
    if path is None or not Path(path).is_file():
        return SessionDefaults()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the file must hold a JSON object")
        return SessionDefaults.from_dict(data)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: invalid default settings: {exc}") from None


def live_snapshot_every(n_samples: int, batch_size: int) -> int:
    """Batches between live snapshots: every few hundred samples, about 100 per epoch at most."""
    samples = max(SNAPSHOT_SAMPLES, n_samples // 100)
    n_batches = -(-n_samples // batch_size)
    every = max(1, round(samples / batch_size))
    return 0 if every >= n_batches else every


# -- export -------------------------------------------------------------------------------------
def export_table(path: str | os.PathLike, columns: dict[str, np.ndarray]) -> Path:
    """Write named 1-D or 2-D columns to ``.npz`` or ``.csv`` atomically.

    In CSV a 2-D column ``codes`` of width d becomes ``codes_0 .. codes_{d-1}``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise DataError(f"{path}: export as .npz or .csv")
    arrays = {k: np.asarray(v) for k, v in columns.items()}
    lengths = {len(v) for v in arrays.values()}
    if len(lengths) > 1:
        raise DataError(f"export columns differ in length: {sorted(lengths)}")
    with atomic_path(path) as tmp:
        if suffix == ".npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        else:
            header: list[str] = []
            parts: list[np.ndarray] = []
            for name, arr in arrays.items():
                if arr.ndim == 1:
                    header.append(name)
                    parts.append(arr.reshape(-1, 1).astype(object))
                else:
                    header += [f"{name}_{j}" for j in range(arr.shape[1])]
                    parts.append(arr.astype(object))
            rows = np.concatenate(parts, axis=1) if parts else np.empty((0, 0))
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow([_csv_cell(v) for v in row])
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(buf.getvalue())
    return path


def _csv_cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def frozen_model(model):
    """A CPU copy of ``model`` in eval mode, without gradients, safe to read from any thread."""
    clone = copy.deepcopy(model).cpu().eval()
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone


@dataclass(frozen=True)
class TrainingStart:
    """What a run goes on from (see ``Session.begin_training``): an earlier run's ``trainer``
    (continued), else a loaded ``model`` (copied) with its ``history``, else a new network of
    ``model_config``."""

    trainer: Any
    model: Any
    model_config: ModelConfig
    history: tuple = ()


# -- the session --------------------------------------------------------------------------------
class Session:
    """Dataset, labels, settings, model and results of one interactive session."""

    dataset_changed = Signal()          # a new dataset (and a new LabelStore) is in place
    model_config_changed = Signal()     # model_config changed (applies after a reset)
    train_config_changed = Signal()     # train_config changed (gamma applies to a running training)
    label_fraction_changed = Signal()   # label_fraction or label_seed changed
    model_changed = Signal()            # model replaced, loaded or reset
    snapshot_changed = Signal()         # a newer training snapshot / codes to show
    classifier_changed = Signal()       # a newer classifier result (or none)
    errors_changed = Signal()           # newer per-sample reconstruction errors (or none)
    selection_changed = Signal(int)     # selected position (-1: none)

    def __init__(self, defaults: SessionDefaults | None = None):
        d = defaults or SessionDefaults()
        self.defaults = d
        self.model_config: ModelConfig = d.model
        self.train_config: TrainConfig = d.train
        self.label_fraction: float = d.label_fraction
        self.label_seed: int = d.label_seed
        self.dataset: Dataset | None = None
        self.dataset_spec = None
        self.labels: LabelStore | None = None
        self._X: np.ndarray | None = None
        self._train_idx = np.empty(0, np.int64)
        self._pos_of: np.ndarray | None = None
        self.trainer = None          # a Trainer while idle (None before the first training)
        self.model = None            # frozen copy of the newest weights, for reading
        self.trained_config: ModelConfig | None = None  # the config the model was built with
        self.history: list[dict] = []
        self.snapshot = None         # newest Snapshot
        self.codes: np.ndarray | None = None
        self.class_targets: np.ndarray | None = None
        self.classifier: EpochResult | None = None
        self.recon_errors: np.ndarray | None = None  # per-sample RMSE of ``model``
        self.selected: int = -1
        self.training_state = TrainingState()

    @property
    def training(self) -> bool:
        """A training run exists (training, paused or stopping); see ``training_state``."""
        return self.training_state.active

    # -- dataset -------------------------------------------------------------------------
    def set_dataset(self, dataset: Dataset, labels: np.ndarray | None = None,
                    class_names=None, colors=None, distances=None, spec=None) -> None:
        """Make ``dataset`` current: new labels (revealed from the ground truth, unless
        ``labels`` for the training split are given), no model, no results. ``spec`` is
        what the user asked for (a demo name or a path), kept for display."""
        if self.training:
            raise RuntimeError("stop training before opening another dataset")
        train = dataset.train_idx if len(dataset.train_idx) else np.arange(dataset.n_samples)
        n = len(train)
        names = tuple(class_names) if class_names is not None else (
            dataset.class_names or _default_class_names(dataset))
        if labels is None:
            labels = np.full(n, UNLABELED, np.int64)
            if dataset.y is not None and len(names) == dataset.n_classes:
                labels = reveal_labels(dataset.y[train], np.arange(n), self.label_fraction, self.label_seed)
        store = LabelStore(n, names, colors=colors, distances=distances, labels=labels)
        self.dataset = dataset
        self.dataset_spec = spec
        self.labels = store
        self._train_idx = np.asarray(train, np.int64)
        self._X = np.ascontiguousarray(dataset.X[self._train_idx])
        pos = np.full(dataset.n_samples, -1, np.int64)
        pos[self._train_idx] = np.arange(n)
        self._pos_of = pos
        self._drop_model()
        self.selected = -1
        self.dataset_changed.emit()
        self.model_changed.emit()
        self.snapshot_changed.emit()
        self.classifier_changed.emit()
        self.selection_changed.emit(-1)

    @property
    def X(self) -> np.ndarray:
        """Training samples (read-only), one row per position."""
        if self._X is None:
            raise RuntimeError("no dataset is open")
        return self._X

    @property
    def n_samples(self) -> int:
        """The number of training samples (0 without a dataset)."""
        return 0 if self._X is None else len(self._X)

    @property
    def y(self) -> np.ndarray | None:
        """Ground truth of the training samples, when the dataset has one."""
        if self.dataset is None or self.dataset.y is None:
            return None
        return self.dataset.y[self._train_idx]

    @property
    def has_ground_truth(self) -> bool:
        """True when the dataset has ground-truth classes, as many as the classes being labeled."""
        return (self.dataset is not None and self.dataset.y is not None and self.labels is not None
                and self.dataset.n_classes == self.labels.n_classes)

    def dataset_index(self, pos: int) -> int:
        """The dataset index of the training sample at position ``pos``."""
        return int(self._train_idx[pos])

    def position_of(self, index: int) -> int:
        """Position of dataset sample ``index`` in the training split, -1 if it is a test sample."""
        if self._pos_of is None or not 0 <= index < len(self._pos_of):
            return -1
        return int(self._pos_of[index])

    def reveal(self, fraction: float, seed: int | None = None) -> None:
        """Replace the labels by ``fraction`` of the ground truth (stratified)."""
        if not 0.0 <= fraction <= 1.0:
            raise DataError(f"label fraction must lie in [0, 1], got {fraction}")
        self.label_fraction = float(fraction)
        if seed is not None:
            self.label_seed = int(seed)
        if self.has_ground_truth:
            self.labels.set_all(reveal_labels(self.y, np.arange(self.n_samples), self.label_fraction, self.label_seed))
        self.label_fraction_changed.emit()

    def set_label_fraction(self, fraction: float, seed: int | None = None) -> None:
        """Remember the share of the ground truth revealed (and its seed) without touching
        the labels (they were set by the caller)."""
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise DataError(f"label fraction must lie in [0, 1], got {fraction}")
        seed = self.label_seed if seed is None else int(seed)
        if (fraction, seed) != (self.label_fraction, self.label_seed):
            self.label_fraction, self.label_seed = fraction, seed
            self.label_fraction_changed.emit()

    # -- settings ------------------------------------------------------------------------
    def set_model_config(self, cfg: ModelConfig) -> None:
        """Use ``cfg`` for the next model (announced when it differs)."""
        if cfg != self.model_config:
            self.model_config = cfg
            self.model_config_changed.emit()

    def set_train_config(self, cfg: TrainConfig) -> None:
        """Use ``cfg`` for training from now on (announced when it differs)."""
        if cfg != self.train_config:
            self.train_config = cfg
            self.train_config_changed.emit()

    @property
    def model_outdated(self) -> bool:
        """The model settings differ from the model in use (they apply after a reset)."""
        return self.trained_config is not None and self.trained_config != self.model_config

    def run_config(self) -> TrainConfig:
        """The training settings for a run, with live updates every few hundred samples."""
        return self.train_config.replace(
            snapshot_every=live_snapshot_every(self.n_samples, self.train_config.batch_size))

    # -- model and training results ------------------------------------------------------------
    def _drop_model(self) -> None:
        self.trainer = None
        self.model = None
        self.trained_config = None
        self.history = []
        self.snapshot = None
        self.codes = None
        self.class_targets = None
        self.classifier = None
        self.recon_errors = None

    def reset_model(self) -> None:
        """Forget the model and its results; the next training starts from scratch."""
        if self.training:
            raise RuntimeError("stop training before resetting the model")
        self._drop_model()
        self.model_changed.emit()
        self.snapshot_changed.emit()
        self.classifier_changed.emit()

    def accept_snapshot(self, snap) -> None:
        """A newer snapshot from the training thread."""
        self.snapshot = snap
        self.codes = snap.codes
        self.class_targets = snap.class_targets
        if snap.final:
            self.history = [dict(h) for h in snap.history]
        self.snapshot_changed.emit()

    def accept_model(self, model, config: ModelConfig | None = None) -> None:
        """A frozen copy of the newest weights (from the training thread or a checkpoint)."""
        self.model = model
        if config is not None:
            self.trained_config = config
        self.model_changed.emit()

    def accept_trainer(self, trainer) -> None:
        """The trainer handed back when training ends (None when it could not be built)."""
        self.trainer = trainer
        if trainer is not None:
            self.trained_config = trainer.model_config
            self.history = [dict(h) for h in trainer.history]

    def accept_codes(self, codes: np.ndarray, class_targets: np.ndarray | None = None) -> None:
        """Codes computed outside training (after loading a model)."""
        self.snapshot = None
        self.codes = codes
        self.class_targets = class_targets
        self.snapshot_changed.emit()

    def set_classifier(self, result: EpochResult | None) -> bool:
        """Keep ``result`` as the newest classifier result; False (nothing changes) when it
        scores another number of samples than the open dataset has."""
        if result is not None and result.n != self.n_samples:
            return False
        self.classifier = result
        self.classifier_changed.emit()
        return True

    # -- the training lifecycle ----------------------------------------------------------------------
    def begin_training(self) -> TrainingStart:
        """Start a run: the session goes to ``training`` and hands out what the run goes on
        from (the trainer, which the training thread owns until ``finish_training``; or a
        loaded model's weights and history; or nothing: a new network)."""
        if self.dataset is None:
            raise DataError("open a dataset before training")
        self.training_state.start()  # TransitionError while a run exists
        trainer, self.trainer = self.trainer, None
        model = self.model if trainer is None else None  # a loaded checkpoint's weights
        config = (trainer.model_config if trainer is not None
                  else self.trained_config if model is not None else self.model_config)
        history = tuple(self.history) if trainer is None else ()
        return TrainingStart(trainer, model, config, history)

    def set_training_state(self, state: str) -> None:
        """Follow the training thread: ``"training"``, ``"paused"`` or ``"stopping"`` (going
        back to idle is ``finish_training``'s, which takes the trainer back)."""
        if state == IDLE:
            raise ValueError("training ends with finish_training(trainer)")
        if state != self.training_state.state:
            self.training_state.to(state)

    def accept_epoch(self, model, config: ModelConfig) -> None:
        """The frozen weights after an epoch of the running training."""
        self.accept_model(model, config)

    def finish_training(self, trainer) -> bool:
        """The run has ended and handed its trainer back (None when it could not be built).

        The session decides which model it keeps: the newest epoch's weights, or, when the
        run stopped inside an epoch (or ended before any epoch), the trainer's own weights.
        Returns True when those replaced the epoch's (the codes shown are mid-epoch ones,
        whose classifier result is still to be computed). The state goes back to idle.
        """
        replaced = False
        if trainer is not None:
            self.accept_trainer(trainer)
            last = self.snapshot
            stopped_mid_epoch = last is not None and not last.final
            if self.model is None or stopped_mid_epoch:
                self.accept_model(frozen_model(trainer.model), trainer.model_config)
                replaced = stopped_mid_epoch
        if self.training_state.active:
            self.training_state.finish()
        return replaced

    def set_recon_errors(self, errors: np.ndarray | None) -> None:
        """Per-sample reconstruction RMSE (data units) of the training samples."""
        if errors is not None and len(errors) != self.n_samples:
            raise DataError(f"{len(errors)} reconstruction errors for {self.n_samples} samples")
        self.recon_errors = errors
        self.errors_changed.emit()

    @property
    def epoch(self) -> int:
        """The number of epochs trained."""
        return len(self.history)

    # -- selection ----------------------------------------------------------------------------
    def select(self, pos: int) -> None:
        """Select the sample at position ``pos`` (-1: none)."""
        pos = int(pos)
        if pos >= self.n_samples or pos < -1:
            raise IndexError(f"position {pos} is outside 0..{self.n_samples - 1}")
        if pos != self.selected:
            self.selected = pos
            self.selection_changed.emit(pos)

    # -- persistence ------------------------------------------------------------------------------
    def save_model(self, path) -> Path:
        """Write the newest weights, labels and history as a checkpoint."""
        from saeviz.core.io.checkpoint import save_checkpoint

        model = self.model if self.model is not None else getattr(self.trainer, "model", None)
        if model is None:
            raise DataError("there is no model to save yet: train first")
        return save_checkpoint(path, model, train_config=self.train_config,
                               supervision=self.labels.snapshot() if self.labels else None,
                               dataset_source=dict(self.dataset.source) if self.dataset else {},
                               history=self.history, metrics=self._metrics())

    def _metrics(self) -> dict[str, Any]:
        res = self.classifier
        out: dict[str, Any] = {}
        if res is not None:
            if res.train_error is not None:
                out["unlabeled_error"] = res.train_error
            if res.test_error is not None:
                out["test_error"] = res.test_error
        return out

    def apply_checkpoint(self, ckpt, labels: bool = True) -> None:
        """Use a loaded checkpoint's model, settings, labels and history on the open dataset.
        ``labels=False`` keeps the open dataset's labels and classes (another dataset whose
        samples have the model's shape)."""
        if self.training:
            raise RuntimeError("stop training before loading a model")
        if self.dataset is None:
            raise DataError("open the checkpoint's dataset first")
        if tuple(ckpt.model.sample_shape) != tuple(self.dataset.sample_shape):
            raise DataError(f"the model is for samples of shape {tuple(ckpt.model.sample_shape)}, "
                            f"the open dataset has {tuple(self.dataset.sample_shape)}")
        sup = ckpt.supervision
        if labels and sup is not None and len(sup.labels) == self.n_samples:
            self.labels.set_classes(sup.class_names, sup.colors, sup.distances, sup.labels)
            # "labels revealed" says the share the model's labels cover, not the last reveal's
            self.set_label_fraction(float(np.mean(np.asarray(sup.labels) >= 0)) if self.n_samples else 0.0)
        self._drop_model()
        self.model_config = ckpt.model_config
        self.train_config = ckpt.train_config.replace(snapshot_every=0)
        self.history = [dict(h) for h in ckpt.history]
        self.model = frozen_model(ckpt.model)
        self.trained_config = ckpt.model_config
        self.model_config_changed.emit()
        self.train_config_changed.emit()
        self.model_changed.emit()
        self.snapshot_changed.emit()
        self.classifier_changed.emit()

    def export_columns(self, projection: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Codes, projection, labels and classifier results of every training sample."""
        if self.codes is None:
            raise DataError("there are no codes to export yet: train or load a model first")
        cols: dict[str, np.ndarray] = {
            "index": self._train_idx.copy(),
            "label": np.asarray(self.labels.labels).copy(),
        }
        if self.y is not None:
            cols["truth"] = self.y.copy()
        if self.classifier is not None and len(self.classifier.predicted) == self.n_samples:
            cols["prediction"] = self.classifier.predicted
            cols["confidence"] = self.classifier.confidence
        cols["codes"] = np.asarray(self.codes)
        if projection is not None:
            cols["projection"] = np.asarray(projection)
        return cols


def _default_class_names(dataset: Dataset) -> tuple[str, ...]:
    if dataset.y is not None and len(dataset.y):
        return tuple(str(i) for i in range(int(dataset.y.max()) + 1))
    return ("A", "B")
