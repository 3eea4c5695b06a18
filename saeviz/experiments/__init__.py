"""Reproducible experiments that write a Markdown report with figures and a JSON of numbers.

    python -m saeviz.experiments NAME [--quick] [--seeds N] [--threads N] --out FOLDER

``EXPERIMENTS`` maps each name to its module. An experiment module provides

``DESCRIPTION``
    one line, shown by ``--list``;
``run(out, quick=False, seeds=None, log=print, **options) -> dict``
    runs the experiment, writes ``out/report.md`` (with PNG figures) and ``out/results.json``
    and returns the results; ``quick`` is a short pass (a smoke test), ``seeds`` the number of
    seeds (default: the experiment's own);
``add_arguments(parser)`` (optional)
    adds the experiment's own command-line options; their values reach ``run`` as
    keyword arguments, ``None`` when not given.

To add an experiment, write such a module in this package and add it to ``EXPERIMENTS``.
Shared helpers (seeds, splits, training, evaluation, reports) live in ``common``.
"""
from __future__ import annotations

from types import ModuleType

from saeviz.experiments import confidence, gamma, guided, sparse_labels, structure

EXPERIMENTS: dict[str, ModuleType] = {
    "structure": structure,
    "sparse_labels": sparse_labels,
    "gamma": gamma,
    "confidence": confidence,
    "guided": guided,
}

__all__ = ["EXPERIMENTS"]

from saeviz.experiments import bodies_study, few_labels  # noqa: E402

EXPERIMENTS["bodies"] = bodies_study
EXPERIMENTS["few_labels"] = few_labels
