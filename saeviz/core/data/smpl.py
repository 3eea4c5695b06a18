"""SMPL bodies: linear blend skinning in torch, and a safe one-time conversion of the release.

The model is read from a plain-array ``.npz`` file (no pickle) holding

====================  ==========================================================
``v_template``        (V, 3) rest vertices
``shapedirs``         (V, 3, B) shape blend shapes
``posedirs``          (V, 3, (J-1)*9) pose-corrective blend shapes
``J_regressor``       (J, V) joint regressor (dense)
``weights``           (V, J) skinning weights
``kintree_table``     (2, J): row 0 the parent of each joint (the root's is -1 or
                      2**32-1), row 1 the joint ids
``f``                 (F, 3) triangles
====================  ==========================================================

The official release ships ``.pkl`` files (Python 2 pickles holding numpy arrays, a
``scipy.sparse`` joint regressor and ``chumpy`` arrays). ``convert_smpl_pkl`` turns one into
the ``.npz`` format once, with an unpickler that only resolves an allow-list of classes and
rebuilds the sparse and chumpy objects as plain arrays (neither scipy's nor chumpy's classes
are imported or run). Anything else in the file is refused with a ``DataError`` before any
of it runs.

Pose convention: ``pose_axis_angle`` holds one axis-angle vector per joint, each expressed
in the joint's parent frame, which at rest is aligned with the model's axes (SMPL: x to the
body's left, y up, z forward).
"""
from __future__ import annotations

import codecs
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from saeviz.core.data.meshes import write_npz_atomic
from saeviz.core.errors import DataError
from saeviz.core.io.budget import check_budget

SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")

#: Joint names of the 24-joint SMPL skeleton, in model order.
SMPL_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) from axis-angle vectors (..., 3) (Rodrigues' formula).

    A zero vector gives the identity exactly.
    """
    angle = torch.linalg.vector_norm(rotvec, dim=-1, keepdim=True)
    safe = torch.where(angle > 0, angle, torch.ones_like(angle))
    axis = rotvec / safe
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*rotvec.shape[:-1], 3, 3)
    s = torch.sin(angle)[..., None]
    c = (1 - torch.cos(angle))[..., None]
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand(K.shape)
    return eye + s * K + c * (K @ K)


def _rigid(rot: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
    """Homogeneous (..., 4, 4) transforms from rotations (..., 3, 3) and translations (..., 3)."""
    out = torch.zeros(*rot.shape[:-2], 4, 4, dtype=rot.dtype, device=rot.device)
    out[..., :3, :3] = rot
    out[..., :3, 3] = trans
    out[..., 3, 3] = 1
    return out


class SMPLModel:
    """An SMPL-format body model evaluated with linear blend skinning (torch, float32 by default)."""

    def __init__(self, v_template, shapedirs, posedirs, J_regressor, weights, parents, faces,
                 *, dtype: torch.dtype = torch.float32, name: str = "SMPL model") -> None:
        self.name = name
        v_template = np.asarray(v_template, dtype=np.float64)
        if v_template.ndim != 2 or v_template.shape[1] != 3 or len(v_template) == 0:
            raise DataError(f"{name}: v_template must have shape (V, 3), got {v_template.shape}")
        V = len(v_template)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[0] != V:
            raise DataError(f"{name}: weights must have shape ({V}, J), got {weights.shape}")
        J = weights.shape[1]
        shapedirs = np.asarray(shapedirs, dtype=np.float64)
        if shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3):
            raise DataError(f"{name}: shapedirs must have shape ({V}, 3, B), got {shapedirs.shape}")
        posedirs = np.asarray(posedirs, dtype=np.float64)
        if posedirs.ndim != 3 or posedirs.shape != (V, 3, (J - 1) * 9):
            raise DataError(f"{name}: posedirs must have shape ({V}, 3, {(J - 1) * 9}), "
                            f"got {posedirs.shape}")
        J_regressor = np.asarray(J_regressor, dtype=np.float64)
        if J_regressor.shape != (J, V):
            raise DataError(f"{name}: J_regressor must have shape ({J}, {V}), got {J_regressor.shape}")
        parents = np.asarray(parents).astype(np.int64).ravel()
        if parents.shape != (J,):
            raise DataError(f"{name}: {len(parents)} parents for {J} joints")
        parents = parents.copy()
        parents[0] = -1
        if np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, J)):
            raise DataError(f"{name}: every joint's parent must come before it (the root first)")
        faces = np.asarray(faces)
        if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or faces.max() >= V)):
            raise DataError(f"{name}: faces must be (F, 3) indices into {V} vertices")
        for key, arr in (("v_template", v_template), ("shapedirs", shapedirs), ("posedirs", posedirs),
                         ("J_regressor", J_regressor), ("weights", weights)):
            if not np.all(np.isfinite(arr)):
                raise DataError(f"{name}: {key} contains NaN or infinite values")
        t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
        self.v_template = t(v_template)
        self.shapedirs = t(shapedirs.reshape(V * 3, -1).T.copy())          # (B, V*3)
        self.posedirs = t(posedirs.reshape(V * 3, -1).T.copy())            # ((J-1)*9, V*3)
        self.J_regressor = t(J_regressor)
        self.weights = t(weights)
        self.parents = parents
        self.faces = faces.astype(np.int64)
        self.dtype = dtype

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_npz(cls, path: str | os.PathLike, *, dtype: torch.dtype = torch.float32) -> "SMPLModel":
        """Read a model in the plain-array ``.npz`` format (see the module documentation)."""
        from saeviz.core.data.arrays import read_npz_arrays

        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        try:
            # float64 copies and the torch tensors: about three times the arrays
            arrays = read_npz_arrays(path, {k: "biuf" for k in SMPL_KEYS}, required=SMPL_KEYS,
                                     factors={k: 3.0 for k in SMPL_KEYS})
        except DataError as exc:
            if "no array named" in str(exc):
                raise DataError(f"{path}: not an SMPL model file; {str(exc).split(': ', 1)[1]}") from None
            raise
        kintree = np.asarray(arrays["kintree_table"])
        if kintree.ndim != 2 or kintree.shape[0] != 2:
            raise DataError(f"{path}: kintree_table must have shape (2, J), got {kintree.shape}")
        parents = _parents_from_kintree(kintree, path)
        return cls(arrays["v_template"], arrays["shapedirs"], arrays["posedirs"], arrays["J_regressor"],
                   arrays["weights"], parents, arrays["f"], dtype=dtype, name=str(path))

    # ------------------------------------------------------------------ properties
    @property
    def n_vertices(self) -> int:
        """The number of vertices of the template mesh."""
        return int(self.v_template.shape[0])

    @property
    def n_joints(self) -> int:
        """The number of joints of the skeleton."""
        return int(self.weights.shape[1])

    @property
    def n_betas(self) -> int:
        """The number of shape parameters (betas)."""
        return int(self.shapedirs.shape[0])

    # ------------------------------------------------------------------ evaluation
    def shape(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest vertices (N, V, 3) and rest joint positions (N, J, 3) for shape coefficients (N, b).

        ``b`` may be smaller than the model's number of shape blend shapes (the first ``b``
        are used).
        """
        betas = torch.as_tensor(betas, dtype=self.dtype)
        if betas.ndim == 1:
            betas = betas[None]
        b = betas.shape[1]
        if b > self.n_betas:
            raise DataError(f"{self.name}: {b} shape coefficients for {self.n_betas} blend shapes")
        v = self.v_template.reshape(1, -1) + betas @ self.shapedirs[:b]
        v = v.reshape(len(betas), self.n_vertices, 3)
        joints = torch.einsum("jv,nvd->njd", self.J_regressor, v)
        return v, joints

    def pose(self, v_shaped: torch.Tensor, joints: torch.Tensor, rotations: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Skin rest bodies with joint rotations (N, J, 3, 3) in parent frames.

        Returns the posed vertices (N, V, 3) and the skinning transforms (N, J, 4, 4) that map
        each joint's rest frame to its posed frame (the root's origin stays in place).
        """
        N, J = rotations.shape[:2]
        eye = torch.eye(3, dtype=self.dtype)
        pose_feature = (rotations[:, 1:] - eye).reshape(N, -1)
        v_posed = v_shaped + (pose_feature @ self.posedirs).reshape(N, self.n_vertices, 3)
        transforms = self.transforms(joints, rotations)
        return self.skin(v_posed, transforms), transforms

    def transforms(self, joints: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
        """Skinning transforms (N, J, 4, 4) from rest joints (N, J, 3) and rotations (N, J, 3, 3)."""
        parents = self.parents
        offsets = joints.clone()
        offsets[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
        local = _rigid(rotations, offsets)
        world = [local[:, 0]]
        for j in range(1, len(parents)):
            world.append(world[parents[j]] @ local[:, j])
        G = torch.stack(world, dim=1)
        # Remove the rest joint position: A_j = G_j [I | -j_rest].
        shift = (G[..., :3, :3] @ joints[..., None])[..., 0]
        G = G.clone()
        G[..., :3, 3] = G[..., :3, 3] - shift
        return G

    def skin(self, vertices: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
        """Linear blend skinning of (N, V, 3) vertices with (N, J, 4, 4) transforms."""
        blend = torch.einsum("vj,njab->nvab", self.weights, transforms[:, :, :3, :])
        return (blend[..., :3] @ vertices[..., None])[..., 0] + blend[..., 3]

    def forward(self, betas, pose_axis_angle, trans=None) -> torch.Tensor:
        """Posed vertices (N, V, 3) from shape coefficients (N, b), axis-angle pose (N, J*3)
        and translation (N, 3) (each may also be given for one body without the N axis)."""
        v_shaped, joints = self.shape(betas)
        pose = torch.as_tensor(pose_axis_angle, dtype=self.dtype)
        if pose.ndim == 1:
            pose = pose[None]
        if pose.shape[1] != self.n_joints * 3:
            raise DataError(f"{self.name}: the pose needs {self.n_joints * 3} values, got {pose.shape[1]}")
        if len(pose) != len(v_shaped):
            if len(v_shaped) == 1:
                v_shaped = v_shaped.expand(len(pose), -1, -1)
                joints = joints.expand(len(pose), -1, -1)
            elif len(pose) != 1:
                raise DataError(f"{self.name}: {len(pose)} poses for {len(v_shaped)} shapes")
            else:
                pose = pose.expand(len(v_shaped), -1)
        rotations = axis_angle_to_matrix(pose.reshape(len(pose), self.n_joints, 3))
        vertices, _ = self.pose(v_shaped, joints, rotations)
        if trans is not None:
            trans = torch.as_tensor(trans, dtype=self.dtype).reshape(-1, 1, 3)
            vertices = vertices + trans
        return vertices

    __call__ = forward


def _parents_from_kintree(kintree: np.ndarray, where: Any) -> np.ndarray:
    ids = kintree[1].astype(np.int64)
    if not np.array_equal(ids, np.arange(len(ids))):
        raise DataError(f"{where}: kintree_table row 1 must list the joints 0..J-1 in order")
    parents = kintree[0].astype(np.int64)
    parents[0] = -1
    return parents


# ---------------------------------------------------------------------- safe pickle conversion
class _ArrayStandIn:
    """Holds the state of a pickled chumpy array or scipy sparse matrix, run by nothing."""

    state: Any = None
    where: str = "the SMPL file"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_array(self) -> np.ndarray:
        raise NotImplementedError


class _ChumpyArray(_ArrayStandIn):
    def to_array(self) -> np.ndarray:
        state = self.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = state[1]  # (slots, dict)
        if not isinstance(state, dict):
            raise DataError("a chumpy array in the file has no readable state")
        for key in ("x", "r", "_r"):
            value = state.get(key)
            if isinstance(value, np.ndarray):
                return value
            if isinstance(value, _ArrayStandIn):
                return value.to_array()
        raise DataError("a chumpy array in the file holds no plain values (only a chumpy "
                        "expression, which is not supported)")


class _SparseMatrix(_ArrayStandIn):
    fmt = "csc"

    def to_array(self) -> np.ndarray:
        state = self.state
        if not isinstance(state, dict):
            raise DataError("a sparse matrix in the file has no readable state")
        shape = state.get("_shape", state.get("shape"))
        if not isinstance(shape, (tuple, list)) or len(shape) != 2 \
                or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise DataError("a sparse matrix in the file has no valid shape")
        rows, cols = (int(s) for s in shape)
        check_budget(8 * rows * cols, self.where, f"a sparse matrix of declared shape ({rows}, {cols}), made dense,")
        try:
            data = np.asarray(state.get("data"), dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise DataError(f"a {self.fmt} matrix in the file holds values that are not numbers") from None
        dense = np.zeros((rows, cols), dtype=np.float64)
        if self.fmt in ("csc", "csr"):
            indices = np.asarray(state.get("indices"), dtype=np.int64)
            indptr = np.asarray(state.get("indptr"), dtype=np.int64)
            n_major = cols if self.fmt == "csc" else rows
            if len(indptr) != n_major + 1 or len(indices) != len(data) or (len(indices) and (
                    indices.min() < 0 or indices.max() >= (rows if self.fmt == "csc" else cols))):
                raise DataError(f"a {self.fmt} matrix in the file is malformed")
            major = np.repeat(np.arange(n_major), np.diff(indptr))
            if self.fmt == "csc":
                np.add.at(dense, (indices, major), data)
            else:
                np.add.at(dense, (major, indices), data)
        else:  # coo: scipy < 1.13 pickles "row" and "col", later versions "coords" = (row, col)
            coords = state.get("coords")
            if coords is None:
                coords = (state.get("row"), state.get("col"))
            try:
                if not isinstance(coords, (tuple, list)) or len(coords) != 2:
                    raise ValueError
                r, c = (np.asarray(_plain(v), dtype=np.int64).reshape(-1) for v in coords)
            except (TypeError, ValueError):
                raise DataError("a coo matrix in the file has no valid coordinates") from None
            if not (len(r) == len(c) == len(data)) or (len(r) and (
                    r.min() < 0 or r.max() >= rows or c.min() < 0 or c.max() >= cols)):
                raise DataError("a coo matrix in the file is malformed")
            np.add.at(dense, (r, c), data)
        return dense


def _numpy_multiarray():
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


def _allowed_classes() -> dict[tuple[str, str], Any]:
    ma = _numpy_multiarray()
    import copyreg

    allowed: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = ma._reconstruct
        allowed[(mod, "scalar")] = ma.scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    for mod in ("copy_reg", "copyreg"):
        allowed[(mod, "_reconstructor")] = copyreg._reconstructor
    for mod in ("__builtin__", "builtins"):
        allowed[(mod, "object")] = object
        allowed[(mod, "set")] = set
        allowed[(mod, "frozenset")] = frozenset
    # Python 3 pickles of protocol 2 spell bytes as codecs.encode(text, "latin1").
    allowed[("_codecs", "encode")] = codecs.encode
    allowed[("chumpy.ch", "Ch")] = _ChumpyArray
    for fmt in ("csc", "csr", "coo"):
        cls = type(f"_{fmt}_matrix", (_SparseMatrix,), {"fmt": fmt})
        for mod in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}"):
            allowed[(mod, f"{fmt}_matrix")] = cls
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the classes an SMPL release file holds; refuses everything else."""

    def __init__(self, file, *, where: str) -> None:
        super().__init__(file, encoding="latin1")
        self._allowed = _allowed_classes()
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        try:
            found = self._allowed[(module, name)]
            if isinstance(found, type) and issubclass(found, _ArrayStandIn):
                found = type(found.__name__, (found,), {"where": self._where})
            return found
        except KeyError:
            raise DataError(f"{self._where}: refused to load the class {module}.{name}; an SMPL "
                            "model file holds only numpy arrays, a scipy sparse matrix and "
                            "chumpy arrays") from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self._where}: refused a persistent reference in the pickle")


def _plain(value: Any) -> Any:
    if isinstance(value, _ArrayStandIn):
        return value.to_array()
    return value


def read_smpl_pkl(pkl_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The model arrays of an official SMPL ``.pkl`` file, read with the restricted unpickler."""
    pkl_path = Path(pkl_path)
    try:
        raw = pkl_path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{pkl_path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{pkl_path}: cannot read ({exc.strerror or exc})") from exc
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), where=str(pkl_path)).load()
    except DataError:
        raise
    except Exception as exc:  # malformed or truncated pickle data
        raise DataError(f"{pkl_path}: not a readable SMPL pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{pkl_path}: expected a dict of model arrays, got {type(obj).__name__}")
    missing = [k for k in SMPL_KEYS if k not in obj]
    if missing:
        raise DataError(f"{pkl_path}: not an SMPL model; missing {', '.join(missing)}")
    out = {}
    for key in SMPL_KEYS:
        try:
            value = np.asarray(_plain(obj[key]))
        except DataError as exc:
            message = str(exc)
            raise DataError(message if message.startswith(str(pkl_path)) else f"{pkl_path}: {key}: {message}") from None
        except (TypeError, ValueError) as exc:
            raise DataError(f"{pkl_path}: {key} is not a numeric array ({exc})") from None
        if value.dtype == object or value.dtype.kind not in "biuf":
            raise DataError(f"{pkl_path}: {key} is not a numeric array")
        out[key] = value
    kintree = out["kintree_table"]
    if kintree.ndim != 2 or kintree.shape[0] != 2 or kintree.shape[1] < 1:
        raise DataError(f"{pkl_path}: kintree_table must have shape (2, J), got {kintree.shape}")
    return out


def convert_smpl_pkl(pkl_path: str | os.PathLike, out_npz: str | os.PathLike) -> Path:
    """Convert an official SMPL ``.pkl`` release file to the plain-array ``.npz`` format.

    The pickle is read with a restricted unpickler (see the module documentation); the result
    is checked by building the model, then written atomically. Returns the output path.
    """
    arrays = read_smpl_pkl(pkl_path)
    kintree = arrays["kintree_table"].astype(np.int64)
    kintree[0, 0] = -1
    arrays["kintree_table"] = kintree
    arrays["f"] = arrays["f"].astype(np.int64)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        arrays[key] = arrays[key].astype(np.float64)
    SMPLModel(arrays["v_template"], arrays["shapedirs"], arrays["posedirs"], arrays["J_regressor"],
              arrays["weights"], _parents_from_kintree(kintree, pkl_path), arrays["f"],
              name=str(pkl_path))
    out = Path(out_npz)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    write_npz_atomic(out, arrays)
    return out


__all__ = ["SMPLModel", "SMPL_JOINTS", "axis_angle_to_matrix", "convert_smpl_pkl", "read_smpl_pkl"]
