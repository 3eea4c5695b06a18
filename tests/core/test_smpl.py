"""SMPL skinning, the restricted .pkl conversion and SMPL body generation, on a tiny synthetic model."""
from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from saeviz.core.data import bodies
from saeviz.core.data.smpl import (
    SMPL_JOINTS,
    SMPLModel,
    axis_angle_to_matrix,
    convert_smpl_pkl,
)
from saeviz.core.errors import DataError

# SMPL's kinematic tree and a T-pose skeleton (x: body's left, y: up, z: forward; metres).
PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])
JOINTS = np.array([
    [0.0, 0.0, 0.0], [0.09, -0.08, 0.0], [-0.09, -0.08, 0.0], [0.0, 0.10, 0.0],
    [0.10, -0.48, 0.0], [-0.10, -0.48, 0.0], [0.0, 0.22, 0.0], [0.10, -0.88, 0.0],
    [-0.10, -0.88, 0.0], [0.0, 0.34, 0.0], [0.10, -0.93, 0.10], [-0.10, -0.93, 0.10],
    [0.0, 0.52, 0.0], [0.07, 0.45, 0.0], [-0.07, 0.45, 0.0], [0.0, 0.62, 0.0],
    [0.18, 0.45, 0.0], [-0.18, 0.45, 0.0], [0.45, 0.45, 0.0], [-0.45, 0.45, 0.0],
    [0.70, 0.45, 0.0], [-0.70, 0.45, 0.0], [0.78, 0.45, 0.0], [-0.78, 0.45, 0.0],
])
RING = 4


def synthetic_smpl(seed: int = 0, scale: float = 1.0) -> dict[str, np.ndarray]:
    """A stick figure with 24 joints: two rings of 4 vertices per joint (one around the
    joint, one halfway to its first child), each vertex skinned to its joint only."""
    rng = np.random.default_rng(seed)
    J = len(PARENTS)
    children = {j: [c for c in range(J) if PARENTS[c] == j] for j in range(J)}
    verts, weights, faces = [], [], []
    for j in range(J):
        p = JOINTS[j] * scale
        end = JOINTS[children[j][0]] * scale if children[j] else p + (p - JOINTS[PARENTS[j]] * scale) * 0.5
        axis = end - p
        axis = axis / np.linalg.norm(axis)
        helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        u = np.cross(axis, helper)
        u /= np.linalg.norm(u)
        w = np.cross(axis, u)
        base = len(verts)
        for centre in (p, p + 0.5 * (end - p)):
            for k in range(RING):
                ang = 2 * np.pi * k / RING
                verts.append(centre + 0.03 * (np.cos(ang) * u + np.sin(ang) * w))
                weights.append(j)
        for k in range(RING):
            a, b = base + k, base + (k + 1) % RING
            faces += [[a, b, b + RING], [a, b + RING, a + RING]]
    V = len(verts)
    W = np.zeros((V, J))
    W[np.arange(V), weights] = 1.0
    Jreg = np.zeros((J, V))
    for j in range(J):
        Jreg[j, j * 2 * RING: j * 2 * RING + RING] = 1.0 / RING  # the ring around the joint
    posedirs = np.zeros((V, 3, (J - 1) * 9))
    for j in range(1, J):
        rows = np.flatnonzero(np.array(weights) == j)
        posedirs[rows, :, (j - 1) * 9:j * 9] = rng.normal(0, 0.002, (len(rows), 3, 9))
    return {
        "v_template": np.array(verts),
        "shapedirs": rng.normal(0, 0.01, (V, 3, 10)),
        "posedirs": posedirs,
        "J_regressor": Jreg,
        "weights": W,
        "kintree_table": np.stack([np.where(PARENTS < 0, 2 ** 32 - 1, PARENTS), np.arange(J)]).astype(np.int64),
        "f": np.array(faces, dtype=np.int64),
    }


def model_from(arrays: dict[str, np.ndarray]) -> SMPLModel:
    parents = arrays["kintree_table"][0].astype(np.int64)
    return SMPLModel(arrays["v_template"], arrays["shapedirs"], arrays["posedirs"], arrays["J_regressor"],
                     arrays["weights"], parents, arrays["f"], dtype=torch.float64)


def test_zero_pose_and_shape_give_the_template():
    arrays = synthetic_smpl()
    model = model_from(arrays)
    v = model.forward(np.zeros(10), np.zeros(72))
    assert v.shape == (1, len(arrays["v_template"]), 3)
    np.testing.assert_allclose(v[0].numpy(), arrays["v_template"], atol=1e-12)
    moved = model.forward(np.zeros(10), np.zeros(72), trans=[0.1, -0.2, 0.3])
    np.testing.assert_allclose(moved[0].numpy(), arrays["v_template"] + [0.1, -0.2, 0.3], atol=1e-12)


@pytest.mark.parametrize("joint", [SMPL_JOINTS.index("left_hand"), SMPL_JOINTS.index("left_elbow"),
                                   SMPL_JOINTS.index("right_knee")])
def test_rotating_a_joint_moves_only_the_vertices_it_carries(joint):
    arrays = synthetic_smpl()
    model = model_from(arrays)
    subtree = {joint}
    for j in range(len(PARENTS)):
        if PARENTS[j] in subtree:
            subtree.add(j)
    carried = np.isin(arrays["weights"].argmax(axis=1), sorted(subtree))
    pose = np.zeros(72)
    pose[joint * 3:joint * 3 + 3] = [0.3, -0.5, 0.2]
    v = model.forward(np.zeros(10), pose)[0].numpy()
    moved = np.linalg.norm(v - arrays["v_template"], axis=1) > 1e-9
    assert moved[carried].all()
    assert not moved[~carried].any()
    # Without pose corrections the joint stays in place: its ring's centre is unchanged.
    arrays["posedirs"][:] = 0.0
    v = model_from(arrays).forward(np.zeros(10), pose)[0].numpy()
    ring = slice(joint * 2 * RING, joint * 2 * RING + RING)
    np.testing.assert_allclose(v[ring].mean(axis=0), JOINTS[joint], atol=1e-9)


def test_root_rotation_turns_the_whole_body_about_the_pelvis():
    arrays = synthetic_smpl()
    arrays["posedirs"][:] = 0.0
    model = model_from(arrays)
    pose = np.zeros(72)
    pose[:3] = [0.0, np.pi / 2, 0.0]
    v = model.forward(np.zeros(10), pose)[0].numpy()
    R = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    np.testing.assert_allclose(v, arrays["v_template"] @ R.T, atol=1e-12)


def test_shape_blend_shapes_add_linearly():
    arrays = synthetic_smpl()
    model = model_from(arrays)
    rng = np.random.default_rng(1)
    b1, b2 = rng.normal(size=10), rng.normal(size=10)
    t = arrays["v_template"]
    d1 = model.forward(b1, np.zeros(72))[0].numpy() - t
    d2 = model.forward(b2, np.zeros(72))[0].numpy() - t
    d12 = model.forward(b1 + 2 * b2, np.zeros(72))[0].numpy() - t
    np.testing.assert_allclose(d12, d1 + 2 * d2, atol=1e-12)
    np.testing.assert_allclose(d1, arrays["shapedirs"] @ b1, atol=1e-12)


def test_pose_blend_shapes_correct_a_bent_joint():
    arrays = synthetic_smpl()
    elbow = SMPL_JOINTS.index("left_elbow")
    pose = np.zeros(72)
    pose[elbow * 3 + 1] = 1.0
    with_pd = model_from(arrays).forward(np.zeros(10), pose)[0].numpy()
    arrays["posedirs"][:] = 0.0
    without = model_from(arrays).forward(np.zeros(10), pose)[0].numpy()
    rows = arrays["weights"][:, elbow] > 0
    assert np.abs(with_pd - without)[rows].max() > 1e-5
    np.testing.assert_allclose(with_pd[~rows], without[~rows], atol=1e-12)


def test_axis_angle_matches_known_rotations():
    R = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, np.pi / 2], [0.0, 0.0, 0.0]], dtype=torch.float64))
    np.testing.assert_allclose(R[0].numpy(), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_array_equal(R[1].numpy(), np.eye(3))


def test_npz_round_trip_and_errors(tmp_path):
    arrays = synthetic_smpl()
    np.savez(tmp_path / "m.npz", **arrays)
    model = SMPLModel.from_npz(tmp_path / "m.npz", dtype=torch.float64)
    pose = np.random.default_rng(2).normal(0, 0.3, 72)
    np.testing.assert_allclose(model.forward(np.ones(10), pose).numpy(),
                               model_from(arrays).forward(np.ones(10), pose).numpy(), atol=1e-12)
    broken = dict(arrays)
    del broken["weights"]
    np.savez(tmp_path / "missing.npz", **broken)
    with pytest.raises(DataError, match="weights"):
        SMPLModel.from_npz(tmp_path / "missing.npz")
    bad = dict(arrays, posedirs=arrays["posedirs"][:, :, :100])
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(DataError, match="posedirs"):
        SMPLModel.from_npz(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="no such file"):
        SMPLModel.from_npz(tmp_path / "absent.npz")


# ---------------------------------------------------------------------- restricted unpickler
class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_restricted_loader_refuses_other_classes_without_running_them(tmp_path):
    marker = tmp_path / "ran"
    payload = {"v_template": np.zeros((3, 3)), "evil": _Evil(f"touch {marker}")}
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataError, match=r"refused to load the class (posix|nt|os)\.system"):
        convert_smpl_pkl(pkl, tmp_path / "out.npz")
    assert not marker.exists()
    assert not (tmp_path / "out.npz").exists()


def test_restricted_loader_refuses_a_pickled_class_reference(tmp_path):
    pkl = tmp_path / "cls.pkl"
    pkl.write_bytes(pickle.dumps({"x": types.SimpleNamespace}, protocol=2))
    with pytest.raises(DataError, match="types.SimpleNamespace"):
        convert_smpl_pkl(pkl, tmp_path / "out.npz")


def test_converts_a_release_style_pickle(tmp_path, monkeypatch):
    """A pickle like the official release: numpy arrays, a scipy csc joint regressor and a
    chumpy array, written while fake chumpy classes exist and read after they are gone."""
    import scipy.sparse

    arrays = synthetic_smpl()
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    chumpy.ch = ch
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch)
    release = dict(arrays)
    release["shapedirs"] = Ch(arrays["shapedirs"])
    release["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    release["kintree_table"] = arrays["kintree_table"].astype(np.uint32)
    release["f"] = arrays["f"].astype(np.uint32)
    release["bs_style"] = "lbs"
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(release, protocol=2))
    monkeypatch.delitem(sys.modules, "chumpy")
    monkeypatch.delitem(sys.modules, "chumpy.ch")

    out = convert_smpl_pkl(pkl, tmp_path / "model.npz")
    assert "chumpy" not in sys.modules
    model = SMPLModel.from_npz(out, dtype=torch.float64)
    pose = np.random.default_rng(3).normal(0, 0.3, 72)
    betas = np.random.default_rng(4).normal(size=10)
    np.testing.assert_allclose(model.forward(betas, pose).numpy(),
                               model_from(arrays).forward(betas, pose).numpy(), atol=1e-12)
    with np.load(out, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["J_regressor"], arrays["J_regressor"])


# ---------------------------------------------------------------------- SMPL bodies
def test_generate_smpl_bodies(tmp_path):
    folder = tmp_path / "smpl"
    folder.mkdir()
    np.savez(folder / "female.npz", **synthetic_smpl(seed=0, scale=0.95))
    np.savez(folder / "male.npz", **synthetic_smpl(seed=1, scale=1.05))
    calls = []
    ds = bodies.generate_bodies(count=6, seed=2, model=str(folder), cache_dir=tmp_path / "cache",
                                progress=lambda d, t, m: calls.append((d, t, m)))
    assert ds.X.shape == (6, len(synthetic_smpl()["v_template"]), 3)
    assert np.bincount(ds.y).tolist() == [3, 3]
    assert ds.class_names == ("female", "male")
    assert ds.source == {"loader": "bodies", "count": 6, "seed": 2, "model": str(folder), "resolution": "full"}
    assert calls[-1][:2] == (6, 6)
    again = bodies.generate_bodies(count=6, seed=2, model=str(folder), cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(ds.X, again.X)
    # Pelvis joint at the origin: its ring (the first 4 vertices) is centred there up to the
    # root's turn, which keeps the centre in place.
    np.testing.assert_allclose(ds.X[:, :RING].mean(axis=1), 0.0, atol=1e-5)
    # Not the rest pose.
    assert np.abs(np.diff(ds.X, axis=0)).max() > 0.05


def test_smpl_folder_errors(tmp_path):
    with pytest.raises(DataError, match="female.npz"):
        bodies.generate_bodies(count=2, model=str(tmp_path), cache_dir=tmp_path / "c")
    with pytest.raises(DataError, match="'anny' or a folder"):
        bodies.generate_bodies(count=2, model=str(tmp_path / "nowhere"), cache_dir=tmp_path / "c")


def test_command_line_conversion_refuses_a_malicious_file(tmp_path, capsys):
    from saeviz.cli import main
    marker = tmp_path / "ran"
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3)), "evil": _Evil(f"touch {marker}")}, protocol=2))
    assert main(["smpl-convert", str(pkl), str(tmp_path / "female.npz")]) == 2
    err = capsys.readouterr().err
    assert "refused to load the class" in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "female.npz").exists()
    good = tmp_path / "model.pkl"
    good.write_bytes(pickle.dumps(synthetic_smpl(), protocol=2))
    assert main(["smpl-convert", str(good), str(tmp_path / "female.npz")]) == 0
    verts = SMPLModel.from_npz(tmp_path / "female.npz").forward(np.zeros(10), np.zeros(72))
    np.testing.assert_allclose(verts.reshape(-1, 3).numpy(), synthetic_smpl()["v_template"], atol=1e-5)
