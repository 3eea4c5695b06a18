"""Bodies dataset: generation speed and size.

    python -m benchmarks.bench_bodies [--quick] [--count N] [--cache-dir DIR]

Prints

* the time to load the anny body model (it is built first if the cache has none: about two
  minutes, once);
* bodies generated per second by ``generate_bodies`` at batch 256 once the model is loaded
  (2,048 bodies; 1,024 with ``--quick``), with the machine's load average for context;
* for ``--count`` bodies (default 6,000, the paper's size; 512 with ``--quick``) at full and
  reduced resolution: the time to generate and cache them, the time of a second, cached
  call, the size of the cached ``.npz`` file and of the array in memory.

The datasets are written to a temporary folder (removed afterwards); the body model is read
from, or built into, the usual cache (``$ANNY_CACHE_DIR``, else ``anny`` under ``--cache-dir``,
``$SAEVIZ_CACHE_DIR`` or the user cache). The "reduced" time includes choosing the reduced
vertex subset once (PyVista decimation, about a second).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from saeviz.core.data import bodies


def _generation_rate(root: Path, count: int) -> float:
    """Bodies per second of ``generate_bodies`` at batch 256, the model being loaded already."""
    bodies.generate_bodies(count=256, seed=1, cache_dir=root)  # warm-up
    t = time.perf_counter()
    bodies.generate_bodies(count=count, seed=2, cache_dir=root, batch_size=256)
    return count / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    count = args.count or (512 if args.quick else 6000)
    root = bodies._cache_root(args.cache_dir)

    t = time.perf_counter()
    bodies._load_anny(root, lambda done, total, message: print(f"  {message}", flush=True))
    load_s = time.perf_counter() - t
    threads = torch.get_num_threads()
    rate = _generation_rate(root, 1024 if args.quick else 2048)

    # Datasets go to a temporary folder; the body model stays where it is.
    os.environ.setdefault("ANNY_CACHE_DIR", str(root / "anny"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for resolution in ("full", "reduced"):
            cache = Path(tmp) / resolution  # one folder each: "reduced" is generated, not cut
            t = time.perf_counter()
            ds = bodies.load_bodies(count=count, seed=0, resolution=resolution, cache_dir=cache)
            first = time.perf_counter() - t
            (path,) = (cache / "bodies").glob("*.npz")
            t = time.perf_counter()
            again = bodies.load_bodies(count=count, seed=0, resolution=resolution, cache_dir=cache)
            second = time.perf_counter() - t
            assert again.X.shape == ds.X.shape
            rows.append((resolution, ds.X.shape[1], first, second, path.stat().st_size, ds.X.nbytes))
            del ds, again

    print(f"\nanny body model load: {load_s:.1f} s")
    print(f"generation at batch 256, full resolution, {min(threads, bodies.MAX_WORKERS)} batches in "
          f"parallel: {rate:,.0f} bodies/s (load average now {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")
    print(f"\n{count:,} bodies")
    print(f"{'resolution':<11}{'vertices':>9}{'generate+cache s':>18}{'cached load s':>15}"
          f"{'npz on disk':>14}{'in memory':>12}")
    for resolution, V, first, second, disk, mem in rows:
        print(f"{resolution:<11}{V:>9,}{first:>18.1f}{second:>15.2f}{disk / 2**20:>11.1f} MiB"
              f"{mem / 2**20:>9.1f} MiB")


if __name__ == "__main__":
    main()
