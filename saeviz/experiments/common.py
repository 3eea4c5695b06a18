"""What experiments share: seeds, splits, training and evaluation helpers, results and reports.

An experiment trains a real SAE through ``saeviz.core.method.training.Trainer`` with the library's
default settings unless it says otherwise, evaluates with the same linear SVM the app uses,
and writes ``results.json`` (every number, strict JSON) and ``report.md`` (with PNG figures
drawn by matplotlib, the ``report`` extra).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from saeviz.core.data import Dataset, load_dataset, reveal_labels
from saeviz.core.errors import SaevizError
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.training import Snapshot, Trainer, encode
from saeviz.core.state.labels import Supervision, default_color, equal_distances

Log = Callable[[str], None]
OnEpoch = Callable[[Trainer, Snapshot], None]


class ExperimentError(SaevizError):
    """An experiment cannot run (missing optional dependency, bad settings)."""


# -- reproducibility -------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's generators (the library itself takes
    explicit seeds; this covers code that does not)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def environment() -> dict:
    """Versions and machine facts worth keeping next to the numbers."""
    import sklearn

    from saeviz import __version__
    return {
        "saeviz": __version__, "python": platform.python_version(), "numpy": np.__version__,
        "torch": torch.__version__, "scikit-learn": sklearn.__version__,
        "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# -- data ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Split:
    """A dataset's fixed train/test split as arrays (ground truth on both sides)."""

    dataset: Dataset
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.dataset.class_names

    @property
    def n_classes(self) -> int:
        return self.dataset.n_classes


def load_split(spec="digits10") -> Split:
    """The train/test split of ``spec`` (any ``load_dataset`` spec with ground truth)."""
    ds = load_dataset(spec)
    if ds.y is None:
        raise ExperimentError(f"{ds.name} has no ground truth to evaluate against")
    return Split(ds, ds.X[ds.train_idx], ds.y[ds.train_idx], ds.X[ds.test_idx], ds.y[ds.test_idx])


def initial_labels(y_train: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Ground truth revealed for ``fraction`` of the training samples per class, -1 elsewhere."""
    return reveal_labels(y_train, np.arange(len(y_train)), fraction, seed=seed)


def supervision(labels: np.ndarray, class_names: tuple[str, ...], version: int = 0) -> Supervision:
    """Fixed supervision with the default class distances (1 between any two classes)."""
    k = len(class_names)
    return Supervision(np.asarray(labels, np.int64).copy(), tuple(class_names),
                       tuple(default_color(i) for i in range(k)), equal_distances(k), version)


# -- training --------------------------------------------------------------------------------
def _run(trainer: Trainer, epochs: int, on_epoch: OnEpoch | None) -> Trainer:
    for snap in trainer.iter_epochs(epochs):
        if snap.final and on_epoch is not None:
            on_epoch(trainer, snap)
    return trainer


def train_sae(X: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], epochs: int, seed: int,
              model_config: ModelConfig | None = None, train_config: TrainConfig | None = None,
              on_epoch: OnEpoch | None = None) -> Trainer:
    """A new SAE trained ``epochs`` epochs on ``X`` with ``labels`` (-1 unlabeled).

    ``model_config`` and ``train_config`` default to the library's defaults; ``seed``
    replaces the training config's seed (network initialisation and batch order).
    """
    model_config = model_config or ModelConfig()
    train_config = (train_config or TrainConfig()).replace(seed=int(seed), epochs=int(epochs))
    trainer = Trainer(X, model_config, train_config, supervision(labels, class_names))
    return _run(trainer, epochs, on_epoch)


def continue_training(trainer: Trainer, labels: np.ndarray, class_names: tuple[str, ...], epochs: int,
                      seed: int, on_epoch: OnEpoch | None = None) -> Trainer:
    """Train a copy of ``trainer`` (weights, optimizer state, epoch count and history) for
    ``epochs`` more epochs with new ``labels``; ``trainer`` itself is left untouched.

    ``seed`` sets the batch order of the continuation, so copies continued with the same
    seed see the same batches and differ only in their labels.
    """
    fork = trainer.fork(supervision(labels, class_names), config=trainer.config.replace(seed=int(seed)))
    return _run(fork, epochs, on_epoch)


def fit_classifier(codes: np.ndarray, labels: np.ndarray) -> LatentClassifier:
    """The app's linear SVM, fitted on the codes of the labeled samples."""
    return LatentClassifier().fit(codes, labels)


def encode_test(trainer: Trainer, split: Split) -> np.ndarray:
    """Codes of the test samples under the trainer's current weights."""
    return encode(trainer.model, split.X_test)


def heldout_error(trainer: Trainer, split: Split, labels: np.ndarray, train_codes: np.ndarray | None = None) -> float:
    """Test error of the SVM fitted on the labeled training codes of ``trainer``'s model."""
    codes = trainer.latent_codes() if train_codes is None else train_codes
    return fit_classifier(codes, labels).error(encode_test(trainer, split), split.y_test)


# -- numbers ----------------------------------------------------------------------------------
def summary(values: Iterable[float]) -> dict:
    """Mean, sample standard deviation (0 for a single value), extremes and the values."""
    v = np.asarray(list(values), np.float64)
    if v.size == 0:
        raise ValueError("no values to summarise")
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "n": int(v.size), "values": v.tolist()}


def mean_std(s: dict, scale: float = 100.0, digits: int = 2) -> str:
    """``"12.34 ± 0.56"`` from a ``summary`` (scaled, e.g. to percent)."""
    return f"{s['mean'] * scale:.{digits}f} ± {s['std'] * scale:.{digits}f}"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"results must be finite numbers, got {obj}")
    return obj


def read_json(path: Path) -> dict:
    """A ``results.json`` written by ``write_json`` (strict JSON: no NaN or infinity)."""
    def reject(name):
        raise ValueError(f"{path}: {name} is not strict JSON")
    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=reject)


def write_json(path: Path, results: dict) -> Path:
    """Strict JSON (no NaN or infinity), written atomically."""
    path = Path(path)
    text = json.dumps(_jsonable(results), indent=2, allow_nan=False)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


# -- reports ----------------------------------------------------------------------------------
def output_folder(out: Path) -> Path:
    """``out`` as a path, created (with its parents) when missing."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def start_per_dataset(out: Path, experiment: str, quick: bool, settings: dict,
                      **facts) -> tuple[Path, Stopwatch, dict]:
    """The output folder (created), a started clock and the results of an experiment that fills
    ``results["datasets"]`` one dataset at a time: its name, ``quick``, ``settings``, further
    ``facts``, the environment, no datasets yet and ``complete`` false."""
    results = {"experiment": experiment, "quick": bool(quick), "settings": settings, **facts,
               "environment": environment(), "datasets": {}, "complete": False}
    return output_folder(out), Stopwatch(), results


def require_matplotlib() -> None:
    """Fail early, before any training, when the figures cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ExperimentError("experiment reports draw their figures with matplotlib: "
                              "pip install 'saeviz[report]'") from exc


class Report:
    """A Markdown report with figures saved next to it."""

    def __init__(self, folder: Path, title: str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lines: list[str] = [f"# {title}", ""]

    def text(self, *paragraphs: str) -> None:
        for p in paragraphs:
            self.lines += [p, ""]

    def heading(self, title: str, level: int = 2) -> None:
        self.lines += ["#" * level + " " + title, ""]

    def table(self, header: list[str], rows: list[list]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            self.lines.append("| " + " | ".join(str(c) for c in row) + " |")
        self.lines.append("")

    def figure(self, fig, name: str, caption: str) -> Path:
        """Save a matplotlib ``Figure`` as ``name`` (PNG) and embed it with ``caption``."""
        path = self.folder / name
        fig.savefig(path, dpi=120, bbox_inches="tight")
        self.lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
        return path

    def write(self, name: str = "report.md") -> Path:
        path = self.folder / name
        path.write_text("\n".join(self.lines).rstrip() + "\n", encoding="utf-8")
        return path


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0


def run_status(results: dict, full_epochs: int, quick: str, partial: str) -> str:
    """The bold notes that open a report: ``quick`` for a quick run, a reduced-setting note when a
    full run trained fewer or more epochs than ``full_epochs``, and ``partial`` when the run did
    not finish."""
    epochs = results["settings"]["epochs"]
    status = quick if results["quick"] else ""
    if not results["quick"] and epochs != full_epochs:
        status += (f"**Reduced setting**: {epochs} epochs instead of the full setting's {full_epochs}, "
                   "to fit the time available on a shared, loaded 2-core machine. ")
    if not results["complete"]:
        status += partial
    return status


def add_reproduce(report: Report, results: dict, command: str) -> None:
    """The report's last section: the command that reruns ``results`` and how long it took."""
    report.heading("Reproduce")
    report.text(f"`{command}` "
                f"({results.get('seconds', 0) / 60:.1f} minutes here, {results['environment']['torch_threads']} "
                "CPU thread(s), shared loaded 2-core machine).")


def save_results(out: Path, results: dict, seconds: float, write_report: Callable[[], Path]) -> None:
    """Record ``seconds`` in ``results``, write ``out/results.json``, then the report."""
    results["seconds"] = seconds
    write_json(Path(out) / "results.json", results)
    write_report()


def log_written(out: Path, results: dict, log: Log) -> None:
    """Tell where the report and the numbers went and how long the run took."""
    out = Path(out)
    log(f"wrote {out / 'report.md'} and {out / 'results.json'} in {results['seconds']:.0f} s")
