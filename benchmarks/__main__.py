"""Run the benchmarks: ``python -m benchmarks [--quick] [--list] [NAME ...]``.

Without names every benchmark runs, one after the other. A name is a module of this folder
with or without its ``bench_`` prefix (``training`` or ``bench_training``); each one also
runs on its own with its own options: ``python -m benchmarks.bench_training --help``.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import sys
from pathlib import Path

HERE = Path(__file__).parent


def available() -> dict[str, str]:
    """Benchmark module name -> the first line of its documentation (read without importing it)."""
    found = {}
    for info in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda m: m.name):
        if info.name.startswith("bench_"):
            try:
                doc = ast.get_docstring(ast.parse((HERE / f"{info.name}.py").read_text(encoding="utf-8"))) or ""
            except (OSError, SyntaxError, ValueError):
                doc = ""
            found[info.name] = doc.strip().splitlines()[0] if doc.strip() else ""
    return found


def build_parser(names) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmarks (all of them unless names are given) and print their figures. "
                    "Each one also runs on its own: python -m benchmarks.bench_NAME --help.",
        epilog="benchmarks: " + ", ".join(n.removeprefix("bench_") for n in names))
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="a short pass of each benchmark")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = build_parser(names)
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.list:
        width = max((len(n) for n in names), default=0)
        for name, doc in names.items():
            print(f"{name.removeprefix('bench_'):{width}s}  {doc}")
        return 0
    chosen = []
    for name in args.names:
        module = name if name.startswith("bench_") else f"bench_{name}"
        if module not in names:
            parser.error(f"unknown benchmark {name!r}; known: "
                         + ", ".join(n.removeprefix("bench_") for n in names))
        chosen.append(module)
    for name in chosen or list(names):
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        module.main(["--quick"] if args.quick else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
