"""Small MNIST-format IDX files for tests of the named datasets."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_idx_folder(folder: Path, n_train: int = 40, n_test: int = 20, size: int = 8) -> None:
    """Four small MNIST-format IDX files with random images and cycling labels 0..9."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
            bytes([0, 0, 8, 3]) + np.array([n, size, size], ">u4").tobytes() + images.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
            bytes([0, 0, 8, 1]) + np.array([n], ">u4").tobytes() + labels.tobytes())
