"""The ``saeviz`` command: the desktop app (no arguments) and headless commands.

    saeviz                         open the desktop app
    saeviz train ...               train an SAE headless and write a checkpoint
    saeviz eval CHECKPOINT         print a checkpoint's metrics again
    saeviz bodies ...              generate the 3D body dataset
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

EPILOG = """\
examples:
  saeviz models/digits.safetensors          (opens it in the app, as 'saeviz app PATH')
  saeviz train --dataset digits --labeled 0.1 --gamma 0.5 --epochs 30 --out models/digits
  saeviz train --epochs 60 --resume models/digits.safetensors --out models/digits
  saeviz train --dataset mnist --classes ten --labeled 0.01 --epochs 5 --out models/mnist
  saeviz train --dataset ~/data/fashion --classes seasons --epochs 5 --out models/fashion
  torchrun --nproc_per_node=4 -m saeviz train --dataset digits --epochs 30 --out models/digits
  saeviz eval models/digits.safetensors
  saeviz bodies --count 6000 --seed 0 --out bodies.npz
  saeviz experiment guided --quick --out report/

Datasets: 'digits' (scikit-learn's 8x8 digits in the paper's classes A=(0,1,9), B=(4,6,8),
C=(2,3,5,7)), 'digits10' (the ten digits), 'mnist' (A/B/C unless --classes says otherwise),
'fashion-mnist' (the paper's seasons unless --classes says otherwise), 'bodies' (generated 3D
bodies, female/male), a .npz file (X, optional y), a folder of MNIST/Fashion-MNIST IDX files,
a folder of images (one subfolder per class), or a folder of meshes (.obj/.ply/.off/.stl).

'mnist' and 'fashion-mnist' are read from the folder in $SAEVIZ_MNIST_DIR or
$SAEVIZ_FASHION_MNIST_DIR if set, else from ~/.local/share/saeviz/datasets/mnist or
.../fashion-mnist, else (Fashion-MNIST) from /usr/share/datasets/fashion-mnist, where
Debian's dataset-fashion-mnist package puts it. A folder's path works as well.

Class groupings (--classes): 'ten' (the ten digits or clothing items), 'abc' (digits:
A=(0,1,9), B=(4,6,8), C=(2,3,5,7)), 'seasons' (Fashion-MNIST: summer, winter, all-year).
"""


# saeviz.core.data.named.CLASS_GROUPINGS, repeated so that --help does not import numpy
CLASS_GROUPINGS = ("ten", "abc", "seasons")
CLASSIFIERS = ("svm", "label-spreading", "knn")  # saeviz.core.method.config.CLASSIFIERS, without importing it
STRUCTURE_SPANS = ("latent", "classes")  # saeviz.core.method.config.STRUCTURE_SPANS, likewise
COMMANDS = ("app", "train", "eval", "experiment", "bodies", "smpl-convert")


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    from saeviz.core.io.validate import MAX_LAYERS, MAX_WIDTH
    if len(values) > MAX_LAYERS or any(v > MAX_WIDTH for v in values):
        raise argparse.ArgumentTypeError(f"expected at most {MAX_LAYERS} sizes of at most {MAX_WIDTH}, got {text!r}")
    return values


def _bounded_int(low: int, high: int):
    """An argparse type: a whole number in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number in [{low}, {high}], got {text!r}")
        return value
    return parse


def _check_device(text: str) -> None:
    """Refuse a torch device this build or machine cannot use, before any work starts."""
    import torch

    if text == "auto":
        return
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {text}: not a device (auto, cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda":
        if not torch.backends.cuda.is_built():
            raise ValueError(f"--device {text}: this torch build has no CUDA support")
        if not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"--device {text}: no such CUDA device on this machine")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {text}: MPS is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {text}: unsupported device type {device.type!r}")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}")
    return value


def _weight(text: str) -> float:
    from saeviz.core.method.self_training import validate_pseudo_weight

    try:
        return validate_pseudo_weight(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saeviz",
        description="Explore and structure the latent space of autoencoders (Structuring "
                    "Autoencoders, Rudolph, Wandt & Rosenhahn 2019). Without a command, opens the app.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    app = sub.add_parser("app", help="open the desktop app (the default)")
    app.add_argument("path", nargs="?", help="a dataset or checkpoint to open")

    tr = sub.add_parser("train", help="train an SAE headless and write a checkpoint",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tr.add_argument("--dataset", default="digits", help="dataset name or path (see 'saeviz --help')")
    tr.add_argument("--classes", choices=CLASS_GROUPINGS, default=None,
                    help="class grouping of digits, MNIST or Fashion-MNIST data (default: the dataset's: "
                         "A/B/C for digits and mnist, seasons for fashion-mnist, ten for an IDX folder)")
    tr.add_argument("--labeled", type=_fraction, default=0.1,
                    help="fraction of the training samples whose ground-truth label is revealed")
    tr.add_argument("--gamma", type=_fraction, default=0.5, help="weight of the structural loss")
    tr.add_argument("--epochs", type=int, default=30)
    tr.add_argument("--batch-size", type=int, default=64, help="samples per batch (per process under torchrun)")
    tr.add_argument("--lr", type=float, default=1e-3, help="learning rate (Adam)")
    tr.add_argument("--arch", choices=("auto", "mlp", "conv", "basis"), default="auto",
                    help="auto: basis for meshes, mlp otherwise (on images as accurate as conv or more, and faster)")
    tr.add_argument("--hidden", type=_int_tuple, default=None,
                    help="hidden sizes of mlp and basis, e.g. 256,128 (default: 256,128; 2048,256 for meshes)")
    tr.add_argument("--latent", type=_bounded_int(1, 4096), default=10, help="latent dimension")
    tr.add_argument("--basis-size", type=_bounded_int(1, 1 << 16), default=256,
                    help="components of the fixed basis (arch basis)")
    tr.add_argument("--mds", choices=("class", "exact"), default="class", help="MDS mode")
    tr.add_argument("--alignment", choices=("procrustes", "paper"), default="procrustes")
    tr.add_argument("--distances", default=None, help="K x K class distances (.npy or .csv)")
    tr.add_argument("--target-scale", type=float, default=0.0,
                    help="latent units per unit of class distance (0: auto, 2*sqrt(2*latent))")
    tr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    tr.add_argument("--classifier", choices=CLASSIFIERS, default="svm",
                    help="classifier on the codes: svm (the paper's linear SVM), label-spreading (kNN label "
                         "spreading over all training codes) or knn (vote of the 10 nearest labeled codes)")
    tr.add_argument("--self-training", type=_fraction, default=0.0, metavar="CONFIDENCE",
                    help="feed the classifier's predictions with at least this confidence back into the "
                         "structural targets as pseudo-labels every epoch (0: off, the paper's method); "
                         "pseudo-labels are never written as labels")
    tr.add_argument("--pseudo-labeler", choices=CLASSIFIERS, default="",
                    help="classifier whose confident predictions become self-training's pseudo-labels "
                         "(default: --classifier's); label-spreading kept them right on MNIST with 600 labels")
    tr.add_argument("--pseudo-weight", type=_weight, default=1.0, metavar="WEIGHT",
                    help="structural weight of a pseudo-label against a given label's, in (0, 1] (default 1); "
                         "0.25 kept the reconstruction within a tenth of a plain autoencoder's on MNIST with 600 labels")
    tr.add_argument("--structure-span", choices=STRUCTURE_SPANS, default="latent",
                    help="where the structural loss acts: latent (the paper's: the whole code) or classes "
                         "(only within the span of the class targets; the other latent directions are left "
                         "to the reconstruction)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=_bounded_int(0, 1024), default=0,
                    help="CPU threads for torch (0: torch's default)")
    tr.add_argument("--out", required=True, help="checkpoint path (.safetensors is added if missing)")
    tr.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                    help="also write the checkpoint after every N epochs (0: at the end only)")
    tr.add_argument("--resume", default=None, metavar="CHECKPOINT",
                    help="continue the run saved in CHECKPOINT (weights, optimizer, history, settings, "
                         "labels) until --epochs epochs in total")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.epilog = ("Under torchrun (torchrun --nproc_per_node=N -m saeviz train ...) every process trains "
                 "on its share of each batch: the global batch is --batch-size times the number of "
                 "processes. Only rank 0 prints and writes the checkpoint.")

    ev = sub.add_parser("eval", help="print a checkpoint's metrics")
    ev.add_argument("checkpoint")
    ev.add_argument("--dataset", default=None, help="evaluate on this dataset instead of the checkpoint's")
    ev.add_argument("--json", action="store_true", help="print JSON")

    ex = sub.add_parser("experiment", help="reproduce one of the paper's experiments (a report with figures)",
                        add_help=False)
    ex.add_argument("rest", nargs=argparse.REMAINDER, help="NAME [--quick] --out FOLDER (see 'saeviz experiment --help')")

    bo = sub.add_parser("bodies", help="generate the 3D body dataset (female/male, random poses)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bo.add_argument("--count", type=int, default=6000)
    bo.add_argument("--seed", type=int, default=0)
    bo.add_argument("--resolution", choices=("full", "reduced"), default="full")
    bo.add_argument("--model", default="anny", help="'anny', or an SMPL model (.npz) for real SMPL bodies")
    bo.add_argument("--out", required=True, help="output .npz")
    sm = sub.add_parser("smpl-convert", help="convert an official SMPL .pkl model once to the .npz format",
                        description="Reads the licensed SMPL .pkl release with a restricted reader that only "
                                    "rebuilds arrays (any other class in the file is refused, never run) and "
                                    "writes plain arrays. Convert the female and the male model into one "
                                    "folder as female.npz and male.npz, then: saeviz bodies --model FOLDER.")
    sm.add_argument("pkl", help="e.g. basicModel_f_lbs_10_207_0_v1.0.0.pkl")
    sm.add_argument("out", help="output .npz, e.g. smpl/female.npz")
    return parser


def _error(message: str) -> int:
    rank = os.environ.get("RANK", "0") if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 else "0"
    print(f"saeviz{'' if rank == '0' else f' (rank {rank})'}: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] not in COMMANDS and not argv[0].startswith("-") and os.path.exists(argv[0]):
        argv = ["app", *argv]  # `saeviz FILE` opens it in the app, as `saeviz app FILE` does
    if argv[:1] == ["experiment"]:  # its options are the experiment's own
        from saeviz.core.errors import SaevizError
        from saeviz.experiments.__main__ import main as experiment_main
        try:
            return int(experiment_main(argv[1:], prog="saeviz experiment") or 0)
        except SaevizError as exc:
            return _error(str(exc))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from saeviz import __version__
        print(f"saeviz {__version__}")
        return 0
    from saeviz.core.errors import SaevizError

    try:
        if args.command in (None, "app"):
            return _run_app(getattr(args, "path", None))
        if args.command == "train":
            return _train(args)
        if args.command == "eval":
            return _eval(args)
        if args.command == "smpl-convert":
            from saeviz.core.data.smpl import convert_smpl_pkl
            out = convert_smpl_pkl(args.pkl, args.out)
            print(f"saeviz: SMPL model written to {out}", file=sys.stderr)
            return 0
        if args.command == "bodies":
            return _bodies(args)
    except SaevizError as exc:
        return _error(str(exc))
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        return _error(f"{exc.filename}: {exc.strerror}")
    except ValueError as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        return _error("interrupted")
    parser.error(f"unknown command {args.command}")
    return 2


def _run_app(path: str | None) -> int:
    try:
        from saeviz.app.window.launch import main as app_main
    except ImportError as exc:
        return _error(f"the desktop app needs the 'app' extra (pip install 'saeviz[app]'): {exc}")
    return int(app_main([path] if path else []) or 0)


def _load_distances(path: str | None, k: int):
    from saeviz.core.io.label_io import read_distances
    from saeviz.core.state.labels import equal_distances
    if path is None:
        return equal_distances(k)
    return read_distances(path, k)


def default_architecture(kind: str) -> str:
    """``--arch auto``: the basis network for meshes, the MLP otherwise.

    The MLP is also the default for images. On the 8x8 digits (A/B/C, 10% labels, 30 epochs,
    seeds 0-2) its held-out SVM error was 7.8% against the conv net's 14.1% (whose three
    poolings leave a 1x1 map there); on MNIST (A/B/C, 10% labels, 5 epochs, seed 0) both gave
    3.4%, the MLP in a quarter of the CPU time. ``--arch conv`` selects the paper's conv net.
    """
    return {"mesh": "basis"}.get(kind, "mlp")


def describe_architecture(config) -> str:
    """``mlp (256, 128)``, ``conv channels (8, 16, 32)``, ``basis 256 -> (2048, 256)``."""
    hidden = tuple(int(h) for h in config.hidden)
    if config.architecture == "conv":
        return f"conv channels {tuple(int(c) for c in config.conv_channels)}"
    if config.architecture == "basis":
        return f"basis {int(config.basis_size)} -> {hidden}"
    return f"{config.architecture} {hidden}"


# Settings that shape a run: with --resume they come from the checkpoint and may not be changed.
_RESUMED_SETTINGS = {
    "gamma": lambda m, t: t.gamma, "batch_size": lambda m, t: t.batch_size, "lr": lambda m, t: t.lr,
    "seed": lambda m, t: t.seed, "target_scale": lambda m, t: t.target_scale,
    "mds": lambda m, t: t.mds.mode, "alignment": lambda m, t: t.mds.alignment,
    "arch": lambda m, t: m.architecture, "hidden": lambda m, t: tuple(m.hidden),
    "latent": lambda m, t: m.latent_dim, "basis_size": lambda m, t: m.basis_size,
}


def _check_resume_options(args, ckpt) -> None:
    """Refuse options that would silently differ from the resumed run's settings."""
    defaults = build_parser().parse_args(["train", "--out", "-"])
    for name, saved in _RESUMED_SETTINGS.items():
        value, default = getattr(args, name), getattr(defaults, name)
        if value != default and value != saved(ckpt.model_config, ckpt.train_config):
            option = "--" + name.replace("_", "-")
            raise ValueError(f"{option} {value} differs from the resumed run's "
                             f"{saved(ckpt.model_config, ckpt.train_config)}; drop it to resume")
    for name in ("labeled", "distances", "classes"):
        if getattr(args, name) != getattr(defaults, name):
            raise ValueError(f"--{name}: a resumed run keeps the classes, labels and distances of its checkpoint")


def _train(args) -> int:
    import torch

    from saeviz.core.method import distributed

    if args.epochs < 0 or args.batch_size < 1 or args.latent < 1 or args.checkpoint_every < 0:
        raise ValueError("--epochs and --checkpoint-every must be >= 0, --batch-size and --latent >= 1")
    _check_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    ctx = distributed.init_from_env(args.device)
    try:
        code = _train_run(args, ctx)
    except BaseException:
        if ctx is not None:
            distributed.shutdown(barrier=False)
        raise
    if ctx is not None:
        distributed.shutdown()
    return code


def _train_run(args, ctx) -> int:
    import numpy as np
    import torch

    from saeviz.core.data import load_dataset, reveal_labels
    from saeviz.core.errors import DataError, TrainingError
    from saeviz.core.io.checkpoint import SUFFIX, load_checkpoint, save_checkpoint
    from saeviz.core.io.outputs import check_free_space, prepare_output
    from saeviz.core.method.config import MDSConfig, ModelConfig, TrainConfig
    from saeviz.core.method.evaluate import evaluate
    from saeviz.core.method.training import Trainer
    from saeviz.core.state.labels import Supervision, default_color

    main_rank = ctx is None or ctx.is_main
    world = 1 if ctx is None else ctx.world_size
    # Where the checkpoint goes is checked before any data is read or any epoch runs.
    out = prepare_output(args.out, "checkpoint", suffix=SUFFIX) if main_rank else None
    resume = load_checkpoint(args.resume) if args.resume else None
    if resume is not None:
        _check_resume_options(args, resume)
        given = args.dataset != build_parser().parse_args(["train", "--out", "-"]).dataset
        if not given and not resume.dataset_source:
            raise ValueError(f"{args.resume} names no dataset; pass --dataset")
        ds = load_dataset(args.dataset if given else resume.dataset_source)
        model_cfg, model = resume.model_config, resume.model
        train_cfg = resume.train_config.replace(epochs=args.epochs, device=args.device)
        if ds.sample_shape != model.sample_shape:
            raise DataError(f"{ds.name} has samples of shape {ds.sample_shape}, the checkpoint's model "
                            f"expects {model.sample_shape}")
        sup = resume.supervision
        if sup is not None and len(sup.labels) != len(ds.train_idx):
            raise DataError(f"the checkpoint holds {len(sup.labels)} labels, {ds.name} has "
                            f"{len(ds.train_idx)} training samples")
        labels = sup.labels if sup is not None else np.full(len(ds.train_idx), -1)
    else:
        ds = load_dataset(args.dataset, classes=args.classes)
        if ds.y is None and args.labeled > 0:
            raise DataError(f"{ds.name} carries no ground-truth labels to reveal; use --labeled 0")
        arch = default_architecture(ds.kind) if args.arch == "auto" else args.arch
        hidden = args.hidden or ((2048, 256) if ds.kind == "mesh" else (256, 128))
        model_cfg = ModelConfig(architecture=arch, hidden=hidden, latent_dim=args.latent, basis_size=args.basis_size)
        train_cfg = TrainConfig(gamma=args.gamma, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                device=args.device, seed=args.seed, target_scale=args.target_scale,
                                mds=MDSConfig(mode=args.mds, alignment=args.alignment),
                                classifier=args.classifier, self_training=args.self_training,
                                pseudo_labeler=args.pseudo_labeler, pseudo_weight=args.pseudo_weight,
                                structure_span=args.structure_span)
        k = max(ds.n_classes, 1)
        y_train = ds.y[ds.train_idx] if ds.y is not None else np.zeros(len(ds.train_idx), np.int64)
        labels = reveal_labels(y_train, np.arange(len(y_train)), args.labeled, seed=args.seed)
        names = ds.class_names or ("class 0",)
        sup = Supervision(labels, names, tuple(default_color(i) for i in range(k)),
                          _load_distances(args.distances, k), 0)
        model = None
    source = sup  # the checkpoint keeps ``sup``: pseudo-labels live in the trainer's copy only
    if train_cfg.self_training > 0 and sup is not None:
        from saeviz.core.method.self_training import with_self_training

        source = with_self_training(lambda: sup, train_cfg)
    trainer = Trainer(ds.X[ds.train_idx], model_cfg, train_cfg, supervision=source, model=model, dist=ctx)
    if source is not sup:
        source.attach(trainer)
    if resume is not None:
        trainer.restore(resume)
    remaining = max(args.epochs - trainer.epoch, 0)
    if main_rank:  # weights and Adam's two moments in float32, the labels, the JSON document
        n_values = sum(t.numel() for t in trainer.model.state_dict().values())
        check_free_space(out, 12 * n_values + 8 * len(labels) + (1 << 20), "checkpoint")

    def save(metrics):
        try:
            return save_checkpoint(out, trainer, train_config=train_cfg, supervision=sup,
                                   dataset_source=ds.source, history=trainer.history, metrics=metrics,
                                   optimizer=trainer.optimizer, train_state=trainer.training_state())
        except OSError as exc:
            raise DataError(f"{out}: the checkpoint cannot be written: {exc.strerror or exc}") from None

    if main_rank:
        parallel = (f"; {world} processes ({ctx.device.type}), global batch {train_cfg.batch_size * world}"
                    if ctx is not None else "")
        print(f"saeviz: {ds.name}: {len(ds.train_idx)} training / {len(ds.test_idx)} test samples, "
              f"{int((labels >= 0).sum())} labeled; {describe_architecture(model_cfg)} -> latent {model_cfg.latent_dim}; "
              f"gamma {train_cfg.gamma}; device {trainer.device}{parallel}", file=sys.stderr)
        if resume is not None:
            saved_world = resume.train_state.get("world_size", 1)
            note = (f" (it ran on {saved_world} processes: the global batch changes)"
                    if saved_world != world else "")
            print(f"saeviz: resuming {args.resume} after epoch {trainer.epoch}; {remaining} more "
                  f"epoch(s) to reach {args.epochs}{note}", file=sys.stderr)
    bar = None
    if main_rank and not args.quiet and remaining:
        from tqdm import tqdm
        bar = tqdm(total=args.epochs, initial=trainer.epoch, unit="epoch", file=sys.stderr, dynamic_ncols=True)
    try:
        for snap in trainer.iter_epochs(remaining):
            if not snap.final or not main_rank:
                continue
            m = evaluate(trainer.model, ds, labels, train_codes=snap.codes)
            trainer.history[-1].update(svm_error=m["svm_error"], rmse_test=m["rmse_test"])
            line = (f"epoch {snap.epoch:4d}  rmse {snap.rmse:.4f}  structural {snap.struct_loss:.4f}  "
                    f"svm error (held-out) {m['svm_error']:.4f}  {snap.samples_per_sec:,.0f} samples/s")
            if bar is not None:
                bar.set_postfix_str(f"rmse {snap.rmse:.4f} svm err {m['svm_error']:.3f}")
                bar.update(1)
                bar.write(line, file=sys.stderr)
            else:
                print(line, file=sys.stderr)
            if args.checkpoint_every and snap.epoch % args.checkpoint_every == 0 and snap.epoch < args.epochs:
                save(m)
    except (TrainingError, MemoryError, torch.OutOfMemoryError) as exc:
        # Out of memory or weights gone non-finite: the trainer went back to the last completed
        # epoch (an error while evaluating one comes after it was completed); write that run.
        if bar is not None:
            bar.close()
        message = str(exc) if isinstance(exc, TrainingError) else \
            f"out of memory after epoch {trainer.epoch} ({type(exc).__name__}); its weights were kept"
        if not main_rank or trainer.epoch == 0:
            raise TrainingError(message) from None
        path = save({})
        return _error(f"{message}; the run up to epoch {trainer.epoch} was written to {path}")
    if bar is not None:
        bar.close()
    if not main_rank:
        return 0
    try:
        metrics = evaluate(trainer.model, ds, labels, classifier=train_cfg.classifier)
    except (MemoryError, torch.OutOfMemoryError) as exc:
        print(f"saeviz: out of memory while measuring the final metrics ({type(exc).__name__}); "
              "the checkpoint is written without them", file=sys.stderr)
        metrics = {}
    path = save(metrics)
    _print_metrics(metrics, json_out=False)
    print(f"saeviz: checkpoint written to {path}", file=sys.stderr)
    return 0


def _print_metrics(metrics: dict, json_out: bool) -> None:
    if json_out:
        from saeviz.core.io.fileio import json_safe

        # A metric that could not be measured (no test split, no labels) is null, not NaN:
        # NaN is not JSON and breaks strict readers such as jq.
        print(json.dumps(json_safe(metrics), indent=2, sort_keys=True, allow_nan=False))
        return
    for key in ("rmse_train", "rmse_test", "svm_error", "classifier_error", "n_labeled"):
        if key in metrics:
            value = metrics[key]
            print(f"{key:12s} {value:.4f}" if isinstance(value, float) else f"{key:12s} {value}")


def _eval(args) -> int:
    import numpy as np

    from saeviz.core.data import load_dataset
    from saeviz.core.io.checkpoint import load_checkpoint
    from saeviz.core.method.evaluate import evaluate

    ckpt = load_checkpoint(args.checkpoint)
    spec = args.dataset or ckpt.dataset_source
    if not spec:
        raise ValueError(f"{args.checkpoint} names no dataset; pass --dataset")
    ds = load_dataset(spec)
    if ds.sample_shape != ckpt.model.sample_shape:
        raise ValueError(f"dataset samples have shape {ds.sample_shape}, the model expects {ckpt.model.sample_shape}")
    labels = (ckpt.supervision.labels if ckpt.supervision is not None and len(ckpt.supervision.labels) == len(ds.train_idx)
              else np.full(len(ds.train_idx), -1))
    metrics = evaluate(ckpt.model, ds, labels, classifier=ckpt.train_config.classifier)
    metrics["epochs"] = len(ckpt.history)
    _print_metrics(metrics, json_out=args.json)
    return 0


class StatusLine:
    """An indeterminate progress line for a step of unknown length: the message and the elapsed time.

    On a terminal the line is redrawn every half second with a spinner; otherwise the
    message is written once and the time taken when the step ends.
    """

    FRAMES = "|/-\\"

    def __init__(self, message: str, file=None):
        import threading
        import time

        self.message, self.file = message, file if file is not None else sys.stderr
        self._time = time.monotonic
        self._start = self._time()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._tty = bool(getattr(self.file, "isatty", lambda: False)())
        self._thread = None
        if self._tty:
            self._draw(0)
            self._thread = threading.Thread(target=self._spin, name="saeviz-status", daemon=True)
            self._thread.start()
        else:
            print(f"{message} ...", file=self.file, flush=True)

    def _elapsed(self) -> str:
        seconds = int(self._time() - self._start)
        return f"{seconds // 60:d}:{seconds % 60:02d}"

    def _draw(self, frame: int) -> None:
        with self._lock:
            self.file.write(f"\r{self.message} {self.FRAMES[frame % len(self.FRAMES)]} {self._elapsed()}\x1b[K")
            self.file.flush()

    def _spin(self) -> None:
        frame = 0
        while not self._stop.wait(0.5):
            frame += 1
            self._draw(frame)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            end = "\r" if self._tty else ""
            self.file.write(f"{end}{self.message}: done in {self._elapsed()}" + ("\x1b[K\n" if self._tty else "\n"))
            self.file.flush()


def _bodies(args) -> int:
    from tqdm import tqdm

    from saeviz.core.data.arrays import save_npz
    from saeviz.core.data.bodies import load_bodies

    if args.count < 2:
        raise ValueError("--count must be at least 2")
    state: dict = {"bar": None, "status": None, "message": None}

    def progress(done, total, message=None):
        # Steps other than the bodies themselves (building the body model) have no
        # meaningful count: a status line with the elapsed time, not a bar with an ETA.
        # The bar starts with the first body, so its rate and ETA are the bodies' own.
        if total != args.count:
            if done >= total:  # the step ended ("Body model ready")
                if state["status"] is not None:
                    state["status"].close()
                    state["status"] = None
                return
            if message and message != state["message"]:
                if state["status"] is not None:
                    state["status"].close()
                state["status"] = StatusLine(message, file=sys.stderr)
                state["message"] = message
            return
        if state["status"] is not None:
            state["status"].close()
            state["status"] = None
        if state["bar"] is None:
            state["bar"] = tqdm(total=total, desc=message or None, unit="body", file=sys.stderr,
                                dynamic_ncols=True)
        elif message and message != state["message"]:
            state["bar"].set_description_str(message)
        state["message"] = message
        state["bar"].n = done
        state["bar"].refresh()

    try:
        ds = load_bodies(count=args.count, seed=args.seed, model=args.model, resolution=args.resolution,
                         progress=progress)
    finally:
        for key in ("status", "bar"):
            if state[key] is not None:
                state[key].close()
    path = save_npz(args.out, ds)
    print(f"saeviz: {ds.n_samples} bodies ({ds.sample_shape[0]} vertices) written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
