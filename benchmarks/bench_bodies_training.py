"""Training on the 3D bodies: the paper's network versus the basis network.

    python -m benchmarks.bench_bodies_training [--quick] [--count N] [--resolution R]
                                               [--epochs E] [--basis K ...] [--threads T]

On ``--count`` generated bodies (default 6,000 at full resolution: 13,718 vertices, 41,154
inputs; ``--quick``: 1,000 at reduced resolution, 2 epochs) with the dataset's 80/20 split:
plain autoencoders (gamma 0), latent 30, hidden 2048 and 256, batch 64, Adam at 1e-3, seed
0; basis networks of ``--basis`` components (default 64, 256 and 512; quick 128). Prints

* the one-time setup of each basis network: fitting the basis (randomised SVD of up to 3,000
  bodies) plus the basis coordinates of every training body, and the RMSE floor on the
  held-out bodies (what the basis leaves out);
* seconds per epoch of the paper's network (MLP D-2048-256-30): the mean of a few training
  batches after a warm-up, times the batches of an epoch, plus the encoding of every
  training body that ends an epoch (timed on a slice, scaled up);
* seconds per epoch of each basis network, timed over whole epochs;
* the held-out reconstruction RMSE (metres) of every network after the same ``--epochs``
  epochs (default 5), and its ratio to the paper network's. ``--epochs 0`` skips training
  the paper network to the end and prints its speed only.

The load average is printed with each timing: the machine may be shared.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from saeviz.core.data.bodies import load_bodies
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.evaluate import rmse
from saeviz.core.method.training import Trainer

HIDDEN = (2048, 256)
LATENT = 30
BATCH = 64


def _load() -> str:
    try:
        return "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:  # no load average on this platform
        return ""


def _config(arch: str, basis: int = 256) -> ModelConfig:
    return ModelConfig(architecture=arch, hidden=HIDDEN, latent_dim=LATENT, basis_size=basis)


def _train_config(epochs: int) -> TrainConfig:
    return TrainConfig(gamma=0.0, epochs=epochs, batch_size=BATCH, lr=1e-3, seed=0)


def basis_floor(trainer: Trainer, X_test: np.ndarray) -> float:
    """RMSE (data units) of projecting the held-out samples onto the model's basis."""
    model = trainer.model
    total = 0.0
    for start in range(0, len(X_test), 512):
        _, residual = model.basis_coefficients(torch.from_numpy(X_test[start:start + 512]))
        total += float(residual.double().sum())
    return float(model.scale) * (total / X_test[0].size / len(X_test)) ** 0.5


def paper_epoch_seconds(trainer: Trainer, n_batches: int, warmup: int = 2) -> tuple[float, float, float]:
    """(seconds per batch, seconds to encode every training sample, extrapolated epoch)."""
    X = trainer.X
    model, opt = trainer.model, trainer.optimizer
    rng = np.random.default_rng(0)
    model.train()
    times = []
    for b in range(warmup + n_batches):
        idx = torch.from_numpy(rng.choice(len(X), BATCH, replace=False))
        x = X[idx]
        t = time.perf_counter()
        _, rec = model(x, normalized=True)
        loss = ((rec - model.normalize(x)) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if b >= warmup:
            times.append(time.perf_counter() - t)
    per_batch = float(np.mean(times))
    part = min(len(X), 1024)
    t = time.perf_counter()
    trainer.encode(X[:part])
    encode_all = (time.perf_counter() - t) * len(X) / part
    epoch = per_batch * int(np.ceil(len(X) / BATCH)) + encode_all
    return per_batch, encode_all, epoch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--resolution", choices=("full", "reduced"), default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--basis", type=int, nargs="+", default=None, help="basis sizes to compare")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--batches", type=int, default=8, help="timed batches of the paper network")
    args = parser.parse_args(argv)
    count = args.count or (1000 if args.quick else 6000)
    resolution = args.resolution or ("reduced" if args.quick else "full")
    epochs = args.epochs if args.epochs is not None else (2 if args.quick else 5)
    sizes = args.basis or ([128] if args.quick else [64, 256, 512])
    torch.set_num_threads(args.threads)

    t = time.perf_counter()
    ds = load_bodies(count, 0, resolution=resolution)
    X_train, X_test = ds.X[ds.train_idx], ds.X[ds.test_idx]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {count} bodies at {resolution} "
          f"resolution ({ds.n_features:,} inputs), {len(X_train)} training / {len(X_test)} held-out; "
          f"loaded in {time.perf_counter() - t:.1f} s; {_load()}", flush=True)
    print(f"networks: hidden {HIDDEN}, latent {LATENT}, batch {BATCH}, Adam 1e-3, gamma 0, "
          f"{epochs} epochs", flush=True)

    rows = []
    t = time.perf_counter()
    paper = Trainer(X_train, _config("mlp"), _train_config(epochs))
    build = time.perf_counter() - t
    per_batch, encode_all, epoch_s = paper_epoch_seconds(paper, args.batches)
    print(f"\npaper network MLP {ds.n_features:,}-2048-256-30: built in {build:.1f} s; "
          f"{per_batch:.3f} s/batch ({BATCH / per_batch:.1f} bodies/s), encoding all {encode_all:.1f} s "
          f"-> {epoch_s:.1f} s/epoch (extrapolated); {_load()}", flush=True)
    del paper
    for k in sizes:
        t = time.perf_counter()
        tr = Trainer(X_train, _config("basis", k), _train_config(epochs))
        setup = time.perf_counter() - t
        floor = basis_floor(tr, X_test)
        print(f"\nbasis {k}: setup {setup:.1f} s (basis and coordinates, once); held-out floor "
              f"{floor:.5f} m; {_load()}", flush=True)
        times = []
        for _ in range(max(epochs, 1)):
            t = time.perf_counter()
            tr.fit(1)
            times.append(time.perf_counter() - t)
            print(f"  epoch {tr.epoch}: train rmse {tr.history[-1]['rmse']:.5f} m, {times[-1]:.2f} s; {_load()}",
                  flush=True)
        r = rmse(tr.model, X_test) if epochs else float("nan")
        rows.append((f"basis {k}", setup, float("nan"), float(np.median(times)), floor, r))

    paper_rmse = float("nan")
    if epochs:
        print(f"\npaper network: {epochs} epochs from a fresh start; {_load()}", flush=True)
        paper = Trainer(X_train, _config("mlp"), _train_config(epochs))
        t = time.perf_counter()
        for snap in paper.iter_epochs(epochs):
            if snap.final:
                print(f"  epoch {snap.epoch}: train rmse {snap.rmse:.5f} m, {snap.elapsed:.1f} s; {_load()}",
                      flush=True)
        paper_rmse = rmse(paper.model, X_test)
        rows.insert(0, ("paper MLP", build, epoch_s, (time.perf_counter() - t) / epochs, float("nan"), paper_rmse))
        del paper

    print(f"\n{'network':12s} {'setup s':>8s} {'s/epoch extrap.':>16s} {'s/epoch run':>12s} "
          f"{'floor m':>9s} {'rmse m':>9s} {'vs paper':>9s}")
    for name, setup, extrapolated, run, floor, r in rows:
        ratio = r / paper_rmse if np.isfinite(paper_rmse) and np.isfinite(r) else float("nan")
        print(f"{name:12s} {setup:8.1f} {extrapolated:16.1f} {run:12.2f} {floor:9.5f} {r:9.5f} {ratio:9.3f}")
    print(f"({_load()})")


if __name__ == "__main__":
    main()
