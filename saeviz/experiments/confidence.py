"""Decision confidence: the SAE's normalised SVM scores against a classifier's softmax
(paper section 3.4, Figs. 8 and 9).

Per dataset and seed, with the same labeled samples: an SAE with the linear SVM on its codes
(scores scaled "between the class centers" into [0, 1], ``LatentClassifier.confidence``) and
the classification network (the SAE's encoder plus a linear output layer, cross-entropy on
the labeled samples) with its softmax. On the held-out samples of all seeds together:
reliability diagrams, both as accuracy of the predicted class against its confidence
(top label) and as the paper's precision of "belongs to class c" against the score of c
(per class), the expected calibration error (ECE) of each, and histograms of the confidence
of the predicted class.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from saeviz.core.method.calibration import (
    confidence_histogram,
    outcome_pairs,
    reliability_diagram,
)
from saeviz.core.method.config import TrainConfig
from saeviz.experiments import baselines as B
from saeviz.experiments import common, options
from saeviz.experiments.common import Log, Report, summary

DESCRIPTION = "reliability and histograms of SAE SVM confidences against classifier softmax, with ECE"

METHODS = ("sae", "classifier")
NAMES = {"sae": "SAE + SVM (normalised score)", "classifier": "classifier network (softmax)"}
COLORS = {"sae": "#0072B2", "classifier": "#D55E00"}
KINDS = ("top_label", "per_class")
MIN_BIN = 5


@dataclass(frozen=True)
class Settings:
    datasets: tuple[str, ...] = ("digits", "bodies")
    labeled_fraction: float = 0.1
    epochs: int = TrainConfig().epochs
    seeds: dict = None  # dataset -> seeds
    max_train: dict = None
    n_bins: int = 10

    def __post_init__(self) -> None:
        if any(d not in B.SETUPS for d in self.datasets):
            raise ValueError(f"datasets must be among {tuple(B.SETUPS)}, got {self.datasets}")
        if not 0.0 < self.labeled_fraction <= 1.0 or self.epochs < 1 or self.n_bins < 2:
            raise ValueError("the labeled fraction must lie in (0, 1], epochs be positive, n_bins at least 2")


FULL = Settings(seeds={"digits": (0, 1, 2, 3, 4), "bodies": (0, 1, 2), "mnist": (0, 1, 2),
                       "fashion-mnist": (0, 1, 2)},
                max_train={"digits": 0, "bodies": 0})
QUICK = Settings(datasets=("digits",), epochs=2,
                 seeds={"digits": (0,), "bodies": (0,), "mnist": (0,), "fashion-mnist": (0,)},
                 max_train={"digits": 300, "bodies": 200})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_dataset_and_epochs(parser, B.SETUPS, FULL.epochs)


def settings_for(quick=False, seeds=None, dataset=None, epochs=None) -> Settings:
    return options.with_overrides(QUICK if quick else FULL, seeds, dataset, epochs)


def run_seed(split, setup: B.Setup, settings: Settings, seed: int, log: Log) -> tuple[dict, dict]:
    """Numbers of one seed and the held-out confidences (N, K) with the predictions."""
    common.seed_everything(seed)
    labels = common.initial_labels(split.y_train, settings.labeled_fraction, seed)
    sae = common.train_sae(split.X_train, labels, split.class_names, settings.epochs, seed, model_config=setup.model)
    svm = common.fit_classifier(sae.latent_codes(), labels)
    codes = common.encode_test(sae, split)
    net = B.train_classifier(split.X_train, labels, split.n_classes, setup.model, settings.epochs, seed)
    raw = {"sae": (svm.confidence(codes), svm.predict(codes)),
           "classifier": (net.predict_proba(split.X_test), net.predict(split.X_test))}
    out = {"seed": seed, "n_labeled": int(np.sum(labels >= 0))}
    for m, (conf, pred) in raw.items():
        conf_t, right = outcome_pairs(conf, np.arange(split.n_classes), split.y_test, "top_label", predicted=pred)
        out[m] = {"error": float(np.mean(pred != split.y_test)),
                  "ece_top_label": reliability_diagram(conf_t, right, settings.n_bins).ece}
    log(f"{setup.name} seed {seed}: SAE error {100 * out['sae']['error']:.2f}% ECE {out['sae']['ece_top_label']:.3f}; "
        f"classifier error {100 * out['classifier']['error']:.2f}% ECE {out['classifier']['ece_top_label']:.3f}")
    return out, raw


def pooled(raws: list[dict], y: np.ndarray, k: int, n_bins: int) -> dict:
    """Reliability diagrams and histograms over the held-out samples of all seeds."""
    res = {}
    for m in METHODS:
        conf = np.concatenate([r[m][0] for r in raws])
        pred = np.concatenate([r[m][1] for r in raws])
        truth = np.concatenate([y for _ in raws])
        entry = {}
        for kind in KINDS:
            c, right = outcome_pairs(conf, np.arange(k), truth, kind, predicted=pred if kind == "top_label" else None)
            entry[kind] = reliability_diagram(c, right, n_bins).to_dict()
            if kind == "top_label":
                entry["histogram"] = confidence_histogram(c, n_bins=20, correct=right).to_dict()
        res[m] = entry
    return res


def run(out: Path, quick: bool = False, seeds: int | None = None, log: Log = print,
        dataset: str | None = None, epochs: int | None = None) -> dict:
    common.require_matplotlib()
    settings = settings_for(quick, seeds, dataset, epochs)
    out, clock, results = common.start_per_dataset(out, "confidence", quick, asdict(settings),
                                                   training=training_settings())
    for name, setup, split in B.setup_splits(settings):
        log(f"confidence on {name}: {len(split.y_train)} training / {len(split.y_test)} test samples")
        per_seed, raws = [], []
        for seed in settings.seeds[name]:
            r, raw = run_seed(split, setup, settings, seed, log)
            per_seed.append(r)
            raws.append(raw)
        results["datasets"][name] = {
            "description": B.describe(setup, split), "model": setup.model.to_dict(),
            "classes": list(split.class_names),
            "summary": {m: {"error": summary(r[m]["error"] for r in per_seed),
                            "ece_top_label": summary(r[m]["ece_top_label"] for r in per_seed)} for m in METHODS},
            "pooled": pooled(raws, split.y_test, split.n_classes, settings.n_bins),
            "seeds": per_seed}
        common.save_results(out, results, clock.seconds, lambda: write_report(out, results))
    results["complete"] = True
    common.save_results(out, results, clock.seconds, lambda: write_report(out, results))
    common.log_written(out, results, log)
    return results


def drops_in(rel: dict) -> int:
    """Neighbouring bins (both with at least ``MIN_BIN`` pairs) where the fraction right falls
    as the confidence rises: 0 for a monotone reliability curve."""
    acc = [a for a, n in zip(rel["accuracy"], rel["counts"]) if n >= MIN_BIN]
    return int(sum(b < a for a, b in zip(acc[:-1], acc[1:])))


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], np.float64)


def _figure(name: str, d: dict):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 4)
    for ax, kind, title, ylabel in ((axes[0], "top_label", "reliability (predicted class)", "accuracy in the bin"),
                                    (axes[1], "per_class", "reliability per class (paper Fig. 8)",
                                     "precision of 'belongs to c'")):
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
        for m in METHODS:
            rel = d["pooled"][m][kind]
            keep = np.asarray(rel["counts"]) >= MIN_BIN
            ax.plot(_arr(rel["confidence"])[keep], _arr(rel["accuracy"])[keep], "o-", color=COLORS[m],
                    markersize=3, label=f"{NAMES[m]}, ECE {rel['ece']:.3f}")
        ax.set_xlabel("confidence")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.legend(frameon=False, fontsize=7)
    for ax, m in zip(axes[2:], METHODS):
        h = d["pooled"][m]["histogram"]
        edges = np.asarray(h["edges"])
        w = np.diff(edges)
        ax.bar(edges[:-1], h["right"], width=w, align="edge", color="#56B4E9", label="right")
        ax.bar(edges[:-1], h["wrong"], width=w, align="edge", bottom=h["right"], color="#D55E00", label="wrong")
        ax.set_title(f"histogram: {NAMES[m]}", fontsize=9)
        ax.set_xlabel("confidence of the predicted class")
        ax.set_ylabel("held-out samples")
        ax.legend(frameon=False, fontsize=7)
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    return fig


def command(results: dict) -> str:
    """The command line that reruns ``results``' settings."""
    return options.rerun_command("confidence", results, QUICK if results["quick"] else FULL)


def training_settings(config: TrainConfig | None = None) -> dict:
    """The SAE's training settings besides the epochs (both methods' optimizer settings)."""
    c = config or TrainConfig()
    return {"gamma": c.gamma, "batch_size": c.batch_size, "lr": c.lr, "mds": c.mds.mode,
            "target_scale": c.target_scale}


QUICK_NOTE = "**Quick run**: small subsets and 2 epochs, for a smoke test only. "
PARTIAL_NOTE = "**Partial run**: not every dataset finished; the report covers those that did. "


def write_report(out: Path, results: dict) -> Path:
    st = results["settings"]
    # runs before these were recorded used the library defaults
    tr = results.get("training") or training_settings()
    scale = "automatic target scale" if not tr["target_scale"] else f"target scale {tr['target_scale']:g}"
    mds = {"class": "class-level MDS", "exact": "MDS over every labeled sample"}.get(tr["mds"], tr["mds"])
    rep = Report(out, "Decision confidence: SAE scores against softmax")
    status = common.run_status(results, FULL.epochs, QUICK_NOTE, PARTIAL_NOTE)
    rep.text("Paper section 3.4 (Figs. 8 and 9): how well a confidence predicts whether a decision is right. "
             + status)
    rep.heading("Setup")
    rep.text(*(["- **Data**: " + d["description"] for d in results["datasets"].values()] + [
        f"- **Labels**: {100 * st['labeled_fraction']:g}% of the training samples, the same for both methods.",
        f"- **Methods**: the SAE ({st['epochs']} epochs, gamma {tr['gamma']:g}, batch {tr['batch_size']}, Adam lr "
        f"{tr['lr']:g}, {mds}, {scale}: the library defaults) with the linear SVM on its codes; "
        "its confidence is the SVM score scaled between the class centers into [0, 1] "
        "(`LatentClassifier.confidence`, 1 at a class's own center, 0 at the others', clipped). The "
        "classification network: the SAE's encoder plus a linear output layer, cross-entropy on the labeled "
        "samples, as many optimizer steps as the SAE; its confidence is the softmax.",
        f"- **Measures** on the held-out samples of all seeds together, {st['n_bins']} equal bins: *top label* "
        "pairs the confidence of the predicted class with whether the prediction is right; *per class* pairs "
        "the confidence of every class with whether the sample belongs to it (the paper's Fig. 8). ECE: "
        "count-weighted mean gap between the fraction right and the mean confidence per bin. The normalised "
        "SVM score is not a probability, so its ECE also measures how far it is from one; the shape of the "
        "curve (monotone or not) is the paper's point.",
    ]))
    for name, d in results["datasets"].items():
        rep.heading(f"{name} ({len(d['seeds'])} seed(s), {d['seeds'][0]['n_labeled']} labels)")
        s, p = d["summary"], d["pooled"]
        rep.table(["method", "held-out error (%)", "ECE top label (pooled)", "ECE per class (pooled)",
                   "ECE top label per seed (mean ± std)"],
                  [[NAMES[m], common.mean_std(s[m]["error"]), f"{p[m]['top_label']['ece']:.3f}",
                    f"{p[m]['per_class']['ece']:.3f}",
                    f"{s[m]['ece_top_label']['mean']:.3f} ± {s[m]['ece_top_label']['std']:.3f}"] for m in METHODS])
        rows = []
        for m in METHODS:
            h = p[m]["histogram"]
            counts = np.asarray(h["counts"], np.float64)
            n = counts.sum()
            rows.append([NAMES[m], f"{100 * counts[-2:].sum() / n:.1f}%", f"{100 * counts[:-2].sum() / n:.1f}%"])
        rep.text("Share of held-out predictions with a confidence of at least 0.9 (the paper's Fig. 9: softmax "
                 "scores pile up near 1):")
        rep.table(["method", "confidence ≥ 0.9", "confidence < 0.9"], rows)
        better = min(METHODS, key=lambda m: p[m]["top_label"]["ece"])
        drops = {m: {kind: drops_in(p[m][kind]) for kind in KINDS} for m in METHODS}
        rep.text(f"Lower pooled top-label ECE: {NAMES[better]}. Where a higher confidence does not mean a higher "
                 f"fraction right (drops between neighbouring bins with at least {MIN_BIN} pairs, the paper's "
                 "\"noisy\" curve): " + "; ".join(
                     f"{NAMES[m]} {drops[m]['top_label']} (top label) and {drops[m]['per_class']} (per class)"
                     for m in METHODS) + ".")
        rep.figure(_figure(name, d), f"confidence_{name}.png",
                   f"{name}: reliability diagrams (bins with at least {MIN_BIN} pairs) and histograms of the "
                   "confidence of the predicted class, held-out samples of all seeds.")
    common.add_reproduce(rep, results, command(results))
    return rep.write()
