"""Held-out error against the number of labeled samples (paper section 3.3, Fig. 6).

Per seed and labeled fraction (the same labeled samples for every method, revealed per
class with the seed): the SAE + linear SVM; the classification network (the SAE's encoder
plus a linear output layer, cross-entropy on the labeled samples only); a plain autoencoder
+ linear SVM (trained once per seed: it never sees labels); the semi-supervised adversarial
autoencoder + linear SVM; semi-supervised UMAP + linear SVM; kNN label spreading on PCA-50 of
the raw inputs; a linear SVM on the PCA-whitened raw inputs. Every network uses the SAE's
encoder architecture, epochs, batch size and learning rate. The report and ``results.json``
are rewritten after every labeled fraction, so an interrupted run still leaves what it
finished (``--resume`` runs an unfinished seed again).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from saeviz.core.method.config import TrainConfig
from saeviz.experiments import baselines as B
from saeviz.experiments import common, options
from saeviz.experiments.common import Log, Report, Stopwatch, mean_std, summary

DESCRIPTION = "held-out error versus labeled samples: SAE, classifier network, AE, AAE, UMAP, label spreading, raw SVM"

METHODS = ("sae", "classifier", "ae", "aae", "umap", "spreading", "raw")
NAMES = {"sae": "SAE + SVM", "classifier": "classifier network", "ae": "autoencoder + SVM",
         "aae": "semi-supervised AAE + SVM", "umap": "semi-supervised UMAP + SVM",
         "spreading": "kNN label spreading on PCA-50", "raw": "PCA-whitened inputs + SVM"}
COLORS = {"sae": "#0072B2", "classifier": "#D55E00", "ae": "#7f7f7f", "aae": "#009E73",
          "umap": "#CC79A7", "spreading": "#56B4E9", "raw": "#E69F00"}


@dataclass(frozen=True)
class Settings:
    dataset: str = "digits"
    fractions: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
    epochs: int = TrainConfig().epochs
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    max_train: int = 0
    methods: tuple[str, ...] = METHODS

    def __post_init__(self) -> None:
        B.check_sweep(self.dataset, self.fractions, self.epochs, self.seeds)
        if set(self.methods) - set(METHODS) or "sae" not in self.methods:
            raise ValueError(f"methods must include 'sae', among {METHODS}")


FULL = Settings()
QUICK = Settings(fractions=(0.1, 1.0), epochs=2, seeds=(0,), max_train=300)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=tuple(B.SETUPS), default=None,
                        help="digits (default), mnist, fashion-mnist or bodies")
    parser.add_argument("--epochs", type=int, default=None, help=f"epochs (default {FULL.epochs})")
    parser.add_argument("--first-seed", type=int, default=None,
                        help="first seed (default 0); with --seeds N the run covers seeds FIRST to FIRST+N-1, "
                             "so several processes can share the seeds")
    parser.add_argument("--fractions", type=options.float_list, default=None,
                        help="labeled fractions, e.g. 0.01,0.1 (default "
                             + ",".join(f"{f:g}" for f in FULL.fractions) + ")")
    parser.add_argument("--methods", type=options.name_list, default=None,
                        help=f"methods among {', '.join(METHODS)} (sae always; default all)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the seeds already in --out's results.json (same settings otherwise) and "
                             "run only the missing ones")


def settings_for(quick=False, seeds=None, dataset=None, epochs=None, first_seed=None, fractions=None,
                 methods=None) -> Settings:
    s = QUICK if quick else FULL
    changes = {}
    if fractions is not None:
        changes["fractions"] = tuple(fractions)
    if methods is not None:
        changes["methods"] = options.chosen(methods, METHODS, ("sae",), "methods")
    if seeds is not None or first_seed is not None:
        first = int(first_seed or 0)
        changes["seeds"] = tuple(range(first, first + (len(s.seeds) if seeds is None else int(seeds))))
    if dataset is not None:
        changes["dataset"] = dataset
    if epochs is not None:
        changes["epochs"] = int(epochs)
    return replace(s, **changes)


def run_seed(split, setup: B.Setup, settings: Settings, seed: int, log: Log,
             on_fraction: Callable[[dict], None] | None = None) -> dict:
    """The seed's errors per labeled fraction; ``on_fraction`` gets the seed's results so far
    after every fraction."""
    clock = Stopwatch()
    model, k, E = setup.model, split.n_classes, settings.epochs
    out = {"seed": seed, "fractions": {}}
    ae_train = ae_test = None
    if "ae" in settings.methods:
        ae = B.train_autoencoder(split.X_train, model, E, seed)
        ae_train, ae_test = ae.latent_codes(), common.encode_test(ae, split)
    for frac in settings.fractions:
        labels = common.initial_labels(split.y_train, frac, seed)
        row = {"n_labeled": int(np.sum(labels >= 0))}
        sae = common.train_sae(split.X_train, labels, split.class_names, E, seed, model_config=model)
        row["sae"] = common.heldout_error(sae, split, labels)
        if "classifier" in settings.methods:
            row["classifier"] = B.train_classifier(split.X_train, labels, k, model, E, seed).error(
                split.X_test, split.y_test)
        if "ae" in settings.methods:
            row["ae"] = common.fit_classifier(ae_train, labels).error(ae_test, split.y_test)
        if "aae" in settings.methods:
            aae = B.train_aae(split.X_train, labels, k, model, E, seed)
            row["aae"] = common.fit_classifier(aae.codes(split.X_train), labels).error(
                aae.codes(split.X_test), split.y_test)
            row["aae_argmax"] = float(np.mean(aae.predict(split.X_test) != split.y_test))
        if "umap" in settings.methods:
            row["umap"] = B.umap_svm_error(split, labels, model.latent_dim, seed)
        if "spreading" in settings.methods:
            row["spreading"] = B.spreading_pca_error(split, labels)
        if "raw" in settings.methods:
            row["raw"] = B.pca_whitened_svm_error(split, labels)
        out["fractions"][str(frac)] = row
        log(f"seed {seed}, {row['n_labeled']} labels: " + ", ".join(
            f"{m} {100 * row[m]:.2f}%" for m in settings.methods))
        out["seconds"] = clock.seconds
        if on_fraction is not None and len(out["fractions"]) < len(settings.fractions):
            on_fraction(out)
    return out


def finished(seed_result: dict, fractions) -> bool:
    """Whether a seed's results cover every labeled fraction in ``fractions``."""
    return all(str(f) in seed_result["fractions"] for f in fractions)


def fractions_run(results: dict) -> list[float]:
    """The labeled fractions that at least one seed of ``results`` finished."""
    return [f for f in results["settings"]["fractions"] if str(f) in results["summary"]]


def summarise(per_seed: list[dict], settings: Settings) -> dict:
    s = {}
    for frac in settings.fractions:
        key = str(frac)
        rows = [r["fractions"][key] for r in per_seed if key in r["fractions"]]
        if not rows:
            continue
        entry = {"n_labeled": rows[0]["n_labeled"]}
        for m in list(settings.methods) + (["aae_argmax"] if "aae" in settings.methods else []):
            entry[m] = summary(r[m] for r in rows)
        if "classifier" in settings.methods:
            entry["classifier_beats_sae"] = bool(entry["classifier"]["mean"] < entry["sae"]["mean"])
        s[key] = entry
    return s


def finished_seeds(out: Path, settings: Settings, quick: bool) -> tuple[list[dict], float]:
    """The per-seed results of an earlier run in ``out`` with the same settings (the seeds
    aside) that the new run may keep, and the seconds that run took; ([], 0) when there is
    none. A run with other settings is an error: its numbers must not be mixed with these."""
    path = Path(out) / "results.json"
    if not path.is_file():
        return [], 0.0
    earlier = common.read_json(path)
    if earlier.get("experiment") != "sparse_labels":
        raise ValueError(f"{path} holds no sparse_labels results")
    mine = {k: v for k, v in json.loads(json.dumps(asdict(settings))).items() if k != "seeds"}
    theirs = {k: v for k, v in earlier.get("settings", {}).items() if k != "seeds"}
    if mine != theirs or bool(earlier.get("quick")) != bool(quick):
        changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        raise ValueError(f"cannot resume from {path}: its settings differ ({', '.join(changed) or 'quick'})")
    kept = [r for r in earlier.get("seeds", []) if r.get("seed") in settings.seeds and finished(r, settings.fractions)]
    return kept, float(earlier.get("seconds", 0.0))


def run(out: Path, quick: bool = False, seeds: int | None = None, log: Log = print,
        dataset: str | None = None, epochs: int | None = None, first_seed: int | None = None,
        resume: bool = False, fractions: tuple[float, ...] | None = None,
        methods: tuple[str, ...] | None = None) -> dict:
    common.require_matplotlib()
    settings = settings_for(quick, seeds, dataset, epochs, first_seed, fractions, methods)
    kept, seconds_before = finished_seeds(out, settings, quick) if resume else ([], 0.0)
    if "umap" in settings.methods:
        B.require_umap()
    out = common.output_folder(out)
    clock = Stopwatch()
    env = common.environment()
    setup, split = B.open_sweep("sparse labels", settings, log)
    per_seed: list[dict] = list(kept)
    if kept:
        log(f"resuming: seeds {[r['seed'] for r in kept]} kept from {out / 'results.json'}")
    results: dict = {}

    def save(running: dict | None = None) -> None:
        nonlocal results
        seeds = sorted(per_seed + ([running] if running is not None else []), key=lambda r: r["seed"])
        results = {
            "experiment": "sparse_labels", "quick": bool(quick), "settings": asdict(settings),
            "complete": len(per_seed) == len(settings.seeds),
            "dataset": {"name": split.dataset.name, "n_train": int(len(split.y_train)),
                        "n_test": int(len(split.y_test)), "classes": list(split.class_names),
                        "description": B.describe(setup, split)},
            "model": setup.model.to_dict(), "training": TrainConfig().to_dict(), "environment": env,
            "summary": summarise(seeds, settings), "seeds": seeds,
        }
        common.save_results(out, results, seconds_before + clock.seconds, lambda: write_report(out, results))
    for seed in settings.seeds:
        if any(r["seed"] == seed for r in per_seed):
            continue
        common.seed_everything(seed)
        per_seed.append(run_seed(split, setup, settings, seed, log, on_fraction=save))
        save()
    common.log_written(out, results, log)
    return results


def _figure(results: dict):
    from matplotlib.figure import Figure

    st, s = results["settings"], results["summary"]
    fractions = fractions_run(results)
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    n = np.array([s[str(f)]["n_labeled"] for f in fractions])
    for m in st["methods"]:
        mean = np.array([s[str(f)][m]["mean"] for f in fractions]) * 100
        std = np.array([s[str(f)][m]["std"] for f in fractions]) * 100
        ax.plot(n, mean, "o-", color=COLORS[m], label=NAMES[m], linewidth=2 if m == "sae" else 1.2, markersize=4)
        ax.fill_between(n, mean - std, mean + std, color=COLORS[m], alpha=0.12, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(n, [f"{k}\n({100 * f:g}%)" for k, f in zip(n, fractions)])
    ax.set_xlabel("labeled training samples")
    ax.set_ylabel("held-out error (%)")
    ax.set_title(f"{results['dataset']['name']}: mean ± std over {len(results['seeds'])} seeds")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return fig


def write_report(out: Path, results: dict) -> Path:
    st, s = results["settings"], results["summary"]
    done = [r for r in results["seeds"] if finished(r, st["fractions"])]
    n_seeds = len(results["seeds"])
    fractions = fractions_run(results)
    rep = Report(out, "Held-out error against the number of labels")
    status = ""
    if results["quick"]:
        status = "**Quick run**: a small training subset, few epochs and seeds, for a smoke test only. "
    if not results["complete"]:
        running = [r for r in results["seeds"] if not finished(r, st["fractions"])]
        status += f"**Partial run**: {len(done)} of {len(st['seeds'])} seeds finished"
        if running:
            status += (f", seed {running[0]['seed']} ran {len(running[0]['fractions'])} of its "
                       f"{len(st['fractions'])} labeled fractions")
        status += "; the numbers cover those only. "
        if n_seeds == 1:
            status += "With one seed there is no spread: the ± values below are zero by construction. "
    rep.text("Paper section 3.3 (Fig. 6): the SAE's latent space with a linear SVM against a classification "
             "network of the same encoder architecture, a plain autoencoder, the semi-supervised adversarial "
             "autoencoder, semi-supervised UMAP and the raw inputs, from few to all labels. " + status)
    rep.heading("Setup")
    rep.text(
        "- **Data**: " + results["dataset"]["description"],
        f"- **Labels**: fractions {', '.join(f'{100 * f:g}%' for f in st['fractions'])} of the training samples, "
        "revealed per class with the seed; every method gets the same labeled samples.",
        f"- **Training**: {st['epochs']} epochs, batch {results['training']['batch_size']}, Adam lr "
        f"{results['training']['lr']} for every network; SAE at gamma {results['training']['gamma']} (library "
        "defaults). The classifier network takes as many optimizer steps on labeled mini-batches as the SAE "
        "takes over the whole training set. AAE: Makhzani et al. 2016 section 2.3 (categorical + style code, "
        "two discriminators, supervised phase); its SVM sees both codes. UMAP: umap-learn, "
        f"{results['model']['latent_dim']} components (the SAE's latent size), unlabeled samples as -1. "
        "Label spreading: scikit-learn's LabelSpreading (kNN graph, 10 neighbours, alpha 0.2) on the first 50 "
        "principal components of the raw inputs. Raw: PCA whitening keeping 99% of the variance, fitted on all "
        "training inputs.",
        f"- **Measure**: held-out error; mean ± sample std over {n_seeds} seed{'s' if n_seeds != 1 else ''} "
        "(labels revealed, network initialisation, batch order).",
    )
    rep.heading("Results")
    rows = []
    for f in fractions:
        e = s[str(f)]
        rows.append([f"{100 * f:g}%", e["n_labeled"]] + [mean_std(e[m]) for m in st["methods"]])
    rep.table(["labeled", "samples"] + [f"{NAMES[m]} (%)" for m in st["methods"]], rows)
    rep.figure(_figure(results), "error_vs_labels.png",
               "Held-out error against labeled training samples (log scale), mean ± std over seeds.")
    lines = []
    if "classifier" in st["methods"]:
        lost = [f for f in fractions if s[str(f)]["classifier_beats_sae"]]
        if lost:
            lines.append("The classifier network has a lower mean error than the SAE at "
                         + ", ".join(f"{100 * f:g}% ({mean_std(s[str(f)]['classifier'])}% against "
                                     f"{mean_std(s[str(f)]['sae'])}%)" for f in lost)
                         + ": there the paper's claim does not hold on this data.")
        else:
            lines.append("The SAE has a lower mean error than the classifier network at every label count.")
    best = []
    for f in fractions:
        e = s[str(f)]
        m = min(st["methods"], key=lambda k: e[k]["mean"])
        best.append(f"{100 * f:g}%: {NAMES[m]} ({mean_std(e[m])}%)")
    lines.append("Lowest mean error per label count: " + "; ".join(best) + ".")
    if "aae" in st["methods"]:
        lines.append("The AAE's own prediction (arg-max of its categorical code) reaches "
                     + ", ".join(f"{mean_std(s[str(f)]['aae_argmax'])}%" for f in fractions)
                     + " at these label counts (in `results.json` as `aae_argmax`).")
    rep.text(*lines)
    rep.heading("Per seed")
    rows = []
    for r in results["seeds"]:
        for f in fractions:
            if str(f) not in r["fractions"]:
                continue
            e = r["fractions"][str(f)]
            rows.append([r["seed"], e["n_labeled"]] + [f"{100 * e[m]:.2f}" for m in st["methods"]])
    rep.table(["seed", "labels"] + [NAMES[m] for m in st["methods"]], rows)
    rep.heading("Reproduce")
    extra = "" if st["dataset"] == FULL.dataset else f" --dataset {st['dataset']}"
    base = QUICK if results["quick"] else FULL
    extra += "" if st["epochs"] == base.epochs else f" --epochs {st['epochs']}"
    if tuple(st["fractions"]) != base.fractions:
        extra += " --fractions " + ",".join(f"{f:g}" for f in st["fractions"])
    if tuple(st["methods"]) != base.methods:
        extra += " --methods " + ",".join(st["methods"])
    if tuple(st["seeds"]) != base.seeds:
        extra += f" --first-seed {st['seeds'][0]} --seeds {len(st['seeds'])}"
    rep.text(f"`python -m saeviz.experiments sparse_labels{' --quick' if results['quick'] else ''}{extra} "
             f"--out FOLDER` ({results['seconds'] / 60:.1f} minutes here, torch {results['environment']['torch']}, "
             f"{results['environment']['torch_threads']} CPU thread(s), on a shared, loaded 2-core machine).")
    return rep.write()
