"""The view (projection, colours, structure, guided labeling, labeling tool) is one ViewState:
chosen through the menus and widgets, it comes back in the next window from the settings and
from a saved project, and the separate settings keys of earlier releases are taken over."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")

from modal_answers import ModalAnswers, choose_file  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402

from saeviz.app.common.view_settings import VIEW_STATE_KEY  # noqa: E402
from saeviz.core.io.project import MANIFEST  # noqa: E402
from saeviz.core.method.config import ModelConfig, TrainConfig  # noqa: E402
from saeviz.core.state.session import SessionDefaults  # noqa: E402
from saeviz.core.state.view_state import ViewState  # noqa: E402

pytestmark = pytest.mark.gui

DEFAULTS = SessionDefaults(model=ModelConfig(hidden=(32,), latent_dim=4), train=TrainConfig(epochs=1, batch_size=128))


def trigger(qtbot, action, *handlers, timeout=30000):
    """Trigger ``action`` and answer the modal dialogs it opens, in order."""
    with ModalAnswers(*handlers) as answers:
        action.trigger()
        qtbot.waitUntil(lambda: answers.done, timeout=timeout)
    assert not answers.errors, answers.errors


def shows(w, projection: str, color: str) -> bool:
    """The widgets and the View menu show this projection and colouring."""
    lat = w.latent
    return (lat.method_combo.currentData() == projection and lat.color_combo.currentData() == color
            and w.projection_actions[projection].isChecked() and w.color_actions[color].isChecked())


def test_view_menu_choices_come_back_in_the_next_window(make_window, qtbot, tmp_path):
    ini = tmp_path / "settings.ini"
    w = make_window(ini, defaults=DEFAULTS)
    try:
        assert w.view_state == ViewState() and shows(w, "pca", "label")
        w.projection_actions["lda"].trigger()
        w.color_actions["confidence"].trigger()
        w.guided.strategy_actions["entropy"].trigger()
        w.guided.actions["highlight"].trigger()  # rings off
        qtbot.mouseClick(w.latent.lines_check, Qt.LeftButton)
        vs = w.view_state
        assert (vs.projection, vs.color, vs.guided_strategy, vs.guided_highlight, vs.show_lines) == \
            ("lda", "confidence", "entropy", False, True)
        assert shows(w, "lda", "confidence")
        assert w.guided.candidates_panel.strategy_combo.currentData() == "entropy"
        # the panel's combo commands the same state the menu shows
        w.latent.color_combo.setCurrentIndex(w.latent.color_combo.findData("recon"))
        assert vs.color == "recon" and w.color_actions["recon"].isChecked()
        w.color_actions["confidence"].trigger()
    finally:
        w.close()
    stored = json.loads(QSettings(str(ini), QSettings.IniFormat).value(VIEW_STATE_KEY))
    assert stored["version"] == 2 and stored["projection"] == "lda"

    w2 = make_window(ini, defaults=DEFAULTS)
    try:
        vs = w2.view_state
        assert (vs.projection, vs.color, vs.guided_strategy, vs.guided_highlight, vs.show_lines) == \
            ("lda", "confidence", "entropy", False, True)
        assert shows(w2, "lda", "confidence")
        assert w2.latent.lines_check.isChecked()
        g = w2.guided
        assert g.controller.strategy == "entropy" and not g.controller.highlight_enabled
        assert g.strategy_actions["entropy"].isChecked() and not g.actions["highlight"].isChecked()
        assert g.candidates_panel.strategy_combo.currentData() == "entropy"
    finally:
        w2.close()


def test_the_separate_settings_keys_of_earlier_releases_are_taken_over_once(make_window, qtbot, tmp_path):
    ini = tmp_path / "old.ini"
    old = QSettings(str(ini), QSettings.IniFormat)
    for key, value in {"view/projection": "axes", "view/color": "prediction", "guided/k": 25,
                       "guided/strategy": "least_confidence", "guided/highlight": False}.items():
        old.setValue(key, value)
    old.sync()
    del old
    w = make_window(ini, defaults=DEFAULTS)
    try:
        vs = w.view_state
        assert (vs.projection, vs.color, vs.guided_k, vs.guided_strategy, vs.guided_highlight) == \
            ("axes", "prediction", 25, "least_confidence", False)
        assert shows(w, "axes", "prediction")
        assert w.guided.controller.k == 25 and w.guided.candidates_panel.k_spin.value() == 25
    finally:
        w.close()
    st = QSettings(str(ini), QSettings.IniFormat)
    assert not any(st.contains(k) for k in ("view/projection", "view/color", "guided/k", "guided/strategy",
                                             "guided/highlight"))
    assert ViewState.from_dict(json.loads(st.value(VIEW_STATE_KEY))).guided_k == 25


def test_a_saved_project_brings_its_view_back(make_window, qtbot, tmp_path):
    folder = tmp_path / "view project"
    w = make_window(tmp_path / "a.ini", defaults=DEFAULTS)
    try:
        w.projection_actions["lda"].trigger()
        w.color_actions["wrong"].trigger()
        qtbot.mouseClick(w.latent.anchors_check, Qt.LeftButton)  # class targets off
        w.labeling.tool_actions["lasso"].trigger()
        w.guided.strategy_actions["random"].trigger()
        trigger(qtbot, w.labeling.actions["save_project_as"], choose_file(folder))
        assert (folder / MANIFEST).is_file(), w.last_error
        saved = w.view_state.to_dict()
        doc = json.loads((folder / MANIFEST).read_text())
        assert doc["version"] == 2 and doc["view"] == saved
    finally:
        w.close()

    w2 = make_window(tmp_path / "b.ini", defaults=DEFAULTS)
    try:
        assert w2.view_state == ViewState()
        ctl = w2.labeling
        trigger(qtbot, ctl.actions["open_project"], choose_file(folder))
        qtbot.waitUntil(lambda: ctl.project.folder is not None, timeout=60000)
        vs = w2.view_state
        assert vs.to_dict() == saved
        assert shows(w2, "lda", "wrong")
        assert not w2.latent.anchors_check.isChecked()
        assert ctl.paint.tool_name == "lasso" and ctl.tool_actions["lasso"].isChecked()
        assert w2.guided.controller.strategy == "random" and w2.guided.strategy_actions["random"].isChecked()
    finally:
        w2.close()
