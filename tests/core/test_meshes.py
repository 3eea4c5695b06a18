"""Mesh folders (one topology, file order, labels, bad files) and atomic mesh writing."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh

from saeviz.core.data.meshes import load_mesh_folder, save_mesh
from saeviz.core.errors import DataError


def _box(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A box with vertices in a scrambled order and two coincident vertices (a seam)."""
    base = trimesh.creation.box()
    rng = np.random.default_rng(seed)
    order = np.random.default_rng(0).permutation(len(base.vertices))
    inverse = np.argsort(order)
    vertices = base.vertices[order] * (1 + 0.1 * rng.random(3))
    faces = inverse[base.faces]
    # Split vertex 0: a duplicate at the same position, used by the last face.
    vertices = np.vstack([vertices, vertices[faces[-1, 0]]])
    faces = faces.copy()
    faces[-1, 0] = len(vertices) - 1
    return vertices, faces


def _folder(tmp_path, n=3, suffixes=(".ply", ".obj", ".off")):
    folder = tmp_path / "meshes"
    folder.mkdir()
    meshes = []
    for i in range(n):
        v, f = _box(i)
        name = f"m{i:02d}{suffixes[i % len(suffixes)]}"
        if name.endswith(".off"):
            trimesh.Trimesh(v, f, process=False).export(folder / name)
        else:
            save_mesh(folder / name, v, f)
        meshes.append((name, v, f))
    return folder, meshes


def test_loads_in_sorted_order_without_merging_or_reordering(tmp_path):
    folder, meshes = _folder(tmp_path, n=4)
    (folder / ".hidden.ply").write_text("not a mesh")
    (folder / "notes.txt").write_text("ignored")
    ds = load_mesh_folder(folder)
    assert ds.kind == "mesh"
    assert ds.X.shape == (4, len(meshes[0][1]), 3)
    for i, (_, v, f) in enumerate(meshes):
        np.testing.assert_allclose(ds.X[i], v, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ds.faces, meshes[0][2])
    assert ds.y is None
    assert ds.source["loader"] == "meshes" and "skipped" not in ds.source


def test_labels_from_a_csv_next_to_the_folder(tmp_path):
    folder, meshes = _folder(tmp_path, n=3)
    (tmp_path / "meshes.csv").write_text("filename,label\nm00.ply,tall\nm01.obj,short\nm02.off,tall\n")
    ds = load_mesh_folder(folder)
    assert ds.class_names == ("short", "tall")
    assert ds.y.tolist() == [1, 0, 1]
    explicit = tmp_path / "other.csv"
    explicit.write_text("m00.ply,a\nm01.obj,b\n")
    with pytest.raises(DataError, match="m02.off"):
        load_mesh_folder(folder, labels_csv=explicit)


def test_a_mesh_with_another_topology_is_named(tmp_path):
    folder, meshes = _folder(tmp_path, n=3)
    sphere = trimesh.creation.icosphere(subdivisions=1)
    save_mesh(folder / "m01b.ply", sphere.vertices, sphere.faces)
    with pytest.raises(DataError, match="m01b.ply"):
        load_mesh_folder(folder)
    ds = load_mesh_folder(folder, skip_bad=True)
    assert ds.n_samples == 3
    assert ds.source["skipped"] == ["m01b.ply"]
    # The source loads the same data again.
    options = {k: v for k, v in ds.source.items() if k not in ("loader", "path")}
    np.testing.assert_array_equal(load_mesh_folder(ds.source["path"], **options).X, ds.X)
    # Same vertex count, other triangles.
    v, f = meshes[0][1], meshes[0][2][:, ::-1]
    save_mesh(folder / "m01b.ply", v, f)
    with pytest.raises(DataError, match="m01b.ply.*triangles"):
        load_mesh_folder(folder)


def test_an_unreadable_file_is_named_or_skipped(tmp_path):
    folder, _ = _folder(tmp_path, n=2)
    (folder / "m05.ply").write_bytes(b"ply\nformat nonsense\n")
    with pytest.raises(DataError, match="m05.ply"):
        load_mesh_folder(folder)
    assert load_mesh_folder(folder, skip_bad=True).source["skipped"] == ["m05.ply"]


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no mesh files"):
        load_mesh_folder(tmp_path)


@pytest.mark.parametrize("suffix", [".ply", ".obj"])
def test_save_and_load_round_trip_keeps_vertex_order(tmp_path, suffix):
    v, f = _box(3)
    path = save_mesh(tmp_path / f"body{suffix}", v, f)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"body{suffix}"]  # no temporary left
    loaded = trimesh.load(path, process=False, maintain_order=True, force="mesh")
    np.testing.assert_allclose(loaded.vertices, v, rtol=1e-7, atol=1e-7)
    np.testing.assert_array_equal(loaded.faces, f)
    save_mesh(path, v * 2, f)  # overwrite in place
    np.testing.assert_allclose(trimesh.load(path, process=False, maintain_order=True).vertices, v * 2,
                               rtol=1e-7, atol=1e-7)


def test_save_refuses_bad_input(tmp_path):
    v, f = _box(0)
    with pytest.raises(DataError, match=".stl"):
        save_mesh(tmp_path / "x.stl", v, f)
    with pytest.raises(DataError, match="faces"):
        save_mesh(tmp_path / "x.ply", v, f + len(v))
    assert list(tmp_path.iterdir()) == []
