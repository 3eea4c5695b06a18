"""Training cost: SAE epoch versus plain AE epoch on the same data, and throughput.

    python -m benchmarks.bench_training [--quick]

Prints, for the digits conv net (1,437 training samples, 10% labeled) and a larger synthetic
set of 6,000 samples with 6,000 labeled codes: seconds per epoch with gamma = 0 (a plain
autoencoder) and gamma = 0.5 (SAE, class-level MDS and exact MDS), the structuring overhead,
and training throughput (samples/s) for the digits conv net and for an MLP of the body-mesh
size (41,154 inputs, 2048 and 256 hidden, latent 30; a few batches).

MNIST (the paper's conv net 8/16/32, latent 10, batch 64, gamma 0.5, 1% of the samples
labeled with the A/B/C classes): samples per second and per CPU-second of the process with
1 and 2 threads, next to the figures recorded before the training was made faster. MNIST is
looked for as ``saeviz train --dataset mnist`` does, then in ``../shared/data/mnist``;
``--mnist FOLDER`` names it. The machine's load average is printed with every figure.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from saeviz.core.data import load_dataset, reveal_labels
from saeviz.core.data.named import find_idx_dataset
from saeviz.core.method.config import MDSConfig, ModelConfig, TrainConfig
from saeviz.core.method.training import Trainer
from saeviz.core.state.labels import LabelStore


def epoch_seconds(X, labels, names, model_cfg, gamma, mds="class", epochs=3, batch=64):
    store = LabelStore(len(X), names, labels=labels)
    tr = Trainer(X, model_cfg, TrainConfig(gamma=gamma, batch_size=batch, seed=0, mds=MDSConfig(mode=mds)), store)
    tr.fit(1)  # warm-up (allocations, first encode)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        tr.fit(1)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(X) / statistics.median(times)


def overhead_table(quick: bool) -> None:
    ds = load_dataset("digits")
    X = ds.X[ds.train_idx]
    labels = reveal_labels(ds.y[ds.train_idx], np.arange(len(X)), 0.1)
    conv = ModelConfig(architecture="conv", latent_dim=10)
    rows = [("digits conv, 1,437 samples, 10% labeled", X, labels, ds.class_names, conv)]
    if not quick:
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 6000)
        Xs = (rng.normal(size=(6000, 256)) + y[:, None] * 0.2).astype(np.float32)
        rows.append(("MLP 256-256-128-30, 6,000 samples, all labeled", Xs, y, ("a", "b"),
                     ModelConfig(hidden=(256, 128), latent_dim=30)))
    print(f"{'data':50s} {'AE s/epoch':>11s} {'SAE class':>10s} {'extra':>7s} {'SAE exact':>10s} {'extra':>7s}")
    for name, X, labels, names, cfg in rows:
        ae, _ = epoch_seconds(X, labels, names, cfg, 0.0)
        sae, _ = epoch_seconds(X, labels, names, cfg, 0.5, "class")
        exact, _ = epoch_seconds(X, labels, names, cfg, 0.5, "exact", epochs=1 if len(X) > 2000 else 3)
        print(f"{name:50s} {ae:11.3f} {sae:10.3f} {100 * (sae / ae - 1):6.1f}% {exact:10.3f} {100 * (exact / ae - 1):6.1f}%")


def throughput(quick: bool) -> None:
    ds = load_dataset("digits")
    X = ds.X[ds.train_idx]
    labels = reveal_labels(ds.y[ds.train_idx], np.arange(len(X)), 0.1)
    _, sps = epoch_seconds(X, labels, ds.class_names, ModelConfig(architecture="conv", latent_dim=10), 0.5)
    print(f"{'digits conv net (8/16/32 filters), batch 64':50s} {sps:10,.0f} samples/s")
    if quick:
        return
    n = 64 * 6
    rng = np.random.default_rng(0)
    Xb = rng.normal(size=(n, 13718, 3)).astype(np.float32)
    y = rng.integers(0, 2, n)
    cfg = ModelConfig(hidden=(2048, 256), latent_dim=30)
    _, sps = epoch_seconds(Xb, y, ("female", "male"), cfg, 0.5, epochs=1)
    print(f"{'MLP 41,154-2048-256-30 (paper body net), batch 64':50s} {sps:10,.1f} samples/s")


# The MNIST case above on 10,000 training images at commit 2c175c8 (2026-12-05), before the
# training was made faster: this benchmark run on that commit's tree (``git archive 2c175c8``
# on ``PYTHONPATH``) on this project's 2-core build machine on 2026-12-06, with the machine's
# other jobs paused, alternating with runs of the current tree. Medians of the four epochs
# measured in two processes (1 thread: 2,365, 2,299, 2,345, 2,420 samples/CPU-s; 2 threads:
# 1,732, 1,433, 1,640, 2,031 samples/CPU-s and 3,451, 2,851, 3,266, 4,036 samples/s).
MNIST_BEFORE = {  # threads: (samples per CPU-second, samples per second, load average)
    1: (2355, 2355, 1.4),
    2: (1686, 3358, 1.4),
}
MNIST_BEFORE_SOURCE = "commit 2c175c8, measured 2026-12-06"


def mnist_folder(given: str | None) -> Path | None:
    """The MNIST folder: ``given``, the one ``--dataset mnist`` finds, or ``../shared/data/mnist``."""
    if given:
        return Path(given)
    found = find_idx_dataset("mnist")
    if found is not None:
        return found
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    return shared if shared.is_dir() else None


def mnist_rates(X, labels, names, threads: int, epochs: int) -> list[tuple[float, float, float]]:
    """(samples per CPU-second, samples per second, load average) of ``epochs`` epochs of the
    conv SAE on ``X`` with ``threads`` torch threads, after one warm-up epoch."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        store = LabelStore(len(X), names, labels=labels)
        tr = Trainer(X, ModelConfig(architecture="conv", latent_dim=10),
                     TrainConfig(gamma=0.5, batch_size=64, seed=0), store)
        tr.fit(1)  # warm-up: the first codes, allocations, kernel choices
        rates = []
        for _ in range(epochs):
            cpu, wall = time.process_time(), time.perf_counter()
            tr.fit(1)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            rates.append((len(X) / cpu, len(X) / wall, os.getloadavg()[0]))
        return rates
    finally:
        torch.set_num_threads(previous)


def mnist_throughput(quick: bool, folder: str | None = None) -> None:
    where = mnist_folder(folder)
    if where is None or not where.is_dir():
        print("MNIST not found (pass --mnist FOLDER); the MNIST figures are left out")
        return
    ds = load_dataset(where, classes="abc")
    n = 3000 if quick else 10_000
    X = ds.X[ds.train_idx[:n]]
    labels = reveal_labels(ds.y[ds.train_idx[:n]], np.arange(n), 0.01, seed=0)
    print(f"MNIST conv SAE (8/16/32, latent 10, batch 64, gamma 0.5, 1% labeled), {n:,} images per epoch")
    for threads in (1, 2):
        before = MNIST_BEFORE.get(threads)
        if before is not None:
            print(f"  {threads} thread{'s' if threads > 1 else ' '} before ({MNIST_BEFORE_SOURCE}): "
                  f"{before[0]:7,.0f} samples/CPU-s {before[1]:7,.0f} samples/s (load {before[2]:.1f})")
        for cpu_rate, wall_rate, load in mnist_rates(X, labels, ds.class_names, threads, 1 if quick else 2):
            print(f"  {threads} thread{'s' if threads > 1 else ' '} now:    {cpu_rate:7,.0f} samples/CPU-s "
                  f"{wall_rate:7,.0f} samples/s (load {load:.1f})", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mnist", default=None, metavar="FOLDER", help="the folder of the MNIST IDX files")
    parser.add_argument("--only-mnist", action="store_true", help="only the MNIST figures")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.only_mnist:
        overhead_table(args.quick)
        throughput(args.quick)
    mnist_throughput(args.quick, args.mnist)


if __name__ == "__main__":
    main()
