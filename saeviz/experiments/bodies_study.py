"""The SAE on the generated 3D bodies (paper sections 3.1, 3.6 and 3.7): female against male.

On ``count`` bodies (default 6,000 at full resolution, the paper's size) with the dataset's
fixed 80/20 split, the ground truth of ``labeled`` of the training bodies (per class) is
revealed. Per seed (labels, initialisation and batch order) and per ``gamma``, a basis
network (``basis`` components, hidden 2048 and 256, latent 30) trains ``epochs`` epochs with
the library's default target scale; ``gamma 0`` is the plain autoencoder, trained on the same
bodies. All networks of a seed share one basis (built once). Reported on the held-out
bodies: the accuracy of the linear SVM fitted on the labeled codes, the silhouette score of
the codes against the true sex, and the reconstruction RMSE in metres. The baseline is the
same linear SVM on the raw vertices, PCA-whitened to ``pca`` components fitted on all
training bodies.

The figure shows the held-out codes of the first seed, projected on the direction between
the two class means of the labeled codes and the codes' first principal direction orthogonal
to it.
"""
from __future__ import annotations

import argparse
import copy
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.evaluate import rmse
from saeviz.core.method.models import build_autoencoder
from saeviz.core.method.training import Trainer
from saeviz.experiments import common
from saeviz.experiments.common import Log, Report, Split, Stopwatch, mean_std, summary

DESCRIPTION = "3D bodies, female/male from 10% labels: SAE against a plain autoencoder and raw vertices"


@dataclass(frozen=True)
class Settings:
    count: int = 6000
    resolution: str = "full"
    labeled_fraction: float = 0.1
    gammas: tuple[float, ...] = (0.0, 0.03, 0.1, 0.5)
    epochs: int = 30
    basis: int = 256
    hidden: tuple[int, ...] = (2048, 256)
    latent: int = 30
    pca: int = 100
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        if not 0.0 < self.labeled_fraction < 1.0:
            raise ValueError(f"labeled fraction must lie in (0, 1), got {self.labeled_fraction}")
        if self.epochs < 1 or not self.seeds or not self.gammas:
            raise ValueError("epochs must be positive, and seeds and gammas non-empty")
        if 0.0 not in self.gammas:
            raise ValueError("the gammas must include 0 (the plain autoencoder)")

    @property
    def dataset(self) -> str:
        return f"bodies:{self.count}:{self.resolution}"


FULL = Settings()
QUICK = Settings(count=600, resolution="reduced", labeled_fraction=0.25, epochs=20, basis=64,
                 hidden=(256, 64), pca=30, seeds=(0,))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=None, help=f"bodies (default {FULL.count})")
    parser.add_argument("--resolution", choices=("full", "reduced"), default=None,
                        help=f"mesh resolution (default {FULL.resolution})")
    parser.add_argument("--epochs", type=int, default=None, help=f"epochs (default {FULL.epochs})")
    parser.add_argument("--gammas", type=float, nargs="+", default=None,
                        help=f"gammas to compare, 0 included (default {' '.join(map(str, FULL.gammas))})")


def settings_for(quick: bool = False, seeds: int | None = None, count: int | None = None,
                 resolution: str | None = None, epochs: int | None = None,
                 gammas: list[float] | None = None) -> Settings:
    s = QUICK if quick else FULL
    changes: dict = {}
    if seeds is not None:
        changes["seeds"] = tuple(range(int(seeds)))
    if count is not None:
        changes["count"] = int(count)
    if resolution is not None:
        changes["resolution"] = resolution
    if epochs is not None:
        changes["epochs"] = int(epochs)
    if gammas is not None:
        changes["gammas"] = tuple(sorted(set(float(g) for g in gammas) | {0.0}))
    return replace(s, **changes)


def silhouette(codes: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import silhouette_score
    return float(silhouette_score(codes, y))


def raw_baseline(split: Split, labels: np.ndarray, components: int, seed: int) -> dict:
    """Linear SVM on PCA-whitened raw vertices (PCA fitted on every training body)."""
    from sklearn.decomposition import PCA

    flat_train = split.X_train.reshape(len(split.X_train), -1)
    pca = PCA(components, whiten=True, svd_solver="randomized", random_state=seed).fit(flat_train)
    train = pca.transform(flat_train)
    test = pca.transform(split.X_test.reshape(len(split.X_test), -1))
    clf = common.fit_classifier(train, labels)
    return {"accuracy": 1.0 - clf.error(test, split.y_test), "silhouette": silhouette(test, split.y_test)}


def run_seed(split: Split, settings: Settings, seed: int, log: Log) -> tuple[dict, dict]:
    clock = Stopwatch()
    common.seed_everything(seed)
    labels = common.initial_labels(split.y_train, settings.labeled_fraction, seed)
    model_config = ModelConfig(architecture="basis", hidden=settings.hidden, latent_dim=settings.latent,
                               basis_size=settings.basis)
    base = build_autoencoder(model_config, split.X_train, seed=seed)
    setup = clock.seconds
    out: dict = {"seed": seed, "n_labeled": int(np.sum(labels >= 0)), "setup_seconds": setup, "gammas": {}}
    raw: dict = {}
    for gamma in settings.gammas:
        t = Stopwatch()
        config = TrainConfig(gamma=gamma, epochs=settings.epochs, seed=seed)
        trainer = Trainer(split.X_train, base.config, config, common.supervision(labels, split.class_names),
                          model=copy.deepcopy(base))
        trainer.fit()
        train_codes = trainer.latent_codes()
        test_codes = common.encode_test(trainer, split)
        clf = common.fit_classifier(train_codes, labels)
        row = {"accuracy": 1.0 - clf.error(test_codes, split.y_test),
               "silhouette": silhouette(test_codes, split.y_test),
               "rmse": rmse(trainer.model, split.X_test, test_codes),
               "seconds_per_epoch": float(np.mean([h["seconds"] for h in trainer.history])),
               "seconds": t.seconds}
        out["gammas"][str(gamma)] = row
        raw[gamma] = (train_codes, test_codes)
        log(f"seed {seed} gamma {gamma}: accuracy {100 * row['accuracy']:.2f}%, silhouette "
            f"{row['silhouette']:.3f}, RMSE {1000 * row['rmse']:.2f} mm ({row['seconds']:.0f} s)")
    out["raw_vertices"] = raw_baseline(split, labels, settings.pca, seed)
    log(f"seed {seed} raw vertices (PCA {settings.pca}, whitened): accuracy "
        f"{100 * out['raw_vertices']['accuracy']:.2f}%, silhouette {out['raw_vertices']['silhouette']:.3f}")
    raw["labels"] = labels
    return out, raw


def _projection(train_codes, labels, test_codes) -> np.ndarray:
    """Held-out codes on (class-mean direction, first orthogonal principal direction)."""
    lab = labels >= 0
    means = [train_codes[lab & (labels == c)].mean(0) for c in (0, 1)]
    u = means[1] - means[0]
    u /= np.linalg.norm(u) + 1e-12
    centred = test_codes - test_codes.mean(0)
    rest = centred - np.outer(centred @ u, u)
    v = np.linalg.svd(rest, full_matrices=False)[2][0]
    return np.stack([centred @ u, centred @ v], axis=1)


def _figure(split: Split, raw: dict, gammas, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(gammas), figsize=(4 * len(gammas), 3.8))
    for ax, gamma in zip(np.atleast_1d(axes), gammas):
        train_codes, test_codes = raw[gamma]
        P = _projection(train_codes, raw["labels"], test_codes)
        for c, color in ((0, "#CC79A7"), (1, "#0072B2")):
            m = split.y_test == c
            ax.scatter(P[m, 0], P[m, 1], s=4, alpha=0.6, color=color, label=split.class_names[c])
        ax.set_title("plain autoencoder" if gamma == 0 else f"SAE, gamma {gamma}")
        ax.set_xlabel("class-mean direction")
        ax.set_xticks([])
        ax.set_yticks([])
    np.atleast_1d(axes)[0].legend(markerscale=3)
    fig.tight_layout()
    path = Path(out) / FIGURE
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


FIGURE = "codes.png"


def command(settings: Settings, out: Path, threads: int = 1, quick: bool = False) -> str:
    """The command line that runs ``settings`` on ``threads`` torch threads: ``--quick`` or
    not, then the options that differ from those defaults."""
    parts = ["python -m saeviz.experiments bodies"]
    base = QUICK if quick else FULL
    if quick:
        parts.append("--quick")
    if settings.seeds != base.seeds:
        parts.append(f"--seeds {len(settings.seeds)}")
    for name in ("count", "resolution", "epochs"):
        if getattr(settings, name) != getattr(base, name):
            parts.append(f"--{name} {getattr(settings, name)}")
    if settings.gammas != base.gammas:
        parts.append("--gammas " + " ".join(f"{g:g}" for g in settings.gammas))
    if threads != 1:
        parts.append(f"--threads {threads}")
    parts.append(f"--out {out}")
    return " ".join(parts)


def write_report(out: Path, results: dict) -> Path:
    """``report.md`` in ``out`` from the numbers of ``run`` (and its figure when present)."""
    out = Path(out)
    settings = Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in results["settings"].items()})
    table, baseline = results["summary"]["gammas"], results["summary"]["raw_vertices"]
    data = results["data"]
    report = Report(out, "SAE on the 3D bodies: female and male from sparse labels")
    report.text(f"{settings.count:,} bodies at {settings.resolution} resolution ({data['n_features']:,} "
                f"values), {data['n_train']:,} for training of which {100 * settings.labeled_fraction:g}% "
                f"labeled, {data['n_test']:,} held out; basis network ({settings.basis} components, hidden "
                f"{settings.hidden}, latent {settings.latent}), {settings.epochs} epochs, batch 64, Adam "
                f"1e-3, default target scale; seeds {list(settings.seeds)} (mean ± standard deviation). "
                f"Accuracy: linear SVM fitted on the labeled training codes, on the held-out bodies; "
                f"silhouette: of the held-out codes against the true sex; RMSE: held-out reconstruction.")
    rows = [[f"raw vertices (PCA {settings.pca}, whitened), linear SVM", mean_std(baseline["accuracy"]),
             mean_std(baseline["silhouette"], 1, 3), "", ""]]
    for gamma in settings.gammas:
        t = table[str(gamma)]
        rows.append(["plain autoencoder (gamma 0)" if gamma == 0 else f"SAE, gamma {gamma:g}",
                     mean_std(t["accuracy"]), mean_std(t["silhouette"], 1, 3), mean_std(t["rmse"], 1000),
                     mean_std(t["rmse_ratio"], 1, 3)])
    report.table(["codes", "held-out accuracy %", "silhouette", "RMSE mm", "RMSE / plain"], rows)
    if (out / FIGURE).is_file():
        report.lines += [f"![held-out codes]({FIGURE})", "",
                         "*Held-out codes (first seed) on the direction between the labeled class means "
                         "and the first principal direction orthogonal to it.*", ""]
    report.heading("Per seed")
    per_rows = []
    for r in results["per_seed"]:
        for gamma in settings.gammas:
            g = r["gammas"][str(gamma)]
            per_rows.append([r["seed"], f"{gamma:g}", f"{100 * g['accuracy']:.2f}", f"{g['silhouette']:.3f}",
                             f"{1000 * g['rmse']:.2f}", f"{g['seconds_per_epoch']:.1f}"])
        per_rows.append([r["seed"], "raw vertices", f"{100 * r['raw_vertices']['accuracy']:.2f}",
                         f"{r['raw_vertices']['silhouette']:.3f}", "", ""])
    report.table(["seed", "gamma", "accuracy %", "silhouette", "RMSE mm", "s/epoch"], per_rows)
    env = results["environment"]
    report.text(f"torch {env['torch']} on {env['torch_threads']} thread(s); {results['seconds'] / 60:.0f} "
                f"minutes in all (wall clock, on a shared machine).",
                f"Command: `{command(settings, out, int(env['torch_threads']), bool(results.get('quick')))}`")
    return report.write()


def run(out: Path, quick: bool = False, seeds: int | None = None, log: Log = print,
        count: int | None = None, resolution: str | None = None, epochs: int | None = None,
        gammas: list[float] | None = None) -> dict:
    common.require_matplotlib()
    settings = settings_for(quick, seeds, count, resolution, epochs, gammas)
    clock = Stopwatch()
    split = common.load_split(settings.dataset)
    log(f"{split.dataset.name}: {len(split.X_train)} training / {len(split.X_test)} held-out bodies "
        f"({split.dataset.n_features:,} values each)")
    per_seed, first_raw = [], None
    for seed in settings.seeds:
        result, raw = run_seed(split, settings, seed, log)
        per_seed.append(result)
        first_raw = first_raw or raw
    table: dict = {}
    for gamma in settings.gammas:
        rows = [r["gammas"][str(gamma)] for r in per_seed]
        table[str(gamma)] = {k: summary(r[k] for r in rows) for k in ("accuracy", "silhouette", "rmse")}
        table[str(gamma)]["rmse_ratio"] = summary(r["gammas"][str(gamma)]["rmse"] / r["gammas"]["0.0"]["rmse"]
                                                  for r in per_seed)
    baseline = {k: summary(r["raw_vertices"][k] for r in per_seed) for k in ("accuracy", "silhouette")}
    results = {"experiment": "bodies", "quick": bool(quick), "settings": asdict(settings),
               "environment": common.environment(),
               "data": {"n_features": split.dataset.n_features, "n_train": len(split.X_train),
                        "n_test": len(split.X_test)},
               "per_seed": per_seed, "summary": {"gammas": table, "raw_vertices": baseline},
               "seconds": clock.seconds}
    out = common.output_folder(out)
    _figure(split, first_raw, settings.gammas, out)
    common.write_json(out / "results.json", results)
    write_report(out, results)
    log(f"report written to {out / 'report.md'} ({clock.seconds:.0f} s)")
    return results
