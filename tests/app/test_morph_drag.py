"""What a user does with the morph and the viewport's mouse: drag the slider, Play, turn the
body, close the window while it plays.

40 reduced-resolution bodies and a small "basis" SAE (as in ``test_morph_panel.py``). The
viewport renders off screen (Mesa's software OpenGL under Xvfb); a screenshot taken after a
drag is kept as ``morph-after-drag.png`` in the artifacts folder.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyvista")

from morph_rig import ATOL, DEFAULTS, labeled, make_session, wait_frame
from PySide6 import QtCore, QtGui, QtWidgets

from saeviz.app.mesh.morph_panel import ANIMATION_QUIET_MS
from saeviz.core.method.morph import morph_path
from saeviz.core.method.training import decode

pytestmark = pytest.mark.gui



def _mouse(widget, kind, pos: QtCore.QPoint, buttons=QtCore.Qt.LeftButton, button=QtCore.Qt.LeftButton):
    local = QtCore.QPointF(pos)
    event = QtGui.QMouseEvent(kind, local, QtCore.QPointF(widget.mapToGlobal(pos)), button, buttons,
                              QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, event)


def handle_pos(slider) -> QtCore.QPoint:
    opt = QtWidgets.QStyleOptionSlider()
    slider.initStyleOption(opt)
    rect = slider.style().subControlRect(QtWidgets.QStyle.CC_Slider, opt, QtWidgets.QStyle.SC_SliderHandle, slider)
    return rect.center()


def test_a_mouse_drag_shows_the_frames_in_order_and_ends_on_the_last_t(qtbot, rig, artifacts_dir):
    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    pos = labeled(s, 0)
    s.select(pos)
    panel.set_t(0.0)
    wait_frame(qtbot, panel, 0.0)
    drawn = []  # t of the morph frame on screen at every render
    mv.rendered.connect(lambda: drawn.append(panel.last_frame.t if panel.last_frame is not None else None))
    slider = panel.slider
    start = handle_pos(slider)
    end_x = slider.mark_x(slider.maximum())
    _mouse(slider, QtCore.QEvent.MouseButtonPress, start)
    for x in np.linspace(start.x(), end_x, 40).round().astype(int)[1:]:
        _mouse(slider, QtCore.QEvent.MouseMove, QtCore.QPoint(int(x), start.y()), button=QtCore.Qt.NoButton)
        qtbot.wait(16)  # a 60 Hz mouse
    _mouse(slider, QtCore.QEvent.MouseButtonRelease, QtCore.QPoint(int(end_x), start.y()), buttons=QtCore.Qt.NoButton)
    final = panel.t
    assert final == pytest.approx(slider.maximum() / 100) and slider.value() == slider.maximum()
    wait_frame(qtbot, panel, final)
    qtbot.waitUntil(lambda: drawn and drawn[-1] == final, timeout=10000)
    qtbot.wait(200)  # nothing older comes after the last frame
    assert drawn[-1] == final
    ts = [t for t in drawn if t is not None]
    assert len(set(ts)) >= 3  # frames were shown during the drag, not only at its end
    assert all(b >= a for a, b in itertools.pairwise(ts)), ts  # in the order of the drag
    c = panel.centers
    expected = decode(s.model, morph_path(np.asarray(s.codes[pos], np.float64), c[0], c[1], final)[None]
                      .astype(np.float32))[0]
    np.testing.assert_allclose(mv.morph_points(), expected, atol=ATOL)  # no stale frame on screen
    assert mv.morph_info.text().startswith("morph") and f"t = {final:.2f}" in mv.morph_info.text()
    mv.camera_preset("front")
    path = mv.save_screenshot(artifacts_dir / "morph-after-drag.png")
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB")).astype(float)
    body = np.any(img < 235, axis=2)
    h, w = body.shape
    body[int(0.9 * h):, : int(0.3 * w)] = False  # the caption
    assert 0.03 < body.mean() < 0.6 and img[body].mean(axis=1).std() > 8  # a lit body


def test_dragging_the_slider_or_playing_says_the_user_drives_the_morph(qtbot, rig):
    s, panel = rig["session"], rig["panel"]
    s.select(labeled(s, 0))
    wait_frame(qtbot, panel, 0.0)
    said = []
    panel.animating.connect(said.append)
    slider = panel.slider
    start = handle_pos(slider)
    _mouse(slider, QtCore.QEvent.MouseButtonPress, start)
    for dx in range(4, 60, 4):
        _mouse(slider, QtCore.QEvent.MouseMove, start + QtCore.QPoint(dx, 0), button=QtCore.Qt.NoButton)
        qtbot.wait(16)
    assert said == [True] and panel.is_animating
    qtbot.wait(3 * ANIMATION_QUIET_MS)  # held still with the button down: still driving
    assert said == [True]
    _mouse(slider, QtCore.QEvent.MouseButtonRelease, start + QtCore.QPoint(56, 0), buttons=QtCore.Qt.NoButton)
    qtbot.waitUntil(lambda: said == [True, False], timeout=5 * ANIMATION_QUIET_MS)
    panel.play_button.click()
    assert said == [True, False, True]
    qtbot.wait(2 * ANIMATION_QUIET_MS)
    assert said == [True, False, True]  # playing: still driving
    panel.play_button.click()  # Stop
    assert said == [True, False, True, False] and not panel.is_animating
    panel.spin.setValue(0.5)  # a typed t is one frame, not an animation
    qtbot.wait(ANIMATION_QUIET_MS)
    assert said == [True, False, True, False]


def test_play_runs_and_stops(qtbot, rig):
    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    s.select(labeled(s, 0))
    wait_frame(qtbot, panel, 0.0)
    drawn = []
    mv.rendered.connect(lambda: drawn.append(panel.last_frame.t))
    panel.play_button.click()
    assert panel.playing and panel.play_button.text() == "Stop"
    qtbot.waitUntil(lambda: len(set(drawn)) >= 5, timeout=10000)
    panel.play_button.click()
    assert not panel.playing and panel.play_button.text() == "Play"
    qtbot.wait(100)
    shown = panel.last_frame.t
    renders = mv.render_count
    qtbot.wait(300)
    assert panel.last_frame.t == shown and mv.render_count == renders  # stopped: nothing new drawn


def test_the_mouse_turns_the_body(qtbot, rig):
    s, panel, mv = rig["session"], rig["panel"], rig["mesh"]
    s.select(labeled(s, 0))
    wait_frame(qtbot, panel, 0.0)
    mv.camera_preset("front")
    qtbot.waitUntil(lambda: not mv._render_pending, timeout=5000)
    before, renders = mv.camera_state(), mv.render_count
    canvas = mv.canvas
    c = canvas.rect().center()
    _mouse(canvas, QtCore.QEvent.MouseButtonPress, c)
    for dx in range(10, 110, 10):
        _mouse(canvas, QtCore.QEvent.MouseMove, c + QtCore.QPoint(dx, 0), button=QtCore.Qt.NoButton)
        qtbot.wait(16)
    _mouse(canvas, QtCore.QEvent.MouseButtonRelease, c + QtCore.QPoint(100, 0), buttons=QtCore.Qt.NoButton)
    qtbot.waitUntil(lambda: mv.render_count > renders, timeout=5000)
    pos, focal, _up = (np.asarray(a) for a in mv.camera_state())
    old = np.asarray(before[0]) - np.asarray(before[1])
    new = pos - focal
    angle = np.degrees(np.arccos(np.clip(old @ new / np.linalg.norm(old) / np.linalg.norm(new), -1, 1)))
    assert angle > 10  # turned about the body
    assert np.linalg.norm(new) == pytest.approx(np.linalg.norm(old), rel=1e-6)  # at the same distance
    renders = mv.render_count
    QtWidgets.QApplication.sendEvent(canvas, QtGui.QWheelEvent(
        QtCore.QPointF(c), QtCore.QPointF(canvas.mapToGlobal(c)), QtCore.QPoint(), QtCore.QPoint(0, 120),
        QtCore.Qt.NoButton, QtCore.Qt.NoModifier, QtCore.Qt.NoScrollPhase, False))
    qtbot.waitUntil(lambda: mv.render_count > renders, timeout=5000)
    pos2, focal2, _ = (np.asarray(a) for a in mv.camera_state())
    assert np.linalg.norm(pos2 - focal2) < np.linalg.norm(new)  # the wheel zooms in


def test_closing_the_window_during_play(make_window, qtbot, bodies40, trained, tmp_path):
    s = make_session(bodies40, trained)
    w = make_window(tmp_path / "settings.ini", defaults=DEFAULTS, session=s, open_startup=False)
    tools = w.mesh_tools
    s.select(labeled(s, 0))
    panel, mv = tools.morph, tools.mesh_view
    qtbot.waitUntil(lambda: panel.last_frame is not None, timeout=10000)
    panel.play_button.click()
    assert panel.playing
    renders = mv.render_count
    qtbot.waitUntil(lambda: mv.render_count >= renders + 3, timeout=10000)
    w.close()
    qtbot.waitUntil(lambda: mv.canvas.closed, timeout=10000)  # once every close handler ran
    assert not panel.playing and not w.isVisible()
    renders = mv.render_count
    qtbot.wait(200)  # timers and workers that were still running find nothing to draw into
    assert mv.render_count == renders
