"""Named class decompositions and scikit-learn's 8x8 digits.

A *decomposition* groups the ten classes of a base label set into fewer, coarser classes,
as the paper does for MNIST (A/B/C) and Fashion-MNIST (seasons). ``DECOMPOSITIONS`` is the
single place where these groupings live, so loaders and the app offer the same presets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saeviz.core.data.dataset import Dataset, make_split
from saeviz.core.errors import DataError

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
BASE_CLASSES: dict[str, tuple[str, ...]] = {"mnist": MNIST_CLASSES, "fashion": FASHION_CLASSES}


@dataclass(frozen=True)
class Decomposition:
    """A grouping of a base label set (``"mnist"`` digits or ``"fashion"`` items) into classes.

    ``groups`` pairs each new class name with the base labels it gathers; together the
    groups cover every base label exactly once.
    """

    key: str
    base: str
    groups: tuple[tuple[str, tuple[int, ...]], ...]

    def __post_init__(self) -> None:
        n_base = len(BASE_CLASSES[self.base])
        members = sorted(label for _, labels in self.groups for label in labels)
        if members != list(range(n_base)):
            raise ValueError(f"decomposition {self.key!r} must cover labels 0..{n_base - 1} once each")

    @property
    def class_names(self) -> tuple[str, ...]:
        """The names of the groups, in order."""
        return tuple(name for name, _ in self.groups)

    @property
    def lookup(self) -> np.ndarray:
        """``lookup[base_label]`` is the new class index."""
        table = np.empty(len(BASE_CLASSES[self.base]), dtype=np.int64)
        for new, (_, labels) in enumerate(self.groups):
            table[list(labels)] = new
        return table

    def apply(self, y: np.ndarray) -> np.ndarray:
        """Map base labels ``y`` to the decomposition's class indices."""
        y = np.asarray(y)
        table = self.lookup
        if y.size and (y.min() < 0 or y.max() >= len(table)):
            raise DataError(f"decomposition {self.key!r}: labels must lie in 0..{len(table) - 1}")
        return table[y.astype(np.int64)]


DECOMPOSITIONS: dict[str, Decomposition] = {
    "abc": Decomposition("abc", "mnist", (
        ("A (0,1,9)", (0, 1, 9)),
        ("B (4,6,8)", (4, 6, 8)),
        ("C (2,3,5,7)", (2, 3, 5, 7)),
    )),
    "seasons": Decomposition("seasons", "fashion", (
        ("summer (top, sandal, dress, shirt)", (0, 5, 3, 6)),
        ("winter (pullover, coat, ankle boot)", (2, 4, 9)),
        ("all-year (sneaker, trouser, bag)", (7, 1, 8)),
    )),
}


def decompose(y: np.ndarray, decomposition: str | None, base: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels and class names of base labels ``y`` under ``decomposition`` (``None``: unchanged)."""
    if decomposition is None:
        return np.asarray(y, dtype=np.int64), BASE_CLASSES[base]
    dec = DECOMPOSITIONS.get(decomposition)
    if dec is None:
        raise DataError(f"unknown decomposition {decomposition!r}; "
                        f"known: {', '.join(sorted(DECOMPOSITIONS))}")
    if dec.base != base:
        raise DataError(f"decomposition {decomposition!r} groups {dec.base} classes and "
                        f"does not apply to {base} data")
    return dec.apply(y), dec.class_names


def load_digits(decomposition: str | None = "abc", test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 handwritten 8x8 digits as images in [0, 1].

    ``decomposition="abc"`` gives the paper's three classes A (0,1,9), B (4,6,8),
    C (2,3,5,7); ``"digits"`` (or ``None``) keeps the ten digits. The train/test split is
    stratified by digit, so it is the same for both decompositions.
    """
    if decomposition == "digits":
        decomposition = None
    from sklearn.datasets import load_digits as _sklearn_digits

    raw = _sklearn_digits()
    X = (np.asarray(raw.images, dtype=np.float64) / 16.0).astype(np.float32)
    digits = np.asarray(raw.target, dtype=np.int64)
    y, class_names = decompose(digits, decomposition, "mnist")
    train_idx, test_idx = make_split(len(X), digits, test_fraction=test_fraction, seed=seed)
    source: dict[str, Any] = {
        "loader": "digits",
        "decomposition": decomposition or "digits",
        "test_fraction": float(test_fraction),
        "seed": int(seed),
    }
    name = "digits (A/B/C)" if decomposition == "abc" else "digits"
    return Dataset(name=name, X=X, kind="image", y=y, class_names=class_names,
                   train_idx=train_idx, test_idx=test_idx, source=source)
