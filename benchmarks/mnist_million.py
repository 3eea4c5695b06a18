"""A real million-point case: the MNIST training set with augmentation, encoded by a conv SAE.

``augmented_mnist_codes(n)`` trains the paper's conv SAE (8/16/32 channels, a 16-D latent
space, 600 labels of the 60,000 training images, the ten digits) for ``epochs`` epochs, then
draws ``n`` images from the training set, each moved by a random affine transform (rotation up
to 15 degrees, scale 0.9 to 1.1, shift up to 2 pixels: torch's ``affine_grid`` and
``grid_sample`` on batches) and encodes them. Only the codes are kept (64 MB at a million),
never the million images. The result has the fields of ``synthetic.ClusteredCodes``: the
codes, every sample's digit, ``labeled`` of them labeled, and the class centres of the
labeled codes. A million take a few minutes on two cores (mostly the encoding).

The MNIST files are looked for as ``saeviz train --dataset mnist`` does, then in
``../shared/data/mnist`` beside the repository.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.synthetic import ClusteredCodes


def mnist_folder() -> Path | None:
    """The folder of the four MNIST IDX files, or None."""
    from saeviz.core.data.named import find_idx_dataset

    found = find_idx_dataset("mnist")
    if found is not None:
        return Path(found)
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    return shared if shared.is_dir() else None


def augment(images, rng: np.random.Generator):
    """``images`` (m, 1, 28, 28) float tensor, each moved by its own random affine transform."""
    import torch
    import torch.nn.functional as F

    m = images.shape[0]
    angle = np.deg2rad(rng.uniform(-15.0, 15.0, m))
    scale = rng.uniform(0.9, 1.1, m)
    shift = rng.uniform(-2.0, 2.0, (m, 2)) / 14.0  # pixels -> the grid's [-1, 1] units
    theta = np.empty((m, 2, 3), np.float32)
    theta[:, 0, 0] = theta[:, 1, 1] = np.cos(angle) / scale
    theta[:, 0, 1] = -np.sin(angle) / scale
    theta[:, 1, 0] = np.sin(angle) / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(torch.from_numpy(theta), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


def augmented_mnist_codes(n: int = 1_000_000, epochs: int = 1, labeled: float = 0.02, seed: int = 0,
                          chunk: int = 8192, say=print) -> ClusteredCodes:
    """``n`` codes of augmented MNIST training images (see the module docstring)."""
    import torch

    from saeviz.core.data.idx import load_mnist_folder
    from saeviz.estimator import StructuringAutoencoder

    folder = mnist_folder()
    if folder is None:
        raise SystemExit("MNIST not found: set SAEVIZ_MNIST_DIR to the folder of its four IDX files")
    ds = load_mnist_folder(folder)
    X = ds.X[ds.train_idx].reshape(len(ds.train_idx), -1).astype(np.float32)
    y = np.asarray(ds.y[ds.train_idx], np.int64)
    rng = np.random.default_rng(seed)
    partial = np.full(len(y), -1)
    pick = rng.choice(len(y), 600, replace=False)
    partial[pick] = y[pick]
    t0 = time.perf_counter()
    sae = StructuringAutoencoder(architecture="conv", latent_dim=16, epochs=epochs, batch_size=64,
                                 image_shape=(28, 28), device="cpu", random_state=seed).fit(X, partial)
    say(f"conv SAE trained on the 60,000 MNIST training images ({epochs} epoch, 600 labels) in "
        f"{time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    codes = np.empty((n, 16), np.float32)
    classes = np.empty(n, np.int64)
    with torch.no_grad():
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            rows = rng.integers(0, len(X), m)
            images = augment(torch.from_numpy(X[rows]).view(m, 1, 28, 28), rng)
            codes[start:start + m] = sae.transform(images.reshape(m, -1).numpy())
            classes[start:start + m] = y[rows]
    say(f"{n:,} augmented images encoded in {time.perf_counter() - t0:.0f} s")
    labels = np.full(n, -1, np.int64)
    chosen = rng.choice(n, max(10, int(labeled * n)), replace=False)
    labels[chosen] = classes[chosen]
    centers = np.stack([codes[chosen][classes[chosen] == c].mean(axis=0) for c in range(10)]).astype(np.float32)
    return ClusteredCodes(codes, classes, labels, centers)
