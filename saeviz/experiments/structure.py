"""2D views of the latent spaces of an AE, a VAE, the semi-supervised AAE and the SAE
(paper section 3.2, Figs. 1 and 4), with silhouette scores.

Per dataset and seed all four networks share the encoder architecture, epochs, batch size
and learning rate (``baselines``); the AAE and the SAE see the same revealed labels. Every
panel shows the held-out samples under the same kind of projection: linear discriminant
analysis (LDA) fitted on the *training* codes with their true classes. That is the paper's
"appropriate projection" made the same for every model: the linear 2D view that separates
the classes best. With two classes LDA has one axis; the second is then the first principal
component of the training codes orthogonal to it. Silhouette scores use the true classes of
the held-out samples, on the full codes and on the 2D view.
"""
from __future__ import annotations

import argparse
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from saeviz.core.method.config import TrainConfig
from saeviz.experiments import baselines as B
from saeviz.experiments import common, options
from saeviz.experiments.common import Log, Report, Stopwatch, summary

DESCRIPTION = "2D projections of AE, VAE, AAE and SAE latent spaces with silhouette scores"

MODELS = ("ae", "vae", "aae", "sae")
NAMES = {"ae": "autoencoder", "vae": "VAE", "aae": "semi-supervised AAE", "sae": "SAE"}
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


@dataclass(frozen=True)
class Settings:
    datasets: tuple[str, ...] = ("digits", "bodies")
    labeled_fraction: float = 0.1
    epochs: int = TrainConfig().epochs
    seeds: tuple[int, ...] = (0,)
    max_train: dict = None  # dataset -> training samples (0: all)

    def __post_init__(self) -> None:
        if any(d not in B.SETUPS for d in self.datasets):
            raise ValueError(f"datasets must be among {tuple(B.SETUPS)}, got {self.datasets}")
        if not 0.0 < self.labeled_fraction <= 1.0 or self.epochs < 1 or not self.seeds:
            raise ValueError("the labeled fraction must lie in (0, 1], epochs be positive, seeds given")


FULL = Settings(max_train={"digits": 0, "bodies": 0})
QUICK = Settings(datasets=("digits",), epochs=2, max_train={"digits": 300, "bodies": 200})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_dataset_and_epochs(parser, B.SETUPS, FULL.epochs)


def settings_for(quick=False, seeds=None, dataset=None, epochs=None) -> Settings:
    return options.with_overrides(QUICK if quick else FULL, seeds, dataset, epochs)


def projection(train_codes: np.ndarray, y_train: np.ndarray):
    """A function mapping codes to 2D: LDA on the training codes (plus, for two classes, the
    first principal component orthogonal to the LDA axis)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    Z = np.asarray(train_codes, np.float64)
    k = len(np.unique(y_train))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collinear codes (the AAE's softmax sums to one)
        lda = LinearDiscriminantAnalysis(n_components=min(2, k - 1)).fit(Z, y_train)
    if k > 2:
        return lambda C: lda.transform(np.asarray(C, np.float64))
    w = lda.scalings_[:, 0] / np.linalg.norm(lda.scalings_[:, 0])
    mean = Z.mean(axis=0)
    rest = (Z - mean) - np.outer((Z - mean) @ w, w)
    pc = np.linalg.svd(rest, full_matrices=False)[2][0]

    def project(C):
        C = np.asarray(C, np.float64) - mean
        return np.stack([C @ w, C @ pc], axis=1)
    return project


def _codes(kind: str, split, setup: B.Setup, labels: np.ndarray, epochs: int, seed: int):
    X = split.X_train
    if kind == "ae":
        tr = B.train_autoencoder(X, setup.model, epochs, seed)
        return tr.latent_codes(), common.encode_test(tr, split)
    if kind == "sae":
        tr = common.train_sae(X, labels, split.class_names, epochs, seed, model_config=setup.model)
        return tr.latent_codes(), common.encode_test(tr, split)
    if kind == "vae":
        vae = B.train_vae(X, setup.model, epochs, seed)
        return vae.codes(X), vae.codes(split.X_test)
    aae = B.train_aae(X, labels, split.n_classes, setup.model, epochs, seed)
    return aae.codes(X), aae.codes(split.X_test)


def run_seed(split, setup: B.Setup, settings: Settings, seed: int, log: Log) -> tuple[dict, dict]:
    from sklearn.metrics import silhouette_score

    labels = common.initial_labels(split.y_train, settings.labeled_fraction, seed)
    out, views = {"seed": seed, "n_labeled": int(np.sum(labels >= 0)), "models": {}}, {}
    for kind in MODELS:
        clock = Stopwatch()
        common.seed_everything(seed)
        tr_codes, te_codes = _codes(kind, split, setup, labels, settings.epochs, seed)
        project = projection(tr_codes, split.y_train)
        view = project(te_codes)
        views[kind] = view
        out["models"][kind] = {
            "silhouette": float(silhouette_score(te_codes, split.y_test)),
            "silhouette_2d": float(silhouette_score(view, split.y_test)),
            "svm_error": common.fit_classifier(tr_codes, labels).error(te_codes, split.y_test),
            "code_dim": int(te_codes.shape[1]), "seconds": clock.seconds,
        }
        m = out["models"][kind]
        log(f"{setup.name} seed {seed} {kind}: silhouette {m['silhouette']:.3f} (2D {m['silhouette_2d']:.3f}), "
            f"SVM error {100 * m['svm_error']:.2f}%")
    return out, views


def run(out: Path, quick: bool = False, seeds: int | None = None, log: Log = print,
        dataset: str | None = None, epochs: int | None = None) -> dict:
    common.require_matplotlib()
    settings = settings_for(quick, seeds, dataset, epochs)
    out, clock, results = common.start_per_dataset(out, "structure", quick, asdict(settings))
    views_of = {}
    for name, setup, split in B.setup_splits(settings):
        log(f"structure on {name}: {len(split.y_train)} training / {len(split.y_test)} test samples")
        per_seed = []
        for seed in settings.seeds:
            r, views = run_seed(split, setup, settings, seed, log)
            per_seed.append(r)
            if seed == settings.seeds[0]:
                views_of[name] = (views, split.y_test, split.class_names)
        results["datasets"][name] = {
            "description": B.describe(setup, split), "model": setup.model.to_dict(),
            "n_train": int(len(split.y_train)), "n_test": int(len(split.y_test)),
            "summary": {k: {m: summary(r["models"][k][m] for r in per_seed)
                            for m in ("silhouette", "silhouette_2d", "svm_error")} for k in MODELS},
            "seeds": per_seed}
        common.save_results(out, results, clock.seconds, lambda: write_report(out, results, views_of))
    results["complete"] = True
    common.save_results(out, results, clock.seconds, lambda: write_report(out, results, views_of))
    common.log_written(out, results, log)
    return results


def _figure(name: str, views: dict, y: np.ndarray, class_names, res: dict):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, len(MODELS))
    for ax, kind in zip(axes, MODELS):
        v = views[kind]
        for c, cname in enumerate(class_names):
            sel = y == c
            ax.scatter(v[sel, 0], v[sel, 1], s=5, alpha=0.6, color=PALETTE[c % len(PALETTE)], label=cname)
        m = res["seeds"][0]["models"][kind]
        ax.set_title(f"{NAMES[kind]}\nsilhouette {m['silhouette']:.2f} (2D {m['silhouette_2d']:.2f})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(frameon=False, fontsize=7, markerscale=2)
    fig.suptitle(f"{name}: held-out codes, LDA of the training codes"
                 + (" + orthogonal first PC" if len(class_names) == 2 else ""), fontsize=10, y=1.06)
    return fig


def command(results: dict) -> str:
    """The command line that reruns ``results``' settings."""
    return options.rerun_command("structure", results, QUICK if results["quick"] else FULL)


QUICK_NOTE = "**Quick run**: small subsets and 2 epochs, for a smoke test only. "
PARTIAL_NOTE = "**Partial run**: not every dataset finished; the report covers those that did. "


def write_report(out: Path, results: dict, views_of: dict) -> Path:
    st = results["settings"]
    rep = Report(out, "Structure of the latent space: AE, VAE, AAE and SAE")
    status = common.run_status(results, FULL.epochs, QUICK_NOTE, PARTIAL_NOTE)
    rep.text("Paper section 3.2 (Figs. 1 and 4): whether the classes separate in the latent space. " + status)
    rep.heading("Setup")
    rep.text(*(["- **Data**: " + d["description"] for d in results["datasets"].values()] + [
        f"- **Labels**: {100 * st['labeled_fraction']:g}% of the training samples, revealed per class, for the "
        "semi-supervised AAE and the SAE; the AE and the VAE see no labels.",
        f"- **Training**: {st['epochs']} epochs, batch 64, Adam lr 0.001, the same encoder architecture for all "
        "four (VAE: Gaussian posterior, decoder variance at its maximum-likelihood value; AAE: Makhzani et al. "
        "2016 section 2.3, categorical + style code; SAE: library defaults, gamma 0.5).",
        "- **Projection**: linear discriminant analysis fitted on the training codes with their true classes, "
        "applied to the held-out codes (with two classes: the LDA axis and the first principal component "
        "orthogonal to it). The same class-aware linear view for every model, so differences come from the "
        "codes, not from the choice of view.",
        "- **Silhouette**: scikit-learn's silhouette score of the held-out codes with their true classes, on the "
        "full codes (Euclidean) and on the 2D view; from -1 to 1, higher is better separated. *SVM error*: "
        "held-out error of the linear SVM fitted on the labeled training codes.",
        f"- **Seeds**: {', '.join(str(s) for s in st['seeds'])} (figures: the first).",
    ]))
    for name, d in results["datasets"].items():
        rep.heading(name)
        s = d["summary"]
        rep.table(["model", "silhouette (full codes)", "silhouette (2D view)", "SVM error (%)"],
                  [[NAMES[k], f"{s[k]['silhouette']['mean']:.3f}", f"{s[k]['silhouette_2d']['mean']:.3f}",
                    f"{100 * s[k]['svm_error']['mean']:.2f}"] for k in MODELS])
        best = max(MODELS, key=lambda k: s[k]["silhouette"]["mean"])
        best2 = max(MODELS, key=lambda k: s[k]["silhouette_2d"]["mean"])
        rep.text(f"Highest silhouette on the full codes: {NAMES[best]} ({s[best]['silhouette']['mean']:.3f}); "
                 f"SAE {s['sae']['silhouette']['mean']:.3f}, plain autoencoder {s['ae']['silhouette']['mean']:.3f}. "
                 f"Highest in the 2D view: {NAMES[best2]} ({s[best2]['silhouette_2d']['mean']:.3f}"
                 + ("" if best2 == "sae" else f"; SAE {s['sae']['silhouette_2d']['mean']:.3f}") + ")."
                 + (" The AAE's codes hold its style code next to the class code, so its classes can separate "
                    "well along the LDA view while the full codes, dominated by the style dimensions, do not."
                    if best2 == "aae" and best != "aae" else ""))
        if name in views_of:
            views, y, cn = views_of[name]
            rep.figure(_figure(name, views, y, cn, d), f"structure_{name}.png",
                       f"{name}: held-out samples in the 2D view of each model's latent space, coloured by true class.")
    common.add_reproduce(rep, results, command(results))
    return rep.write()
