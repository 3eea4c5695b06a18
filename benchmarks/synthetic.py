"""Synthetic latent codes for benchmarks and tests at scale (numpy only, no Qt).

``clustered_codes(n, d)`` draws ``n`` codes in ``d`` dimensions from ``k`` Gaussian blobs of
different sizes and weights, like the latent space of a trained SAE: the class of every sample
is known (``classes``) and a small fraction of them is labeled (``labels``, -1 elsewhere).
A million 16-dimensional codes take about a second and 64 MB (float32).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClusteredCodes:
    """Codes (n, d) float32, their classes (n,), the partial labels (n,) and the blob centres."""

    codes: np.ndarray
    classes: np.ndarray
    labels: np.ndarray
    centers: np.ndarray


def clustered_codes(n: int, d: int = 16, k: int = 10, labeled: float = 0.02, seed: int = 0,
                    spread: float = 3.0) -> ClusteredCodes:
    """``n`` codes from ``k`` blobs (centres ~ N(0, spread^2), unequal weights and widths);
    ``labeled`` of them (at least one per class) carry their class in ``labels``."""
    if n < k or k < 1 or d < 1:
        raise ValueError(f"need n >= k >= 1 and d >= 1, got n={n}, k={k}, d={d}")
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d)).astype(np.float32)
    weights = rng.uniform(0.5, 1.5, k)
    classes = rng.choice(k, n, p=weights / weights.sum()).astype(np.int64)
    classes[:k] = np.arange(k)  # every class present
    widths = rng.uniform(0.6, 1.3, k).astype(np.float32)
    codes = rng.standard_normal((n, d), dtype=np.float32)
    codes *= widths[classes, None]
    codes += centers[classes]
    labels = np.full(n, -1, np.int64)
    chosen = rng.choice(n, max(k, int(labeled * n)), replace=False)
    chosen[:k] = np.arange(k)
    labels[chosen] = classes[chosen]
    return ClusteredCodes(codes, classes, labels, centers)
