"""The morph panel and the mesh viewport in a window the size of a laptop screen: the slider
spans the narrow right-hand column, its end names stay apart, nothing scrolls sideways, and
a larger screen gives the body a larger viewport."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from modal_answers import ModalAnswers, choose_file  # noqa: E402
from PySide6.QtWidgets import QScrollArea  # noqa: E402
from small_meshes import save_tubes  # noqa: E402

from saeviz.app.window.window_fit import panel_of  # noqa: E402

pytestmark = pytest.mark.gui

SHOTS = os.environ.get("SAEVIZ_TEST_SHOTS")  # a folder for the screenshots, when set


@pytest.fixture(scope="module")
def tubes_npz(tmp_path_factory) -> Path:
    return save_tubes(tmp_path_factory.mktemp("meshes") / "tubes.npz")


def open_meshes(make_window, qtbot, tmp_path, npz, size):
    w = make_window(tmp_path / "settings.ini", defaults=None, shown_size=size, timeout=120000)
    s = w.session
    with ModalAnswers(choose_file(npz)) as answers:
        w.actions["open"].trigger()
        qtbot.waitUntil(lambda: answers.done, timeout=30000)
    assert not answers.errors, answers.errors
    qtbot.waitUntil(lambda: s.dataset is not None and s.dataset.kind == "mesh" and s.codes is not None
                    and s.selected >= 0 and w.mesh_tools.mesh_view is not None, timeout=120000)
    qtbot.wait(300)  # the docks take their sizes after the dataset opened
    assert (w.width(), w.height()) == size, (
        f"the window was fitted to a smaller screen: {w.width()}x{w.height()} "
        "(the display must be at least 1600x1000: pytest -o xvfb_width=1920 -o xvfb_height=1200)")
    return w


def test_the_morph_panel_fits_the_right_column_of_a_laptop_window(make_window, qtbot, tmp_path, tubes_npz):
    w = open_meshes(make_window, qtbot, tmp_path, tubes_npz, (1280, 680))
    try:
        tools = w.mesh_tools
        dock = tools.docks["morph"]
        dock.raise_()
        qtbot.waitUntil(lambda: not dock.visibleRegion().isEmpty())
        morph = tools.morph
        assert panel_of(dock) is morph
        slider = morph.slider
        qtbot.waitUntil(lambda: len(slider.marks) == 2 and all(len(t) > 1 for _, t in slider.marks))
        if SHOTS:
            w.grab().save(str(Path(SHOTS) / "morph-1280x680.png"))
            morph.grab().save(str(Path(SHOTS) / "morph-panel-1280x680.png"))
        assert slider.width() >= 200, slider.width()
        (a, _), (b, _) = slider.mark_rects()
        ra = a.translated(slider.mapTo(morph, a.topLeft()) - a.topLeft())
        rb = b.translated(slider.mapTo(morph, b.topLeft()) - b.topLeft())
        assert not ra.intersects(rb), (ra, rb)
        assert morph.rect().contains(ra) and morph.rect().contains(rb)
        area = dock.widget()
        assert isinstance(area, QScrollArea)
        assert not area.horizontalScrollBar().isVisible()
        assert morph.width() <= area.viewport().width()
        # what the user drives is in sight without scrolling the (short) dock: slider, t, Play
        assert area.verticalScrollBar().value() == 0
        for widget in (slider, morph.spin, morph.play_button):
            bottom = widget.mapTo(area.viewport(), widget.rect().bottomLeft()).y()
            assert bottom <= area.viewport().height(), (widget.objectName(), bottom, area.viewport().height())
    finally:
        w.close()


@pytest.mark.parametrize("size", [(1280, 680), (1600, 1000)])
def test_meshes_get_a_large_viewport(make_window, qtbot, tmp_path, tubes_npz, size):
    w = open_meshes(make_window, qtbot, tmp_path, tubes_npz, size)
    try:
        view = w.mesh_tools.mesh_view
        qtbot.waitUntil(lambda: not view.visibleRegion().isEmpty())
        if SHOTS:
            w.grab().save(str(Path(SHOTS) / f"meshes-{size[0]}x{size[1]}.png"))
        print("viewport", view.width(), view.height(), "central", w.centralWidget().width())
        if size == (1600, 1000):
            assert view.width() > 490 and view.height() > 250, (view.width(), view.height())
        else:
            assert view.width() >= 280 and view.height() >= 250, (view.width(), view.height())
        assert w.centralWidget().width() >= 400  # the latent view keeps room
    finally:
        w.close()
