"""Few labels on one dataset: the paper's SAE, its extensions and its peers, epoch by epoch.

Per seed and label count (the same labeled samples for every method, revealed per class with
the seed), with the held-out error measured after every epoch so that a short run shows where
each method is heading:

- **SAE + SVM** (the paper: gamma 0.5, MDS targets, linear SVM on the codes); the same trained
  network is also read with **label spreading on its codes** and a **kNN vote of the labeled
  codes** (``saeviz.core.method.code_classifiers``): these cost no extra training;
- **SAE + self-training**: confident predictions of a classifier on the codes join the MDS
  targets as pseudo-labels every epoch (``saeviz.core.method.self_training``), read with the
  SVM and with label spreading;
- **classifier network**: the SAE's encoder and a linear layer, cross-entropy on the labeled
  samples, as many optimizer steps per epoch as the SAE takes;
- **plain autoencoder + SVM** (trained once per seed: it never sees labels);
- **kNN label spreading on PCA-50** of the pixels (scikit-learn), which needs no training.

The silhouette of the held-out codes (by true class), the same within the class directions
(the codes projected onto the span of the labeled training codes' class means, K - 1
directions: what the structure is about, and all a linear reader needs) and the held-out
reconstruction error (mean squared error per pixel) compare the structure and the
reconstruction with the plain autoencoder. ``results.json`` and the report are rewritten
after every trained network.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from saeviz.core.method.code_classifiers import fit_code_classifier, validate_classifier
from saeviz.core.method.config import CLASSIFIERS, STRUCTURE_SPANS, TrainConfig
from saeviz.core.method.morph import class_centers
from saeviz.core.method.self_training import (
    SelfTraining,
    validate_pseudo_weight,
    validate_threshold,
)
from saeviz.core.method.structure import class_span
from saeviz.core.method.training import Trainer, decode, encode
from saeviz.experiments import baselines as B
from saeviz.experiments import common, options
from saeviz.experiments.common import Log, Report, Stopwatch

DESCRIPTION = "few labels: paper SAE, SAE extensions (label spreading, kNN, self-training) and peers per epoch"

NETWORKS = ("sae", "self", "classifier", "ae", "spreading-pca")  # the last needs no training
NAMES = {"sae/svm": "SAE + SVM (paper)", "sae/label-spreading": "SAE + label spreading on codes",
         "sae/knn": "SAE + kNN on codes", "self/svm": "SAE + self-training, SVM",
         "self/label-spreading": "SAE + self-training, label spreading",
         "classifier": "classifier network (same encoder)", "ae/svm": "plain AE + SVM",
         "ae/label-spreading": "plain AE + label spreading", "spreading-pca": "kNN label spreading on PCA-50"}
READERS = {"sae": ("svm", "label-spreading", "knn"), "self": ("svm", "label-spreading"),
           "ae": ("svm", "label-spreading")}
COLORS = {"sae/svm": "#0072B2", "sae/label-spreading": "#56B4E9", "sae/knn": "#009E73",
          "self/svm": "#CC79A7", "self/label-spreading": "#882255", "classifier": "#D55E00",
          "ae/svm": "#7f7f7f", "ae/label-spreading": "#bbbbbb", "spreading-pca": "#E69F00"}
SILHOUETTE_SAMPLES = 3000


@dataclass(frozen=True)
class Settings:
    dataset: str = "mnist"
    fractions: tuple[float, ...] = (0.01, 0.1)
    epochs: int = 10
    seeds: tuple[int, ...] = (0,)
    networks: tuple[str, ...] = NETWORKS
    self_classifier: str = "svm"
    spread_every: int = 3  # epochs between label-spreading reads (and the last epoch)
    threshold: float = 0.9
    pseudo_weight: float = 1.0  # a pseudo-label's structural weight against a given label's
    gamma: float = 0.5  # the SAE's structure weight (the paper's MNIST setting)
    structure_span: str = "latent"  # the paper's; "classes": structure only within the class span
    max_train: int = 0

    def __post_init__(self) -> None:
        B.check_sweep(self.dataset, self.fractions, self.epochs, self.seeds)
        if set(self.networks) - set(NETWORKS):
            raise ValueError(f"networks must be among {NETWORKS}, got {self.networks}")
        validate_classifier(self.self_classifier)
        validate_threshold(self.threshold)
        validate_pseudo_weight(self.pseudo_weight)
        self.training()  # checks gamma

    def training(self) -> TrainConfig:
        """The SAE networks' optimisation settings (seed and epochs set per run)."""
        return TrainConfig().replace(gamma=float(self.gamma), epochs=int(self.epochs),
                                     structure_span=self.structure_span)


FULL = Settings()
QUICK = Settings(dataset="digits", fractions=(0.1,), epochs=2, max_train=300)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=tuple(B.SETUPS), default=None, help="mnist (default), fashion-mnist, ...")
    parser.add_argument("--epochs", type=int, default=None, help=f"epochs (default {FULL.epochs})")
    parser.add_argument("--fractions", type=options.float_list, default=None, help="labeled fractions, e.g. 0.01,0.1")
    parser.add_argument("--networks", type=options.name_list, default=None, help=f"networks to train among {NETWORKS}")
    parser.add_argument("--first-seed", type=int, default=None, help="first seed (default 0)")
    parser.add_argument("--max-train", type=int, default=None, help="training samples used (default: all)")
    parser.add_argument("--spread-every", type=int, default=None,
                        help=f"epochs between label-spreading reads of the codes, besides the last epoch "
                             f"(default {FULL.spread_every})")
    parser.add_argument("--self-classifier", choices=CLASSIFIERS, default=None,
                        help=f"classifier whose confident predictions become self-training's pseudo-labels "
                             f"(default {FULL.self_classifier})")
    parser.add_argument("--threshold", type=float, default=None,
                        help=f"self-training's confidence threshold in (0, 1] (default {FULL.threshold})")
    parser.add_argument("--pseudo-weight", type=float, default=None,
                        help=f"structural weight of a pseudo-label against a given label's, in (0, 1] "
                             f"(default {FULL.pseudo_weight})")
    parser.add_argument("--gamma", type=float, default=None,
                        help=f"the SAE's structure weight in [0, 1] (default {FULL.gamma}, the paper's)")
    parser.add_argument("--structure-span", choices=STRUCTURE_SPANS, default=None,
                        help="where the structural loss acts: latent (default, the paper's: the whole code) "
                             "or classes (only within the span of the class targets)")


def settings_for(quick=False, seeds=None, dataset=None, epochs=None, fractions=None, networks=None,
                 first_seed=None, max_train=None, spread_every=None, self_classifier=None,
                 threshold=None, pseudo_weight=None, gamma=None, structure_span=None) -> Settings:
    s = QUICK if quick else FULL
    changes: dict = {}
    if seeds is not None or first_seed is not None:
        first = int(first_seed or 0)
        changes["seeds"] = tuple(range(first, first + (len(s.seeds) if seeds is None else int(seeds))))
    for key, value in (("dataset", dataset), ("epochs", epochs), ("fractions", fractions),
                       ("networks", networks), ("max_train", max_train), ("spread_every", spread_every),
                       ("self_classifier", self_classifier), ("threshold", threshold),
                       ("pseudo_weight", pseudo_weight), ("gamma", gamma), ("structure_span", structure_span)):
        if value is not None:
            changes[key] = value
    return replace(s, **changes)


# -- measurements ------------------------------------------------------------------------------
def _silhouette(codes: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import silhouette_score

    n = min(len(y), SILHOUETTE_SAMPLES)
    return float(silhouette_score(codes[:n], y[:n]))


def _class_directions_silhouette(train_codes: np.ndarray, labels: np.ndarray, test_codes: np.ndarray,
                                  y: np.ndarray) -> float:
    """The silhouette of ``test_codes`` projected onto the span of the class means of the labeled
    training codes (``labels`` -1: unlabeled); the test labels only score it."""
    return _silhouette(test_codes @ class_span(class_centers(train_codes, labels)), y)


def _recon_mse(model, split, test_codes: np.ndarray) -> float:
    out = decode(model, test_codes.astype(np.float32))
    X = np.asarray(split.X_test, np.float32)
    return float(np.mean((out.reshape(X.shape) - X) ** 2))


def _read(kind: str, train_codes, test_codes, labels, y_test) -> float:
    return fit_code_classifier(train_codes, labels, kind).error(test_codes, y_test)


def _curve_point(trainer: Trainer, split, labels_by_frac: dict, readers, clock: Stopwatch, final: bool) -> dict:
    """Errors of every reader (per labeled fraction) and the silhouette after one epoch (label
    spreading, whose kNN graph of all training codes is the slow part, as ``readers`` say)."""
    train_codes = trainer.latent_codes()
    test_codes = encode(trainer.model, split.X_test)
    point = {"epoch": int(trainer.epoch), "seconds": clock.seconds,
             "silhouette": _silhouette(test_codes, split.y_test),
             "silhouette_classes": _class_directions_silhouette(
                 train_codes, next(iter(labels_by_frac.values())), test_codes, split.y_test)}
    for frac, labels in labels_by_frac.items():
        for kind in readers:
            point[f"{frac}/{kind}"] = _read(kind, train_codes, test_codes, labels, split.y_test)
    point["recon_mse"] = _recon_mse(trainer.model, split, test_codes)
    return point


def _train_curve(trainer: Trainer, epochs: int, split, labels_by_frac, readers, log: Log, tag: str,
                 pseudo: SelfTraining | None = None, spread_every: int = 1, on_point=None) -> list[dict]:
    clock = Stopwatch()
    curve = []
    for snap in trainer.iter_epochs(epochs):
        if not snap.final:
            continue
        train_seconds = clock.seconds
        last = snap.epoch == epochs
        spread = last or snap.epoch % max(1, spread_every) == 0
        kinds = tuple(k for k in readers if spread or k != "label-spreading")
        point = _curve_point(trainer, split, labels_by_frac, kinds, clock, last)
        point["train_seconds"] = train_seconds
        if pseudo is not None:
            point["pseudo_labels"] = pseudo.n_pseudo
        curve.append(point)
        if on_point is not None:
            on_point(curve)
        errs = ", ".join(f"{k} {100 * v:.2f}%" for k, v in point.items() if "/" in k)
        log(f"{tag} epoch {snap.epoch}: {errs}; silhouette {point['silhouette']:.3f} "
            f"({point['silhouette_classes']:.3f} in the class directions)"
            + (f"; {pseudo.n_pseudo} pseudo-labels" if pseudo is not None else "")
            + f" ({train_seconds:.0f} s training)")
        clock = Stopwatch()
    return curve


def _classifier_curve(split, labels: np.ndarray, setup: B.Setup, epochs: int, seed: int, log: Log, tag: str,
                      on_point=None):
    import math

    import torch
    from torch.nn import functional as F

    train, labeled, y_all = B._semi_supervised_start(labels, seed, None)
    clf = B.ClassifierNet(setup.model, split.X_train, split.n_classes, seed)
    c_all, _ = clf.net.inputs(split.X_train)
    opt = torch.optim.Adam(clf.params, lr=train.lr)
    rng = np.random.default_rng(seed)
    bs = int(train.batch_size)
    stream = B._labeled_stream(labeled, bs, rng)
    curve = []
    for epoch in range(1, epochs + 1):
        clock = Stopwatch()
        clf.head.train()
        for _ in range(math.ceil(len(split.X_train) / bs)):
            li = next(stream)
            loss = F.cross_entropy(clf.logits(c_all[li]), y_all[li])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds = clock.seconds
        err = clf.error(split.X_test, split.y_test)
        curve.append({"epoch": epoch, "error": err, "train_seconds": seconds})
        if on_point is not None:
            on_point(curve)
        log(f"{tag} epoch {epoch}: {100 * err:.2f}% ({seconds:.0f} s training)")
    return curve


def run_seed(split, setup: B.Setup, settings: Settings, seed: int, log: Log, save, out: dict) -> dict:
    """Fill ``out`` (the seed's results, saved by ``save`` after every step) and return it."""
    E = settings.epochs
    model = setup.model
    base = settings.training().replace(seed=int(seed))
    out.update({"seed": seed, "labels": {}, "networks": {}, "peers": {}})

    def keep(key: str):
        def on_point(curve: list[dict]) -> None:
            out["networks"][key] = curve
            save()
        return on_point
    labels_by_frac = {str(f): common.initial_labels(split.y_train, f, seed) for f in settings.fractions}
    out["labels"] = {k: int(np.sum(v >= 0)) for k, v in labels_by_frac.items()}
    for frac, labels in labels_by_frac.items():
        one = {frac: labels}
        n = out["labels"][frac]
        if "sae" in settings.networks:
            common.seed_everything(seed)
            sae = Trainer(split.X_train, model, base, common.supervision(labels, split.class_names))
            out["networks"][f"sae@{frac}"] = _train_curve(sae, E, split, one, READERS["sae"], log,
                                                          f"seed {seed}, {n} labels, SAE",
                                                          spread_every=settings.spread_every,
                                                          on_point=keep(f"sae@{frac}"))
            save()
        if "self" in settings.networks:
            common.seed_everything(seed)
            pseudo = SelfTraining(lambda lab=labels: common.supervision(lab, split.class_names),
                                  threshold=settings.threshold, classifier=settings.self_classifier,
                                  weight=settings.pseudo_weight)
            st = Trainer(split.X_train, model, base, pseudo)
            pseudo.attach(st)
            out["networks"][f"self@{frac}"] = _train_curve(st, E, split, one, READERS["self"], log,
                                                           f"seed {seed}, {n} labels, SAE + self-training",
                                                           pseudo=pseudo, spread_every=settings.spread_every,
                                                           on_point=keep(f"self@{frac}"))
            save()
        if "classifier" in settings.networks:
            out["networks"][f"classifier@{frac}"] = _classifier_curve(
                split, labels, setup, E, seed, log, f"seed {seed}, {n} labels, classifier network",
                on_point=keep(f"classifier@{frac}"))
            save()
    if "ae" in settings.networks:
        common.seed_everything(seed)
        ae = Trainer(split.X_train, model, base, None)
        out["networks"]["ae"] = _train_curve(ae, E, split, labels_by_frac, READERS["ae"], log, f"seed {seed} AE",
                                             spread_every=settings.spread_every, on_point=keep("ae"))
        save()
    for frac, labels in labels_by_frac.items():
        if "spreading-pca" not in settings.networks:
            break
        out["peers"][f"{frac}/spreading-pca"] = B.spreading_pca_error(split, labels)
        log(f"seed {seed}, {out['labels'][frac]} labels: label spreading on PCA-50 "
            f"{100 * out['peers'][frac + '/spreading-pca']:.2f}%")
    save()
    return out


# -- summary ------------------------------------------------------------------------------------
def final_errors(seed_result: dict, frac: str) -> dict[str, float]:
    """Method -> held-out error after the last trained epoch, for labeled fraction ``frac``."""
    out = {}
    nets = seed_result["networks"]
    for key, curve in nets.items():
        if not curve:
            continue
        last = curve[-1]
        net, _, f = key.partition("@")
        if net == "classifier":
            if f == frac:
                out["classifier"] = last["error"]
            continue
        for k, v in last.items():
            if k.startswith(frac + "/"):
                out[f"{net}/{k.split('/', 1)[1]}"] = v
    pk = f"{frac}/spreading-pca"
    if pk in seed_result["peers"]:
        out["spreading-pca"] = seed_result["peers"][pk]
    return out


def final_epochs(seed_result: dict, frac: str) -> dict[str, int]:
    """Method -> the last epoch it was measured after (0 for the peer without training)."""
    out = {}
    for key, curve in seed_result["networks"].items():
        net, _, f = key.partition("@")
        if not curve or (f and f != frac):
            continue
        for m in ([net] if net == "classifier" else [f"{net}/{k}" for k in READERS[net]]):
            out[m] = int(curve[-1]["epoch"])
    return out


def summarise(per_seed: list[dict], settings: Settings) -> dict:
    s: dict = {}
    for f in settings.fractions:
        frac = str(f)
        errs = [final_errors(r, frac) for r in per_seed]
        methods = sorted(set().union(*errs), key=lambda m: list(NAMES).index(m))
        s[frac] = {"n_labeled": per_seed[0]["labels"][frac],
                   "errors": {m: common.summary(e[m] for e in errs if m in e) for m in methods},
                   "epochs": {m: max(final_epochs(r, frac).get(m, 0) for r in per_seed) for m in methods}}
    quality = {}
    for r in per_seed:
        for key, curve in r["networks"].items():
            if curve and "recon_mse" in curve[-1]:
                last = curve[-1]
                quality.setdefault(key, []).append(
                    (last["silhouette"], last.get("silhouette_classes", float("nan")), last["recon_mse"]))
    s["quality"] = {k: {"silhouette": common.summary(a for a, _, _ in v),
                        "silhouette_classes": common.summary(b for _, b, _ in v),
                        "recon_mse": common.summary(c for _, _, c in v)}
                    for k, v in quality.items()}
    secs = [p["train_seconds"] for r in per_seed for key, c in r["networks"].items()
            if key.startswith(("sae", "ae")) for p in c]
    s["seconds_per_epoch"] = float(np.median(secs)) if secs else None
    return s


def run(out: Path, quick: bool = False, seeds: int | None = None, log: Log = print, dataset=None, epochs=None,
        fractions=None, networks=None, first_seed=None, max_train=None, spread_every=None, self_classifier=None,
        threshold=None, pseudo_weight=None, gamma=None, structure_span=None) -> dict:
    common.require_matplotlib()
    settings = settings_for(quick, seeds, dataset, epochs, fractions, networks, first_seed, max_train, spread_every,
                            self_classifier, threshold, pseudo_weight, gamma, structure_span)
    out = common.output_folder(out)
    clock = Stopwatch()
    env = common.environment()
    setup, split = B.open_sweep("few labels", settings, log)
    per_seed: list[dict] = []
    results: dict = {}

    def save(current: dict | None = None) -> None:
        rows = per_seed + ([current] if current is not None else [])
        results.clear()
        results.update({
            "experiment": "few_labels", "quick": bool(quick), "settings": asdict(settings),
            "complete": len(per_seed) == len(settings.seeds),
            "dataset": {"name": split.dataset.name, "n_train": len(split.y_train),
                        "n_test": len(split.y_test), "classes": list(split.class_names),
                        "description": B.describe(setup, split)},
            "model": setup.model.to_dict(), "training": settings.training().to_dict(), "environment": env,
            "summary": summarise(rows, settings) if rows and rows[0].get("labels") else {}, "seeds": rows})
        common.save_results(out, results, clock.seconds, lambda: write_report(out, results))

    for seed in settings.seeds:
        common.seed_everything(seed)
        current: dict = {}
        run_seed(split, setup, settings, seed, log, lambda cur=current: save(cur), current)
        per_seed.append(current)
        save()
    common.log_written(out, results, log)
    return results


# -- report -------------------------------------------------------------------------------------
def _figure(results: dict, frac: str):
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator

    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    for r in results["seeds"]:
        first = r is results["seeds"][0]
        for key, curve in r["networks"].items():
            net, _, f = key.partition("@")
            if not curve or (f and f != frac):
                continue
            if net == "classifier":
                series = {"classifier": ([p["epoch"] for p in curve], [p["error"] for p in curve])}
            else:
                keys = sorted({k for p in curve for k in p if k.startswith(frac + "/")})
                series = {f"{net}/{k.split('/', 1)[1]}": ([p["epoch"] for p in curve if k in p],
                                                           [p[k] for p in curve if k in p]) for k in keys}
            for m, (ep, ys) in series.items():
                ax.plot(ep, 100 * np.asarray(ys), "o-", color=COLORS[m], markersize=3,
                        label=NAMES[m] if first else None, linewidth=2 if m == "sae/svm" else 1.2)
        pk = f"{frac}/spreading-pca"
        if pk in r["peers"]:
            ax.axhline(100 * r["peers"][pk], color=COLORS["spreading-pca"], linestyle="--",
                       label=NAMES["spreading-pca"] if first else None)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("held-out error (%)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # 20, not 2 x 10^1
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    n = results["seeds"][0]["labels"].get(frac, "?")
    ax.set_title(f"{results['dataset']['name']}, {n} labels: held-out error per epoch (each seed a line)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False, fontsize=7)
    return fig


def _fmt(s: dict) -> str:
    if s["n"] > 1:
        return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f} (n={s['n']})"
    return f"{100 * s['mean']:.2f}"


def write_report(out: Path, results: dict) -> Path:
    st, s = results["settings"], results["summary"]
    rep = Report(out, f"Few labels on {results['dataset']['name']}: the paper's SAE, extensions and peers")
    status = "**Quick run** (smoke test). " if results["quick"] else ""
    if not results["complete"]:
        status += "**Partial run**: the numbers cover the networks finished so far. "
    rep.text("The paper's SAE (gamma 0.5, MDS targets, linear SVM) against its extensions and its peers with few "
             "labels, the held-out error measured after every epoch. " + status)
    if results.get("note"):
        rep.text(results["note"])
    rep.heading("Setup")
    rep.text("- **Data**: " + results["dataset"]["description"],
             f"- **Labels**: fractions {', '.join(f'{100 * f:g}%' for f in st['fractions'])} of the training "
             "samples, revealed per class with the seed; every method gets the same labeled samples.",
             f"- **Training**: {st['epochs']} epochs, batch {results['training']['batch_size']}, Adam lr "
             f"{results['training']['lr']} for every network, SAE at gamma {results['training']['gamma']}. "
             f"Self-training: from the second epoch on, {st['self_classifier']} on the codes labels every unlabeled "
             f"sample whose confidence is at least {st['threshold']}; these pseudo-labels get MDS targets for "
             "that epoch only (recomputed every epoch, never stored as labels), with a structural weight of "
             f"{st.get('pseudo_weight', 1.0):g} times a given label's (gamma "
             f"{st.get('pseudo_weight', 1.0) * results['training']['gamma']:g} for them); the final classifier is "
             "fitted on the given labels only." + (
                 " Structure span `classes`: the structural loss counts only a code's offset from its target "
                 "within the span of the class targets; the other latent directions are left to the "
                 "reconstruction." if st.get("structure_span", "latent") == "classes" else ""),
             "- **Readers**: `svm` the paper's linear SVM; `label-spreading` scikit-learn's kNN label spreading "
             "(10 neighbours, alpha 0.2) over all training codes; `knn` a distance-weighted vote of the 10 nearest "
             "labeled codes.",
             f"- **Seeds**: {', '.join(str(r['seed']) for r in results['seeds'])}.")
    rep.heading("Held-out error after the last epoch (%)")
    for f in st["fractions"]:
        frac = str(f)
        if frac not in s:
            continue
        e = s[frac]["errors"]
        rep.text(f"**{s[frac]['n_labeled']} labels ({100 * f:g}%)**")
        epochs = s[frac].get("epochs", {})
        rep.table(["method", "error (%)", "after epoch"],
                  [[NAMES[m], _fmt(v), epochs.get(m) or "-"] for m, v in e.items()])
        if results["seeds"] and results["seeds"][0]["networks"]:
            rep.figure(_figure(results, frac), f"error_per_epoch_{frac}.png",
                       f"Held-out error per epoch, {s[frac]['n_labeled']} labels (log scale).")
    if s.get("quality"):
        rep.heading("Structure and reconstruction after the last epoch")
        rep.table(["network", "silhouette of held-out codes", "the same in the class directions",
                   "held-out reconstruction MSE"],
                  [[k, f"{v['silhouette']['mean']:.3f}",
                    f"{v.get('silhouette_classes', {}).get('mean', float('nan')):.3f}",
                    f"{v['recon_mse']['mean']:.5f}"] for k, v in s["quality"].items()])
    if s.get("seconds_per_epoch"):
        rep.text(f"Median wall-clock seconds per training epoch (SAE and AE, 1 torch thread, loaded shared machine): "
                 f"{s['seconds_per_epoch']:.0f}.")
    rep.heading("Per epoch")
    rows = []
    for r in results["seeds"]:
        for key, curve in r["networks"].items():
            for p in curve:
                vals = {k: v for k, v in p.items() if "/" in k or k == "error"}
                rows.append([r["seed"], key, p["epoch"], ", ".join(f"{k} {100 * v:.2f}" for k, v in vals.items()),
                             f"{p.get('silhouette', float('nan')):.3f}" if "silhouette" in p else "",
                             p.get("pseudo_labels", "")])
    rep.table(["seed", "network", "epoch", "held-out error (%)", "silhouette", "pseudo-labels"], rows)
    rep.heading("Reproduce")
    cmd = f"python -m saeviz.experiments few_labels{' --quick' if results['quick'] else ''}"
    cmd += f" --dataset {st['dataset']} --epochs {st['epochs']} --fractions {','.join(str(f) for f in st['fractions'])}"
    cmd += f" --networks {','.join(st['networks'])} --first-seed {st['seeds'][0]} --seeds {len(st['seeds'])}"
    cmd += f" --spread-every {st['spread_every']}"
    if "self" in st["networks"]:
        cmd += f" --self-classifier {st['self_classifier']} --threshold {st['threshold']}"
        if st.get("pseudo_weight", 1.0) != 1.0:
            cmd += f" --pseudo-weight {st['pseudo_weight']}"
    if st.get("gamma", FULL.gamma) != FULL.gamma:
        cmd += f" --gamma {st['gamma']}"
    if st.get("structure_span", "latent") != "latent":
        cmd += f" --structure-span {st['structure_span']}"
    if st["max_train"]:
        cmd += f" --max-train {st['max_train']}"
    rep.text(f"`{cmd} --out FOLDER` ({results.get('seconds', 0) / 60:.1f} minutes here, "
             f"{results['environment']['torch_threads']} CPU thread(s), shared loaded 2-core machine).")
    return rep.write()
