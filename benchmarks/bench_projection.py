"""Seconds of t-SNE and UMAP of latent codes, from scratch and as a live per-epoch refinement.

    python -m benchmarks.bench_projection [--quick] [--sizes 1438 10000] [--jobs N]
                                          [--old] [--gradients]

Codes: the PCA-10 of the 1,438 training digits (8x8 pixels) of the digits demo; larger sizes
repeat them with a little noise (10,000 points: about seven noisy copies). For each size:
t-SNE 2-D and 3-D (openTSNE, ``run_tsne`` as the latent panel runs it), UMAP 2-D (umap-learn
on an exact neighbour graph; the first UMAP in a process includes compiling umap-learn's
kernels, shown apart), and one live refinement per epoch as the panel runs it while training
(the codes moved a little, the previous layout as the start, the neighbour graph reused).
``--gradients`` also times 2-D t-SNE with each gradient (Barnes-Hut, FFT); ``--old`` the
scikit-learn t-SNE the panel used before (1,000 iterations, Barnes-Hut) for comparison.
``--jobs`` threads for openTSNE (default: every core, as the latent panel runs it). The load average is
printed with the figures: on a busy machine every figure grows.
``--quick``: the digits only, without the old method.
"""
from __future__ import annotations

import argparse
import os
import time


def _codes(n: int, seed: int = 0):
    """PCA-10 codes of the training digits, repeated with noise up to ``n``, and their classes."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    digits = load_digits()
    Z = PCA(10, random_state=0).fit_transform(digits.data[:1438])
    y = digits.target[:1438]
    if n <= len(Z):
        return Z[:n], y[:n]
    rng = np.random.default_rng(seed)
    reps = int(np.ceil(n / len(Z)))
    tiled = np.concatenate([Z] * reps)[:n]
    return tiled + 0.05 * Z.std() * rng.normal(size=tiled.shape), np.tile(y, reps)[:n]


def _agreement(Y, y) -> str:
    """Share of points whose nearest neighbour in the layout has their class (layout quality)."""
    from sklearn.neighbors import NearestNeighbors

    _, idx = NearestNeighbors(n_neighbors=1).fit(Y).kneighbors()
    return f"1-NN class agreement {(y[idx[:, 0]] == y).mean():.3f}"


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def _moved(A, B) -> float:
    """How far layout ``B`` is from ``A`` once aligned, relative to ``A``'s spread."""
    import numpy as np

    from saeviz.core.display.projection import align_frames

    return float(np.linalg.norm(align_frames(A, B) - A) / np.linalg.norm(A - A.mean(0)))


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _row(name: str, n: int, seconds: float, extra: str = "") -> None:
    print(f"{name:<38s} {n:>7,d} {seconds:8.2f} s   load {_load()}  {extra}", flush=True)


def run(sizes, jobs: int, old: bool, gradients: bool) -> None:
    import numpy as np

    from saeviz.core.display.embedding import (
        NeighborGraph,
        run_tsne,
        run_umap,
        umap_available,
    )

    print(f"{'case':<38s} {'points':>7s} {'time':>10s}", flush=True)
    have_umap = umap_available()
    umap_compiled = False
    for n in sizes:
        Z, y = _codes(n)
        moved = Z + 0.02 * Z.std() * np.random.default_rng(1).normal(size=Z.shape)
        s, Y2 = _timed(run_tsne, Z, n_components=2, n_jobs=jobs)
        _row("t-SNE 2-D (openTSNE, auto gradient)", n, s, _agreement(Y2, y))
        if gradients:
            for g in ("bh", "fft"):
                s, Yg = _timed(run_tsne, Z, n_components=2, n_jobs=jobs, gradient=g)
                _row(f"t-SNE 2-D ({g})", n, s, _agreement(Yg, y))
        s, Y3 = _timed(run_tsne, Z, n_components=3, n_jobs=jobs)
        _row("t-SNE 3-D (openTSNE, Barnes-Hut)", n, s, _agreement(Y3, y))
        graph = NeighborGraph()
        graph.neighbors(moved, 90)
        s, R = _timed(run_tsne, moved, previous=Y2, n_jobs=jobs, graph=graph)
        _row("t-SNE live refinement (one epoch)", n, s,
             f"100 iterations, graph reused, moved {_moved(Y2, R):.3f}")
        if have_umap:
            if not umap_compiled:
                s, _ = _timed(run_umap, Z[:200], n_epochs=10)
                _row("UMAP first use (compiling kernels)", 200, s, "once per process")
                umap_compiled = True
            s, U = _timed(run_umap, Z)
            _row("UMAP 2-D", n, s, _agreement(U, y))
            graph = NeighborGraph()
            graph.neighbors(moved, 14)
            s, R = _timed(run_umap, moved, previous=U, graph=graph)
            _row("UMAP live refinement (one epoch)", n, s, f"40 epochs, graph reused, moved {_moved(U, R):.3f}")
        if old and n <= 2000:
            from sklearn.manifold import TSNE

            old_tsne = TSNE(n_components=2, perplexity=30.0, max_iter=1000, init="pca",
                            learning_rate="auto", random_state=0, method="barnes_hut")
            s, Yo = _timed(old_tsne.fit_transform, Z)
            _row("old: scikit-learn t-SNE 2-D (1,000 it.)", n, s, _agreement(Yo, y))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_projection",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the digits only, without the old method")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1438, 10_000])
    parser.add_argument("--jobs", type=int, default=None, help="openTSNE threads (default: every core, as the app)")
    parser.add_argument("--old", action="store_true", help="also time the scikit-learn t-SNE used before")
    parser.add_argument("--gradients", action="store_true", help="also time 2-D t-SNE per gradient")
    args = parser.parse_args(argv)
    sizes = [1438] if args.quick else args.sizes
    print(f"t-SNE / UMAP on {os.cpu_count()} cores, openTSNE threads {args.jobs or os.cpu_count()}", flush=True)
    run(sizes, args.jobs, args.old and not args.quick, args.gradients)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
