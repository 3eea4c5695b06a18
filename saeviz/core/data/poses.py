"""Random plausible body poses: anatomical joint limits, sampling and a limb-contact check.

Poses are sampled as anatomical angles that mean the same for every body model, then turned
into joint rotations for one model through its ``Rig`` (which bone is which joint, and how
the model's axes relate to the body's). Angles are in degrees in ``POSE_LIMITS`` and radians
everywhere else.

Body frame: x toward the body's left, y up, z forward (right-handed; SMPL's own axes). A
rig's ``to_model`` matrix has these three directions, in model coordinates, as columns.

Rotations are returned in the "world-aligned rest frame" convention shared by SMPL and by
anny's ``local-ref`` parameterisation: a joint's rotation is applied about axes parallel to
the model's axes at rest, before the rotations of its ancestors. Hence

* spine, neck, hips and root: rotations about body axes (flexion about the left axis,
  lateral bend about the forward axis, twist about the vertical axis);
* shoulders: the upper arm is turned from its rest direction to a target direction given by
  abduction (angle from hanging straight down, in the frontal plane, at least
  ``shoulder_abduction[0]`` so the arm stays clear of the torso) and forward flexion, then
  twisted about itself; this makes the limits independent of the model's rest pose (A-pose or
  T-pose);
* elbows and knees are hinges: they rotate only about their hinge axis (perpendicular to the
  limb and to the forward direction, or to the plane of the rest bend), by the sampled total
  flexion minus the flexion the model already has at rest.

``LimbContacts`` rejects poses in which a hand, forearm, upper arm or lower leg would pass
through another body part: limbs are capsules fitted to each body's rest mesh, other parts are
sample points of the surface, and a pose is accepted when every checked point lies outside
every checked capsule by at least ``LimbContacts.margin`` (5 mm).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from saeviz.core.data.smpl import axis_angle_to_matrix

#: Sampling ranges of the anatomical angles, in degrees (lo, hi). ``L``/``R`` joints share
#: a range and are sampled independently.
POSE_LIMITS: dict[str, tuple[float, float]] = {
    "root_yaw": (-30.0, 30.0),          # whole body turned about the vertical through the pelvis
    "spine_flexion": (-15.0, 40.0),     # forward bend (negative: arching back), whole trunk
    "spine_bend": (-20.0, 20.0),        # sideways bend, whole trunk
    "spine_twist": (-30.0, 30.0),       # axial twist, whole trunk
    "neck_flexion": (-20.0, 30.0),
    "neck_bend": (-15.0, 15.0),
    "neck_twist": (-40.0, 40.0),
    "hip_flexion": (-15.0, 65.0),       # thigh forward (negative: backward)
    "hip_abduction": (-5.0, 25.0),      # thigh outward; inward (adduction) kept at 5 degrees
    "hip_rotation": (-25.0, 25.0),      # about the thigh
    "knee_flexion": (0.0, 110.0),       # hinge; 0 is a straight leg
    "shoulder_abduction": (25.0, 90.0),  # arm from hanging down (0) to horizontal (90)
    "shoulder_flexion": (-25.0, 60.0),  # arm forward (negative: backward)
    "shoulder_twist": (-30.0, 40.0),    # about the upper arm
    "elbow_flexion": (5.0, 120.0),      # hinge; 0 is a straight arm
    "wrist_flexion": (-40.0, 40.0),
    "wrist_deviation": (-15.0, 15.0),
}

#: The sampled degrees of freedom, in the order of the last axis of the angle arrays.
DOFS: tuple[str, ...] = (
    "root_yaw", "spine_flexion", "spine_bend", "spine_twist", "neck_flexion", "neck_bend",
    "neck_twist",
    *(f"{name}.{side}" for side in "LR" for name in (
        "hip_flexion", "hip_abduction", "hip_rotation", "knee_flexion", "shoulder_abduction",
        "shoulder_flexion", "shoulder_twist", "elbow_flexion", "wrist_flexion", "wrist_deviation")),
)

#: Shape of the Beta distribution every angle is drawn from (scaled to its range): broad,
#: reaching the limits, thinner near them than a uniform.
BETA_SHAPE = 1.5


def sample_pose_angles(rng: np.random.Generator, n: int, candidates: int = 1) -> np.ndarray:
    """Anatomical angles (radians) of ``n`` bodies x ``candidates`` poses each: (n, candidates, len(DOFS))."""
    lo = np.array([POSE_LIMITS[d.split(".")[0]][0] for d in DOFS])
    hi = np.array([POSE_LIMITS[d.split(".")[0]][1] for d in DOFS])
    u = rng.beta(BETA_SHAPE, BETA_SHAPE, size=(n, candidates, len(DOFS)))
    return np.deg2rad(lo + (hi - lo) * u)


@dataclass(frozen=True)
class Capsule:
    """A limb segment checked for contacts: bone ``bone`` carries it; its vertices are those
    whose strongest skinning bone is in ``vertex_bones``; ``trim`` cuts that fraction off its
    start (near the parent joint, where the limb meets the body)."""

    part: str
    bone: int
    vertex_bones: tuple[int, ...]
    trim: float = 0.0


@dataclass(frozen=True)
class Rig:
    """Which bones of a model are the sampled joints, and the model's axes.

    ``spine`` and ``neck`` share their angles equally among their bones. Limb joints are
    ``(left, right)`` pairs. ``elbow_joint_of`` etc. name the bone whose head is the next
    joint down the limb (for the limb direction). ``parts`` maps part names to bones (for the
    contact check), ``capsules`` are the limb capsules and ``contacts`` the (capsule part,
    point part) pairs checked.
    """

    n_bones: int
    to_model: np.ndarray
    root: int
    spine: tuple[int, ...]
    neck: tuple[int, ...]
    hips: tuple[int, int]
    knees: tuple[int, int]
    ankles: tuple[int, int]
    shoulders: tuple[int, int]
    elbows: tuple[int, int]
    wrists: tuple[int, int]
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    capsules: tuple[Capsule, ...] = ()
    contacts: tuple[tuple[str, str], ...] = ()


def default_contacts() -> tuple[tuple[str, str], ...]:
    """The (capsule part, point part) pairs that must not touch."""
    pairs = []
    for s, o in (("L", "R"), ("R", "L")):
        for limb in (f"upperarm.{s}", f"forearm.{s}", f"hand.{s}"):
            pairs += [(limb, "torso"), (limb, f"thigh.{s}"), (limb, f"thigh.{o}")]
        for limb in (f"forearm.{s}", f"hand.{s}"):
            pairs += [(limb, "head"), (limb, f"forearm.{o}"), (limb, f"hand.{o}"),
                      (limb, f"shin.{s}"), (limb, f"shin.{o}")]
        pairs += [(f"shin.{s}", f"shin.{o}"), (f"shin.{s}", f"thigh.{o}")]
    return tuple(pairs)


# ---------------------------------------------------------------------- angles -> rotations
def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(1e-12)


def _about(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotations (B, 3, 3) about unit axes (3,) or (B, 3) by angles (B,)."""
    return axis_angle_to_matrix(axis * angle[:, None])


def _align(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """The smallest rotations (B, 3, 3) taking unit vectors ``src`` to ``dst`` (both (B, 3))."""
    cross = torch.linalg.cross(src, dst, dim=-1)
    sin = torch.linalg.vector_norm(cross, dim=-1)
    cos = (src * dst).sum(-1)
    angle = torch.atan2(sin, cos)
    # Opposite vectors: any axis perpendicular to src.
    ex = torch.tensor([1.0, 0.0, 0.0], dtype=src.dtype).expand_as(src)
    ey = torch.tensor([0.0, 1.0, 0.0], dtype=src.dtype).expand_as(src)
    fallback = torch.linalg.cross(src, ex, dim=-1)
    fallback = torch.where(torch.linalg.vector_norm(fallback, dim=-1, keepdim=True) > 1e-3, fallback,
                           torch.linalg.cross(src, ey, dim=-1))
    axis = torch.where(sin[:, None] > 1e-6, cross, fallback)
    return axis_angle_to_matrix(_unit(axis) * angle[:, None])


def _limb_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.atan2(torch.linalg.vector_norm(torch.linalg.cross(a, b, dim=-1), dim=-1), (a * b).sum(-1))


def pose_rotations(angles: torch.Tensor, rig: Rig, rest_heads: torch.Tensor) -> torch.Tensor:
    """Joint rotations (B, J, 3, 3) in the world-aligned rest frame convention.

    ``angles`` (B, len(DOFS)) are radians (a row of NaN leaves the body at rest);
    ``rest_heads`` (B, J, 3) are the rest positions of the bones' heads (joint centres).
    """
    B = angles.shape[0]
    dtype = rest_heads.dtype
    neutral = torch.isnan(angles).any(dim=1)
    angles = torch.nan_to_num(angles.to(dtype))
    a = {name: angles[:, i] for i, name in enumerate(DOFS)}
    C = torch.as_tensor(rig.to_model, dtype=dtype)
    left, up, forward = C[:, 0], C[:, 1], C[:, 2]
    rot = torch.eye(3, dtype=dtype).repeat(B, rig.n_bones, 1, 1)

    rot[:, rig.root] = _about(up, a["root_yaw"])
    n = len(rig.spine)
    spine = (_about(up, a["spine_twist"] / n) @ _about(left, a["spine_flexion"] / n)
             @ _about(forward, a["spine_bend"] / n))
    for j in rig.spine:
        rot[:, j] = spine
    n = len(rig.neck)
    neck = (_about(up, a["neck_twist"] / n) @ _about(left, a["neck_flexion"] / n)
            @ _about(forward, a["neck_bend"] / n))
    for j in rig.neck:
        rot[:, j] = neck

    for k, side in enumerate("LR"):
        s = 1.0 if side == "L" else -1.0
        g = lambda name: a[f"{name}.{side}"]  # noqa: E731
        # Hip: flexion moves the thigh forward (a negative turn about the left axis).
        hip, knee, ankle = rig.hips[k], rig.knees[k], rig.ankles[k]
        rot[:, hip] = (_about(left, -g("hip_flexion")) @ _about(forward, s * g("hip_abduction"))
                       @ _about(up, s * g("hip_rotation")))
        # Knee: a hinge; the axis makes positive angles move the shin backward.
        thigh = _unit(rest_heads[:, knee] - rest_heads[:, hip])
        shin = _unit(rest_heads[:, ankle] - rest_heads[:, knee])
        knee_axis = _unit(torch.linalg.cross(forward.expand_as(thigh), thigh, dim=-1))
        side_of_axis = (torch.linalg.cross(thigh, shin, dim=-1) * knee_axis).sum(-1)
        rest_knee = _limb_angle(thigh, shin) * torch.sign(side_of_axis)
        rot[:, knee] = _about(knee_axis, g("knee_flexion") - rest_knee)

        # Shoulder: turn the upper arm to its target direction, then twist it about itself.
        shoulder, elbow, wrist = rig.shoulders[k], rig.elbows[k], rig.wrists[k]
        upper = _unit(rest_heads[:, elbow] - rest_heads[:, shoulder])
        fore = _unit(rest_heads[:, wrist] - rest_heads[:, elbow])
        abd, flex = g("shoulder_abduction"), g("shoulder_flexion")
        target_body = torch.stack([s * torch.sin(abd), -torch.cos(abd) * torch.cos(flex),
                                   torch.cos(abd) * torch.sin(flex)], dim=-1)
        target = target_body @ C.T
        turn = _about(target, s * g("shoulder_twist")) @ _align(upper, target)
        rot[:, shoulder] = turn
        # Elbow: a hinge about the axis of the rest bend (or, for a straight rest arm, the axis
        # that bends the forearm forward).
        bend = torch.linalg.cross(upper, fore, dim=-1)
        straight_axis = torch.linalg.cross(upper, forward.expand_as(upper), dim=-1)
        bent = torch.linalg.vector_norm(bend, dim=-1, keepdim=True) > np.sin(np.deg2rad(10.0))
        elbow_axis = _unit(torch.where(bent, bend, straight_axis))
        rest_elbow = torch.where(bent[:, 0], _limb_angle(upper, fore), torch.zeros_like(abd))
        rot[:, elbow] = _about(elbow_axis, g("elbow_flexion") - rest_elbow)
        # Wrist: small turns about the body's left and forward axes.
        rot[:, wrist] = _about(left, g("wrist_flexion")) @ _about(forward, s * g("wrist_deviation"))

    if neutral.any():
        rot[neutral] = torch.eye(3, dtype=dtype)
    return rot


# ---------------------------------------------------------------------- contact check
def farthest_point_sample(points: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """Indices of ``k`` points spread over ``points`` (N, 3) by farthest-point sampling."""
    n = len(points)
    k = min(k, n)
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = start
    dist = np.linalg.norm(points - points[start], axis=1)
    for i in range(1, k):
        chosen[i] = int(np.argmax(dist))
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[i]], axis=1))
    return np.sort(chosen)


@dataclass
class LimbContacts:
    """The contact check of one model: which vertices size the capsules, which are probe points.

    Built once per model from its template (``dominant`` is each vertex's strongest skinning
    bone). ``fit`` sizes the capsules to a batch of rest bodies from the rest positions of
    ``fit_index``; ``clearance`` is the signed gap of a posed batch (negative: a contact).
    """

    rig: Rig
    fit_index: np.ndarray           # vertices of all capsules, capsule after capsule
    fit_slices: list[slice]
    probe_index: np.ndarray         # probe vertices (sorted)
    probe_bone: np.ndarray          # the bone that carries each probe
    allowed: np.ndarray             # (C, P) bool: probe p is checked against capsule c
    margin: float = 0.005

    @classmethod
    def build(cls, rig: Rig, template: np.ndarray, weights: np.ndarray, n_probes: int = 1200,
              fit_vertices: int = 200, margin: float = 0.005) -> "LimbContacts":
        """``weights`` (V, J) are the skinning weights; probe points are drawn among vertices
        that follow one bone (weight >= 0.8), so that they may be posed rigidly by it."""
        dominant = weights.argmax(axis=1)
        rigid = np.flatnonzero(weights.max(axis=1) >= 0.8)
        bone_part = {b: name for name, bones in rig.parts.items() for b in bones}
        in_part = rigid[np.isin(dominant[rigid], list(bone_part))]
        probe = in_part[farthest_point_sample(np.asarray(template, dtype=np.float64)[in_part], n_probes)]
        probe_part = np.array([bone_part[int(dominant[i])] for i in probe])
        groups, slices, start = [], [], 0
        allowed = np.zeros((len(rig.capsules), len(probe)), dtype=bool)
        for ci, cap in enumerate(rig.capsules):
            idx = np.flatnonzero(np.isin(dominant, cap.vertex_bones))
            if len(idx) > fit_vertices:
                idx = idx[np.linspace(0, len(idx) - 1, fit_vertices).round().astype(np.int64)]
            groups.append(idx)
            slices.append(slice(start, start + len(idx)))
            start += len(idx)
            if len(idx) >= 3:
                for cap_part, point_part in rig.contacts:
                    if cap_part == cap.part:
                        allowed[ci] |= probe_part == point_part
        fit_index = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
        return cls(rig, fit_index.astype(np.int64), slices, probe.astype(np.int64),
                   dominant[probe].astype(np.int64), allowed, margin=margin)

    def pose_probes(self, rest_probes: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
        """Posed probe points (B, P, 3): each moved rigidly by its bone's transform."""
        T = transforms[:, torch.as_tensor(self.probe_bone)]
        return (T[..., :3, :3] @ rest_probes[..., None])[..., 0] + T[..., :3, 3]

    def fit(self, rest_fit: torch.Tensor, rest_heads: torch.Tensor) -> dict[str, torch.Tensor]:
        """Capsules of a batch of rest bodies: endpoints ``a``, ``b`` (B, C, 3), radii ``r`` (B, C).

        ``rest_fit`` (B, len(fit_index), 3) are the rest positions of ``fit_index``,
        ``rest_heads`` (B, J, 3) the rest joint centres. A capsule runs from its bone's head
        through the centroid of its vertices to as far again beyond (less its ``trim``); its
        radius is their mean distance from that segment.
        """
        B = rest_heads.shape[0]
        dtype = rest_heads.dtype
        C = len(self.rig.capsules)
        a = torch.zeros(B, C, 3, dtype=dtype)
        b = torch.zeros(B, C, 3, dtype=dtype)
        r = torch.zeros(B, C, dtype=dtype)
        for ci, cap in enumerate(self.rig.capsules):
            verts = rest_fit[:, self.fit_slices[ci]]
            if verts.shape[1] < 3:
                continue
            head = rest_heads[:, cap.bone]
            tip = head + 2.0 * (verts.mean(dim=1) - head)
            d2 = _segment_point_sq(head, tip, verts)
            a[:, ci] = head + cap.trim * (tip - head)
            b[:, ci] = tip
            r[:, ci] = d2.sqrt().mean(dim=1)
        return {"a": a, "b": b, "r": r}

    def clearance(self, capsules: dict[str, torch.Tensor], transforms: torch.Tensor,
                  probes: torch.Tensor) -> torch.Tensor:
        """The smallest gap (B,) between checked capsules and probe points of a posed batch.

        ``transforms`` (B, J, 4, 4) are the bones' skinning transforms, ``probes`` (B, P, 3)
        the posed probe points (``probe_index`` order).
        """
        B = transforms.shape[0]
        checked = np.flatnonzero(self.allowed.any(axis=1))
        if len(checked) == 0:
            return torch.full((B,), float("inf"), dtype=transforms.dtype)
        cols = np.flatnonzero(self.allowed[checked].any(axis=0))
        bones = torch.as_tensor([self.rig.capsules[c].bone for c in checked])
        T = transforms[:, bones]                                          # (B, C, 4, 4)
        sel = torch.as_tensor(checked)
        a = (T[..., :3, :3] @ capsules["a"][:, sel, :, None])[..., 0] + T[..., :3, 3]
        b = (T[..., :3, :3] @ capsules["b"][:, sel, :, None])[..., 0] + T[..., :3, 3]
        p = probes[:, torch.as_tensor(cols)]                              # (B, P, 3)
        ab = b - a                                                        # (B, C, 3)
        pa = p @ ab.transpose(1, 2)                                       # (B, P, C): p . ab
        a_ab = (a * ab).sum(-1)                                           # (B, C)
        len2 = (ab * ab).sum(-1).clamp_min(1e-12)
        dot = pa - a_ab[:, None]                                          # (p - a) . ab
        t = (dot / len2[:, None]).clamp_(0.0, 1.0)
        # |p - a - t ab|^2 = |p|^2 - 2 p.a + |a|^2 - 2 t (p - a).ab + t^2 |ab|^2
        p2 = (p * p).sum(-1)[:, :, None]
        d2 = p2 - 2 * (p @ a.transpose(1, 2)) + (a * a).sum(-1)[:, None] - t * (2 * dot - t * len2[:, None])
        d2 = d2.masked_fill_(~torch.as_tensor(self.allowed[checked][:, cols].T), float("inf"))
        gap = d2.clamp_min_(0.0).min(dim=1).values.sqrt() - capsules["r"][:, sel]
        return gap.min(dim=1).values - self.margin


def _segment_point_sq(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Squared distances (B, P) from points p (B, P, 3) to segments a-b (B, 3)."""
    ab = b - a
    ap = p - a[:, None]
    dot = (ap * ab[:, None]).sum(-1)
    len2 = (ab * ab).sum(-1, keepdim=True).clamp_min(1e-12)
    t = (dot / len2).clamp(0.0, 1.0)
    return ((ap * ap).sum(-1) - 2 * t * dot + t * t * len2).clamp_min(0.0)


__all__ = ["POSE_LIMITS", "DOFS", "Rig", "Capsule", "LimbContacts", "sample_pose_angles",
           "pose_rotations", "default_contacts", "farthest_point_sample"]
