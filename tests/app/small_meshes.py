"""A small mesh dataset for GUI tests that need meshes but not the body model: tubes, narrow
ones (class "narrow") and wide ones (class "wide"), with a little noise, as an ``.npz``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

RING, RINGS = 12, 10  # vertices around, rings along


def tube_faces() -> np.ndarray:
    faces = []
    for r in range(RINGS - 1):
        for k in range(RING):
            a, b = r * RING + k, r * RING + (k + 1) % RING
            c, d = a + RING, b + RING
            faces += [(a, b, d), (a, d, c)]
    return np.asarray(faces, np.int64)


def tubes(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X (n, V, 3), y (n,)): z is up, 1.6 units tall, radius 0.15 (narrow) or 0.3 (wide)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    angle = np.linspace(0, 2 * np.pi, RING, endpoint=False)
    z = np.linspace(0.0, 1.6, RINGS)
    X = np.empty((n, RING * RINGS, 3), np.float32)
    for i in range(n):
        radius = (0.15 if y[i] == 0 else 0.3) * (1 + 0.1 * rng.standard_normal())
        bulge = 1 + 0.3 * rng.standard_normal() * np.sin(np.pi * z / 1.6)
        r = radius * bulge[:, None]
        X[i, :, 0] = (r * np.cos(angle)[None, :]).ravel()
        X[i, :, 1] = (r * np.sin(angle)[None, :]).ravel()
        X[i, :, 2] = np.repeat(z, RING)
    X += 0.003 * rng.standard_normal(X.shape).astype(np.float32)
    return X, y


def save_tubes(path: Path, n: int = 60, seed: int = 0) -> Path:
    X, y = tubes(n, seed)
    np.savez(path, X=X, y=y, faces=tube_faces(), class_names=np.array(["narrow", "wide"]))
    return Path(path)
