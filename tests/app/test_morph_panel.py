"""The morph panel, the latent markers and decode-anywhere, on a small trained SAE.

Meshes: 40 reduced-resolution bodies, a "basis" SAE trained for a few epochs (the body model
is built once into pytest's cache folder, or read from ``$ANNY_CACHE_DIR``). Images: the
digits demo. Runs under Xvfb with Mesa's software OpenGL. A screenshot of the viewport in
the middle of a morph is kept as ``build/test-artifacts/morph-mid.png``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyvista")

from morph_rig import (  # noqa: E402  (the fixtures and helpers of the morph rig)
    ATOL,
    DEFAULTS,
    centers01,
    labeled,
    make_session,
    train_small,
    wait_frame,
)
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from saeviz.core.method.config import ModelConfig, TrainConfig  # noqa: E402
from saeviz.core.method.morph import morph_path  # noqa: E402
from saeviz.core.method.training import decode  # noqa: E402
from saeviz.core.state.session import Session, SessionDefaults  # noqa: E402

pytestmark = pytest.mark.gui

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
def test_the_viewport_shows_the_decoded_path(qtbot, rig):
    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    pos = labeled(s, 0)
    s.select(pos)
    assert (panel.source_class, panel.target_class) == (0, 1)  # own class, then the other one
    z = np.asarray(s.codes[pos], np.float64)
    c0, c1 = centers01(s)
    np.testing.assert_allclose(panel.centers[[0, 1]], [c0, c1], rtol=1e-12)
    for t in (0.0, 1.0, 0.5, -0.5, 1.5):
        panel.set_t(t)
        wait_frame(qtbot, panel, t)
        expected = decode(s.model, (z + t * (c1 - c0))[None].astype(np.float32))[0]
        np.testing.assert_allclose(mv.morph_points(), expected, atol=ATOL, err_msg=f"t = {t}")
    assert mv.mode == "morph" and mv.meshes["morph"].actor.visibility
    assert "SVM" in panel.info.text()
    # a male sample goes the other way by default
    s.select(labeled(s, 1))
    assert (panel.source_class, panel.target_class) == (1, 0)


def test_moving_the_slider_rewrites_the_same_actor(qtbot, rig):
    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    s.select(labeled(s, 0))
    panel.slider.setValue(0)
    wait_frame(qtbot, panel, 0.0)
    actor = mv.meshes["morph"].actor
    n_actors = len(mv.plotter.renderer.actors)
    before = mv.morph_points()
    renders = mv.render_count
    for value in (20, 40, 60, 80, 100):
        panel.slider.setValue(value)
        wait_frame(qtbot, panel, value / 100)
        qtbot.waitUntil(lambda: mv.render_count > renders, timeout=5000)
        renders = mv.render_count
    after = mv.morph_points()
    assert np.abs(after - before).max() > 1e-3
    assert mv.meshes["morph"].actor is actor
    assert len(mv.plotter.renderer.actors) == n_actors
    assert panel.spin.value() == pytest.approx(1.0)


def test_a_fast_drag_is_coalesced(qtbot, rig):
    s, panel = rig["session"], rig["panel"]
    s.select(labeled(s, 0))
    panel.set_t(0.0)
    wait_frame(qtbot, panel, 0.0)
    shown = []
    panel.frameShown.connect(lambda f: shown.append(f.t))
    for value in range(1, 121):  # a drag faster than any decode: no event loop in between
        panel.slider.setValue(value)
    wait_frame(qtbot, panel, 1.2)
    qtbot.wait(100)
    assert shown[-1] == pytest.approx(1.2)
    assert len(shown) <= 3, shown  # the one running when the drag began, then the newest


def test_interpolation_between_two_samples(qtbot, rig):
    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    end, start = labeled(s, 1), labeled(s, 0)
    s.select(end)
    panel.use_selection_as_end()
    s.select(start)
    assert panel.path_kind == "between"
    for t in (1.0, 0.25):
        panel.set_t(t)
        wait_frame(qtbot, panel, t)
        z = (1 - t) * np.asarray(s.codes[start]) + t * np.asarray(s.codes[end])
        np.testing.assert_allclose(mv.morph_points(), decode(s.model, z[None].astype(np.float32))[0], atol=ATOL)


def test_play_goes_back_and_forth(qtbot, rig):
    s, panel = rig["session"], rig["panel"]
    s.select(labeled(s, 0))
    seen = []
    panel.frameShown.connect(lambda f: seen.append(f.t))
    panel.play_button.click()
    assert panel.playing
    qtbot.waitUntil(lambda: len(seen) >= 6, timeout=10000)
    panel.play_button.click()
    assert not panel.playing
    assert all(0.0 <= t <= 1.0 for t in seen) and len(set(np.round(seen, 2))) >= 4


def test_markers_show_the_centers_and_the_moving_code(qtbot, rig):
    s, panel, live, markers = rig["session"], rig["panel"], rig["live"], rig["markers"]
    s.select(labeled(s, 0))
    panel.set_t(0.75)
    wait_frame(qtbot, panel, 0.75)
    np.testing.assert_allclose(markers.coords["centers"], live.transform(panel.centers[[0, 1]]))
    np.testing.assert_allclose(markers.coords["moving"][0], live.transform(panel.last_frame.code[None])[0])
    np.testing.assert_allclose(markers.coords["path"], live.transform(np.stack([panel.path_code(-0.5),
                                                                               panel.path_code(1.5)])))
    # a refitted projection moves them along
    live.update(np.asarray(s.codes) * 2.0, np.asarray(s.labels.labels))
    qtbot.waitUntil(lambda: np.allclose(markers.coords["centers"], live.transform(panel.centers[[0, 1]])),
                    timeout=3000)


def test_export_gif_and_mesh_sequence(qtbot, rig, tmp_path):
    import imageio.v3 as iio
    import trimesh

    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    pos = labeled(s, 0)
    s.select(pos)
    panel.set_t(0.3)
    wait_frame(qtbot, panel, 0.3)
    with qtbot.waitSignal(panel.exportFinished, timeout=60000) as sig:
        assert panel.export(tmp_path / "morph.gif", n_frames=6, t_from=0.0, t_to=1.0)
    assert sig.args[0] == tmp_path / "morph.gif"
    frames = iio.imread(tmp_path / "morph.gif", index=None)
    assert frames.shape[0] == 6 and frames.shape[-1] == 3
    assert frames.shape[1:3] == mv.grab_rgb().shape[:2]
    with qtbot.waitSignal(panel.exportFinished, timeout=60000) as sig:
        assert panel.export(tmp_path / "seq" / "morph.ply", n_frames=4, t_from=-0.5, t_to=1.5)
    paths = sig.args[0]
    assert [p.name for p in paths] == [f"morph_{i:03d}.ply" for i in range(4)]
    assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == [p.name for p in paths]
    c0, c1 = centers01(s)
    for p, t in zip(paths, (-0.5, 1 / 6, 5 / 6, 1.5)):
        mesh = trimesh.load(p, process=False, maintain_order=True)
        z = morph_path(np.asarray(s.codes[pos]), c0, c1, t)
        np.testing.assert_allclose(mesh.vertices, decode(s.model, z[None].astype(np.float32))[0], atol=ATOL)
        np.testing.assert_array_equal(mesh.faces, s.dataset.faces)
    # the viewport is back on the slider's frame, the controls are enabled again
    wait_frame(qtbot, panel, 0.3)
    assert panel.slider.isEnabled() and not panel.exporting
    assert not panel.export(tmp_path / "morph.png")


def test_screenshot_in_the_middle_of_a_morph(qtbot, rig):
    from PIL import Image

    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    s.select(labeled(s, 0))
    panel.set_t(0.5)
    wait_frame(qtbot, panel, 0.5)
    mv.camera_preset("front")
    path = mv.save_screenshot(ARTIFACTS / "morph-mid.png")
    img = np.asarray(Image.open(path).convert("RGB")).astype(float)
    h, w, _ = img.shape
    body = np.any(img < 235, axis=2)
    body[int(0.9 * h):, : int(0.3 * w)] = False  # the "t = 0.50" caption
    ys, xs = np.nonzero(body)
    assert 0.03 < body.mean() < 0.6
    assert abs(xs.mean() / w - 0.5) < 0.1 and abs(ys.mean() / h - 0.5) < 0.15
    assert img[body].mean(axis=1).std() > 8  # lit: shades of the surface, not a silhouette


def test_decode_anywhere_with_ctrl_click(qtbot, rig):
    from saeviz.app.mesh.decode_anywhere import DecodeAnywhere
    from saeviz.core.method.morph import labeled_mean

    s, lv, live, mv = rig["session"], rig["latent"], rig["live"], rig["mesh"]
    da = DecodeAnywhere(s, lv, lambda: live, mesh_view=mv)
    qtbot.addWidget(da)
    lv.auto_range()
    QtWidgets.QApplication.processEvents()
    coords = live.coords
    target = coords.min(axis=0) - 0.15 * (coords.max(axis=0) - coords.min(axis=0))  # empty space
    lv.view_box.setRange(xRange=(target[0] - 1, coords[:, 0].max()), yRange=(target[1] - 1, coords[:, 1].max()))
    QtWidgets.QApplication.processEvents()
    scene = lv.view_box.mapViewToScene(QtCore.QPointF(*target))
    pixel = lv.plot_widget.mapFromScene(scene)
    assert lv.pick(pixel) < 0
    clicked = []
    lv.pointClicked.connect(clicked.append)
    QTest.mouseClick(lv.plot_widget.viewport(), QtCore.Qt.LeftButton, QtCore.Qt.ControlModifier, pixel)
    qtbot.waitUntil(lambda: da.last is not None, timeout=10000)
    QtWidgets.QApplication.processEvents()
    at = np.asarray(lv.data_position(pixel))
    np.testing.assert_allclose(live.transform(da.last.code[None])[0], at, atol=1e-9)
    ref = labeled_mean(s.codes, np.asarray(s.labels.labels))
    C = live.projector.components
    np.testing.assert_allclose((da.last.code - ref) - (da.last.code - ref) @ C.T @ C, 0.0, atol=1e-9)
    np.testing.assert_allclose(mv.morph_points(), decode(s.model, da.last.code[None].astype(np.float32))[0],
                               atol=ATOL)
    assert da.nearest_list.count() == 5 and clicked == []
    d = np.linalg.norm(np.asarray(s.codes) - da.last.code, axis=1)
    assert da.last.nearest.tolist() == np.argsort(d)[:5].tolist()
    # double-clicking a listed sample selects it
    da._nearest_picked(da.nearest_list.item(0))
    assert s.selected == int(da.last.nearest[0])
    # Ctrl+click on a point is left to the view: it picks the point
    first = lv.plot_widget.mapFromScene(lv.view_box.mapViewToScene(QtCore.QPointF(*coords[3])))
    da.last = None
    QTest.mouseClick(lv.plot_widget.viewport(), QtCore.Qt.LeftButton, QtCore.Qt.ControlModifier, first)
    QtWidgets.QApplication.processEvents()
    assert clicked == [lv.pick(first)] and da.last is None
    da.shutdown()


@pytest.fixture(scope="module")
def digits_trained(digits):
    return train_small(digits, ModelConfig(architecture="mlp", hidden=(64, 32), latent_dim=6),
                  TrainConfig(gamma=0.5, epochs=2, batch_size=64, device="cpu", seed=0))


def test_images_show_the_decoded_image_and_a_strip(qtbot, digits, digits_trained):
    from saeviz.app.mesh.morph_panel import STRIP_STEPS, MorphPanel

    defaults = SessionDefaults(label_fraction=0.25, model=ModelConfig(architecture="mlp", hidden=(64, 32), latent_dim=6))
    s = make_session(digits, digits_trained, defaults)
    panel = MorphPanel(s)
    qtbot.addWidget(panel)
    panel.show()
    s.select(labeled(s, 2))
    assert (panel.source_class, panel.target_class)[0] == 2 and panel.target_class != 2
    panel.set_t(1.0)
    wait_frame(qtbot, panel, 1.0)
    assert panel.image.has_image() and panel.last_frame.sample.shape == (8, 8)
    qtbot.waitUntil(lambda: all(p.has_image() for p in panel.strip_panes), timeout=10000)
    assert len(panel.strip_panes) == STRIP_STEPS
    assert not panel.export("x.ply")  # no mesh sequences of images
    panel.shutdown()


def test_the_opengl_mesh_viewport_is_made_only_for_a_mesh_dataset(make_window, qtbot, bodies40, digits, tmp_path):
    from PySide6.QtOpenGLWidgets import QOpenGLWidget

    from saeviz.app.mesh.viewport import MeshView

    s = Session(DEFAULTS)
    s.set_dataset(digits)
    w = make_window(tmp_path / "settings.ini", defaults=DEFAULTS, session=s, open_startup=False)
    tools = w.mesh_tools
    # no OpenGL widget in the window: Qt keeps composing it without OpenGL
    assert tools.mesh_view is None and not w.findChildren(QOpenGLWidget)
    assert not tools.docks["mesh"].isVisible()

    s.set_dataset(bodies40)
    mv = tools.mesh_view
    assert isinstance(mv, MeshView) and tools.docks["mesh"].widget() is mv
    assert tools.morph.mesh_view is mv and tools.decode.mesh_view is mv
    assert tools.docks["mesh"].isVisible()
    qtbot.waitUntil(lambda: "original" in mv.meshes, timeout=10000)
    # the viewport renders off screen into an image: still no OpenGL widget in the window
    qtbot.waitUntil(lambda: mv.render_count > 0, timeout=10000)
    assert not w.findChildren(QOpenGLWidget)
    s.set_dataset(digits)  # made once, kept (hidden) for the next mesh dataset
    assert tools.mesh_view is mv and not tools.docks["mesh"].isVisible()
    w.close()


def test_the_main_window_docks_the_mesh_tools(make_window, qtbot, bodies40, trained, digits, tmp_path):
    s = make_session(bodies40, trained)
    w = make_window(tmp_path / "settings.ini", defaults=DEFAULTS, session=s, open_startup=False)
    tools = w.mesh_tools
    assert tools.docks["mesh"].isVisible()
    qtbot.waitUntil(lambda: w.latent.coords is not None, timeout=10000)
    pos = labeled(s, 0)
    s.select(pos)
    mv = tools.mesh_view
    qtbot.waitUntil(lambda: mv.meshes["error"].has_data, timeout=10000)  # the reconstruction arrived
    np.testing.assert_array_equal(mv.meshes["original"].points, s.X[pos])
    np.testing.assert_allclose(mv.meshes["reconstruction"].points, decode(s.model, s.codes[pos][None])[0],
                               atol=ATOL)
    tools.morph.set_t(1.0)
    wait_frame(qtbot, tools.morph, 1.0)
    assert mv.mode == "morph"
    markers = tools.morph_markers
    live = w.latent._live
    np.testing.assert_allclose(markers.coords["moving"][0], live.transform(tools.morph.last_frame.code[None])[0])
    titles = [a.text() for a in w.findChildren(type(tools.docks["mesh"].toggleViewAction()))]
    assert "Mesh" in titles and "Morph" in titles
    s.set_dataset(digits)  # images: no mesh viewport, the morph panel shows images
    assert not tools.docks["mesh"].isVisible()
    assert tools.morph.display.currentWidget() is tools.morph.image
    w.close()
    qtbot.waitUntil(lambda: mv.canvas.closed, timeout=5000)


# -- what a new user meets --------------------------------------------------------------------------
def test_a_new_sample_starts_at_itself_and_goes_its_own_way(qtbot, rig):
    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    s.select(labeled(s, 0))
    panel.slider.setFocus()
    QTest.keyClick(panel.slider, QtCore.Qt.Key_End)  # all the way: t = 1.5, extrapolated
    wait_frame(qtbot, panel, 1.5)
    assert panel.spin.value() == 1.5
    male = labeled(s, 1)
    s.select(male)
    assert panel.t == 0.0 and panel.slider.value() == 0 and panel.spin.value() == 0.0
    assert (panel.source_class, panel.target_class) == (1, 0)
    wait_frame(qtbot, panel, 0.0)
    z = np.asarray(s.codes[male], np.float32)
    np.testing.assert_allclose(mv.morph_points(), decode(s.model, z[None])[0], atol=ATOL)  # the sample itself


def test_no_stale_morph_when_the_path_has_no_length_or_the_data_change(qtbot, rig, digits):
    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    s.select(labeled(s, 0))
    panel.set_t(0.4)
    wait_frame(qtbot, panel, 0.4)
    assert "t = 0.40" in panel.info.text() and mv.meshes["morph"].actor.visibility
    panel.target_combo.setCurrentIndex(panel.source_combo.currentIndex())  # from = to
    assert "two different classes" in panel.status.text()
    assert panel.info.text() == "" and panel.last_frame is None
    assert not mv.meshes["morph"].actor.visibility and mv.morph_points() is None
    panel.target_combo.setCurrentIndex(1)
    wait_frame(qtbot, panel, 0.4)
    assert mv.meshes["morph"].actor.visibility
    s.set_dataset(digits)  # another dataset: nothing of the bodies' morph stays
    assert panel.info.text() == "" and panel.last_frame is None and panel.t == 0.0
    assert mv.morph_info.text() == ""


def test_the_line_under_the_viewport_describes_what_it_shows(qtbot, rig):
    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    s.select(labeled(s, 0))
    mv.set_sample(s.X[labeled(s, 0)], decode(s.model, np.asarray(s.codes[labeled(s, 0)])[None])[0])
    assert "vertex error" in mv.info.text()
    panel.set_t(0.7)
    wait_frame(qtbot, panel, 0.7)
    assert mv.mode == "morph"
    assert mv.info.isHidden() and mv.morph_info.isVisible()
    names = s.labels.class_names
    text = mv.morph_info.text()
    assert f"{names[0]} → {names[1]}" in text and "t = 0.70" in text and "vertex error" not in text
    mv.set_mode("side")
    assert mv.info.isVisible() and mv.morph_info.isHidden()


def test_the_slider_names_its_ends(qtbot, rig):
    s, panel = rig["session"], rig["panel"]
    s.select(labeled(s, 0))
    names = s.labels.class_names
    assert panel.slider.marks == [(0, f"0 · {names[0]}"), (100, f"{names[1]} · 1")]
    x0, x1 = panel.slider.mark_x(0), panel.slider.mark_x(100)
    lo, hi = panel.slider.mark_x(panel.slider.minimum()), panel.slider.mark_x(panel.slider.maximum())
    assert lo < x0 < x1 < hi
    assert (x0 - lo) / (hi - lo) == pytest.approx(0.25, abs=0.03)  # t = 0 a quarter along -0.5 .. 1.5
    img = panel.slider.grab().toImage()
    band = range(img.height() - panel.slider.fontMetrics().height(), img.height())
    dark = [x for x in range(img.width())
            if any(QtGui.QColor(img.pixel(x, y)).lightness() < 110 for y in band)]
    assert dark and min(dark) < x0 + 40 and max(dark) > x1 - 40  # the names are drawn at the ticks
    s.select(labeled(s, 1))
    assert panel.slider.marks == [(0, f"0 · {names[1]}"), (100, f"{names[0]} · 1")]


def test_the_gif_frames_the_whole_body(qtbot, rig, tmp_path):
    import imageio.v3 as iio

    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    s.select(labeled(s, 0))
    panel.set_t(0.0)
    wait_frame(qtbot, panel, 0.0)
    cam = mv.plotter.camera
    cam.zoom(4.0)  # the user zoomed in on the head
    mv.request_render()
    with qtbot.waitSignal(panel.exportFinished, timeout=60000):
        assert panel.export(tmp_path / "morph.gif", n_frames=5, t_from=-0.5, t_to=1.5)
    frames = iio.imread(tmp_path / "morph.gif", index=None).astype(float)
    for f in frames:
        body = np.any(f < 235, axis=2)
        body[int(0.88 * f.shape[0]):, : int(0.3 * f.shape[1])] = False  # the caption
        ys, xs = np.nonzero(body)
        assert len(ys)
        # the body is whole: it does not touch the frame's edges
        assert ys.min() > 0 and ys.max() < f.shape[0] - 1 and xs.min() > 0 and xs.max() < f.shape[1] - 1
        assert (ys.max() - ys.min()) > 0.5 * f.shape[0]  # and fills the frame's height
