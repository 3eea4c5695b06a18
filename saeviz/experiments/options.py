"""Command-line options the per-dataset experiments share, how they change an experiment's
settings, and the command line that reruns a result."""
from __future__ import annotations

import argparse
from dataclasses import replace


def float_list(text: str) -> tuple[float, ...]:
    """``"0.01,0.1"`` -> ``(0.01, 0.1)``; ``""`` -> ``()`` (a comma-separated option)."""
    return tuple(float(t) for t in text.split(",") if t.strip())


def name_list(text: str) -> tuple[str, ...]:
    """``"sae, aae"`` -> ``("sae", "aae")`` (a comma-separated option)."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def chosen(given, known: tuple[str, ...], always: tuple[str, ...], what: str) -> tuple[str, ...]:
    """The names of ``known`` that are ``given`` or ``always`` run, in ``known``'s order; a
    name ``given`` that is not ``known`` is a ``ValueError`` (the option's error)."""
    if set(given) - set(known):
        raise ValueError(f"{what} must be among {known}, got {tuple(given)}")
    return tuple(n for n in known if n in set(given) | set(always))


def add_dataset_and_epochs(parser: argparse.ArgumentParser, datasets, full_epochs: int) -> None:
    """``--dataset`` (one of ``datasets`` only) and ``--epochs`` (default ``full_epochs``)."""
    parser.add_argument("--dataset", choices=tuple(datasets), default=None, help="one dataset only")
    parser.add_argument("--epochs", type=int, default=None, help=f"epochs (default {full_epochs})")


def with_overrides(settings, seeds: int | None = None, dataset: str | None = None, epochs: int | None = None):
    """``settings`` (a frozen dataclass with ``datasets``, ``seeds`` and ``epochs``) run on
    ``dataset`` alone, with seeds 0 to ``seeds - 1`` and ``epochs`` epochs, for those given.

    ``seeds`` is either a tuple of seeds or a mapping of dataset to seeds; with a mapping every
    dataset gets the new seeds."""
    changes: dict = {}
    if dataset is not None:
        changes["datasets"] = (dataset,)
    if seeds is not None:
        new = tuple(range(int(seeds)))
        changes["seeds"] = {d: new for d in settings.seeds} if isinstance(settings.seeds, dict) else new
    if epochs is not None:
        changes["epochs"] = int(epochs)
    return replace(settings, **changes)


def rerun_command(name: str, results: dict, base) -> str:
    """The command line that reruns ``results`` of experiment ``name``: ``--quick`` when it was a
    quick run, then ``--dataset`` and ``--epochs`` where they differ from ``base`` (the full or
    quick settings the run started from)."""
    st = results["settings"]
    cmd = f"python -m saeviz.experiments {name}" + (" --quick" if results["quick"] else "")
    if tuple(st["datasets"]) != tuple(base.datasets) and len(st["datasets"]) == 1:
        cmd += f" --dataset {st['datasets'][0]}"
    if st["epochs"] != base.epochs:
        cmd += f" --epochs {st['epochs']}"
    seeds, planned = st.get("seeds"), base.seeds
    if isinstance(seeds, dict) and isinstance(planned, dict):  # per dataset: those of this run
        seeds = [tuple(seeds.get(d, ())) for d in st["datasets"]]
        planned = [tuple(planned.get(d, ())) for d in st["datasets"]]
    elif seeds is not None:
        seeds, planned = [tuple(seeds)], [tuple(planned)]
    if seeds is not None and seeds != planned and len({len(s) for s in seeds}) == 1:
        cmd += f" --seeds {len(seeds[0])}"
    return cmd + " --out FOLDER"
