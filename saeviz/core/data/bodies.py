"""The 3D HumanPose dataset: random male and female bodies in random plausible poses.

``load_bodies`` (cached) and ``generate_bodies`` (always computed) return a mesh ``Dataset``
of ``count`` bodies, half female (``y == 0``) and half male (``y == 1``), in a random order.

Body models (``model``):

``"anny"`` (default)
    the anny body model (``pip install anny``; Apache-2.0, no download). Its first use in a
    cache folder builds the model from the data shipped with the package (about two minutes,
    ~800 MB under ``<cache>/anny`` unless ``ANNY_CACHE_DIR`` is set); later uses load it in
    seconds. 13,718 vertices. Shapes: sex (anny ``gender`` within 0.15 of its female or male
    end), adult age (20 to 70 years, through anny's calibrated age mapping), height (anny's
    calibrated adult distribution for each sex), weight and muscle (Beta(2, 2) over anny's
    range) and proportions (uniform).
a folder path
    SMPL: the folder holds ``female.npz`` and ``male.npz`` in the format of ``smpl.SMPLModel``
    (convert the official release once with ``smpl.convert_smpl_pkl``). Shapes: the first
    ten shape coefficients drawn from a standard normal, clipped to +-2.5. 6,890 vertices.

Poses: every body gets random angles within anatomical limits at the spine, neck, shoulders,
elbows, wrists, hips and knees, plus a turn of up to 30 degrees about the vertical
(``poses.POSE_LIMITS``). Elbows and knees bend only about their hinge axis. A pose in which
a limb would pass through the torso, the head, the legs or the other arm is rejected and
another is drawn (up to ``POSE_CANDIDATES``; a body whose candidates all fail keeps the
model's rest pose). As in the paper, pose dominates the raw vertex data: the sexes differ
far less than two random poses do.

Centring: each body is placed with its pelvis (root joint) at the origin, and keeps the turn
and lean its pose gives it. Centring on the mean vertex instead would move the pelvis with
every raised arm or bent leg, mixing pose into the position of every vertex; the root joint
is the fixed point of the kinematic chain, so pose changes move only the limbs they bend.

Resolution: ``"full"`` keeps the model's mesh; ``"reduced"`` keeps a fixed subset of about
2,000 of its vertices with their own triangles (``reduce_mesh``, chosen once from the
template mesh and cached), i.e. exactly ``full.X[:, vertex_index]``. Computing it the first
time needs PyVista.

Generation runs in float32, ``batch_size`` bodies at a time, with batches in parallel on up to
``MAX_WORKERS`` threads (as many as torch's thread count; torch's own intra-op threading is
off meanwhile). It is deterministic for a given seed: shapes and poses are drawn up front from
one generator, and each batch is computed on its own. ``progress(done, total, message)`` is
called on the calling thread as the work advances: while the body model loads (0 of 1, then
1 of 1) and after every batch of bodies, in order.

Caching: ``load_bodies`` keeps each generated dataset as an ``.npz`` file under the cache
folder (``cache_dir``, else ``$SAEVIZ_CACHE_DIR``, else the platform's user cache folder,
e.g. ``~/.cache/saeviz``), named by the count, seed, model, resolution and generator
version, so the second call with the same arguments only reads the file.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import sys
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from safetensors import SafetensorError

from saeviz.core.data import body_cache
from saeviz.core.data.dataset import Dataset
from saeviz.core.data.meshes import write_npz_atomic
from saeviz.core.data.poses import (
    DOFS,
    Capsule,
    LimbContacts,
    Rig,
    default_contacts,
    pose_rotations,
    sample_pose_angles,
)
from saeviz.core.data.smpl import SMPLModel
from saeviz.core.errors import DataError
from saeviz.core.io.budget import check_budget
from saeviz.core.io.fileio import remove_stale_temp_files
from saeviz.core.io.validate import MAX_BODIES

log = logging.getLogger(__name__)

#: Bumped whenever the same arguments would give different bodies; part of the cache key.
GENERATOR_VERSION = 1
#: Poses drawn per body for the contact check before falling back to the rest pose.
POSE_CANDIDATES = 12
#: Batches generated at once, each on its own thread (at most torch's thread count).
MAX_WORKERS = 4
#: Default number of vertices of the reduced resolution.
REDUCED_VERTICES = 2000
RESOLUTIONS = ("full", "reduced")
MIN_FULL_VERTICES = 6890  # SMPL's; anny's full mesh has more
CLASS_NAMES = ("female", "male")

Progress = Callable[[int, int, str], None]


# ---------------------------------------------------------------------- cache folders
def default_cache_dir() -> Path:
    """``$SAEVIZ_CACHE_DIR``, else the platform's user cache folder for saeviz."""
    env = os.environ.get("SAEVIZ_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "saeviz" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "saeviz"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "saeviz"


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{root}: cannot create the cache folder ({exc.strerror or exc})") from exc
    for folder in (root, root / "bodies"):  # temporary files of writers that were killed
        remove_stale_temp_files(folder)
    return root


def _report(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, message)


# ---------------------------------------------------------------------- reduced resolution
def reduce_mesh(vertices: np.ndarray, faces: np.ndarray, target: int = REDUCED_VERTICES
                ) -> tuple[np.ndarray, np.ndarray]:
    """A subset of about ``target`` vertices of a triangle mesh, with its own triangles.

    The mesh is simplified with PyVista's ``decimate_pro`` (topology preserved), which only
    removes vertices; each kept vertex is mapped back to its index in ``vertices`` by exact
    coordinate match (the lowest index when coordinates repeat). Returns ``vertex_index``
    (sorted, int64) and ``faces_reduced`` (F', 3) indices into ``vertex_index``.
    """
    try:
        import pyvista as pv
    except ImportError as exc:
        raise DataError("the reduced resolution is computed once with PyVista, which is not "
                        "installed (pip install pyvista)") from exc
    vertices = np.asarray(vertices)
    faces = np.asarray(faces, dtype=np.int64)
    V = len(vertices)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise DataError("reduce_mesh needs (V, 3) vertices and (F, 3) triangles")
    if not 3 <= target < V:
        raise DataError(f"the reduced mesh needs between 3 and {V - 1} vertices, got {target}")
    mesh = pv.PolyData(vertices, np.hstack([np.full((len(faces), 1), 3), faces]).ravel())
    reduced = mesh.decimate_pro(1.0 - target / V, preserve_topology=True)
    points = np.asarray(reduced.points)
    if points.dtype != vertices.dtype:
        raise DataError("decimation changed the coordinate type; cannot match vertices exactly")
    lookup: dict[bytes, int] = {}
    for i in range(V - 1, -1, -1):
        lookup[vertices[i].tobytes()] = i
    try:
        original = np.array([lookup[p.tobytes()] for p in points], dtype=np.int64)
    except KeyError:
        raise DataError("decimation moved a vertex; cannot map the reduced mesh to the original") from None
    tri = np.asarray(reduced.faces).reshape(-1, 4)
    if np.any(tri[:, 0] != 3):
        raise DataError("decimation produced faces that are not triangles")
    tri_original = original[tri[:, 1:]]
    vertex_index = np.unique(tri_original)
    faces_reduced = np.searchsorted(vertex_index, tri_original).astype(np.int64)
    return vertex_index, faces_reduced


def _reduced_topology(root: Path, model_id: str, template: Callable[[], tuple[np.ndarray, np.ndarray]],
                      target: int = REDUCED_VERTICES) -> tuple[np.ndarray, np.ndarray]:
    """The cached reduced vertex subset of a model (computed from its template the first time)."""
    path = root / f"reduced-{hashlib.sha256(f'{model_id}|{target}'.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["model"]) == model_id:
                    return data["vertex_index"].astype(np.int64), data["faces"].astype(np.int64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # unreadable: computed again below
    vertices, faces = template()
    vertex_index, faces_reduced = reduce_mesh(vertices, faces, target)
    _store_cache(path, {"vertex_index": vertex_index, "faces": faces_reduced, "model": np.array(model_id)})
    return vertex_index, faces_reduced


def _store_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a cache file atomically; a cache that cannot be written (a read-only or full disk)
    only costs the time to compute it again, so it is reported and the work goes on."""
    try:
        write_npz_atomic(path, arrays)
    except OSError as exc:
        log.warning("%s", body_cache.cache_error(path.parent, exc, f"the cache file {path.name}"))


# ---------------------------------------------------------------------- body models
def _anny_version() -> str:
    try:
        return importlib.metadata.version("anny")
    except importlib.metadata.PackageNotFoundError:
        raise DataError("the anny body model is not installed (pip install anny)") from None


# Bones posed by the generator (anny's default rig) and those kept for the feet.
_ANNY_POSED = ("root", "spine05", "spine04", "spine03", "spine02", "spine01", "neck01", "neck02",
               "neck03", "head", *(f"{b}.{s}" for s in "LR" for b in (
                   "upperleg01", "lowerleg01", "foot", "upperarm01", "upperarm02", "lowerarm01",
                   "lowerarm02", "wrist")))


class _LBS:
    """Linear blend skinning of a fixed mesh, a chunk of vertices at a time.

    Each chunk keeps only the bones that move it (a few of them, as the mesh's vertices are
    ordered by body part), and forms its rest vertices from the blend shapes
    (``template + coeffs @ shapes``) just before skinning them, while they are in cache.
    """

    def __init__(self, template: np.ndarray, shapes: np.ndarray, weights: np.ndarray, chunk: int = 256):
        V, J = weights.shape
        K = shapes.shape[0]
        self.n_vertices = V
        self.chunks = []
        for s in range(0, V, chunk):
            e = min(V, s + chunk)
            bones = np.flatnonzero(weights[s:e].sum(axis=0) > 0)
            w = torch.as_tensor(np.ascontiguousarray(weights[s:e][:, bones].T), dtype=torch.float32)
            sh = torch.as_tensor(np.ascontiguousarray(shapes[:, s:e, :].transpose(0, 2, 1).reshape(K, -1)),
                                 dtype=torch.float32)
            t = torch.as_tensor(np.ascontiguousarray(template[s:e].T), dtype=torch.float32)
            self.chunks.append((s, e, torch.as_tensor(bones), w, sh, t))

    def __call__(self, coeffs: torch.Tensor, transforms: torch.Tensor,
                 out: torch.Tensor | None = None) -> torch.Tensor:
        """Posed vertices (B, V, 3) from blend-shape coefficients (B, K) and transforms
        (B, J, 4, 4), written into ``out`` when given."""
        B = coeffs.shape[0]
        if out is None:
            out = torch.empty(B, self.n_vertices, 3, dtype=torch.float32)
        Tk = transforms[:, :, :3, :].permute(0, 3, 2, 1).reshape(B, 12, -1)  # rows: column k, row i
        for s, e, bones, w, sh, t in self.chunks:
            x = (coeffs @ sh).view(B, 3, e - s).add_(t)
            A = Tk[:, :, bones] @ w
            o = A[:, 9:12] + A[:, 0:3] * x[:, 0:1]
            o.addcmul_(A[:, 3:6], x[:, 1:2]).addcmul_(A[:, 6:9], x[:, 2:3])
            out[:, s:e].copy_(o.transpose(1, 2))
        return out


class _AnnyOps:
    """The anny model reduced to what the generator needs, in float32.

    Only the posed bones and their ancestors are kept; every other bone (fingers, toes, eyes,
    the legs' twist bones) holds its rest relation to its parent, so its skinning weights are
    given to its nearest kept ancestor, which moves those vertices exactly as the full rig would.
    """

    def __init__(self, model: Any) -> None:
        import anny.utils.kinematics as kinematics
        from anny.models.phenotype import make_phenotype_anchors

        if model.bone_orientation != "cached" or model.reference_bone_orientations is None \
                or model.rest_orientation_refiner is not None:
            raise DataError("this version of anny builds its rig differently than expected; "
                            "install anny 0.6")
        if model.local_change_labels or model.facial_action_labels:
            raise DataError("the anny model has local changes or facial actions enabled")
        labels, parents = list(model.bone_labels), list(model.bone_parents)
        missing = [b for b in _ANNY_POSED if b not in labels]
        if missing:
            raise DataError(f"the anny rig lacks the bones {', '.join(missing)}")
        keep: set[int] = set()
        for name in _ANNY_POSED:
            i = labels.index(name)
            while i >= 0 and i not in keep:
                keep.add(i)
                i = parents[i]
        kept = sorted(keep)
        new = {old: k for k, old in enumerate(kept)}

        def target(i: int) -> int:
            while i not in new:
                i = parents[i]
            return new[i]

        self.labels = [labels[i] for i in kept]
        self.parents = [-1 if parents[i] < 0 else new[parents[i]] for i in kept]
        J = len(kept)
        f32 = lambda t: t.detach().to(torch.float32).contiguous()  # noqa: E731
        template = f32(model.template_vertices).numpy()
        V = len(template)
        shapes = f32(model.blendshapes).numpy()                          # (K, V, 3)
        index = torch.as_tensor([target(i) for i in range(len(labels))])
        W = torch.zeros(V, J, dtype=torch.float64)
        W.scatter_add_(1, index[model.vertex_bone_indices.long()], model.vertex_bone_weights.double())
        weights = (W / W.sum(dim=1, keepdim=True)).to(torch.float32).numpy()
        kept_t = torch.as_tensor(kept)
        self.heads0 = f32(model.template_bone_heads[kept_t])
        self.heads_shapes = f32(model.bone_heads_blendshapes[:, kept_t])
        self.orient0 = f32(model.bone_template_orientation_matrices[kept_t])
        self.orient_shapes = f32(model.bone_orientation_blendshapes[:, kept_t])
        self.reference = f32(model.reference_bone_orientations[kept_t])
        self.parent_index = torch.as_tensor([max(p, 0) for p in self.parents])
        self.root_identity = bool(model.root_identity_orientation)
        self.phenotype_labels = list(model.phenotype_labels)
        self.mask = f32(model.stacked_phenotype_blend_shapes_mask)
        self.projection = None if model.phenotype_blendshape_projection is None else \
            f32(model.phenotype_blendshape_projection)
        self.anchors = make_phenotype_anchors(torch.float32)
        self.extrapolate = bool(model.extrapolate_phenotypes)
        self.chain = kinematics.get_kinematic_chain(self.parents)
        self.template = torch.as_tensor(template)
        self.shapes = torch.as_tensor(shapes)
        self.weights = torch.as_tensor(weights)
        self.faces = model.faces.detach().cpu().numpy().astype(np.int64)
        self.lbs = _LBS(template, shapes, weights)
        b = {labels[i]: new[i] for i in kept}
        side = lambda name: (b[f"{name}.L"], b[f"{name}.R"])  # noqa: E731
        parts = {"torso": (b["root"], b["spine05"], b["spine04"], b["spine03"], b["spine02"], b["spine01"],
                           *(b[n] for n in ("pelvis.L", "pelvis.R", "clavicle.L", "clavicle.R") if n in b)),
                 "head": (b["neck01"], b["neck02"], b["neck03"], b["head"])}
        capsules = []
        for s in "LR":
            parts[f"upperarm.{s}"] = (b[f"upperarm01.{s}"], b[f"upperarm02.{s}"])
            parts[f"forearm.{s}"] = (b[f"lowerarm01.{s}"], b[f"lowerarm02.{s}"])
            parts[f"hand.{s}"] = (b[f"wrist.{s}"],)
            parts[f"thigh.{s}"] = (b[f"upperleg01.{s}"],) + ((b[f"upperleg02.{s}"],) if f"upperleg02.{s}" in b else ())
            parts[f"shin.{s}"] = (b[f"lowerleg01.{s}"], b[f"foot.{s}"])
            capsules += [Capsule(f"upperarm.{s}", b[f"upperarm02.{s}"], (b[f"upperarm02.{s}"],)),
                         Capsule(f"forearm.{s}", b[f"lowerarm01.{s}"], (b[f"lowerarm01.{s}"],)),
                         Capsule(f"forearm.{s}", b[f"lowerarm02.{s}"], (b[f"lowerarm02.{s}"],)),
                         Capsule(f"hand.{s}", b[f"wrist.{s}"], (b[f"wrist.{s}"],)),
                         Capsule(f"shin.{s}", b[f"lowerleg01.{s}"], (b[f"lowerleg01.{s}"],))]
        # anny: x to the body's left, z up, -y forward.
        to_model = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
        self.rig = Rig(n_bones=J, to_model=to_model, root=b["root"],
                       spine=(b["spine05"], b["spine04"], b["spine03"], b["spine02"], b["spine01"]),
                       neck=(b["neck01"], b["neck02"], b["neck03"], b["head"]),
                       hips=side("upperleg01"), knees=side("lowerleg01"), ankles=side("foot"),
                       shoulders=side("upperarm01"), elbows=side("lowerarm01"), wrists=side("wrist"),
                       parts=parts, capsules=tuple(capsules), contacts=default_contacts())
        self.contacts = LimbContacts.build(self.rig, template, weights)
        self._subsets = {key: self._subset(getattr(self.contacts, key))
                         for key in ("fit_index", "probe_index")}
        self._forward_kinematic = kinematics.forward_kinematic

    def _subset(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(index)
        return self.template[idx].reshape(1, -1), self.shapes[:, idx].reshape(self.shapes.shape[0], -1)

    @property
    def n_vertices(self) -> int:
        return int(self.template.shape[0])

    def template_mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """The template's vertices and triangles (from which the reduced subset is chosen)."""
        return self.template.numpy(), self.faces

    def coefficients(self, phenotypes: torch.Tensor) -> torch.Tensor:
        from anny.models.phenotype import phenotype_blendshape_weights

        w = phenotype_blendshape_weights(phenotypes, self.phenotype_labels, self.anchors, self.mask,
                                         extrapolate=self.extrapolate)
        return w @ self.projection if self.projection is not None else w

    def rest(self, shapes: np.ndarray) -> dict[str, torch.Tensor]:
        import roma

        coeffs = self.coefficients(torch.as_tensor(shapes, dtype=torch.float32))
        heads = self.heads0[None] + torch.einsum("nk,kjd->njd", coeffs, self.heads_shapes)
        M = self.orient0[None] + torch.einsum("nk,kjab->njab", coeffs, self.orient_shapes)
        R = roma.special_procrustes(M)
        if self.root_identity:
            R[:, 0] = torch.eye(3)
        poses = torch.zeros(len(coeffs), self.rig.n_bones, 4, 4)
        poses[..., :3, :3] = R
        poses[..., :3, 3] = heads
        poses[..., 3, 3] = 1.0
        state = {"coeffs": coeffs, "heads": heads, "rest_poses": poses}
        for key, (t, sh) in self._subsets.items():
            state[key] = (t + coeffs @ sh).reshape(len(coeffs), -1, 3)
        return state

    def deltas(self, state: dict[str, torch.Tensor], rotations: torch.Tensor) -> torch.Tensor:
        """anny ``local-ref`` deltas (B, J, 4, 4) that turn each bone by ``rotations`` relative
        to its parent's rest relation (SMPL's convention; identity rotations give the rest mesh).

        anny measures a bone's delta from a fixed reference orientation ``U``, a few degrees off
        the body's rest orientation ``R``; with ``A = U R^T`` a bone turns relative to its
        parent by ``A_parent^T D A``, so ``D = A_parent rot A^T`` (the root: ``U rot R U^T``).
        """
        R = state["rest_poses"][..., :3, :3]
        A = self.reference @ R.transpose(-1, -2)
        D = A[:, self.parent_index] @ rotations @ A.transpose(-1, -2)
        U0, R0 = self.reference[0], R[:, 0]
        D[:, 0] = U0 @ rotations[:, 0] @ R0 @ U0.T
        delta = torch.zeros(*rotations.shape[:2], 4, 4)
        delta[..., :3, :3] = D
        delta[..., 3, 3] = 1.0
        return delta

    def transforms(self, state: dict[str, torch.Tensor], rotations: torch.Tensor) -> torch.Tensor:
        T, _ = self._forward_kinematic(self.chain, state["rest_poses"], self.deltas(state, rotations),
                                       "local-ref", self.reference)
        return T

    def probes(self, state: dict[str, torch.Tensor], transforms: torch.Tensor) -> torch.Tensor:
        return self.contacts.pose_probes(state["probe_index"], transforms)

    def vertices(self, state: dict[str, torch.Tensor], rotations: torch.Tensor,
                 transforms: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        # The root joint stays at the origin in anny's local-ref chain.
        return self.lbs(state["coeffs"], transforms, out)

    def sample_shapes(self, rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
        return _anny_phenotypes(rng, y, self.phenotype_labels)


def _anny_phenotypes(rng: np.random.Generator, y: np.ndarray, labels: list[str]) -> np.ndarray:
    """Adult anny phenotypes (N, len(labels)) for sexes ``y`` (0 female, 1 male)."""
    n = len(y)
    calibration = _anny_calibration()
    years = rng.uniform(20.0, 70.0, n)
    age = np.interp(years, calibration["age_years"], calibration["age_anny"])
    # anny's gender runs from male (0) to female (1).
    gender = np.where(y == 0, 1.0 - rng.uniform(0.0, 0.15, n), rng.uniform(0.0, 0.15, n))
    height = np.empty(n)
    for sex, key in ((0, "female"), (1, "male")):
        sel = y == sex
        alpha = np.interp(age[sel], calibration[f"{key}_age"], calibration[f"{key}_height_alpha"])
        beta = np.interp(age[sel], calibration[f"{key}_age"], calibration[f"{key}_height_beta"])
        height[sel] = rng.beta(alpha, beta)
    values = {"gender": gender, "age": age, "height": height,
              "weight": rng.beta(2.0, 2.0, n), "muscle": rng.beta(2.0, 2.0, n),
              "proportions": rng.uniform(0.0, 1.0, n)}
    unknown = [label for label in labels if label not in values]
    if unknown:
        raise DataError(f"the anny model has phenotypes this generator does not set: {unknown}")
    return np.stack([values[label] for label in labels], axis=1)


@functools.lru_cache(maxsize=1)
def _anny_calibration() -> dict[str, np.ndarray]:
    """anny's shipped age mapping (years -> anny age) and height distributions per sex."""
    from anny.paths import get_anny_root_dir

    folder = Path(get_anny_root_dir()) / "data" / "shape_calibration"
    out: dict[str, np.ndarray] = {}
    for key, file in (("male", "boys.pth"), ("female", "girls.pth")):
        state = torch.load(folder / file, weights_only=True, map_location="cpu")
        mapping = state["morphological_age_mapping"]
        out["age_years"] = mapping["morphological_age_anchors"].double().numpy()
        out["age_anny"] = mapping["anny_age_anchors"].double().numpy()
        height = state["conditional_height_distribution"]
        out[f"{key}_age"] = height["age_anchors"].double().numpy()
        out[f"{key}_height_alpha"] = height["alpha_anchors"].double().numpy()
        out[f"{key}_height_beta"] = height["beta_anchors"].double().numpy()
    return out


@functools.lru_cache(maxsize=2)
def _anny_ops(anny_cache: str) -> _AnnyOps:
    import anny

    with _anny_cache_path(Path(anny_cache)):
        model = anny.Anny(skinning_method="lbs")
    return _AnnyOps(model)


@contextmanager
def _anny_cache_path(path: Path) -> Iterator[None]:
    import anny.paths

    previous = anny.paths.get_anny_cache_path()
    anny.paths.set_anny_cache_path(path)
    try:
        yield
    finally:
        anny.paths.set_anny_cache_path(previous)


def _load_anny(root: Path, progress: Progress | None) -> _AnnyOps:
    """The anny model from its cache, checked first; built (atomically) when missing or damaged."""
    _anny_version()
    anny_cache = Path(os.environ["ANNY_CACHE_DIR"]).expanduser() if os.environ.get("ANNY_CACHE_DIR") \
        else root / "anny"
    try:
        anny_cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise body_cache.cache_error(anny_cache, exc) from None
    body_cache.remove_stale_builds(anny_cache)
    damaged = body_cache.remove_damaged(anny_cache)
    built = any(anny_cache.glob("v*/build_compact_model_data_*.safetensors"))
    if built:
        _report(progress, 0, 1, "Loading the anny body model")
        try:
            ops = _anny_ops(str(anny_cache))
        except (SafetensorError, ValueError, RuntimeError, OSError, KeyError, TypeError) as exc:
            log.warning("the anny model cache in %s cannot be read (%s); building it again", anny_cache, exc)
            body_cache.remove_all(anny_cache)
            damaged, built = ["all"], False
        else:
            _report(progress, 1, 1, "Body model ready")
            return ops
    again = " again (its cache was damaged)" if damaged else " (first run only)"
    _report(progress, 0, 1, f"Building the anny body model{again}: about 2 minutes")
    body_cache.check_space(anny_cache)
    try:
        with body_cache.staged_build(anny_cache) as stage:
            ops = _anny_ops.__wrapped__(str(stage))
    except OSError as exc:
        raise body_cache.cache_error(anny_cache, exc) from None
    _report(progress, 1, 1, "Body model ready")
    return ops


class _SMPLOps:
    """One gendered SMPL model with the generator's rig and contact check."""

    def __init__(self, model: SMPLModel) -> None:
        if model.n_joints != 24:
            raise DataError(f"{model.name}: the generator poses the 24-joint SMPL skeleton, "
                            f"this model has {model.n_joints} joints")
        self.model = model
        L, R = 0, 1
        j = {n: i for i, n in enumerate(("pelvis", "left_hip", "right_hip", "spine1", "left_knee",
                                         "right_knee", "spine2", "left_ankle", "right_ankle", "spine3",
                                         "left_foot", "right_foot", "neck", "left_collar", "right_collar",
                                         "head", "left_shoulder", "right_shoulder", "left_elbow",
                                         "right_elbow", "left_wrist", "right_wrist", "left_hand",
                                         "right_hand"))}
        side = lambda name: (j[f"left_{name}"], j[f"right_{name}"])  # noqa: E731
        parts = {"torso": (j["pelvis"], j["spine1"], j["spine2"], j["spine3"], j["left_collar"], j["right_collar"]),
                 "head": (j["neck"], j["head"])}
        capsules = []
        for k, s in ((L, "L"), (R, "R")):
            w = "left" if s == "L" else "right"
            parts[f"upperarm.{s}"] = (j[f"{w}_shoulder"],)
            parts[f"forearm.{s}"] = (j[f"{w}_elbow"],)
            parts[f"hand.{s}"] = (j[f"{w}_wrist"], j[f"{w}_hand"])
            parts[f"thigh.{s}"] = (j[f"{w}_hip"],)
            parts[f"shin.{s}"] = (j[f"{w}_knee"], j[f"{w}_ankle"], j[f"{w}_foot"])
            capsules += [Capsule(f"upperarm.{s}", j[f"{w}_shoulder"], (j[f"{w}_shoulder"],), trim=0.4),
                         Capsule(f"forearm.{s}", j[f"{w}_elbow"], (j[f"{w}_elbow"],)),
                         Capsule(f"hand.{s}", j[f"{w}_wrist"], (j[f"{w}_wrist"], j[f"{w}_hand"])),
                         Capsule(f"shin.{s}", j[f"{w}_knee"], (j[f"{w}_knee"],))]
        self.rig = Rig(n_bones=24, to_model=np.eye(3), root=j["pelvis"],
                       spine=(j["spine1"], j["spine2"], j["spine3"]), neck=(j["neck"], j["head"]),
                       hips=side("hip"), knees=side("knee"), ankles=side("ankle"),
                       shoulders=side("shoulder"), elbows=side("elbow"), wrists=side("wrist"),
                       parts=parts, capsules=tuple(capsules), contacts=default_contacts())
        template = model.v_template.numpy()
        self.contacts = LimbContacts.build(self.rig, template, model.weights.numpy(),
                                           n_probes=min(1200, len(template)))
        self.probe_index = torch.as_tensor(self.contacts.probe_index)
        self.fit_index = torch.as_tensor(self.contacts.fit_index)
        self.faces = model.faces

    @property
    def n_vertices(self) -> int:
        return self.model.n_vertices

    def template_mesh(self) -> tuple[np.ndarray, np.ndarray]:
        return self.model.v_template.numpy(), self.faces

    def rest(self, shapes: np.ndarray) -> dict[str, torch.Tensor]:
        betas = torch.as_tensor(shapes[:, :self.model.n_betas], dtype=torch.float32)
        v, joints = self.model.shape(betas)
        return {"v": v, "heads": joints, "fit_index": v[:, self.fit_index],
                "probe_index": v[:, self.probe_index]}

    def transforms(self, state: dict[str, torch.Tensor], rotations: torch.Tensor) -> torch.Tensor:
        return self.model.transforms(state["heads"], rotations)

    def probes(self, state: dict[str, torch.Tensor], transforms: torch.Tensor) -> torch.Tensor:
        return self.contacts.pose_probes(state["probe_index"], transforms)

    def vertices(self, state: dict[str, torch.Tensor], rotations: torch.Tensor,
                 transforms: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        verts, _ = self.model.pose(state["v"], state["heads"], rotations)
        verts = verts - state["heads"][:, :1]  # pelvis joint at the origin
        if out is None:
            return verts
        return out.copy_(verts)


SMPL_SHAPE_COEFFICIENTS = 10


def _smpl_files(folder: Path) -> tuple[Path, Path]:
    female, male = folder / "female.npz", folder / "male.npz"
    if not folder.is_dir():
        raise DataError(f"model {str(folder)!r}: expected 'anny' or a folder holding the SMPL "
                        "models female.npz and male.npz")
    missing = [p.name for p in (female, male) if not p.is_file()]
    if missing:
        raise DataError(f"{folder}: the SMPL folder lacks {' and '.join(missing)} (convert the "
                        "official .pkl files with 'saeviz smpl-convert')")
    return female, male


def _file_digest(paths: tuple[Path, ...]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _model_id(model: str) -> str:
    """A string naming the body model's exact data (part of the cache keys)."""
    if model == "anny":
        return f"anny-{_anny_version()}"
    return f"smpl-{_file_digest(_smpl_files(Path(model).expanduser()))}"


# ---------------------------------------------------------------------- generation
def _take(state: dict[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[idx] for k, v in state.items()}


def _pose_batch(ops: Any, shapes: np.ndarray, angles: np.ndarray, out: torch.Tensor | None = None
                ) -> torch.Tensor:
    """Posed vertices (B, V, 3) of one model: the first candidate pose of each body that passes
    the contact check (``angles`` is (B, candidates, len(DOFS)))."""
    state = ops.rest(shapes)
    B = len(shapes)
    capsules = ops.contacts.fit(state["fit_index"], state["heads"])
    chosen = torch.full((B, len(DOFS)), float("nan"))
    pending = torch.arange(B)
    angles_t = torch.as_tensor(angles, dtype=torch.float32)
    for k in range(angles.shape[1]):
        if len(pending) == 0:
            break
        sub = _take(state, pending)
        a = angles_t[pending, k]
        rot = pose_rotations(a, ops.rig, sub["heads"])
        T = ops.transforms(sub, rot)
        gap = ops.contacts.clearance(_take(capsules, pending), T, ops.probes(sub, T))
        ok = gap >= 0
        chosen[pending[ok]] = a[ok]
        pending = pending[~ok]
    rot = pose_rotations(chosen, ops.rig, state["heads"])
    T = ops.transforms(state, rot)
    return ops.vertices(state, rot, T, out)


@contextmanager
def _single_threaded_ops() -> Iterator[None]:
    """Run torch operations on the calling thread only, for the duration.

    The generator's operations are small (a few hundred per batch), so torch's intra-op
    threads mostly wait on each other, and on a busy machine they slow a batch down several
    times over; instead, batches run in parallel on ``MAX_WORKERS`` Python threads (torch
    releases the GIL), each batch on one core.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _balanced_labels(rng: np.random.Generator, count: int) -> np.ndarray:
    y = np.zeros(count, dtype=np.int64)
    y[: count // 2] = 1
    return rng.permutation(y)


def _smpl_shapes(rng: np.random.Generator, count: int) -> np.ndarray:
    return np.clip(rng.standard_normal((count, SMPL_SHAPE_COEFFICIENTS)), -2.5, 2.5)


def _check_args(count: int, seed: int, resolution: str, batch_size: int) -> None:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= MAX_BODIES:
        raise DataError(f"the number of bodies must be a whole number in [1, {MAX_BODIES:,}], got {count!r}")
    # the vertices (float32) and a copy, with the fewest vertices a model of this resolution has
    vertices = REDUCED_VERTICES if resolution == "reduced" else MIN_FULL_VERTICES
    check_budget(2 * 12 * int(count) * vertices, "bodies", f"{int(count):,} bodies of at least {vertices:,} vertices")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"the seed must be a non-negative integer, got {seed!r}")
    if resolution not in RESOLUTIONS:
        raise DataError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    if batch_size < 1:
        raise DataError(f"the batch size must be positive, got {batch_size}")


def _source(count: int, seed: int, model: str, resolution: str) -> dict[str, Any]:
    return {"loader": "bodies", "count": int(count), "seed": int(seed), "model": model,
            "resolution": resolution}


def _dataset(X: np.ndarray, y: np.ndarray, faces: np.ndarray, source: dict[str, Any]) -> Dataset:
    name = f"bodies ({source['model'] if source['model'] == 'anny' else 'SMPL'}, {source['count']})"
    return Dataset(name=name, X=X, kind="mesh", y=y, class_names=CLASS_NAMES, faces=faces, source=source)


def generate_bodies(count: int = 6000, seed: int = 0, model: str = "anny", resolution: str = "full",
                    cache_dir: str | os.PathLike | None = None, progress: Progress | None = None,
                    batch_size: int = 256) -> Dataset:
    """Generate the bodies dataset (see the module documentation); nothing is read from the
    dataset cache (the body model and the reduced topology are)."""
    _check_args(count, seed, resolution, batch_size)
    model = os.fspath(model)
    root = _cache_root(cache_dir)
    rng = np.random.default_rng(seed)
    y = _balanced_labels(rng, count)
    if model == "anny":
        ops_list = [_load_anny(root, progress)]
        shapes = ops_list[0].sample_shapes(rng, y)
        which = np.zeros(count, dtype=np.int64)
    else:
        female, male = _smpl_files(Path(model).expanduser())
        _report(progress, 0, 1, "Loading the SMPL models")
        ops_list = [_SMPLOps(SMPLModel.from_npz(female)), _SMPLOps(SMPLModel.from_npz(male))]
        if ops_list[0].n_vertices != ops_list[1].n_vertices or \
                not np.array_equal(ops_list[0].faces, ops_list[1].faces):
            raise DataError(f"{model}: female.npz and male.npz have different meshes")
        _report(progress, 1, 1, "Body models ready")
        shapes = _smpl_shapes(rng, count)
        which = y
    angles = sample_pose_angles(rng, count, POSE_CANDIDATES)
    faces = ops_list[0].faces
    vertex_index = None
    if resolution == "reduced":
        vertex_index, faces = _reduced_topology(root, _model_id(model), ops_list[0].template_mesh)
    V = ops_list[0].n_vertices if vertex_index is None else len(vertex_index)
    check_budget(2 * 12 * count * V, "bodies", f"{count:,} bodies of {V:,} vertices")
    X = np.empty((count, V, 3), dtype=np.float32)

    def run_batch(start: int, stop: int) -> None:
        with torch.inference_mode():
            for m, ops in enumerate(ops_list):
                idx = np.flatnonzero(which[start:stop] == m) + start
                if len(idx) == 0:
                    continue
                whole = vertex_index is None and len(idx) == stop - start
                verts = _pose_batch(ops, shapes[idx], angles[idx],
                                    out=torch.from_numpy(X[start:stop]) if whole else None)
                if not whole:
                    if vertex_index is not None:
                        verts = verts[:, torch.as_tensor(vertex_index)]
                    X[idx] = verts.numpy()

    _report(progress, 0, count, "Generating bodies")
    batches = [(start, min(count, start + batch_size)) for start in range(0, count, batch_size)]
    workers = max(1, min(len(batches), torch.get_num_threads(), MAX_WORKERS))
    with _single_threaded_ops():
        if workers == 1:
            for start, stop in batches:
                run_batch(start, stop)
                _report(progress, stop, count, "Generating bodies")
        else:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="saeviz-bodies")
            try:
                pending: deque = deque()
                for i, (start, stop) in enumerate(batches):
                    pending.append((stop, pool.submit(run_batch, start, stop)))
                    last = i == len(batches) - 1
                    while pending and (last or len(pending) > workers or pending[0][1].done()):
                        stop_done, future = pending.popleft()
                        future.result()
                        _report(progress, stop_done, count, "Generating bodies")
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    return _dataset(X, y, faces, _source(count, seed, model, resolution))


def _cache_file(root: Path, count: int, seed: int, model_id: str, resolution: str) -> tuple[Path, str]:
    key = json.dumps({"count": int(count), "seed": int(seed), "model": model_id,
                      "resolution": resolution, "generator": GENERATOR_VERSION}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    tag = model_id.split("-")[0]
    return root / "bodies" / f"bodies-{tag}-{resolution}-n{count}-s{seed}-{digest}.npz", key


def _read_cached(path: Path, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            X, y, faces = data["X"], data["y"], data["faces"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # unreadable or incomplete: generated again
    if X.dtype != np.float32 or X.ndim != 3 or y.shape != (len(X),) or faces.ndim != 2 \
            or faces.size == 0 or faces.max() >= X.shape[1]:
        return None
    return X, y, faces


def load_bodies(count: int = 6000, seed: int = 0, model: str = "anny", resolution: str = "full",
                cache_dir: str | os.PathLike | None = None, progress: Progress | None = None,
                batch_size: int = 256) -> Dataset:
    """``generate_bodies`` through the dataset cache: the first call generates and stores the
    dataset, later calls with the same arguments read it back (a reduced dataset is also cut
    from a cached full one of the same bodies when there is one)."""
    _check_args(count, seed, resolution, batch_size)
    model = os.fspath(model)
    root = _cache_root(cache_dir)
    model_id = _model_id(model)
    source = _source(count, seed, model, resolution)
    path, key = _cache_file(root, count, seed, model_id, resolution)
    cached = _read_cached(path, key)
    if cached is None and resolution == "reduced":
        full_path, full_key = _cache_file(root, count, seed, model_id, "full")
        full = _read_cached(full_path, full_key)
        if full is not None:
            vertex_index, faces = _reduced_topology(root, model_id, lambda: (full[0][0], full[2]))
            if vertex_index.max() < full[0].shape[1]:
                cached = (np.ascontiguousarray(full[0][:, vertex_index]), full[1], faces)
                _store_cache(path, {"X": cached[0], "y": cached[1], "faces": cached[2], "key": np.array(key)})
    if cached is not None:
        _report(progress, count, count, "Loaded the bodies from the cache")
        return _dataset(cached[0], cached[1], cached[2], source)
    ds = generate_bodies(count, seed, model, resolution, cache_dir=root, progress=progress,
                         batch_size=batch_size)
    _store_cache(path, {"X": ds.X, "y": ds.y, "faces": ds.faces, "key": np.array(key)})
    return ds


def reduced_vertex_index(model: str = "anny", cache_dir: str | os.PathLike | None = None,
                         progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The reduced resolution of a body model: ``(vertex_index, faces_reduced)``."""
    model = os.fspath(model)
    root = _cache_root(cache_dir)
    if model == "anny":
        template = _load_anny(root, progress).template_mesh
    else:
        female, _ = _smpl_files(Path(model).expanduser())
        template = _SMPLOps(SMPLModel.from_npz(female)).template_mesh
    return _reduced_topology(root, _model_id(model), template)


__all__ = ["generate_bodies", "load_bodies", "reduce_mesh", "reduced_vertex_index", "default_cache_dir",
           "CLASS_NAMES", "GENERATOR_VERSION"]
