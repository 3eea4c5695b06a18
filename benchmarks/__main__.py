"""Run every benchmark: ``python -m benchmarks`` (add ``--quick`` for a short pass)."""
import importlib
import pkgutil
import sys
from pathlib import Path

quick = "--quick" in sys.argv[1:]
for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
    if not info.name.startswith("bench_"):
        continue
    print(f"\n=== {info.name} ===", flush=True)
    module = importlib.import_module(f"benchmarks.{info.name}")
    module.main(["--quick"] if quick else [])
