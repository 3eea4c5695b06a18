"""Class transitions and latent paths (``saeviz.core.method.morph``) and mesh arithmetic
(``saeviz.core.display.mesh_ops``): centers, paths, fast decoding, projection inverse, pose change,
normals and exports."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import trimesh

from saeviz.core.display.mesh_ops import VertexNormals, vertex_errors, vertex_normals
from saeviz.core.display.projection import LiveProjection, make_projector
from saeviz.core.errors import DataError
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.models import build_autoencoder
from saeviz.core.method.morph import (
    CodeDecoder,
    bone_pairs,
    class_centers,
    class_direction,
    decode_codes,
    interpolate,
    inverse_at,
    joint_positions,
    labeled_mean,
    morph_path,
    nearest_codes,
    pose_change,
    save_animation,
    save_mesh_sequence,
    sequence_paths,
    steps,
)
from saeviz.core.method.training import Trainer, decode, encode
from saeviz.core.state.labels import LabelStore


# ----------------------------------------------------------------------------- centers and paths
def test_class_centers_are_the_means_of_labeled_codes():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(30, 4))
    labels = np.full(30, -1)
    labels[:5], labels[5:12] = 0, 2
    C = class_centers(codes, labels, 4)
    assert C.shape == (4, 4)
    np.testing.assert_allclose(C[0], codes[:5].mean(axis=0))
    np.testing.assert_allclose(C[2], codes[5:12].mean(axis=0))
    assert np.isnan(C[1]).all() and np.isnan(C[3]).all()
    assert class_centers(codes, labels).shape == (3, 4)  # up to the largest label
    np.testing.assert_allclose(labeled_mean(codes, labels), codes[:12].mean(axis=0))
    with pytest.raises(DataError):
        class_centers(codes, labels, 2)  # label 2 needs three classes
    with pytest.raises(DataError, match="no labeled samples"):
        class_direction(C, 0, 1)
    np.testing.assert_allclose(class_direction(C, 0, 2), C[2] - C[0])


def test_morph_path_and_interpolation():
    z = np.array([1.0, 2.0, 3.0])
    cs, ct = np.array([0.0, 0.0, 1.0]), np.array([2.0, -1.0, 1.0])
    np.testing.assert_allclose(morph_path(z, cs, ct, 0.0), z)
    np.testing.assert_allclose(morph_path(z, cs, ct, 1.0), z + ct - cs)
    np.testing.assert_allclose(morph_path(z, cs, ct, -0.5), z - 0.5 * (ct - cs))
    P = morph_path(z, cs, ct, [0.0, 0.25, 1.5])
    assert P.shape == (3, 3)
    np.testing.assert_allclose(P[1], z + 0.25 * (ct - cs))
    z1 = np.array([-1.0, 0.0, 5.0])
    np.testing.assert_allclose(interpolate(z, z1, 0.0), z)
    np.testing.assert_allclose(interpolate(z, z1, 1.0), z1)
    np.testing.assert_allclose(interpolate(z, z1, [0.5])[0], (z + z1) / 2)
    np.testing.assert_allclose(steps(-0.5, 1.5, 5), [-0.5, 0.0, 0.5, 1.0, 1.5])
    with pytest.raises(DataError):
        morph_path(z, cs[:2], ct, 0.5)
    with pytest.raises(DataError):
        steps(0, 1, 0)


# ----------------------------------------------------------------------------- decoding
@pytest.mark.parametrize("architecture, block", [("basis", 8192), ("basis", 64), ("mlp", 8192)])
def test_code_decoder_matches_decode(architecture, block, monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 50, 3)).astype(np.float32) * 0.3 + 1.0
    cfg = ModelConfig(architecture=architecture, hidden=(32, 16), latent_dim=6, basis_size=20)
    model = build_autoencoder(cfg, X, seed=0).eval()
    monkeypatch.setattr(CodeDecoder, "BLOCK", block)  # 64: three column blocks of 150 values
    dec = CodeDecoder(model)
    Z = rng.normal(size=(5, 6)).astype(np.float32)
    expected = decode(model, Z)
    out = np.empty((50, 3), np.float32)
    for z, e in zip(Z, expected):
        got = dec.decode(z, out=out)
        assert got is out
        np.testing.assert_allclose(out, e, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dec(Z[0]), expected[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(decode_codes(model, Z), expected)
    with pytest.raises(DataError):
        dec.decode(Z[0][:3])
    with pytest.raises(DataError):
        dec.decode(Z[0], out=np.empty((50, 3), np.float64))


def test_epoch_networks_sharing_a_basis_reuse_its_blocks_and_decode_their_own_weights():
    from saeviz.core.method import wire

    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 50, 3)).astype(np.float32) * 0.3 + 1.0
    cfg = ModelConfig(architecture="basis", hidden=(32, 16), latent_dim=6, basis_size=20)
    template = build_autoencoder(cfg, X, seed=0).eval()
    first = CodeDecoder(template)
    later = copy.deepcopy(template)  # as after an epoch: other weights, the same basis and mean
    with torch.no_grad():
        for p in later.parameters():
            p.add_(0.1 * torch.randn_like(p))
    weights = wire.epoch_weights(later)
    weights = {k: v for k, v in weights.items() if k != "basis"}  # as a large basis stays behind
    epoch = wire.with_weights(template, weights)
    assert epoch.basis is template.basis
    second = CodeDecoder(epoch)
    assert second._blocks is first._blocks  # not copied again
    z = rng.normal(size=6).astype(np.float32)
    np.testing.assert_allclose(second(z), decode(later, z[None])[0], rtol=1e-5, atol=1e-5)
    other = build_autoencoder(cfg, X * 2.0, seed=0).eval()  # another basis: new blocks
    assert CodeDecoder(other)._blocks is not first._blocks
    np.testing.assert_allclose(CodeDecoder(other)(z), decode(other, z[None])[0], rtol=1e-5, atol=1e-5)


def test_class_transition_of_a_trained_sae_reaches_the_target_class(digits):
    """On digits (3 classes, 20% labels): morphing every test sample of class A to class B and
    re-encoding the decoded image lands it in class B for the linear SVM far more often than
    the unmorphed samples."""
    from saeviz.core.data.dataset import reveal_labels
    from saeviz.core.method.classify import LatentClassifier

    train, test = digits.train_idx, digits.test_idx
    labels = reveal_labels(digits.y[train], np.arange(len(train)), 0.2, 0)
    cfg = ModelConfig(architecture="mlp", hidden=(64, 32), latent_dim=8)
    tcfg = TrainConfig(gamma=0.5, epochs=6, batch_size=64, device="cpu", seed=0)
    trainer = Trainer(digits.X[train], cfg, tcfg, supervision=LabelStore(len(train), digits.class_names, labels=labels))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: one thread is fastest, and steady on busy machines
    try:
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    model = trainer.model.eval()
    codes = trainer.latent_codes()
    C = class_centers(codes, labels, 3)
    clf = LatentClassifier().fit(codes, labels)
    z = encode(model, digits.X[test][digits.y[test] == 0])
    moved = np.stack([morph_path(zi, C[0], C[1], 1.0) for zi in z])
    again = encode(model, decode(model, moved))
    before = np.mean(clf.predict(encode(model, decode(model, z))) == 1)
    after = np.mean(clf.predict(again) == 1)
    assert before < 0.3 and after > 0.7, (before, after)


# ----------------------------------------------------------------------------- projections
@pytest.mark.parametrize("method", ["pca", "lda", "axes"])
def test_inverse_at_lands_on_the_coordinates_with_the_reference_elsewhere(method):
    rng = np.random.default_rng(2)
    codes = rng.normal(size=(80, 5)) + np.repeat(np.eye(5)[:2] * 4, 40, axis=0)
    labels = np.repeat([0, 1], 40)
    live = LiveProjection(make_projector(method, 2))
    live.update(codes, labels)
    live.update(codes + 0.01 * rng.normal(size=codes.shape), labels)  # an aligned second frame
    ref = codes[labels == 0].mean(axis=0)
    coords = np.array([[0.3, -1.2], [2.0, 0.5]])
    Z = inverse_at(live, coords, ref)
    np.testing.assert_allclose(live.transform(Z), coords, atol=1e-9)
    C = live.projector.components
    off = (Z - ref) - (Z - ref) @ C.T @ C  # the part the view does not show
    np.testing.assert_allclose(off, 0.0, atol=1e-9)
    np.testing.assert_allclose(inverse_at(live, coords[0], ref), Z[0])
    with pytest.raises(DataError):
        inverse_at(live, coords, ref[:3])


def test_nearest_codes():
    codes = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 0.5]])
    idx, dist = nearest_codes(codes, [0.1, 0.0], 3)
    assert idx.tolist() == [0, 3, 1]
    np.testing.assert_allclose(dist, [0.1, np.hypot(0.1, 0.5), 0.9])
    assert nearest_codes(codes, [0, 0], 10)[0].tolist() == [0, 3, 1, 2]


# ----------------------------------------------------------------------------- pose
def _stick_body():
    """Three 'bones' of vertices along a bent chain: root -> a -> b, weights one-hot."""
    seg = np.linspace(0, 1, 10)[:, None]
    root = np.hstack([seg * 0, seg * 0, seg])            # up the z axis
    a = np.hstack([seg, seg * 0, np.ones_like(seg)])      # then along x
    b = np.hstack([np.ones_like(seg), seg, np.ones_like(seg)])  # then along y
    V = np.vstack([root, a, b])
    W = np.zeros((30, 3))
    W[:10, 0], W[10:20, 1], W[20:, 2] = 1, 1, 1
    return V, W, [-1, 0, 1]


def test_pose_change_sees_turned_limbs_not_translations():
    V, W, parents = _stick_body()
    J = joint_positions(V, W)
    np.testing.assert_allclose(J[0], V[:10].mean(axis=0))
    moved = V + np.array([0.0, 0.0, 0.25])
    pc = pose_change(V[None], moved[None], W, parents)
    assert pc.joint_shift == pytest.approx(0.25)
    assert pc.bone_angle == pytest.approx(0.0, abs=1e-6)
    bent = V.copy()
    pivot = V[20]
    rot = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # 90 degrees about x: b points up
    bent[20:] = (V[20:] - pivot) @ rot.T + pivot
    pc = pose_change(V[None], bent[None], W, parents)
    # of the two bones (a -> root, b -> a) only the second turns: the mean is half its turn
    Jb = joint_positions(bent, W)
    d0, d1 = J[2] - J[1], Jb[2] - Jb[1]
    expected = np.degrees(np.arccos(d0 @ d1 / np.linalg.norm(d0) / np.linalg.norm(d1))) / 2
    assert expected == pytest.approx(30.0)  # b -> a turns from (0.5, 0.5, 0) to (0.5, 0, 0.5)
    assert pc.bone_angle == pytest.approx(expected)
    assert pose_change(V[None], V[None], W, parents).joint_shift == 0.0
    assert bone_pairs([-1, 0, 1, 2], [True, False, True, True]).tolist() == [[2, 0], [3, 2]]
    with pytest.raises(DataError):
        joint_positions(V, W[:5])


# ----------------------------------------------------------------------------- mesh arithmetic
def test_vertex_normals_of_a_sphere_point_outwards():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    v = np.asarray(sphere.vertices, np.float32)
    n = vertex_normals(v, sphere.faces)
    assert n.dtype == np.float32 and n.shape == v.shape
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
    radial = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert np.min(np.sum(n * radial, axis=1)) > 0.999
    calc = VertexNormals(sphere.faces, len(v))
    out = np.zeros_like(v)
    assert calc.normals(v * 2 + 1, out=out) is out
    np.testing.assert_allclose(out, n, atol=1e-5)  # scale and shift do not change normals


def test_vertex_normals_weight_by_area_and_leave_loose_vertices_zero():
    # two triangles meeting at vertex 0: a large one in the xy plane, a small one in the xz plane
    v = np.array([[0, 0, 0], [4, 0, 0], [0, 4, 0], [0, 0, 1], [1, 0, 0], [9, 9, 9]], np.float32)
    faces = np.array([[0, 1, 2], [0, 3, 4]])
    n = vertex_normals(v, faces)
    fn = np.array([0, 0, 16.0]) + np.array([0, 1.0, 0])  # cross products (twice the areas)
    np.testing.assert_allclose(n[0], fn / np.linalg.norm(fn), atol=1e-6)
    np.testing.assert_allclose(n[1], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(n[5], 0.0)
    with pytest.raises(DataError):
        VertexNormals(np.array([[0, 1, 7]]), 3)
    np.testing.assert_allclose(vertex_errors(v + [0, 3, 4], v), 5.0, rtol=1e-6)


# ----------------------------------------------------------------------------- exports
def test_save_animation_writes_every_frame_atomically(tmp_path):
    import imageio.v3 as iio

    frames = np.zeros((7, 20, 30, 3), np.uint8)
    for i in range(7):
        frames[i, :, : 4 * (i + 1)] = 200
    path = save_animation(tmp_path / "m.gif", frames, fps=10)
    back = iio.imread(path, index=None)
    assert back.shape == (7, 20, 30, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["m.gif"]
    with pytest.raises(DataError):
        save_animation(tmp_path / "m.png", frames)
    with pytest.raises(DataError):
        save_animation(tmp_path / "m.gif", frames[0])


def test_save_mp4_needs_a_video_plugin(tmp_path):
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        try:
            import av  # noqa: F401
        except ImportError:
            with pytest.raises(DataError, match="imageio-ffmpeg"):
                save_animation(tmp_path / "m.mp4", frames)
            assert list(tmp_path.iterdir()) == []
            return
    assert save_animation(tmp_path / "m.mp4", frames).stat().st_size > 0


def test_save_mesh_sequence(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=1)
    V = np.stack([sphere.vertices * s for s in (1.0, 1.5, 2.0)]).astype(np.float32)
    paths = save_mesh_sequence(tmp_path / "morph.ply", V, sphere.faces)
    assert [p.name for p in paths] == ["morph_000.ply", "morph_001.ply", "morph_002.ply"]
    for p, v in zip(paths, V):
        m = trimesh.load(p, process=False, maintain_order=True)
        np.testing.assert_allclose(m.vertices, v, rtol=1e-6)
        np.testing.assert_array_equal(m.faces, sphere.faces)
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]
    assert sequence_paths(tmp_path / "a.obj", 1200)[-1].name == "a_1199.obj"
    with pytest.raises(DataError):
        save_mesh_sequence(tmp_path / "m.stl", V, sphere.faces)
