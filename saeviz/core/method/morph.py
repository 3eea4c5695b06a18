"""Class transitions and paths through the latent space (the paper's section 3.7).

The class centers are the mean codes of each class's labeled samples. A sample's code ``z``
moves from the source class toward the target class along the vector between their
centers: ``morph_path(z, c_source, c_target, t) = z + t (c_target - c_source)``; at ``t = 0``
it is the sample itself, at ``t = 1`` it has crossed the whole distance between the classes.
Values outside [0, 1] extrapolate. ``interpolate(z0, z1, t)`` is the straight path between two
codes. Decoding any of these points gives the morphed sample; with a structured latent space
the class attribute changes while what the classes share (a body's pose) stays.

``CodeDecoder`` decodes one code at a time into a reused array for interactive use (a
slider); ``decode_codes`` decodes many. ``pose_change`` measures how much the pose of a
body mesh changes between two versions of it, from joint positions estimated as
skinning-weighted vertex means (``joint_positions``), so that a morph can be checked for
keeping the pose. ``inverse_at`` maps display coordinates of a linear projection back to a
code whose other components are those of a chosen reference (e.g. the labeled mean), and
``nearest_codes`` finds the samples whose codes are closest to a code.
"""
from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from saeviz.core.errors import DataError
from saeviz.core.io.fileio import atomic_path
from saeviz.core.method.training import decode

ANIMATION_SUFFIXES = (".gif", ".mp4")
MESH_SEQUENCE_SUFFIXES = (".ply", ".obj")


# --------------------------------------------------------------------------- class centers
def class_centers(codes, labels, n_classes: int | None = None) -> np.ndarray:
    """Mean code of each class's labeled samples, (K, d) float64.

    ``labels`` holds a class index per code, -1 for unlabeled codes (ignored). ``n_classes``
    defaults to the largest label plus one; a class without labeled samples gets a row of NaN.
    """
    Z = np.asarray(codes, np.float64)
    y = np.asarray(labels)
    if Z.ndim != 2 or y.shape != (len(Z),):
        raise DataError(f"{y.shape[0] if y.ndim else 0} labels for codes of shape {Z.shape}")
    y = y.astype(np.int64, copy=False)
    mask = y >= 0
    K = int(n_classes) if n_classes is not None else (int(y[mask].max()) + 1 if mask.any() else 0)
    if mask.any() and y[mask].max() >= K:
        raise DataError(f"labels go up to {int(y[mask].max())}, but there are {K} classes")
    sums = np.zeros((K, Z.shape[1]))
    np.add.at(sums, y[mask], Z[mask])
    counts = np.bincount(y[mask], minlength=K).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        centers = sums / counts[:, None]
    centers[counts == 0] = np.nan
    return centers


def labeled_mean(codes, labels) -> np.ndarray:
    """Mean of the labeled codes (all codes when none is labeled), (d,) float64."""
    Z = np.asarray(codes, np.float64)
    y = np.asarray(labels)
    mask = y >= 0
    return (Z[mask] if mask.any() else Z).mean(axis=0)


def class_direction(centers, source: int, target: int) -> np.ndarray:
    """``centers[target] - centers[source]``; an error when either class has no labels."""
    C = np.asarray(centers, np.float64)
    for k in (source, target):
        if not 0 <= k < len(C):
            raise DataError(f"there is no class {k} (classes 0..{len(C) - 1})")
        if not np.isfinite(C[k]).all():
            raise DataError(f"class {k} has no labeled samples, so it has no center")
    return C[target] - C[source]


def morph_path(z, c_source, c_target, t) -> np.ndarray:
    """``z + t (c_target - c_source)``: (d,) for a scalar ``t``, (T, d) for an array of T."""
    z = np.asarray(z, np.float64)
    cs = np.asarray(c_source, np.float64)
    ct = np.asarray(c_target, np.float64)
    if z.ndim != 1 or cs.shape != z.shape or ct.shape != z.shape:
        raise DataError(f"a code (d,) and two centers (d,) are needed, got {z.shape}, {cs.shape} and {ct.shape}")
    step = ct - cs
    t = np.asarray(t, np.float64)
    if t.ndim == 0:
        return z + float(t) * step
    return z[None, :] + t.reshape(-1, 1) * step[None, :]


def interpolate(z0, z1, t) -> np.ndarray:
    """The straight path ``z0 + t (z1 - z0)`` between two codes (same shapes as ``morph_path``)."""
    return morph_path(z0, z0, z1, t)


def steps(t_from: float, t_to: float, n: int) -> np.ndarray:
    """``n`` evenly spaced values from ``t_from`` to ``t_to`` (both included)."""
    n = int(n)
    if n < 1:
        raise DataError(f"a path needs at least one step, got {n}")
    if n == 1:
        return np.array([float(t_from)])
    return np.linspace(float(t_from), float(t_to), n)


# --------------------------------------------------------------------------- decoding
def decode_codes(model, Z, batch_size: int = 256) -> np.ndarray:
    """Raw samples (N, *sample_shape) decoded from codes (N, d) on the CPU."""
    Z = np.atleast_2d(np.asarray(Z, np.float32))
    return decode(model, Z, batch_size=batch_size, device="cpu")


_last_blocks: tuple = ()
_blocks_lock = threading.Lock()


def _basis_blocks(basis, mean, scale, block: int) -> list:
    """The scaled, transposed basis and the mean in column blocks (see ``CodeDecoder``).

    The basis, mean and scale stay fixed while a network trains, and the weights sent after
    each epoch share them with the network they came from: the blocks of the last basis are
    kept and reused when the same basis comes again (the same tensor, with an equal mean and
    scale), instead of being copied for every epoch's network.
    """
    global _last_blocks
    key = (basis, mean, float(scale), int(block))
    with _blocks_lock:
        last = _last_blocks
    if last and last[0] is basis and last[2:4] == key[2:4] and (last[1] is mean or torch.equal(last[1], mean)):
        return last[4]
    with torch.no_grad():
        bt = basis.detach().to("cpu", torch.float32).T * scale.detach().to("cpu", torch.float32)
        m = mean.detach().to("cpu", torch.float32).reshape(1, -1)
        D = bt.shape[1]
        blocks = [(a, min(D, a + block), bt[:, a:a + block].contiguous(), m[:, a:a + block].contiguous())
                  for a in range(0, D, block)]
    with _blocks_lock:
        _last_blocks = (*key, blocks)
    return blocks


class CodeDecoder:
    """Decodes single codes of one (frozen, CPU) model as fast as the model allows.

    For the ``basis`` architecture the output is ``mean + h @ (scale * basis.T)``, with ``h``
    the decoder MLP's output and the scaled, transposed basis kept contiguous, (k, D): a row
    vector times it streams through memory once, while the model's own ``h @ basis.T`` reads
    the (D, k) basis across its rows (measured on a 41,154-value body, one core: 1.1 ms
    against 3.5 ms). The product runs in column blocks of ``BLOCK`` values, which the BLAS
    computes on the calling thread; as one call it is split over torch's threads, and on a
    busy machine those wait for each other (measured on 2 busy cores: 22 ms wall against
    1.3 ms). Results equal ``decode`` up to float32 rounding. Other architectures use the
    model's ``decode``.

    ``decode(z, out=None)`` returns one sample; ``out`` (an array of the sample's shape,
    float32, C-contiguous) is filled in place. Use one instance per thread.
    """

    BLOCK = 8192

    def __init__(self, model):
        self.model = model
        self.sample_shape = tuple(int(s) for s in model.sample_shape)
        self.latent_dim = int(model.latent_dim)
        self.n_features = int(np.prod(self.sample_shape))
        basis = getattr(model, "basis", None)
        self._fast = basis is not None and getattr(model.config, "architecture", "") == "basis"
        if self._fast:
            self._blocks = _basis_blocks(basis, model.mean, model.scale, self.BLOCK)
            self._mlp = model.decoder
        self._z = torch.empty(1, self.latent_dim, dtype=torch.float32)

    def decode(self, z, out: np.ndarray | None = None) -> np.ndarray:
        """The sample decoded from the one code ``z``, written into ``out`` when given."""
        z = np.asarray(z, np.float32).reshape(-1)
        if z.shape != (self.latent_dim,):
            raise DataError(f"a code must have {self.latent_dim} values, got {z.shape[0]}")
        if out is None:
            out = np.empty(self.sample_shape, np.float32)
        elif out.shape != self.sample_shape or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise DataError(f"out must be a C-contiguous float32 array of shape {self.sample_shape}")
        self._z[0] = torch.from_numpy(z)
        with torch.inference_mode():
            if self._fast:
                h = self._mlp(self._z)
                flat = torch.from_numpy(out).view(1, -1)
                for a, b, bt, mean in self._blocks:
                    torch.addmm(mean, h, bt, out=flat[:, a:b])
            else:
                was = self.model.training
                self.model.eval()
                try:
                    res = self.model.decode(self._z)
                finally:
                    self.model.train(was)
                out[...] = res[0].numpy()
        return out

    __call__ = decode


# --------------------------------------------------------------------------- exports
def sequence_paths(path, n: int) -> list[Path]:
    """``n`` numbered files from one name: ``morph.ply`` -> ``morph_000.ply``, ``morph_001.ply``..."""
    path = Path(path)
    width = max(3, len(str(max(int(n) - 1, 0))))
    return [path.with_name(f"{path.stem}_{i:0{width}d}{path.suffix}") for i in range(int(n))]


def save_mesh_sequence(path, vertices, faces) -> list[Path]:
    """Meshes (N, V, 3) with triangles ``faces`` as numbered ``.ply`` or ``.obj`` files (see
    ``sequence_paths``), each written atomically. Returns the paths."""
    from saeviz.core.data.meshes import save_mesh

    path = Path(path)
    if path.suffix.lower() not in MESH_SEQUENCE_SUFFIXES:
        raise DataError(f"{path}: a mesh sequence is saved as .ply or .obj files")
    X = np.asarray(vertices)
    if X.ndim != 3 or X.shape[2] != 3:
        raise DataError(f"a mesh sequence needs (N, V, 3) vertices, got {X.shape}")
    paths = sequence_paths(path, len(X))
    for p, v in zip(paths, X):
        save_mesh(p, v, faces)
    return paths


def save_animation(path, frames, fps: float = 20.0) -> Path:
    """RGB frames (N, H, W, 3) uint8 as an animated GIF (looping) or an MP4 video, atomically.

    Every frame is kept; a GIF encoder merges consecutive frames only when their pixels are
    identical. MP4 needs an imageio video plugin (``imageio-ffmpeg`` or ``av``).
    """
    import imageio.v3 as iio

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_SUFFIXES:
        raise DataError(f"{path}: save an animation as .gif or .mp4")
    F = np.asarray(frames)
    if F.ndim != 4 or F.shape[3] not in (3, 4) or len(F) == 0:
        raise DataError(f"an animation needs (N, H, W, 3) frames, got {F.shape}")
    F = np.ascontiguousarray(F[..., :3], dtype=np.uint8)
    fps = float(fps)
    if not fps > 0:
        raise DataError(f"frames per second must be positive, got {fps}")
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            iio.imwrite(tmp, F, extension=".gif", duration=int(round(1000.0 / fps)), loop=0)
        else:
            # even sizes for the usual yuv420p encoders
            F = F[:, : F.shape[1] - F.shape[1] % 2, : F.shape[2] - F.shape[2] % 2]
            try:
                with warnings.catch_warnings():  # imageio warns about plugins it tries on the way
                    warnings.simplefilter("ignore", DeprecationWarning)
                    # the container is named: ffmpeg cannot tell it from the temporary file's name
                    iio.imwrite(tmp, F, extension=".mp4", fps=fps, output_params=["-f", "mp4"])
            except (ImportError, ValueError, RuntimeError, OSError) as exc:
                why = ("no video plugin for imageio is installed (pip install imageio-ffmpeg)"
                       if "backend" in str(exc) else str(exc))
                raise DataError(f"{path.name}: cannot write MP4: {why}; save a GIF instead") from None
    return path


# --------------------------------------------------------------------------- projections
def inverse_at(live, coords, reference) -> np.ndarray:
    """The code that a linear projection maps to ``coords``, other components from ``reference``.

    ``live`` is a ``LiveProjection`` (its alignment is undone first) or a fitted
    ``LinearProjector``. The result lies in the affine plane through ``reference`` spanned by
    the projection's components: it projects exactly to ``coords``, and the parts of the code
    the view does not show are those of ``reference`` (the labeled mean, say).
    """
    projector = getattr(live, "projector", live)
    comps = getattr(projector, "components", None)
    if comps is None:
        raise DataError("the projection is not linear or not fitted yet")
    Y = np.asarray(coords, np.float64)
    one = Y.ndim == 1
    Y = np.atleast_2d(Y)
    if hasattr(live, "alignment"):
        Y = live.alignment.inverse(Y)
    C = np.asarray(comps, np.float64)
    ref = np.asarray(reference, np.float64)
    if ref.shape != (C.shape[1],):
        raise DataError(f"the reference must have {C.shape[1]} values, got {ref.shape}")
    if Y.shape[1] != C.shape[0]:
        raise DataError(f"coordinates have {Y.shape[1]} columns, the projection has {C.shape[0]}")
    base = (ref - projector.mean) @ C.T
    Z = ref + (Y - base) @ C
    return Z[0] if one else Z


def nearest_codes(codes, z, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Indices (sorted by distance) and Euclidean distances of the ``k`` codes nearest to ``z``."""
    Z = np.asarray(codes, np.float64)
    z = np.asarray(z, np.float64).reshape(-1)
    if Z.ndim != 2 or Z.shape[1] != len(z):
        raise DataError(f"a code of {len(z)} values cannot be compared with codes of shape {Z.shape}")
    k = max(0, min(int(k), len(Z)))
    if k == 0:
        return np.empty(0, np.int64), np.empty(0)
    d2 = np.einsum("ij,ij->i", Z - z, Z - z)
    idx = np.argpartition(d2, k - 1)[:k] if k < len(Z) else np.arange(len(Z))
    idx = idx[np.argsort(d2[idx], kind="stable")]
    return idx.astype(np.int64), np.sqrt(d2[idx])


# --------------------------------------------------------------------------- pose
def joint_positions(vertices, weights) -> np.ndarray:
    """Joint positions (N, J, 3) of meshes (N, V, 3) (or one (V, 3) -> (J, 3)), each joint the
    mean of the vertices weighted by its skinning weights ``weights`` (V, J)."""
    X = np.asarray(vertices, np.float64)
    W = np.asarray(weights, np.float64)
    one = X.ndim == 2
    X = X[None] if one else X
    if X.ndim != 3 or X.shape[2] != 3 or W.shape[0] != X.shape[1]:
        raise DataError(f"weights of shape {W.shape} do not fit meshes of shape {X.shape}")
    mass = W.sum(axis=0)
    if np.any(mass <= 0):
        raise DataError("every joint needs vertices with positive weight")
    J = np.einsum("nvd,vj->njd", X, W / mass)
    return J[0] if one else J


def bone_pairs(parents, keep) -> np.ndarray:
    """(B, 2) pairs (joint, nearest kept ancestor) among the joints with ``keep[j]`` true."""
    parents = list(parents)
    keep = np.asarray(keep, bool)
    pairs = []
    for j, p in enumerate(parents):
        if not keep[j]:
            continue
        while p >= 0 and not keep[p]:
            p = parents[p]
        if p >= 0:
            pairs.append((j, p))
    return np.array(pairs, np.int64).reshape(-1, 2)


@dataclass(frozen=True)
class PoseChange:
    """How far joints move between two versions of the same bodies.

    ``joint_shift``: mean distance a joint moves (data units); ``bone_angle``: mean angle (in
    degrees) by which the direction from a joint to its parent turns. Joint positions also
    move with the body's size and proportions; bone directions much less so.
    """

    joint_shift: float
    bone_angle: float


def pose_change(A, B, weights, parents=None) -> PoseChange:
    """``PoseChange`` between meshes ``A`` and ``B`` (N, V, 3), compared pairwise.

    ``weights`` (V, J) are the body model's skinning weights of these vertices (joints
    without weight are left out); ``parents`` (J,) the joint tree (-1 for the root), for the
    bone directions (NaN without it).
    """
    W = np.asarray(weights, np.float64)
    keep = W.sum(axis=0) > 0
    JA = joint_positions(A, W[:, keep])
    JB = joint_positions(B, W[:, keep])
    if JA.shape != JB.shape:
        raise DataError(f"cannot compare meshes of shapes {np.shape(A)} and {np.shape(B)}")
    shift = float(np.linalg.norm(JA - JB, axis=-1).mean())
    angle = float("nan")
    if parents is not None:
        index = np.cumsum(keep) - 1  # joint -> column among the kept joints
        pairs = bone_pairs(parents, keep)
        if len(pairs):
            cols = index[pairs]

            def directions(J):
                d = J[..., cols[:, 0], :] - J[..., cols[:, 1], :]
                return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)

            cos = np.clip(np.sum(directions(JA) * directions(JB), axis=-1), -1.0, 1.0)
            angle = float(np.degrees(np.arccos(cos)).mean())
    return PoseChange(shift, angle)


__all__ = ["class_centers", "labeled_mean", "class_direction", "morph_path", "interpolate", "steps",
           "decode_codes", "CodeDecoder", "save_animation", "save_mesh_sequence", "sequence_paths", "inverse_at", "nearest_codes", "joint_positions",
           "bone_pairs", "PoseChange", "pose_change"]
