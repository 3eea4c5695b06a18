"""Reconstruction and classification error against gamma (paper section 3.6, Fig. 11).

For each dataset, labeled fraction and seed, one SAE per gamma (0: a plain autoencoder, the
structural loss ignored; 1: only the structural loss for labeled samples, unlabeled ones are
still reconstructed), all from the same initialisation and batch order. Measured on the
held-out samples: the reconstruction RMSE in data units and the error of the linear SVM
fitted on the labeled training codes. The report and ``results.json`` are rewritten after
every dataset and seed.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from saeviz.core.method.config import TrainConfig
from saeviz.core.method.evaluate import rmse
from saeviz.experiments import baselines as B
from saeviz.experiments import common, options
from saeviz.experiments.common import Log, Report, Stopwatch, mean_std, summary

DESCRIPTION = "reconstruction RMSE and classification error for gamma from 0 to 1"

COLORS = {"digits": "#0072B2", "bodies": "#D55E00"}


@dataclass(frozen=True)
class Settings:
    datasets: tuple[str, ...] = ("digits", "bodies")
    gammas: tuple[float, ...] = (0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)
    labeled_fraction: float = 0.1
    epochs: int = TrainConfig().epochs
    seeds: dict = None  # dataset -> seeds
    max_train: dict = None  # dataset -> training samples (0: all)

    def __post_init__(self) -> None:
        if any(d not in B.SETUPS for d in self.datasets):
            raise ValueError(f"datasets must be among {tuple(B.SETUPS)}, got {self.datasets}")
        if len(self.gammas) < 2 or any(not 0.0 <= g <= 1.0 for g in self.gammas):
            raise ValueError(f"gammas must lie in [0, 1], got {self.gammas}")
        if not 0.0 < self.labeled_fraction <= 1.0 or self.epochs < 1:
            raise ValueError("the labeled fraction must lie in (0, 1] and epochs be positive")


FULL = Settings(seeds={"digits": (0, 1, 2), "bodies": (0, 1, 2), "mnist": (0, 1, 2), "fashion-mnist": (0, 1, 2)},
                max_train={"digits": 0, "bodies": 0})
QUICK = Settings(datasets=("digits",), gammas=(0.0, 0.5, 1.0), epochs=2,
                 seeds={"digits": (0,), "bodies": (0,), "mnist": (0,), "fashion-mnist": (0,)},
                 max_train={"digits": 300, "bodies": 200})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_dataset_and_epochs(parser, B.SETUPS, FULL.epochs)


def settings_for(quick=False, seeds=None, dataset=None, epochs=None) -> Settings:
    return options.with_overrides(QUICK if quick else FULL, seeds, dataset, epochs)


def heldout_rmse(trainer, split) -> float:
    """Root-mean-square reconstruction error of the held-out samples, in data units."""
    return rmse(trainer.model, split.X_test, common.encode_test(trainer, split))


def run_seed(split, setup: B.Setup, settings: Settings, seed: int, log: Log) -> dict:
    clock = Stopwatch()
    labels = common.initial_labels(split.y_train, settings.labeled_fraction, seed)
    rows = []
    for g in settings.gammas:
        tr = common.train_sae(split.X_train, labels, split.class_names, settings.epochs, seed,
                              model_config=setup.model, train_config=TrainConfig(gamma=float(g)))
        row = {"gamma": float(g), "error": common.heldout_error(tr, split, labels),
               "rmse": heldout_rmse(tr, split), "train_rmse": float(tr.history[-1]["rmse"])}
        rows.append(row)
        log(f"{setup.name} seed {seed} gamma {g:g}: error {100 * row['error']:.2f}%, RMSE {row['rmse']:.4g}")
    return {"seed": seed, "n_labeled": int(np.sum(labels >= 0)), "rows": rows, "seconds": clock.seconds}


def summarise(per_seed: list[dict], gammas) -> dict:
    return {"error": [summary(r["rows"][i]["error"] for r in per_seed) for i in range(len(gammas))],
            "rmse": [summary(r["rows"][i]["rmse"] for r in per_seed) for i in range(len(gammas))],
            "train_rmse": [summary(r["rows"][i]["train_rmse"] for r in per_seed) for i in range(len(gammas))]}


def run(out: Path, quick: bool = False, seeds: int | None = None, log: Log = print,
        dataset: str | None = None, epochs: int | None = None) -> dict:
    common.require_matplotlib()
    settings = settings_for(quick, seeds, dataset, epochs)
    out, clock, results = common.start_per_dataset(out, "gamma", quick, asdict(settings))
    for name, setup, split in B.setup_splits(settings):
        log(f"gamma on {name}: {len(split.y_train)} training / {len(split.y_test)} test samples, "
            f"gammas {list(settings.gammas)}, seeds {list(settings.seeds[name])}")
        per_seed = []
        for seed in settings.seeds[name]:
            common.seed_everything(seed)
            per_seed.append(run_seed(split, setup, settings, seed, log))
            results["datasets"][name] = {
                "description": B.describe(setup, split), "model": setup.model.to_dict(),
                "n_train": int(len(split.y_train)), "n_test": int(len(split.y_test)),
                "seeds_planned": list(settings.seeds[name]),
                "summary": summarise(per_seed, settings.gammas), "seeds": per_seed}
            common.save_results(out, results, clock.seconds, lambda: write_report(out, results))
    results["complete"] = True
    common.save_results(out, results, clock.seconds, lambda: write_report(out, results))
    common.log_written(out, results, log)
    return results


def _figure(results: dict):
    from matplotlib.figure import Figure

    names = list(results["datasets"])
    g = np.asarray(results["settings"]["gammas"])
    fig = Figure(figsize=(5.2 * len(names), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        s = results["datasets"][name]["summary"]
        err = np.array([x["mean"] for x in s["error"]]) * 100
        esd = np.array([x["std"] for x in s["error"]]) * 100
        rm = np.array([x["mean"] for x in s["rmse"]])
        rsd = np.array([x["std"] for x in s["rmse"]])
        ax.errorbar(g, err, yerr=esd, color="#D55E00", marker="o", markersize=4, capsize=3)
        ax.set_xlabel("gamma")
        ax.set_ylabel("held-out classification error (%)", color="#D55E00")
        ax2 = ax.twinx()
        ax2.errorbar(g, rm, yerr=rsd, color="#0072B2", marker="s", markersize=4, capsize=3)
        ax2.set_ylabel("held-out reconstruction RMSE", color="#0072B2")
        ax.set_title(f"{name} ({len(results['datasets'][name]['seeds'])} seed(s))")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def command(results: dict) -> str:
    """The command line that reruns ``results``' settings."""
    return options.rerun_command("gamma", results, QUICK if results["quick"] else FULL)


def write_report(out: Path, results: dict) -> Path:
    st = results["settings"]
    rep = Report(out, "Effect of gamma: reconstruction against structure")
    status = common.run_status(
        results, FULL.epochs, "**Quick run**: small subsets, few epochs, one seed, for a smoke test only. ",
        "**Partial run**: not every dataset and seed finished; the report covers those that did. ")
    rep.text("Paper section 3.6 (Fig. 11): gamma weighs the structural loss (1) against the reconstruction "
             "loss (0) for the labeled samples. " + status)
    rep.heading("Setup")
    rep.text(*(["- **Data**: " + d["description"] for d in results["datasets"].values()] + [
        f"- **Labels**: {100 * st['labeled_fraction']:g}% of the training samples (the paper's Fig. 11 uses 10% of "
        "MNIST and 1,000 training bodies).",
        f"- **Training**: {st['epochs']} epochs, library defaults otherwise (batch 64, Adam lr 0.001, class-level "
        "MDS, automatic target scale); for each seed every gamma starts from the same initialisation.",
        "- **Measures** (held-out samples): reconstruction RMSE in data units (digits: pixel values in [0, 1]; "
        "bodies: vertex coordinates of the body model) and the error of the linear SVM fitted on the labeled "
        "training codes.",
    ]))
    rep.heading("Results")
    for name, d in results["datasets"].items():
        s = d["summary"]
        rep.heading(f"{name} ({len(d['seeds'])} seed(s), {d['seeds'][0]['n_labeled']} labels)", 3)
        rows = [[f"{g:g}", mean_std(s["error"][i]), f"{s['rmse'][i]['mean']:.4g} ± {s['rmse'][i]['std']:.2g}",
                 f"{s['train_rmse'][i]['mean']:.4g}"] for i, g in enumerate(st["gammas"])]
        rep.table(["gamma", "held-out error (%)", "held-out RMSE", "training RMSE (last epoch)"], rows)
        err = [x["mean"] for x in s["error"]]
        rmse = [x["mean"] for x in s["rmse"]]
        i_best = int(np.argmin(err))
        rep.text(f"Lowest mean error at gamma {st['gammas'][i_best]:g} ({100 * err[i_best]:.2f}%, against "
                 f"{100 * err[0]:.2f}% at gamma 0); held-out RMSE there {rmse[i_best]:.4g} against "
                 f"{rmse[0]:.4g} at gamma 0 ({100 * (rmse[i_best] / rmse[0] - 1):+.1f}%).")
    rep.figure(_figure(results), "gamma.png",
               "Held-out classification error (left axis) and reconstruction RMSE (right axis) against gamma, "
               "mean ± std over seeds.")
    common.add_reproduce(rep, results, command(results))
    return rep.write()
