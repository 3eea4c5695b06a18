"""Guided labeling (paper section 3.5, Fig. 10) on scikit-learn's ten handwritten digits
(default), or on MNIST A/B/C or Fashion-MNIST seasons with the paper's conv net (``--dataset``).

Per seed: reveal the ground truth of ``labeled_fraction`` of the training samples (per
class), train an SAE for ``epochs`` epochs, fit the linear SVM on the labeled codes and
measure its held-out error. Then, from those same weights and optimizer state, continue
``epochs`` more epochs in several arms that differ only in which ``added`` unlabeled
training samples get their true label (the simulated user):

``none``              no new labels (how much the extra epochs alone change)
``random``            ``added`` samples drawn uniformly from the unlabeled pool
``margin``            the paper's choice: smallest best-minus-second-best SVM score
``least_confidence``  smallest normalised confidence of the predicted class
``entropy``           largest entropy of the normalised class probabilities

All arms continue with the same batch order. The held-out error after each arm is the error
of an SVM fitted on the codes of all its labeled samples. Everything is averaged over seeds
(mean and sample standard deviation). The ``random`` and ``margin`` arms are then repeated
from the other starting fractions in ``sweep``, to show how the comparison depends on where
it starts.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from saeviz.core.method.calibration import confidence_histogram, reliability_diagram
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.ranking import compare_rounds, rank_scores, score_samples
from saeviz.experiments import baselines as B
from saeviz.experiments import common, options
from saeviz.experiments.common import Log, Report, Split, Stopwatch, mean_std, summary

DESCRIPTION = "guided labeling: the 100 most uncertain samples (SVM margin) versus 100 random ones"

ARMS = ("none", "random", "margin", "least_confidence", "entropy")
ARM_NAMES = {
    "none": "no new labels", "random": "random", "margin": "margin (paper)",
    "least_confidence": "least confidence", "entropy": "entropy",
}
ARM_COLORS = {
    "none": "#7f7f7f", "random": "#E69F00", "margin": "#0072B2",
    "least_confidence": "#009E73", "entropy": "#CC79A7",
}
MIN_BIN = 5  # reliability points drawn for bins with at least this many samples
CONTINUATION_SEED = 10_000  # continuation batch order: CONTINUATION_SEED + seed, shared by all arms
DATASETS = ("digits10", "mnist", "fashion-mnist")  # the last two: the few-labels setups (baselines.SETUPS)


@dataclass(frozen=True)
class Settings:
    dataset: str = "digits10"
    labeled_fraction: float = 0.05
    added: int = 100
    epochs: int = TrainConfig().epochs
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    arms: tuple[str, ...] = ARMS
    sweep: tuple[float, ...] = (0.10, 0.20)  # further starting fractions (random and margin arms)

    def __post_init__(self) -> None:
        if not 0.0 < self.labeled_fraction < 1.0:
            raise ValueError(f"labeled fraction must lie in (0, 1), got {self.labeled_fraction}")
        if self.added < 1 or self.epochs < 1 or not self.seeds:
            raise ValueError("added and epochs must be positive and at least one seed is needed")
        unknown = set(self.arms) - set(ARMS)
        if unknown or "random" not in self.arms or "margin" not in self.arms:
            raise ValueError(f"arms must include 'random' and 'margin', among {ARMS}")
        if any(not 0.0 < f < 1.0 for f in self.sweep):
            raise ValueError(f"sweep fractions must lie in (0, 1), got {self.sweep}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")

    def data_spec(self) -> str:
        """What ``common.load_split`` opens: ten digits, or a few-labels setup's class grouping."""
        return self.dataset if self.dataset == "digits10" else B.SETUPS[self.dataset].spec

    def model(self) -> ModelConfig:
        """The library's default MLP for the 8x8 digits, the paper's conv net for MNIST-sized images."""
        return ModelConfig() if self.dataset == "digits10" else B.SETUPS[self.dataset].model


FULL = Settings()
QUICK = Settings(epochs=3, seeds=(0, 1), sweep=(0.10,))
SWEEP_ARMS = ("random", "margin")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, default=None,
                        help="digits10 (default: scikit-learn's ten digits, MLP), mnist (A/B/C) or "
                             "fashion-mnist (seasons), both with the paper's conv net")
    parser.add_argument("--arms", type=options.name_list, default=None,
                        help=f"arms to run, among {', '.join(ARMS)} (random and margin always; default all)")
    parser.add_argument("--sweep", type=options.float_list, default=None,
                        help=f"further starting fractions for the random and margin arms, e.g. 0.1,0.2 "
                             f"('' for none; default {','.join(str(f) for f in FULL.sweep)})")
    parser.add_argument("--labeled", type=float, default=None,
                        help=f"starting fraction of labeled training samples (default {FULL.labeled_fraction})")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs before and after adding labels (default {FULL.epochs}, quick {QUICK.epochs})")
    parser.add_argument("--added", type=int, default=None, help=f"labels added per arm (default {FULL.added})")


def settings_for(quick: bool = False, seeds: int | None = None, labeled: float | None = None,
                 epochs: int | None = None, added: int | None = None, dataset: str | None = None,
                 arms: tuple[str, ...] | None = None, sweep: tuple[float, ...] | None = None) -> Settings:
    s = QUICK if quick else FULL
    if sweep is not None:
        s = replace(s, sweep=tuple(sweep))
    changes = {}
    if dataset is not None:
        changes["dataset"] = dataset
    if arms is not None:
        changes["arms"] = options.chosen(arms, ARMS, SWEEP_ARMS, "arms")
    if seeds is not None:
        changes["seeds"] = tuple(range(int(seeds)))
    if labeled is not None:
        changes["labeled_fraction"] = float(labeled)
        changes["sweep"] = tuple(f for f in s.sweep if f != float(labeled))
    if epochs is not None:
        changes["epochs"] = int(epochs)
    if added is not None:
        changes["added"] = int(added)
    return replace(s, **changes)


# -- one seed ----------------------------------------------------------------------------------
def _curve_recorder(split: Split, labels: np.ndarray, curve: list) -> common.OnEpoch:
    def on_epoch(trainer, snap) -> None:
        curve.append(common.heldout_error(trainer, split, labels, train_codes=snap.codes))
    return on_epoch


def _top_label(scores, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(normalised confidence of the prediction, prediction right) per held-out sample."""
    return scores.confidence, scores.predicted == truth


def run_seed(split: Split, settings: Settings, seed: int, log: Log) -> tuple[dict, dict]:
    """Numbers of one seed, and the raw arrays the figures need."""
    clock = Stopwatch()
    common.seed_everything(seed)
    names = split.class_names
    labels0 = common.initial_labels(split.y_train, settings.labeled_fraction, seed)
    curve0: list[float] = []
    trainer = common.train_sae(split.X_train, labels0, names, settings.epochs, seed,
                               model_config=settings.model(), train_config=TrainConfig(),
                               on_epoch=_curve_recorder(split, labels0, curve0))
    codes = trainer.latent_codes()
    clf = common.fit_classifier(codes, labels0)
    train_scores = score_samples(clf, codes)
    test_codes0 = common.encode_test(trainer, split)
    test_before = score_samples(clf, test_codes0)
    conf_b, right_b = _top_label(test_before, split.y_test)
    rel_b = reliability_diagram(conf_b, right_b)
    err_before = float(1.0 - np.mean(right_b))  # as compare_rounds computes it
    n0 = int(np.sum(labels0 >= 0))
    log(f"seed {seed}: {n0} labels, {settings.epochs} epochs: held-out error {100 * err_before:.2f}%")
    out = {"seed": seed, "n_labeled_initial": n0, "error_before": err_before, "ece_before": rel_b.ece,
           "curve_initial": curve0, "arms": {}}
    raw = {"before": (conf_b, right_b), "after": {}, "candidates": None}
    for arm in settings.arms:
        labels = labels0.copy()
        picks = {}
        if arm != "none":
            cand = rank_scores(train_scores, labels0, k=settings.added, strategy=arm, seed=seed)
            truth = split.y_train[cand.indices]
            labels[cand.indices] = truth
            picks = {
                "indices": cand.indices, "true_class": truth, "predicted": cand.best,
                "misclassified": int(np.sum(cand.best != truth)),
                "per_class": np.bincount(truth, minlength=split.n_classes),
                "mean_margin": float(np.mean(cand.margin)),
                "mean_confidence": float(np.mean(cand.confidence)),
            }
            if arm == "margin":
                raw["candidates"] = (cand.indices, cand.best, cand.second, truth)
        # the new labels through the SVM alone, on the codes before any further training
        labels_only = 1.0 - float(np.mean(common.fit_classifier(codes, labels).predict(test_codes0) == split.y_test))
        curve: list[float] = []
        fork = common.continue_training(trainer, labels, names, settings.epochs, CONTINUATION_SEED + seed,
                                        on_epoch=_curve_recorder(split, labels, curve))
        clf_after = common.fit_classifier(fork.latent_codes(), labels)
        test_after = score_samples(clf_after, common.encode_test(fork, split))
        cmp = compare_rounds(test_before, test_after, heldout_truth=split.y_test)
        conf_a, right_a = _top_label(test_after, split.y_test)
        raw["after"][arm] = (conf_a, right_a)
        out["arms"][arm] = {
            "n_labeled": int(np.sum(labels >= 0)),
            "error_labels_only": labels_only,
            "error_after": cmp.heldout_error_after,
            "change": cmp.heldout_error_after - err_before,
            "ece_after": reliability_diagram(conf_a, right_a).ece,
            "curve": curve,
            "flipped": cmp.n_flipped, "fixed": cmp.fixed, "broken": cmp.broken,
            "picks": picks,
        }
        log(f"seed {seed}: {ARM_NAMES[arm]:>16s}: {out['arms'][arm]['n_labeled']} labels, "
            f"held-out error {100 * err_before:.2f}% -> {100 * cmp.heldout_error_after:.2f}%")
    out["seconds"] = clock.seconds
    return out, raw


# -- all seeds ------------------------------------------------------------------------------------
def _curve_mean(curves) -> np.ndarray:
    return np.mean(np.asarray(list(curves), np.float64), axis=0)


def _curve_std(curves) -> np.ndarray:
    c = np.asarray(list(curves), np.float64)
    return np.std(c, axis=0, ddof=1) if len(c) > 1 else np.zeros(c.shape[1])


def summarise(per_seed: list[dict], settings: Settings) -> dict:
    before = summary(r["error_before"] for r in per_seed)
    arms = {}
    for arm in settings.arms:
        after = [r["arms"][arm]["error_after"] for r in per_seed]
        arms[arm] = {
            "error_labels_only": summary(r["arms"][arm]["error_labels_only"] for r in per_seed),
            "error_after": summary(after),
            "change": summary(r["arms"][arm]["change"] for r in per_seed),
            "ece_after": summary(r["arms"][arm]["ece_after"] for r in per_seed),
            "flipped": summary(r["arms"][arm]["flipped"] for r in per_seed),
            "curve_mean": _curve_mean(r["arms"][arm]["curve"] for r in per_seed),
            "curve_std": _curve_std(r["arms"][arm]["curve"] for r in per_seed),
        }
        if arm != "none":
            arms[arm]["misclassified_picks"] = summary(r["arms"][arm]["picks"]["misclassified"] for r in per_seed)
        if arm != "random":
            diff = [r["arms"]["random"]["error_after"] - r["arms"][arm]["error_after"] for r in per_seed]
            arms[arm]["advantage_over_random"] = summary(diff)
            arms[arm]["seeds_better_than_random"] = int(sum(d > 0 for d in diff))
            arms[arm]["seeds_worse_than_random"] = int(sum(d < 0 for d in diff))
    guided, rnd = arms["margin"]["error_after"]["mean"], arms["random"]["error_after"]["mean"]
    return {
        "error_before": before,
        "ece_before": summary(r["ece_before"] for r in per_seed),
        "curve_initial_mean": _curve_mean(r["curve_initial"] for r in per_seed),
        "curve_initial_std": _curve_std(r["curve_initial"] for r in per_seed),
        "arms": arms,
        "guided_beats_random": bool(guided < rnd),
        "guided_minus_random": guided - rnd,
    }


def run(out: Path, quick: bool = False, seeds: int | None = None, log: Log = print,
        labeled: float | None = None, epochs: int | None = None, added: int | None = None,
        dataset: str | None = None, arms: tuple[str, ...] | None = None,
        sweep: tuple[float, ...] | None = None) -> dict:
    """Run the experiment, write ``results.json`` and ``report.md`` into ``out``; return the results."""
    common.require_matplotlib()
    settings = settings_for(quick, seeds, labeled, epochs, added, dataset, arms, sweep)
    out = common.output_folder(out)
    clock = Stopwatch()
    env = common.environment()
    split = common.load_split(settings.data_spec())
    log(f"guided labeling on {split.dataset.name}: {len(split.y_train)} training / {len(split.y_test)} test "
        f"samples, {100 * settings.labeled_fraction:g}% labeled, +{settings.added} labels, "
        f"{settings.epochs}+{settings.epochs} epochs, seeds {list(settings.seeds)}")
    per_seed, raws = [], []
    for seed in settings.seeds:
        r, raw = run_seed(split, settings, seed, log)
        per_seed.append(r)
        raws.append(raw)
    sweep = []
    for fraction in settings.sweep:
        sub = replace(settings, labeled_fraction=fraction, arms=SWEEP_ARMS, sweep=())
        log(f"starting from {100 * fraction:g}% labeled (arms {', '.join(SWEEP_ARMS)})")
        runs = [run_seed(split, sub, seed, log)[0] for seed in settings.seeds]
        sweep.append({"labeled_fraction": fraction, "summary": summarise(runs, sub), "seeds": runs})
    results = {
        "experiment": "guided",
        "quick": bool(quick),
        "settings": asdict(settings),
        "dataset": {"name": split.dataset.name, "source": split.dataset.source,
                    "n_train": int(len(split.y_train)), "n_test": int(len(split.y_test)),
                    "classes": list(split.class_names)},
        "model": settings.model().to_dict(),
        "training": TrainConfig().to_dict(),
        "target_scale": TrainConfig().scale_for(settings.model().latent_dim),
        "environment": env,
        "summary": summarise(per_seed, settings),
        "seeds": per_seed,
        "sweep": sweep,
    }
    common.save_results(out, results, clock.seconds, lambda: write_report(out, results, raws, split))
    s = results["summary"]
    log(f"held-out error before {mean_std(s['error_before'])}%; after: "
        + ", ".join(f"{arm} {mean_std(s['arms'][arm]['error_after'])}%" for arm in settings.arms))
    common.log_written(out, results, log)
    return results


# -- the report ------------------------------------------------------------------------------------
def _error_curves(results: dict):
    from matplotlib.figure import Figure

    s, st = results["summary"], results["settings"]
    E = st["epochs"]
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    x0 = np.arange(1, E + 1)
    m0, s0 = np.asarray(s["curve_initial_mean"]), np.asarray(s["curve_initial_std"])
    ax.plot(x0, 100 * m0, color="black", label=f"{st['labeled_fraction'] * 100:g}% labeled")
    ax.fill_between(x0, 100 * (m0 - s0), 100 * (m0 + s0), color="black", alpha=0.12, linewidth=0)
    x1 = np.arange(E, 2 * E + 1)
    for arm in st["arms"]:
        a = s["arms"][arm]
        m = 100 * np.concatenate([[m0[-1]], a["curve_mean"]])
        sd = 100 * np.concatenate([[s0[-1]], a["curve_std"]])
        ax.plot(x1, m, color=ARM_COLORS[arm], label=ARM_NAMES[arm] + ("" if arm == "none" else f" +{st['added']}"))
        ax.fill_between(x1, m - sd, m + sd, color=ARM_COLORS[arm], alpha=0.12, linewidth=0)
    ax.axvline(E, color="0.5", linestyle=":", linewidth=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out SVM error (%)")
    ax.set_title(f"labels added after epoch {E} (mean ± std over {len(results['seeds'])} seeds)")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _before_after(results: dict):
    from matplotlib.figure import Figure

    s, st = results["summary"], results["settings"]
    arms = list(st["arms"])
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.add_subplot()
    xs = np.arange(len(arms) + 1)
    means = [s["error_before"]["mean"]] + [s["arms"][a]["error_after"]["mean"] for a in arms]
    stds = [s["error_before"]["std"]] + [s["arms"][a]["error_after"]["std"] for a in arms]
    colors = ["black"] + [ARM_COLORS[a] for a in arms]
    ax.bar(xs, 100 * np.asarray(means), yerr=100 * np.asarray(stds), color=colors, alpha=0.75, capsize=4)
    for i, vals in enumerate([s["error_before"]["values"]] + [s["arms"][a]["error_after"]["values"] for a in arms]):
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else [0.0]
        ax.scatter(i + np.asarray(jitter), 100 * np.asarray(vals), color="white", edgecolor="black", s=14, zorder=3)
    ax.set_xticks(xs, ["before"] + [ARM_NAMES[a] for a in arms], rotation=15)
    ax.set_ylabel("held-out SVM error (%)")
    ax.set_title("before and after adding labels (bars: mean ± std; dots: seeds)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def _calibration_figure(raws: list[dict], arms: tuple[str, ...]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.8))
    ax, hx = fig.subplots(1, 2)
    series = [("before", "black", [r["before"] for r in raws])]
    series += [(ARM_NAMES[a], ARM_COLORS[a], [r["after"][a] for r in raws]) for a in ("random", "margin") if a in arms]
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    for name, color, pairs in series:
        conf = np.concatenate([p[0] for p in pairs])
        right = np.concatenate([p[1] for p in pairs])
        rel = reliability_diagram(conf, right)
        keep = rel.counts >= MIN_BIN
        ax.plot(rel.confidence[keep], rel.accuracy[keep], "o-", color=color, markersize=3,
                label=f"{name} (ECE {rel.ece:.3f})")
    ax.set_xlabel("normalised confidence of the prediction")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title("reliability, held-out samples, all seeds")
    ax.legend(frameon=False, fontsize=8)
    conf = np.concatenate([r["before"][0] for r in raws])
    right = np.concatenate([r["before"][1] for r in raws])
    h = confidence_histogram(conf, n_bins=20, correct=right)
    w = np.diff(h.edges)
    hx.bar(h.edges[:-1], h.right, width=w, align="edge", color="#56B4E9", label="right")
    hx.bar(h.edges[:-1], h.wrong, width=w, align="edge", bottom=h.right, color="#D55E00", label="wrong")
    hx.set_xlabel("normalised confidence of the prediction")
    hx.set_ylabel("held-out samples")
    hx.set_title("confidence before adding labels")
    hx.legend(frameon=False, fontsize=8)
    return fig


def _candidates_figure(split: Split, candidates, n: int = 24):
    from matplotlib.figure import Figure

    idx, best, second, truth = (np.asarray(a)[:n] for a in candidates)
    cols = 8
    rows = int(np.ceil(len(idx) / cols))
    fig = Figure(figsize=(cols * 1.05, rows * 1.3))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i, b, s2, t in zip(axes, idx, best, second, truth):
        ax.imshow(split.X_train[i], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{b} or {s2}? is {t}", fontsize=7, color="black" if b == t else "#D55E00")
    return fig


def _options(results: dict) -> str:
    """The command-line options of a run where they differ from the full or quick settings."""
    st, base = results["settings"], QUICK if results["quick"] else FULL
    out = ""
    if st.get("dataset", base.dataset) != base.dataset:
        out += f" --dataset {st['dataset']}"
    if st["labeled_fraction"] != base.labeled_fraction:
        out += f" --labeled {st['labeled_fraction']:g}"
    if st["epochs"] != base.epochs:
        out += f" --epochs {st['epochs']}"
    if len(st["seeds"]) != len(base.seeds):
        out += f" --seeds {len(st['seeds'])}"
    if st["added"] != base.added:
        out += f" --added {st['added']}"
    if tuple(st["arms"]) != base.arms:
        out += " --arms " + ",".join(st["arms"])
    if tuple(st["sweep"]) != tuple(f for f in base.sweep if f != st["labeled_fraction"]):
        out += " --sweep " + (",".join(f"{f:g}" for f in st["sweep"]) or "''")
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _fractions(results: dict) -> list[tuple[float, int, dict]]:
    """(starting fraction, labels at the start, summary) of the main run and the sweep, by fraction."""
    rows = [(results["settings"]["labeled_fraction"], results["seeds"][0]["n_labeled_initial"], results["summary"])]
    rows += [(w["labeled_fraction"], w["seeds"][0]["n_labeled_initial"], w["summary"]) for w in results["sweep"]]
    return sorted(rows, key=lambda r: r[0])


def _fractions_figure(results: dict):
    from matplotlib.figure import Figure

    rows = _fractions(results)
    n0 = np.array([r[1] for r in rows])
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.add_subplot()
    series = [("before", "black", [r[2]["error_before"] for r in rows])]
    series += [(ARM_NAMES[a] + f" +{results['settings']['added']}", ARM_COLORS[a],
                [r[2]["arms"][a]["error_after"] for r in rows]) for a in SWEEP_ARMS]
    for name, color, sums in series:
        ax.errorbar(n0, [100 * x["mean"] for x in sums], yerr=[100 * x["std"] for x in sums], color=color,
                    marker="o", markersize=4, capsize=3, label=name)
    ax.set_xticks(n0, [f"{n}\n({100 * r[0]:g}%)" for n, r in zip(n0, rows)])
    ax.set_xlabel("labeled training samples at the start")
    ax.set_ylabel("held-out SVM error (%)")
    ax.set_title("guided versus random from different starting points")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def write_report(out: Path, results: dict, raws: list[dict], split: Split) -> Path:
    s, st = results["summary"], results["settings"]
    arms = tuple(st["arms"])
    n_seeds = len(results["seeds"])
    n_train = results["dataset"]["n_train"]
    n0 = results["seeds"][0]["n_labeled_initial"]
    pool = n_train - n0
    rep = Report(out, "Guided labeling: margin-selected versus random labels")
    rep.text(
        "Paper section 3.5 (Fig. 10): after training on few labels, label the samples whose best and "
        "second-best linear-SVM scores on the latent codes are closest, and compare with labeling "
        "random samples. " + ("**Quick run**: few epochs and seeds, for a smoke test only; the numbers "
                              "are not meant to be read." if results["quick"] else ""),
    )
    rep.heading("Setup")
    if st.get("dataset", "digits10") != "digits10":
        setup = B.SETUPS[st["dataset"]]
        rep.text(
            f"- **Data**: {setup.note}; {n_train} training / {results['dataset']['n_test']} held-out test samples.",
            f"- **Labels**: {100 * st['labeled_fraction']:g}% of the training samples per class are labeled at "
            f"the start ({n0} samples; the paper starts from 600 of MNIST's 60,000), then {st['added']} more, "
            f"picked from the {pool} unlabeled training samples.",
            f"- **Model and training**: the paper's conv net (filters {tuple(results['model']['conv_channels'])}, "
            f"latent {results['model']['latent_dim']}), `TrainConfig()` otherwise (gamma "
            f"{results['training']['gamma']}, batch {results['training']['batch_size']}, Adam lr "
            f"{results['training']['lr']}, class-level MDS, target scale auto = {results['target_scale']:.2f}).",
            f"- **Schedule**: {_count(st['epochs'], 'epoch')} on the starting labels (the paper: 200); then, from "
            f"the same weights and optimizer state, {_count(st['epochs'], 'more epoch')} per arm, every arm with "
            "the same batch order. Arms: " + "; ".join(f"*{ARM_NAMES[a]}*" for a in arms)
            + ". The candidates come from the "
            "SVM fitted at the end of the first phase, on the unlabeled training samples only; their labels "
            "are the ground truth (the simulated user).",
            f"- **Seeds**: {', '.join(str(r['seed']) for r in results['seeds'])}.")
    else:
        _digits_setup(rep, results, st, arms, n_train, n0, pool)
    return _write_results(rep, results, raws, split, s, st, arms, n_seeds)


def _digits_setup(rep: Report, results: dict, st: dict, arms, n_train: int, n0: int, pool: int) -> None:
    rep.text(
        f"- **Data**: scikit-learn's 8x8 handwritten digits, the **ten digits** as ten classes "
        f"({n_train} training / {results['dataset']['n_test']} held-out test samples, the dataset's fixed "
        "stratified split). Ten classes rather than the three A/B/C groups: the paper's guided-labeling "
        "experiment classifies MNIST, and with ten classes a sample has many possible runner-up classes, "
        "which is what the margin criterion is about.",
        f"- **Labels**: {100 * st['labeled_fraction']:g}% of the training samples per class are labeled at "
        f"the start ({n0} samples, about {n0 // max(len(results['dataset']['classes']), 1)} per digit), then "
        f"{st['added']} more. " + (
            f"The paper's 1% of MNIST (600 of 60,000) would be {round(0.01 * n_train)} samples here, "
            "about one per digit: too few for the SVM's scores, and so the margins, to mean anything. "
            "5% (7 per digit) keeps what the paper's setting is about, labels so scarce that each one "
            "counts, while giving the SVM several examples of every digit. Larger starting sets are "
            "sensible too (the classifier gets closer to the paper's starting error of about 4%, but labels "
            "stop being scarce), so the comparison is repeated from "
            + " and ".join(f"{100 * f:g}%" for f in st["sweep"]) + " below. "
            if st["labeled_fraction"] == FULL.labeled_fraction and st["sweep"] else "") +
        f"The {st['added']} added labels are {100 * st['added'] / pool:.0f}% of the {pool} unlabeled training "
        "samples they are picked from, so the choice matters.",
        f"- **Model and training**: the library defaults: `ModelConfig()` (MLP {tuple(results['model']['hidden'])}, "
        f"latent {results['model']['latent_dim']}) and `TrainConfig()` (gamma {results['training']['gamma']}, "
        f"batch {results['training']['batch_size']}, Adam lr {results['training']['lr']}, class-level MDS, "
        f"target scale auto = {results['target_scale']:.2f}). The MLP rather than the paper's conv net: "
        "on 8x8 images the conv net's three 2x2 poolings leave a 1x1 map, and it was less accurate here "
        "(held-out error 0.19 and 0.14 against 0.13 and 0.13 for the MLP, with 5% labels and 30 epochs, "
        "seeds 0 and 1) and slower.",
        f"- **Schedule**: {st['epochs']} epochs"
        + (" (the `TrainConfig` default)" if st["epochs"] == TrainConfig().epochs else "")
        + " on the starting labels; then, "
        f"from the same weights and optimizer state, {st['epochs']} more epochs per arm, every arm with the "
        "same batch order. Arms: " + "; ".join(f"*{ARM_NAMES[a]}*" for a in arms) + ". The candidates come "
        "from the SVM fitted at the end of the first phase, on the unlabeled training samples only; their "
        "labels are the ground truth (the simulated user).",
    )


def _write_results(rep: Report, results: dict, raws: list[dict], split: Split, s: dict, st: dict, arms,
                   n_seeds: int) -> Path:
    rep.text(
        "- **Measure**: error of a linear SVM (`LatentClassifier`) fitted on the codes of the labeled "
        "training samples, on the held-out test set; " + f"{_count(n_seeds, 'seed')} (labels revealed, network "
        "initialisation, random picks), mean ± sample standard deviation.",
    )
    rep.heading("Results")
    rows = []
    for arm in arms:
        a = s["arms"][arm]
        adv = a.get("advantage_over_random")
        rows.append([
            ARM_NAMES[arm], results["seeds"][0]["arms"][arm]["n_labeled"], mean_std(s["error_before"]),
            mean_std(a["error_labels_only"]), mean_std(a["error_after"]), mean_std(a["change"]),
            "—" if adv is None else f"{mean_std(adv)} ({a['seeds_better_than_random']}/{n_seeds} seeds better)",
            "—" if arm == "none" else f"{a['misclassified_picks']['mean']:.1f}",
        ])
    rep.table(["arm", "labels", "error before (%)", "new labels, no retraining (%)", "error after (%)",
               "change (points)",
               "random minus arm (points)", f"misclassified among the {st['added']} picks"], rows)
    rep.text(
        "*New labels, no retraining*: the SVM refitted with the new labels on the codes of the first "
        f"phase; *error after*: after {st['epochs']} more epochs of SAE training with them. The difference "
        "is what training the SAE on the new labels adds to the classifier's own gain (the extra epochs "
        "alone: the *no new labels* row).",
    )
    verdict = "beat" if s["guided_beats_random"] else "did **not** beat"
    rep.text(
        f"On average over {_count(n_seeds, 'seed')} the margin-guided labels {verdict} random labels: "
        f"{mean_std(s['arms']['margin']['error_after'])}% against {mean_std(s['arms']['random']['error_after'])}% "
        f"held-out error (difference {100 * s['guided_minus_random']:+.2f} points; negative favours guided).",
    )
    rep.figure(_error_curves(results), "error_curves.png",
               "Held-out SVM error per epoch (mean ± std over seeds); the labels are added at the dotted line.")
    rep.figure(_before_after(results), "error_before_after.png",
               "Held-out error before and after the round, per arm.")
    if raws and raws[0]["candidates"] is not None:
        rep.figure(_candidates_figure(split, raws[0]["candidates"]), "margin_candidates.png",
                   f"The 24 smallest-margin training samples of seed {results['seeds'][0]['seed']}: "
                   "the SVM's best and second class, and the true class (orange: the SVM was wrong).")
    rep.figure(_calibration_figure(raws, arms), "calibration.png",
               "Left: accuracy against the normalised confidence of the prediction, held-out samples of all "
               f"seeds (10 bins; those with at least {MIN_BIN} samples). Right: its distribution before the round.")
    if results["sweep"]:
        rep.heading("Other starting points")
        rows = []
        for fraction, n_start, summ in _fractions(results):
            arm = summ["arms"]
            adv = arm["margin"]["advantage_over_random"]
            better = arm["margin"]["seeds_better_than_random"]
            rows.append([f"{100 * fraction:g}%", n_start, mean_std(summ["error_before"]),
                         mean_std(arm["random"]["error_after"]), mean_std(arm["margin"]["error_after"]),
                         f"{mean_std(adv)} ({better}/{adv['n']} seeds better)"])
        rep.text(f"The same schedule and seeds with arms *random* and *margin* only, from other starting fractions "
                 f"(+{st['added']} labels each time):")
        rep.table(["start", "labels", "error before (%)", "random after (%)", "margin after (%)",
                   "random minus margin (points)"], rows)
        rep.figure(_fractions_figure(results), "starting_points.png",
                   "Held-out error before and after the round against the number of labels at the start "
                   "(mean ± std over seeds).")
    rep.heading("Per seed")
    rows = []
    for r in results["seeds"]:
        rows.append([r["seed"], f"{100 * r['error_before']:.2f}"]
                    + [f"{100 * r['arms'][a]['error_after']:.2f}" for a in arms] + [f"{r['seconds']:.0f}"])
    rep.table(["seed", "before (%)"] + [f"{ARM_NAMES[a]} (%)" for a in arms] + ["seconds"], rows)
    rows = []
    for arm in arms:
        if arm == "none":
            continue
        per_class = np.sum([r["arms"][arm]["picks"]["per_class"] for r in results["seeds"]], axis=0)
        rows.append([ARM_NAMES[arm]] + [str(int(c)) for c in per_class])
    rep.text("True digits of the picked samples, summed over seeds:")
    rep.table(["arm"] + list(results["dataset"]["classes"]), rows)
    rep.heading("Calibration")
    rep.text(
        f"Expected calibration error of the normalised confidence on the held-out set: before "
        f"{s['ece_before']['mean']:.3f} ± {s['ece_before']['std']:.3f}; after "
        + "; ".join(f"{ARM_NAMES[a]} {s['arms'][a]['ece_after']['mean']:.3f} ± {s['arms'][a]['ece_after']['std']:.3f}"
                    for a in arms) + ". The normalised confidence is a scaled SVM score (1 at a class center, "
        "clipped), not a probability, so this measures its distance from one.",
    )
    rep.heading("Reproduce")
    rep.text(
        f"`python -m saeviz.experiments guided{' --quick' if results['quick'] else ''}{_options(results)} "
        "--out FOLDER` "
        f"({results['seconds'] / 60:.1f} minutes here, torch {results['environment']['torch']} on "
        f"{_count(results['environment']['torch_threads'], 'CPU thread')}). Every number above, the per-epoch "
        "curves and the picked sample indices are in `results.json`.",
    )
    return rep.write()
