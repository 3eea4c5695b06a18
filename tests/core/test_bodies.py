"""The bodies dataset with the anny model: counts, balance, determinism, caching, poses,
agreement with anny's own forward pass, and the reduced resolution.

Building the anny model takes about two minutes the first time; it is built once into pytest's
cache folder (or ``$ANNY_CACHE_DIR`` when set) and shared by every test of the session.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import trimesh

from saeviz.core.data import bodies, poses
from saeviz.core.data.meshes import load_mesh_folder, save_mesh
from saeviz.core.errors import DataError


@pytest.fixture(scope="session")
def ops(anny_cache, tmp_path_factory):
    return bodies._load_anny(tmp_path_factory.mktemp("model"), None)


@pytest.fixture
def cache_dir(tmp_path, anny_cache):
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def eight(anny_cache, tmp_path_factory):
    calls = []
    ds = bodies.generate_bodies(count=8, seed=0, cache_dir=tmp_path_factory.mktemp("eight"),
                                progress=lambda done, total, message: calls.append((done, total, message)))
    return ds, calls


def test_counts_balance_and_source(eight, ops):
    ds, calls = eight
    assert ds.kind == "mesh"
    assert ds.X.shape == (8, ops.n_vertices, 3) and ds.X.dtype == np.float32
    assert np.bincount(ds.y).tolist() == [4, 4]
    assert ds.class_names == ("female", "male")
    assert ds.faces.shape[1] == 3 and ds.faces.max() < ops.n_vertices
    assert ds.source == {"loader": "bodies", "count": 8, "seed": 0, "model": "anny", "resolution": "full"}
    assert sorted(np.concatenate([ds.train_idx, ds.test_idx]).tolist()) == list(range(8))
    # Posed adults (knees and hips may bend) around a pelvis at the origin.
    extent = ds.X.max(axis=1) - ds.X.min(axis=1)
    assert np.all((extent.max(axis=1) > 1.0) & (extent.max(axis=1) < 2.3))
    assert np.all(np.abs(ds.X.mean(axis=1)) < 0.4)


def test_progress_reports_the_model_and_every_batch(eight):
    _, calls = eight
    assert calls[0][:2] == (0, 1) and "anny" in calls[0][2]
    assert (1, 1) in [c[:2] for c in calls]
    assert calls[-1][:2] == (8, 8)
    done = [d for d, t, _ in calls if t == 8]
    assert done == sorted(done)


def test_deterministic_per_seed_and_batch_size(eight, cache_dir):
    ds, _ = eight
    calls = []
    again = bodies.generate_bodies(count=8, seed=0, cache_dir=cache_dir, batch_size=3,
                                   progress=lambda done, total, message: calls.append((done, total)))
    assert [c for c in calls if c[1] == 8] == [(0, 8), (3, 8), (6, 8), (8, 8)]
    np.testing.assert_allclose(again.X, ds.X, atol=1e-5)
    np.testing.assert_array_equal(again.y, ds.y)
    same = bodies.generate_bodies(count=8, seed=0, cache_dir=cache_dir)
    np.testing.assert_array_equal(same.X, ds.X)
    other = bodies.generate_bodies(count=8, seed=1, cache_dir=cache_dir)
    assert np.abs(other.X - ds.X).max() > 0.05


def test_cache_hit_is_fast_and_identical(cache_dir, monkeypatch):
    first = bodies.load_bodies(count=8, seed=4, cache_dir=cache_dir)
    files = list((cache_dir / "bodies").glob("*.npz"))
    assert len(files) == 1

    def no_generation(*args, **kwargs):
        raise AssertionError("the cached dataset should have been used")

    monkeypatch.setattr(bodies, "generate_bodies", no_generation)
    t = time.perf_counter()
    second = bodies.load_bodies(count=8, seed=4, cache_dir=cache_dir)
    assert time.perf_counter() - t < 2.0
    np.testing.assert_array_equal(second.X, first.X)
    np.testing.assert_array_equal(second.y, first.y)
    np.testing.assert_array_equal(second.faces, first.faces)
    assert second.source == first.source
    # Another seed is another file.
    monkeypatch.undo()
    bodies.load_bodies(count=8, seed=5, cache_dir=cache_dir)
    assert len(list((cache_dir / "bodies").glob("*.npz"))) == 2


def test_a_corrupt_cache_file_is_regenerated(cache_dir):
    first = bodies.load_bodies(count=4, seed=9, cache_dir=cache_dir)
    (path,) = (cache_dir / "bodies").glob("*.npz")
    path.write_bytes(b"truncated")
    again = bodies.load_bodies(count=4, seed=9, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.X, first.X)


def test_bad_arguments(cache_dir):
    for kwargs, word in (({"count": 0}, r"number of bodies must be a whole number in \[1,"), ({"seed": -1}, "seed"),
                         ({"resolution": "half"}, "resolution")):
        with pytest.raises(DataError, match=word):
            bodies.generate_bodies(cache_dir=cache_dir, **kwargs)


def test_matches_the_anny_forward_pass(ops, anny_cache):
    """Our float32 skinning of the kept bones equals anny's own model given the same deltas
    (the bones we do not pose follow their parent rigidly)."""
    import anny

    with bodies._anny_cache_path(anny_cache):
        model = anny.Anny(skinning_method="lbs").to(torch.float32)
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 0])
    shapes = ops.sample_shapes(rng, y)
    angles = torch.as_tensor(poses.sample_pose_angles(rng, 3)[:, 0], dtype=torch.float32)
    with torch.inference_mode():
        state = ops.rest(shapes)
        rot = poses.pose_rotations(angles, ops.rig, state["heads"])
        ours = ops.vertices(state, rot, ops.transforms(state, rot))
        phen = torch.as_tensor(shapes, dtype=torch.float32)
        coeffs = model.get_phenotype_blendshape_coefficients(
            **{k: phen[:, i] for i, k in enumerate(ops.phenotype_labels)})
        R = model.get_rest_model(coeffs)["rest_bone_poses"][..., :3, :3]
        A = model.reference_bone_orientations @ R.transpose(-1, -2)
        kept = {name: i for i, name in enumerate(ops.labels)}
        deltas = ops.deltas(state, rot)
        D = torch.eye(4).repeat(3, len(model.bone_labels), 1, 1)
        for j, name in enumerate(model.bone_labels):
            if name in kept:
                D[:, j] = deltas[:, kept[name]]
            else:
                D[:, j, :3, :3] = A[:, model.bone_parents[j]] @ A[:, j].transpose(-1, -2)
        theirs = model(pose_parameters=D, phenotype_kwargs=phen)["vertices"]
    assert torch.abs(ours - theirs).max() < 1e-5


def test_rest_angles_reproduce_the_rest_mesh(ops):
    rng = np.random.default_rng(1)
    shapes = ops.sample_shapes(rng, np.array([0, 1]))
    with torch.inference_mode():
        state = ops.rest(shapes)
        rot = poses.pose_rotations(torch.full((2, len(poses.DOFS)), float("nan")), ops.rig, state["heads"])
        posed = ops.vertices(state, rot, ops.transforms(state, rot))
        rest = ops.template[None] + torch.einsum("bk,kvd->bvd", state["coeffs"], ops.shapes)
    root = state["heads"][:, ops.rig.root]
    assert torch.abs(posed - (rest - root[:, None])).max() < 1e-5


def test_adult_heights(ops):
    rng = np.random.default_rng(4)
    y = np.arange(200) % 2
    with torch.inference_mode():
        state = ops.rest(ops.sample_shapes(rng, y))
        rest = ops.template[None] + torch.einsum("bk,kvd->bvd", state["coeffs"], ops.shapes)
    up = torch.as_tensor(ops.rig.to_model[:, 1], dtype=torch.float32)
    height = ((rest @ up).max(dim=1).values - (rest @ up).min(dim=1).values).numpy()
    assert height.min() > 1.30 and height.max() < 2.15
    assert height[y == 1].mean() > height[y == 0].mean() + 0.05  # men taller on average


def test_knees_and_elbows_bend_only_about_their_hinge(ops):
    rng = np.random.default_rng(2)
    n = 16
    shapes = ops.sample_shapes(rng, np.arange(n) % 2)
    angles = torch.as_tensor(poses.sample_pose_angles(rng, n)[:, 0], dtype=torch.float32)
    with torch.inference_mode():
        state = ops.rest(shapes)
        rot = poses.pose_rotations(angles, ops.rig, state["heads"])
    heads = state["heads"]
    C = torch.as_tensor(ops.rig.to_model, dtype=torch.float32)
    forward = C[:, 2]
    for k, side in enumerate("LR"):
        hip, knee = ops.rig.hips[k], ops.rig.knees[k]
        thigh = heads[:, knee] - heads[:, hip]
        axis = torch.linalg.cross(forward.expand_as(thigh), thigh, dim=-1)
        axis = axis / axis.norm(dim=-1, keepdim=True)
        rotvec = _rotvec(rot[:, knee])
        # The knee turns about its hinge (a rotation vector parallel to the axis) ...
        cos = (rotvec * axis).sum(-1) / rotvec.norm(dim=-1).clamp_min(1e-9)
        assert torch.all(cos.abs() > 0.999)
        # ... and flexes the shin backward, never forward past straight.
        i = poses.DOFS.index(f"knee_flexion.{side}")
        shin_rest = heads[:, ops.rig.ankles[k]] - heads[:, knee]
        shin = (rot[:, knee] @ shin_rest[..., None])[..., 0]
        bend = torch.atan2(torch.linalg.cross(thigh, shin, dim=-1).norm(dim=-1), (thigh * shin).sum(-1))
        assert torch.allclose(bend, angles[:, i], atol=0.03)
        assert torch.all((shin * forward).sum(-1) <= 1e-3)
        elbow, wrist = ops.rig.elbows[k], ops.rig.wrists[k]
        upper = heads[:, elbow] - heads[:, ops.rig.shoulders[k]]
        fore = heads[:, wrist] - heads[:, elbow]
        hinge = torch.linalg.cross(upper, fore, dim=-1)
        rv = _rotvec(rot[:, elbow])
        cos = (rv * hinge).sum(-1) / (rv.norm(dim=-1).clamp_min(1e-9) * hinge.norm(dim=-1))
        assert torch.all(cos.abs() > 0.999)
        i = poses.DOFS.index(f"elbow_flexion.{side}")
        fore_posed = (rot[:, elbow] @ fore[..., None])[..., 0]
        flex = torch.atan2(torch.linalg.cross(upper, fore_posed, dim=-1).norm(dim=-1), (upper * fore_posed).sum(-1))
        assert torch.allclose(flex, angles[:, i], atol=1e-3)


def _rotvec(R: torch.Tensor) -> torch.Tensor:
    import roma

    return roma.rotmat_to_rotvec(R)


def test_sampled_angles_stay_within_the_limits():
    a = np.rad2deg(poses.sample_pose_angles(np.random.default_rng(0), 500, 2))
    for i, name in enumerate(poses.DOFS):
        lo, hi = poses.POSE_LIMITS[name.split(".")[0]]
        assert lo <= a[..., i].min() and a[..., i].max() <= hi
        assert a[..., i].max() - a[..., i].min() > 0.8 * (hi - lo)


def test_an_arm_through_the_torso_is_rejected(ops):
    shapes = ops.sample_shapes(np.random.default_rng(3), np.array([0, 1]))
    rest = torch.full((2, len(poses.DOFS)), float("nan"))
    crossing = torch.zeros(2, len(poses.DOFS))
    for side in "LR":
        crossing[:, poses.DOFS.index(f"shoulder_abduction.{side}")] = np.deg2rad(-45.0)  # into the body
        crossing[:, poses.DOFS.index(f"elbow_flexion.{side}")] = np.deg2rad(10.0)
    with torch.inference_mode():
        state = ops.rest(shapes)
        capsules = ops.contacts.fit(state["fit_index"], state["heads"])
        gaps = []
        for angles in (rest, crossing):
            rot = poses.pose_rotations(angles, ops.rig, state["heads"])
            T = ops.transforms(state, rot)
            gaps.append(ops.contacts.clearance(capsules, T, ops.probes(state, T)))
    assert torch.all(gaps[0] > 0)
    assert torch.all(gaps[1] < 0)


def test_pose_dominates_the_sex_difference(anny_cache, tmp_path):
    ds = bodies.generate_bodies(count=48, seed=11, cache_dir=tmp_path)
    X = ds.flat().astype(np.float64)
    mu = X.mean(axis=0)
    total = ((X - mu) ** 2).sum(axis=1).mean()
    between = sum((ds.y == c).mean() * ((X[ds.y == c].mean(axis=0) - mu) ** 2).sum() for c in (0, 1))
    assert between / total < 0.15


# ---------------------------------------------------------------------- reduced resolution
def test_reduce_mesh_keeps_a_subset_with_valid_faces():
    sphere = trimesh.creation.icosphere(subdivisions=4)
    vertices = np.asarray(sphere.vertices, dtype=np.float32)
    index, faces = bodies.reduce_mesh(vertices, sphere.faces, target=600)
    assert 400 < len(index) < 800
    assert np.all(np.diff(index) > 0) and index.max() < len(vertices)
    assert faces.min() >= 0 and faces.max() < len(index)
    assert len(np.unique(faces)) == len(index)  # every kept vertex is used
    reduced = trimesh.Trimesh(vertices[index], faces, process=False)
    assert reduced.is_watertight
    with pytest.raises(DataError, match="between 3"):
        bodies.reduce_mesh(vertices, sphere.faces, target=len(vertices))


def test_reduced_bodies_are_a_subset_of_the_full_ones(eight, cache_dir):
    full, _ = eight
    reduced = bodies.generate_bodies(count=8, seed=0, resolution="reduced", cache_dir=cache_dir)
    index, faces = bodies.reduced_vertex_index(cache_dir=cache_dir)
    assert 1500 < len(index) < 2500
    np.testing.assert_array_equal(reduced.faces, faces)
    np.testing.assert_allclose(reduced.X, full.X[:, index], atol=1e-5)
    assert reduced.source["resolution"] == "reduced"
    # Cut from a cached full dataset.
    cached_full = bodies.load_bodies(count=8, seed=0, cache_dir=cache_dir)
    cut = bodies.load_bodies(count=8, seed=0, resolution="reduced", cache_dir=cache_dir)
    np.testing.assert_array_equal(cut.X, cached_full.X[:, index])


def test_bodies_round_trip_through_mesh_files(eight, tmp_path):
    ds, _ = eight
    folder = tmp_path / "bodies"
    for i in range(3):
        save_mesh(folder / f"body{i}.ply", ds.X[i], ds.faces)
    (tmp_path / "bodies.csv").write_text("".join(f"body{i}.ply,{ds.class_names[ds.y[i]]}\n" for i in range(3)))
    loaded = load_mesh_folder(folder)
    np.testing.assert_allclose(loaded.X, ds.X[:3], atol=1e-6)
    np.testing.assert_array_equal(loaded.faces, ds.faces)
    assert [loaded.class_names[c] for c in loaded.y] == [ds.class_names[c] for c in ds.y[:3]]
