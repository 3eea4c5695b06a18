"""The mesh viewport: in-place updates, normals, error colours, modes, cameras, rendering.

Runs under Xvfb with Mesa's software OpenGL. Uses 40 reduced-resolution bodies; the body
model is built once into pytest's cache folder (or ``$ANNY_CACHE_DIR``) and the bodies are
cached next to it.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyvista")

from PySide6 import QtWidgets  # noqa: E402

from saeviz.core.display.mesh_ops import VertexNormals  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def view(qtbot, bodies40):
    from saeviz.app.mesh.viewport import MeshView

    v = MeshView()
    qtbot.addWidget(v)
    v.resize(480, 560)
    v.show()
    qtbot.waitExposed(v)
    v.set_topology(bodies40.faces, bodies40.X.shape[1])
    yield v
    v.shutdown()


def settle(qtbot, v):
    QtWidgets.QApplication.processEvents()
    qtbot.wait(20)
    QtWidgets.QApplication.processEvents()


def actor_ids(v):
    return {k: id(live.actor) for k, live in v.meshes.items()}


def test_samples_are_written_into_the_same_actors(qtbot, view, bodies40):
    X = bodies40.X
    before_ids = actor_ids(view)
    n_actors = len(view.plotter.renderer.actors)
    view.set_sample(X[0], X[1])
    settle(qtbot, view)
    np.testing.assert_array_equal(view.meshes["original"].points, X[0])
    np.testing.assert_array_equal(view.meshes["reconstruction"].points, X[1])
    buffers = {k: live.points.__array_interface__["data"][0] for k, live in view.meshes.items()}
    view.set_sample(X[2], X[3])
    settle(qtbot, view)
    np.testing.assert_array_equal(view.meshes["original"].points, X[2])
    # the actor's own VTK points are what changed: same actors, same buffers
    vtk_points = view.meshes["original"].mesh.GetPoints().GetData()
    from vtkmodules.util.numpy_support import vtk_to_numpy
    np.testing.assert_array_equal(vtk_to_numpy(vtk_points), X[2])
    assert actor_ids(view) == before_ids
    assert len(view.plotter.renderer.actors) == n_actors
    assert {k: live.points.__array_interface__["data"][0] for k, live in view.meshes.items()} == buffers


def test_normals_are_the_unit_vertex_normals(view, bodies40):
    X = bodies40.X
    view.set_sample(X[4], X[5])
    live = view.meshes["original"]
    expected = VertexNormals(bodies40.faces, X.shape[1]).normals(X[4])
    np.testing.assert_allclose(live.normals, expected, atol=1e-6)
    # unit length wherever the triangles around a vertex do not cancel (the decimated mesh has
    # a few zero-area flaps of two back-to-back triangles; their vertices get (0, 0, 0))
    length = np.linalg.norm(live.normals, axis=1)
    assert np.mean(np.abs(length - 1) < 1e-5) > 0.995
    assert np.all((np.abs(length - 1) < 1e-5) | (length == 0))
    # the normals are the mesh's active normals: what the Phong shading interpolates
    assert live.mesh.point_data.active_normals_name == "Normals"
    assert str(live.actor.prop.interpolation).lower().endswith("phong")


def test_error_colours_and_colour_bar(qtbot, view, bodies40):
    X = bodies40.X
    view.set_sample(X[0], X[1])
    err = view.meshes["error"]
    expected = np.linalg.norm(X[1] - X[0], axis=1)
    np.testing.assert_allclose(err.errors, expected, rtol=1e-5)
    assert err.actor.mapper.scalar_range == pytest.approx((0.0, float(expected.max())), rel=1e-5)
    bar = next(iter(view.plotter.scalar_bars.values()))
    for mode, shown in (("original", False), ("side", True), ("overlay", True), ("reconstruction", False)):
        view.set_mode(mode)
        settle(qtbot, view)
        assert bool(bar.GetVisibility()) is shown, mode
    view.set_mode("overlay")
    assert view.meshes["error"].actor.visibility and view.meshes["shell"].actor.visibility
    assert view.meshes["shell"].actor.prop.opacity < 1
    assert not view.meshes["original"].actor.visibility


def test_without_reconstruction_the_original_is_shown(view, bodies40):
    view.set_sample(bodies40.X[0], None)
    for mode in ("reconstruction", "side", "overlay"):
        view.set_mode(mode)
        assert view.meshes["original"].actor.visibility
        assert not view.meshes["error"].actor.visibility


def test_side_by_side_puts_the_reconstruction_on_the_viewers_right(qtbot, view, bodies40):
    view.set_sample(bodies40.X[0], bodies40.X[1])
    view.set_mode("side")
    view.camera_preset("front")
    settle(qtbot, view)
    orig, rec = view.meshes["original"].bounds(), view.meshes["error"].bounds()
    renderer = view.plotter.renderer

    def screen_x(p):
        renderer.SetWorldPoint(*p, 1.0)
        renderer.WorldToDisplay()
        return renderer.GetDisplayPoint()[0]

    assert screen_x(rec.mean(axis=0)) > screen_x(orig.mean(axis=0))
    assert rec[0, 0] > orig[1, 0]  # no overlap
    w = view.canvas.width()
    for box in (orig, rec):  # both fit the viewport
        xs = [screen_x(np.array([x, y, z])) for x in box[:, 0] for y in box[:, 1] for z in box[:, 2]]
        assert min(xs) >= 0 and max(xs) <= w * view.canvas.devicePixelRatioF()


def test_camera_presets_and_persistence(qtbot, view, bodies40):
    X = bodies40.X
    view.set_sample(X[0], X[1])
    settle(qtbot, view)
    # z is the long axis of these bodies: z up, the front faces -y
    for name, axis, sign in (("front", 1, -1), ("side", 0, 1), ("top", 2, 1)):
        view.camera_preset(name)
        pos, focal, up = (np.asarray(a) for a in view.camera_state())
        d = (pos - focal) / np.linalg.norm(pos - focal)
        assert d[axis] == pytest.approx(sign, abs=1e-6), name
    view.camera_preset("side")
    settle(qtbot, view)
    state = view.camera_state()
    for i in range(6, 10):  # a new selection must not move the camera
        view.set_sample(X[i], X[i + 1])
        settle(qtbot, view)
        assert view.camera_state() == state


def test_renders_coalesce(qtbot, view, bodies40):
    view.set_mode("morph")
    view.set_morph(bodies40.X[0])
    settle(qtbot, view)
    count = view.render_count
    for i in range(20):
        view.set_morph(bodies40.X[i])
    assert view.render_count == count  # nothing drawn yet
    settle(qtbot, view)
    assert view.render_count == count + 1
    np.testing.assert_array_equal(view.morph_points(), bodies40.X[19])


def test_software_rendering_drops_multisampling(qtbot, view, bodies40):
    view.set_sample(bodies40.X[0])
    view.render_now()
    assert view.software_gl is not None
    if view.software_gl:
        assert view.plotter.ren_win.GetMultiSamples() == 0


def test_screenshot_shows_a_lit_centred_body(qtbot, view, bodies40, tmp_path):
    from PIL import Image

    view.set_sample(bodies40.X[0], bodies40.X[1])
    view.set_mode("original")
    view.camera_preset("front")
    settle(qtbot, view)
    path = view.save_screenshot(tmp_path / "body.png")
    assert [p.name for p in tmp_path.iterdir()] == ["body.png"]
    img = np.asarray(Image.open(path).convert("RGB")).astype(float)
    body = np.any(img < 235, axis=2)  # the background is white
    assert 0.03 < body.mean() < 0.6
    ys, xs = np.nonzero(body)
    h, w = body.shape
    assert abs(xs.mean() / w - 0.5) < 0.1 and abs(ys.mean() / h - 0.5) < 0.15
    shade = img[body].mean(axis=1)
    assert shade.std() > 8  # shaded, not a flat silhouette


def test_single_key_commands_are_off(qtbot, view, bodies40):
    from PySide6 import QtCore
    from PySide6.QtTest import QTest

    view.set_sample(bodies40.X[0], bodies40.X[1])
    settle(qtbot, view)
    state = view.camera_state()
    view.canvas.setFocus()
    for key in (QtCore.Qt.Key_W, QtCore.Qt.Key_R, QtCore.Qt.Key_Q, QtCore.Qt.Key_E):
        QTest.keyClick(view.canvas, key)
        settle(qtbot, view)
    assert not view.canvas.closed and view.isVisible()
    assert str(view.meshes["original"].actor.prop.style).lower() == "surface"  # 'w' would wireframe
    assert view.camera_state() == state  # 'r' would reset the camera
    before = view.render_count
    view.set_sample(bodies40.X[2], bodies40.X[3])
    settle(qtbot, view)
    assert view.render_count > before


def test_closed_outward_surfaces_skip_their_far_side(qtbot, view, bodies40):
    from saeviz.core.display.mesh_ops import closed_and_oriented

    view.set_sample(bodies40.X[0], bodies40.X[1])
    open_surface = not closed_and_oriented(bodies40.faces, bodies40.X.shape[1])
    assert view.meshes["original"].actor.prop.culling == ("back" if not open_surface else "none")
    cube_v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                       [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], np.float32)
    cube_f = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                       [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]])
    for faces, culled in ((cube_f, True), (cube_f[:, ::-1], False), (cube_f[:-1], False)):
        view.set_topology(faces, 8)
        view.set_sample(cube_v, cube_v)
        for role in ("original", "reconstruction", "error", "morph"):
            assert view.meshes[role].actor.prop.culling == ("back" if culled else "none"), (role, culled)
        assert view.meshes["shell"].actor.prop.culling == "none"  # the translucent shell shows both sides
        settle(qtbot, view)  # the camera fits the new topology's first mesh
        img = view.grab_rgb()
        assert np.any(img < 235)  # something drawn either way
