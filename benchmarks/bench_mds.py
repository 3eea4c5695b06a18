"""Cost of the MDS step: tiled exact SMACOF and class-level SMACOF against scikit-learn.

    python -m benchmarks.bench_mds [--quick] [--device cuda] [--tile 1024] [--iters 50]
                                   [--threads 2]

For N labeled codes (latent dimension 30) in 2 and 10 classes, prints the time of one call
of ``smacof_exact`` in float32 running a fixed number of iterations, its peak memory, the same
for ``sklearn.manifold.smacof`` (float64, as scikit-learn computes) where the N x N matrices
fit (N <= 6,000), and the time of ``smacof_class_level``.

Every case runs in a fresh subprocess. Memory is the peak resident set size (VmHWM) minus the
resident size once the libraries are loaded and set up (one call on 64 samples) and the input
codes exist; scikit-learn's figure thus includes the N x N dissimilarity matrix it needs as
input. With ``--device cuda`` the peak of GPU memory allocated by torch is shown too.
Iterations: ``--iters`` (default 50) up to N = 6,000, at most 10 above, hence the ms per
iteration columns; the exact-mode time is the best of three calls up to N = 6,000. Both
libraries get ``--threads`` threads (default 2). ``--quick`` runs N = 2,000 only.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SIZES = (2_000, 6_000, 20_000, 60_000)
SKLEARN_MAX_N = 6_000
LATENT = 30
DEFAULT_THREADS = 2


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _inputs(n: int, k: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centers = rng.normal(size=(k, LATENT)) * 2.0
    codes = centers[labels] + rng.normal(size=(n, LATENT))
    codes -= codes.mean(0)
    if k == 2:
        D = np.array([[0.0, 1.0], [1.0, 0.0]])
    else:
        D = rng.uniform(1.0, 2.0, size=(k, k))
        D = (D + D.T) / 2
        np.fill_diagonal(D, 0.0)
    return labels, D, codes


def _worker(args) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from sklearn.manifold import smacof
    from threadpoolctl import threadpool_limits

    from saeviz.core.method.mds import smacof_class_level, smacof_exact

    # one-time library set-up (thread pools, BLAS buffers) happens before the baseline
    tiny_labels, tiny_D, tiny_codes = _inputs(64, args.k, seed=1)
    with threadpool_limits(args.threads):
        smacof(tiny_D[tiny_labels][:, tiny_labels], metric=True, init=tiny_codes, n_init=1,
               max_iter=2, normalized_stress=False)
    smacof_exact(tiny_labels, tiny_D, tiny_codes.astype(np.float32), max_iter=2,
                 tile=args.tile, device=args.device)
    labels, D, codes = _inputs(args.n, args.k)
    init32 = codes.astype(np.float32)
    cuda = args.device.startswith("cuda")
    baseline = _status_kib("VmRSS")
    exact_hwm = _reset_peak()
    result: dict = {}
    if args.method == "exact":
        smacof_exact(labels, D, init32, max_iter=2, eps=-np.inf, tile=args.tile, device=args.device)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(3 if args.n <= SKLEARN_MAX_N else 1):
            t0 = time.perf_counter()
            res = smacof_exact(labels, D, init32, max_iter=args.iters, eps=-np.inf,
                               tile=args.tile, device=args.device)
            times.append(time.perf_counter() - t0)
        result["seconds"] = min(times)
        result["n_iter"] = res.n_iter
        if cuda:
            result["gpu_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    elif args.method == "sklearn":
        t0 = time.perf_counter()
        full = D[labels][:, labels]
        build = time.perf_counter() - t0
        with threadpool_limits(args.threads):
            t0 = time.perf_counter()
            _, _, n_iter = smacof(full, metric=True, init=codes, n_init=1, max_iter=args.iters,
                                  eps=0.0, normalized_stress=False, return_n_iter=True)
            result["seconds"] = time.perf_counter() - t0
        result["build_seconds"] = build
        result["n_iter"] = n_iter
    else:
        counts = np.bincount(labels, minlength=args.k)
        centers = np.array([codes[labels == a].mean(0) for a in range(args.k)])
        smacof_class_level(counts, D, centers, max_iter=args.iters, eps=-np.inf)
        reps = 20
        t0 = time.perf_counter()
        for _ in range(reps):
            res = smacof_class_level(counts, D, centers, max_iter=args.iters, eps=-np.inf)
        result["seconds"] = (time.perf_counter() - t0) / reps
        result["n_iter"] = res.n_iter
    peak = _status_kib("VmHWM")
    result["peak_mib"] = max(peak - baseline, 0) / 1024 if exact_hwm else float("nan")
    return result


def _run_case(method: str, n: int, k: int, args) -> dict:
    iters = args.iters if n <= SKLEARN_MAX_N else min(args.iters, 10)
    cmd = [sys.executable, "-m", "benchmarks.bench_mds", "--worker", method, "--n", str(n),
           "--k", str(k), "--iters", str(iters), "--tile", str(args.tile), "--device", args.device,
           "--threads", str(args.threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-2:
        return f"{seconds * 1e3:.2f} ms"
    if seconds < 10:
        return f"{seconds:.3f} s"
    return f"{seconds:.1f} s"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2,000 only")
    parser.add_argument("--device", default="cpu", help="torch device for the exact mode")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--sizes", type=int, nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=["exact", "sklearn", "class"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.method = args.worker
        print(json.dumps(_worker(args)))
        return

    sizes = args.sizes or (SIZES[:1] if args.quick else SIZES)
    cuda = args.device.startswith("cuda")
    print(f"MDS step, latent {LATENT}, {args.threads} threads; exact mode float32 on "
          f"{args.device}, tile {args.tile}; scikit-learn float64, eps=0; "
          "memory: peak RSS above baseline")
    columns = [("N", 7), ("K", 3), ("iters", 5), ("exact/call", 11), ("ms/iter", 9),
               ("exact MiB", 9)] + ([("GPU MiB", 8)] if cuda else []) + [
              ("sklearn/call", 12), ("ms/iter", 9), ("skl MiB", 8), ("speedup", 8),
              ("class/call", 10)]
    header = " ".join(f"{name:>{width}}" for name, width in columns)
    print(header)
    print("-" * len(header))
    for n in sizes:
        for k in (2, 10):
            ex = _run_case("exact", n, k, args)
            cl = _run_case("class", n, k, args)
            sk = _run_case("sklearn", n, k, args) if n <= SKLEARN_MAX_N else None
            if "error" in ex:
                print(f"{n:>7} {k:>3} exact mode failed: {ex['error']}")
                continue
            ex_it = ex["seconds"] / ex["n_iter"]
            cells = [f"{n:,}", str(k), str(ex["n_iter"]), _fmt_time(ex["seconds"]),
                     f"{ex_it * 1e3:.1f}", f"{ex['peak_mib']:.0f}"]
            if cuda:
                cells.append(f"{ex.get('gpu_mib', float('nan')):.0f}")
            if sk is None or "error" in sk:
                cells += ["-" if sk is None else "failed", "-", "-", "-"]
            else:
                sk_it = sk["seconds"] / sk["n_iter"]
                cells += [_fmt_time(sk["seconds"]), f"{sk_it * 1e3:.1f}",
                          f"{sk['peak_mib']:.0f}", f"{sk_it / ex_it:.1f}x"]
            cells.append(_fmt_time(cl["seconds"]) if "error" not in cl else "failed")
            print(" ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, columns)), flush=True)

if __name__ == "__main__":
    main()
