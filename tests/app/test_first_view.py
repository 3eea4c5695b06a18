"""What a new user sees before training and on a mesh dataset, through the keys, menus and
buttons they use: points at once with a hint to press Space (the pretrained demo model at
the first start, else the untrained network), the basis network and a body at once for
meshes, errors in millimetres for bodies, the mesh view's Save… writing the body shown as
PLY/OBJ, and the morph's Export… writing an MP4."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from modal_answers import ModalAnswers, choose_file  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from small_meshes import save_tubes, tube_faces, tubes  # noqa: E402

from saeviz.core.data.dataset import Dataset  # noqa: E402
from saeviz.core.method.config import ModelConfig  # noqa: E402

pytestmark = pytest.mark.gui

SMALL = ModelConfig(hidden=(64,), latent_dim=6, basis_size=16)


def press_space_and_wait(qtbot, w):
    with qtbot.waitSignal(w.controller.finished, timeout=120000):
        w.actions["train"].trigger()  # Training > Train, the action Space is the shortcut of
    qtbot.waitUntil(lambda: not w.latent.dirty, timeout=30000)


def open_file(qtbot, w, path):
    with ModalAnswers(choose_file(path)) as answers:
        w.actions["open"].trigger()
        qtbot.waitUntil(lambda: answers.done, timeout=30000)


def test_the_demo_shows_the_pretrained_model_at_the_first_start(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "first.ini", defaults=None)  # the shipped settings
    try:
        s = w.session
        qtbot.waitUntil(lambda: w.latent.coords is not None, timeout=60000)
        assert s.epoch == 30 and s.model is not None  # models/digits.safetensors
        assert w.latent.coords.shape == (s.n_samples, 2) and len(w.latent.view.points()) == s.n_samples
        hint = w.latent.hint
        assert hint.isVisible() and "Space" in hint.text() and "pretrained" in hint.text()
        view = w.latent.view.geometry()
        assert view.contains(hint.geometry())
        w.actions["train"].trigger()  # trains on
        qtbot.waitUntil(lambda: not hint.isVisible(), timeout=30000)
        w.actions["stop"].trigger()
        qtbot.waitUntil(lambda: not w.controller.is_running, timeout=60000)
        assert not hint.isVisible()
    finally:
        w.close()


def test_other_settings_show_the_untrained_network_until_space_is_pressed(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "s.ini", model=SMALL, batch_size=32)
    try:
        s = w.session
        qtbot.waitUntil(lambda: w.latent.coords is not None, timeout=60000)
        assert s.epoch == 0 and s.model is None
        assert len(w.latent.view.points()) == s.n_samples
        hint = w.latent.hint
        assert hint.isVisible() and "Space" in hint.text() and "untrained" in hint.text()
        assert not w.actions["export_codes"].isEnabled()  # nothing trained to export
        before = np.array(w.latent.coords)
        press_space_and_wait(qtbot, w)
        assert s.epoch == 1 and not hint.isVisible()
        assert not np.allclose(before, w.latent.coords)
        # Reset shows the untrained network again
        w.actions["reset"].trigger()
        qtbot.waitUntil(lambda: hint.isVisible() and w.latent.coords is not None, timeout=30000)
        assert s.epoch == 0
    finally:
        w.close()


def test_a_mesh_dataset_opens_on_the_basis_network_with_a_body_shown(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "m.ini", model=SMALL, batch_size=32)
    try:
        assert w.session.model_config.architecture == "mlp"
        open_file(qtbot, w, save_tubes(tmp_path / "tubes.npz"))
        qtbot.waitUntil(lambda: w.session.dataset.kind == "mesh", timeout=120000)
        s = w.session
        panel = w.settings_panel
        assert panel.arch.currentData() == "basis" and "basis" in panel.arch.currentText()
        assert s.model_config.architecture == "basis"
        mv = w.mesh_tools.mesh_view
        qtbot.waitUntil(lambda: mv is not None and mv.meshes and mv.meshes["original"].has_data, timeout=30000)
        assert s.selected == 0 and mv.mode == "original"
        assert mv.meshes["original"].actor.visibility
        np.testing.assert_allclose(mv.meshes["original"].points, s.X[0], atol=1e-6)
        assert w.mesh_tools.docks["mesh"].isVisible()
        # the latent view shows the untrained basis network's codes with the hint
        qtbot.waitUntil(lambda: w.latent.coords is not None, timeout=60000)
        assert len(w.latent.coords) == s.n_samples and w.latent.hint.isVisible()
        press_space_and_wait(qtbot, w)
        assert s.trained_config.architecture == "basis"  # what the training used
        # back on images: the basis network makes way for the MLP
        w.open_dataset("digits")
        qtbot.waitUntil(lambda: s.dataset.kind == "image", timeout=60000)
        assert s.model_config.architecture == "mlp"
    finally:
        w.close()


def _save_with_button(qtbot, mv, path):
    with ModalAnswers(choose_file(path)) as answers:
        qtbot.mouseClick(mv.screenshot_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: answers.done, timeout=30000)
    qtbot.waitUntil(lambda: Path(path).exists(), timeout=10000)


def test_the_mesh_views_save_button_writes_the_body_shown_as_ply_and_obj(make_window, qtbot, tmp_path):
    import trimesh

    w = make_window(tmp_path / "e.ini", model=SMALL, batch_size=32)
    try:
        open_file(qtbot, w, save_tubes(tmp_path / "tubes.npz"))
        qtbot.waitUntil(lambda: w.session.dataset.kind == "mesh", timeout=120000)
        mv = w.mesh_tools.mesh_view
        qtbot.waitUntil(lambda: mv.meshes and mv.meshes["original"].has_data, timeout=30000)
        s = w.session
        for name in ("body.ply", "body.obj"):
            _save_with_button(qtbot, mv, tmp_path / name)
            mesh = trimesh.load(tmp_path / name, process=False, maintain_order=True)
            np.testing.assert_allclose(mesh.vertices, s.X[0], atol=1e-5)
            np.testing.assert_array_equal(mesh.faces, s.dataset.faces)
            assert mv.info.text() == f"saved {name}"
        _save_with_button(qtbot, mv, tmp_path / "view.png")  # the viewport as an image, as before
        from PIL import Image

        assert Image.open(tmp_path / "view.png").size[0] > 50
    finally:
        w.close()


def test_errors_of_bodies_are_shown_in_millimetres(make_window, qtbot, tmp_path):
    X, y = tubes(40)
    bodies = Dataset(name="bodies (test)", X=X, kind="mesh", y=y, class_names=("female", "male"),
                     faces=tube_faces(), source={"loader": "bodies", "count": 40, "seed": 0,
                                                 "model": "anny", "resolution": "reduced"})
    w = make_window(tmp_path / "u.ini", model=SMALL, batch_size=32)
    try:
        w._dataset_loaded(bodies, None)  # as opening the generated bodies does
        s = w.session
        press_space_and_wait(qtbot, w)
        rmse_m = s.history[-1]["rmse"]
        qtbot.waitUntil(lambda: "RMSE" in w.loss_plot.summary.text(), timeout=10000)
        m = re.search(r"RMSE ([\d.,]+) mm", w.loss_plot.summary.text())
        assert m, w.loss_plot.summary.text()
        assert float(m.group(1).replace(",", "")) == pytest.approx(1000 * rmse_m, rel=1e-3)
        assert re.search(r"RMSE [\d.,]+ mm", w.controls.detail.text())
        mv = w.mesh_tools.mesh_view
        qtbot.waitUntil(lambda: "vertex error" in mv.info.text(), timeout=30000)
        assert re.search(r"mean [\d.]+ mm, max [\d.]+ mm", mv.info.text()), mv.info.text()
    finally:
        w.close()


def test_the_morph_exports_an_mp4_from_its_export_button(make_window, qtbot, tmp_path):
    import imageio.v3 as iio

    w = make_window(tmp_path / "mp4.ini", model=SMALL, batch_size=32)
    try:
        press_space_and_wait(qtbot, w)
        qtbot.waitUntil(lambda: w.session.classifier is not None, timeout=30000)
        w.session.select(int(np.flatnonzero(np.asarray(w.session.labels.labels) == 0)[0]))
        panel = w.mesh_tools.morph
        w.mesh_tools.docks["morph"].raise_()
        panel.frames_spin.setValue(6)
        out = tmp_path / "morph.mp4"
        with qtbot.waitSignal(panel.exportFinished, timeout=120000) as sig:
            with ModalAnswers(choose_file(out)) as answers:
                qtbot.mouseClick(panel.export_button, Qt.LeftButton)
                qtbot.waitUntil(lambda: answers.done, timeout=30000)
        assert sig.args[0] == out, sig.args[0]
        frames = iio.imread(out, index=None)
        assert frames.ndim == 4 and len(frames) == 6 and frames.shape[-1] == 3
        assert frames.std() > 1  # a picture, not a blank
    finally:
        w.close()
