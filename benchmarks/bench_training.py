"""Training cost: SAE epoch versus plain AE epoch on the same data, and throughput.

    python -m benchmarks.bench_training [--quick]

Prints, for the digits conv net (1,437 training samples, 10% labeled) and a larger synthetic
set of 6,000 samples with 6,000 labeled codes: seconds per epoch with gamma = 0 (a plain
autoencoder) and gamma = 0.5 (SAE, class-level MDS and exact MDS), the structuring overhead,
and training throughput (samples/s) for the digits conv net and for an MLP of the body-mesh
size (41,154 inputs, 2048 and 256 hidden, latent 30; a few batches).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from saeviz.core.data import load_dataset, reveal_labels
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    overhead_table(args.quick)
    throughput(args.quick)


if __name__ == "__main__":
    main()
