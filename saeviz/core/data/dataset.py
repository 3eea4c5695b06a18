"""The dataset type shared by the estimator, the CLI and the app."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saeviz.core.errors import DataError

KINDS = ("image", "mesh", "vector")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples with an optional ground truth, a kind and a fixed train/test split.

    ``X`` has shape ``(N, *sample_shape)``: ``(N, H, W)`` for images, ``(N, V, 3)`` for
    meshes (then ``faces`` is ``(F, 3)``), ``(N, D)`` for vectors. ``y`` holds ground-truth
    class indices (or ``None``); it is what a user may *reveal* as labels, never the labels
    themselves. ``source`` is a JSON-able description from which ``load_dataset`` rebuilds
    the same data (the dataset's identity in checkpoints and projects).
    """

    name: str
    X: np.ndarray
    kind: str
    y: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    train_idx: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    test_idx: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    faces: np.ndarray | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        X = np.asarray(self.X)
        if self.kind not in KINDS:
            raise DataError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if X.ndim < 2 or X.size == 0:
            raise DataError(f"{self.name}: the dataset is empty or has no features (shape {X.shape})")
        if X.dtype.kind not in "buif":
            raise DataError(f"{self.name}: samples must be real numbers, got dtype {X.dtype}")
        # Cast before the finiteness check: float64 values beyond float32's range become inf.
        with np.errstate(over="ignore", invalid="ignore"):  # reported just below
            X = np.ascontiguousarray(X, dtype=np.float32)
        finite = np.isfinite(X.reshape(len(X), -1)).all(axis=1)
        if not finite.all():
            bad = int(np.count_nonzero(~finite))
            raise DataError(f"{self.name}: {bad} samples contain NaN or infinite values "
                            "(or values too large for float32)")
        object.__setattr__(self, "X", X)
        names = () if self.class_names is None else self.class_names
        object.__setattr__(self, "class_names", tuple(str(c) for c in names))
        if self.kind == "mesh" and (X.ndim != 3 or X.shape[2] != 3):
            raise DataError(f"{self.name}: mesh data must have shape (N, V, 3), got {X.shape}")
        if self.kind == "image" and X.ndim != 3:
            raise DataError(f"{self.name}: image data must have shape (N, H, W), got {X.shape}")
        if self.y is not None:
            y = np.asarray(self.y)
            if y.shape != (len(X),):
                raise DataError(f"{self.name}: {len(y)} ground-truth labels for {len(X)} samples")
            if not np.issubdtype(y.dtype, np.integer):
                raise DataError(f"{self.name}: ground-truth labels must be integers")
            if len(y) and (y.min() < 0 or (self.class_names and y.max() >= len(self.class_names))):
                raise DataError(f"{self.name}: ground-truth labels out of range")
            object.__setattr__(self, "y", y.astype(np.int64))
        if self.faces is not None:
            faces = np.asarray(self.faces, dtype=np.int64)
            if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or faces.max() >= X.shape[1])):
                raise DataError(f"{self.name}: faces must be (F, 3) indices into {X.shape[1]} vertices")
            object.__setattr__(self, "faces", faces)
        if len(self.train_idx) == 0 and len(self.test_idx) == 0:
            tr, te = make_split(len(X), self.y, test_fraction=0.2, seed=0)
            object.__setattr__(self, "train_idx", tr)
            object.__setattr__(self, "test_idx", te)
        train = _check_indices(self.name, "train_idx", self.train_idx, len(X))
        test = _check_indices(self.name, "test_idx", self.test_idx, len(X))
        if np.intersect1d(train, test).size:
            raise DataError(f"{self.name}: train_idx and test_idx share samples")
        object.__setattr__(self, "train_idx", train)
        object.__setattr__(self, "test_idx", test)

    @property
    def n_samples(self) -> int:
        """The number of samples."""
        return int(self.X.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample (e.g. ``(28, 28)`` for an image, ``(V, 3)`` for a mesh)."""
        return tuple(self.X.shape[1:])

    @property
    def n_features(self) -> int:
        """The number of values in one sample."""
        return int(np.prod(self.sample_shape))

    @property
    def n_classes(self) -> int:
        """The number of class names."""
        return len(self.class_names)

    def flat(self) -> np.ndarray:
        """All samples as ``(N, D)`` float32 rows (a view)."""
        return self.X.reshape(self.n_samples, -1)


def _check_indices(name: str, what: str, idx, n: int) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.size == 0:
        return np.empty(0, np.int64)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise DataError(f"{name}: {what} must be a 1-D array of integer indices")
    idx = idx.astype(np.int64)
    if idx.min() < 0 or idx.max() >= n:
        raise DataError(f"{name}: {what} holds indices outside [0, {n})")
    if np.unique(idx).size != idx.size:
        raise DataError(f"{name}: {what} holds repeated indices")
    return idx


def make_split(n: int, y: np.ndarray | None, test_fraction: float = 0.2, seed: int = 0):
    """A deterministic train/test split, stratified by ``y`` when given."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float, np.integer, np.floating)) \
            or not 0.0 <= test_fraction < 1.0:
        raise DataError(f"test fraction must be a number in [0, 1), got {test_fraction!r}"[:200])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 1 << 63:
        raise DataError(f"the split seed must be a whole number in [0, 2**63), got {seed!r}"[:200])
    rng = np.random.default_rng(seed)
    if y is None:
        order = rng.permutation(n)
        n_test = int(round(n * test_fraction))
        return np.sort(order[n_test:]), np.sort(order[:n_test])
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        test.append(idx[: int(round(len(idx) * test_fraction))])
    test = np.sort(np.concatenate(test)) if test else np.empty(0, np.int64)
    train = np.setdiff1d(np.arange(n), test)
    return train.astype(np.int64), test.astype(np.int64)


def reveal_labels(y: np.ndarray, indices: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Sparse labels: ground truth for ``fraction`` of ``indices`` (stratified), -1 elsewhere.

    At least one sample per class present is revealed when ``fraction > 0``.
    """
    if not 0.0 <= fraction <= 1.0:
        raise DataError(f"label fraction must lie in [0, 1], got {fraction}")
    labels = np.full(len(y), -1, dtype=np.int64)
    if fraction == 0:
        return labels
    rng = np.random.default_rng(seed)
    indices = np.asarray(indices)
    for c in np.unique(y[indices]):
        idx = indices[y[indices] == c]
        k = max(1, int(round(len(idx) * fraction)))
        chosen = rng.choice(idx, size=min(k, len(idx)), replace=False)
        labels[chosen] = c
    return labels
