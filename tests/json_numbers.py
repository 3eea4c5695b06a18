"""Every number of a JSON tree, for tests of the results files the experiments write."""
from __future__ import annotations


def numbers(obj, path="results"):
    """Every number in a JSON tree, with where it sits (booleans are not numbers here)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj
