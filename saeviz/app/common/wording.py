"""Words of the interface that depend on a number: "1 epoch", "30 epochs"."""
from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1 (nouns that add an "s")."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
