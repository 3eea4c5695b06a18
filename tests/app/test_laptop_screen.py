"""The window on a laptop screen: it fits 1280x720 with every panel and the status bar in
view, a remembered geometry from a larger screen is brought back onto the screen, projection
switches do not grow it; tab titles are whole; tool bar actions have icons; Help > Keyboard
shortcuts lists every shortcut of the window. Screenshots go to build/test-artifacts."""
from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from modal_answers import ModalAnswers, choose_file  # noqa: E402
from PySide6.QtCore import QRect, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence  # noqa: E402
from PySide6.QtWidgets import QDockWidget, QTabBar, QToolBar  # noqa: E402
from small_meshes import save_tubes  # noqa: E402

pytestmark = pytest.mark.gui

LAPTOP = (1280, 720)
TITLE_BAR = 40  # room a window manager takes above the window


def fits_laptop(size) -> bool:
    return size.width() <= LAPTOP[0] and size.height() <= LAPTOP[1] - TITLE_BAR


def open_file(qtbot, w, path):
    with ModalAnswers(choose_file(path)) as answers:
        w.actions["open"].trigger()
        qtbot.waitUntil(lambda: answers.done, timeout=30000)


def shown_docks(w) -> list[QDockWidget]:
    """Docks on screen: open, and in front of their tab group."""
    return [d for d in w.findChildren(QDockWidget) if d.isVisible() and not d.visibleRegion().isEmpty()]


def test_the_window_fits_1280x720_on_digits_and_meshes_and_projections_do_not_grow_it(artifacts_dir, make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "s.ini", batch_size=64)
    try:
        assert fits_laptop(w.minimumSizeHint()), w.minimumSizeHint()
        w.resize(LAPTOP[0], LAPTOP[1] - TITLE_BAR)
        qtbot.waitUntil(lambda: w.width() == LAPTOP[0], timeout=5000)
        size = w.size()
        widths = {d.objectName(): d.width() for d in shown_docks(w)}
        for key, act in w.projection_actions.items():
            if not act.isEnabled():
                continue
            act.trigger()
            qtbot.wait(50)
            assert w.latent.method == key
            if key in ("tsne", "umap"):  # the progress banner shows its text across the view
                qtbot.waitUntil(lambda: w.latent.progress.isVisible() and "Computing" in w.latent.progress.text,
                                timeout=30000)
                qtbot.wait(50)
            assert w.size() == size, f"{key}: the window grew to {w.size()}"
            assert fits_laptop(w.minimumSizeHint()), (key, w.minimumSizeHint())
            # nor do they squeeze the docks beside the view
            now = {d.objectName(): d.width() for d in shown_docks(w)}
            assert all(now.get(name, width) >= width - 4 for name, width in widths.items()), (key, widths, now)
        w.projection_actions["pca"].trigger()

        open_file(qtbot, w, save_tubes(tmp_path / "tubes.npz"))
        try:
            qtbot.waitUntil(lambda: w.session.dataset.kind == "mesh", timeout=120000)
        except Exception:
            raise AssertionError(f"not opened: {w.last_error} {w.statusBar().currentMessage()}")
        qtbot.waitUntil(lambda: w.mesh_tools.mesh_view is not None, timeout=10000)
        assert fits_laptop(w.minimumSizeHint()), w.minimumSizeHint()
        w.resize(*LAPTOP)
        qtbot.waitUntil(lambda: w.size().height() == LAPTOP[1], timeout=5000)
        qtbot.wait(200)
        inside = w.rect()
        docks = shown_docks(w)
        # one panel in front in each group: data and model, training, mesh, classes, morph
        assert {"settingsDock", "trainingDock", "meshDock", "classesDock", "morphDock"} <= \
            {d.objectName() for d in docks}
        for dock in docks:
            r = QRect(dock.mapTo(w, dock.rect().topLeft()), dock.size())
            assert inside.contains(r), (dock.objectName(), r)
            assert r.height() >= 80 and r.width() >= 150, (dock.objectName(), r)
        sb = w.statusBar()
        assert sb.isVisible() and inside.contains(QRect(sb.mapTo(w, sb.rect().topLeft()), sb.size()))
        view = w.latent.view
        assert view.width() >= 400 and view.height() >= 300, view.size()
        image = w.grab()
        assert image.width() == LAPTOP[0] and image.height() == LAPTOP[1]
        assert image.save(str(tmp_path / "window-1280x720.png"))
        image.save(str(artifacts_dir / "window-1280x720-meshes.png"))
    finally:
        w.close()


def test_a_remembered_geometry_larger_than_the_screen_is_brought_onto_it(make_window, qtbot, tmp_path):
    settings_path = tmp_path / "big.ini"
    big = make_window(settings_path, batch_size=64, open_startup=True)
    area = big.screen().availableGeometry()
    big.setMinimumSize(0, 0)
    big.setGeometry(area.x() + 300, area.y() + 200, area.width() + 1200, area.height() + 900)
    qtbot.wait(50)
    big.close()  # remembers the oversized geometry
    stored = QSettings(str(settings_path), QSettings.IniFormat).value("window/geometry")
    assert stored is not None and not stored.isEmpty()

    w = make_window(settings_path, batch_size=64)
    try:
        # the whole window on a screen at least 1280x720 wide; on a narrower one (the tests'
        # display may be 800x600) as narrow as the window can be, from the screen's left edge
        width = max(area.width(), w.minimumSizeHint().width())

        def fitted():
            f = w.frameGeometry()
            return (f.height() <= area.height() and f.width() <= width and area.contains(f.topLeft())
                    and (f.width() > area.width() or area.contains(f)))

        qtbot.waitUntil(fitted, timeout=5000)
        assert w.height() < 2 * area.height() / 1.5  # not the remembered oversized frame
    finally:
        w.close()


def test_a_first_start_opens_within_the_screen(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "first.ini", batch_size=64)
    try:
        area = QGuiApplication.primaryScreen().availableGeometry()
        qtbot.waitUntil(lambda: area.contains(w.frameGeometry())
                        or w.minimumSizeHint().width() > area.width(), timeout=5000)
        assert w.height() <= area.height()
    finally:
        w.close()


def test_tab_titles_of_tabbed_docks_are_whole(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "tabs.ini", batch_size=64)
    try:
        w.resize(*LAPTOP)
        qtbot.wait(100)

        def check():
            bars = [b for b in w.findChildren(QTabBar, options=Qt.FindDirectChildrenOnly) if b.count()]
            assert bars, "no tabbed docks"
            titles = set()
            for bar in bars:
                assert bar.elideMode() == Qt.ElideNone
                for i in range(bar.count()):
                    text = bar.tabText(i)
                    titles.add(text.replace("&", ""))
                    assert bar.tabRect(i).width() >= bar.fontMetrics().horizontalAdvance(text), text
            return titles

        titles = check()
        assert {"Loss", "Distances"} <= titles
        w.actions["reset_layout"].trigger()  # tab bars made again
        qtbot.wait(100)
        check()
    finally:
        w.close()


def test_tool_bar_and_training_actions_have_icons(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "icons.ini", batch_size=64)
    try:
        bars = w.findChildren(QToolBar)
        assert bars
        for bar in bars:
            for act in bar.actions():
                if act.isSeparator() or bar.widgetForAction(act) is None or act.text() == "":
                    continue
                if type(bar.widgetForAction(act)).__name__ != "QToolButton":
                    continue  # a widget in the bar (spin box, class palette)
                assert not act.icon().isNull(), act.text()
        for key in ("train", "stop", "reset", "open", "save", "load"):
            assert not w.actions[key].icon().isNull(), key
        w.actions["train"].trigger()  # the Pause state has an icon too
        qtbot.waitUntil(lambda: w.actions["train"].text() == "&Pause" or not w.controller.is_running,
                        timeout=30000)
        assert not w.actions["train"].icon().isNull()
        w.actions["stop"].trigger()
    finally:
        w.close()


def _help_action(w, text):
    for act in w.menuBar().actions():
        if act.text().replace("&", "") == "Help":
            for sub in act.menu().actions():
                if sub.text().replace("&", "") == text:
                    return sub
    raise AssertionError(f"no Help > {text}")


def test_help_keyboard_shortcuts_lists_every_shortcut_of_the_window(artifacts_dir, make_window, qtbot, tmp_path):
    from saeviz.app.guided.queue import QUEUE_KEYS
    from saeviz.app.window.shortcuts_dialog import DESCRIBED_QUEUE_KEYS

    w = make_window(tmp_path / "keys.ini", batch_size=64)
    try:
        _help_action(w, "Keyboard shortcuts").trigger()
        dialog = w._shortcuts_dialog
        qtbot.waitUntil(dialog.isVisible, timeout=5000)
        rows = dialog.rows()
        listed = {(keys, name) for _group, keys, name in rows}
        with_keys = [a for a in w.findChildren(QAction) if any(not k.isEmpty() for k in a.shortcuts())]
        assert len(with_keys) > 30
        for act in with_keys:
            keys = ", ".join(k.toString(QKeySequence.NativeText) for k in act.shortcuts() if not k.isEmpty())
            assert any(k == keys for k, _n in listed), (act.objectName(), keys)
        texts = " ".join(f"{k} {n}" for k, n in listed)
        for needle in ("Space", "Ctrl+Alt+S", "Ctrl+Z", "Backspace", "Skip", "Escape"):
            assert needle in texts, needle
        assert DESCRIBED_QUEUE_KEYS == frozenset(QUEUE_KEYS)  # the queue's keys are all described
        # typing in the filter keeps the matching rows only
        qtbot.keyClicks(dialog.filter, "undo")
        shown = [dialog.tree.topLevelItem(i).child(j) for i in range(dialog.tree.topLevelItemCount())
                 for j in range(dialog.tree.topLevelItem(i).childCount())]
        visible = [c for c in shown if not c.isHidden()]
        assert visible and all("undo" in (c.text(0) + c.text(1)).lower() or
                               "undo" in c.parent().text(0).lower() for c in visible)
        assert len(visible) < len(shown)
        image = dialog.grab()
        image.save(str(artifacts_dir / "keyboard-shortcuts.png"))
        dialog.reject()
        qtbot.waitUntil(lambda: w._shortcuts_dialog is None, timeout=5000)
    finally:
        w.close()


def test_the_inspector_shows_the_whole_sample_in_its_dock_at_1280x720(artifacts_dir, make_window, qtbot, tmp_path):
    """An image pane sized itself by its last picture (a QLabel's pixmap is its size hint),
    so the inspector grew taller than its dock and a clicked digit showed as a dark pane with
    its top rows at the bottom edge; the panes now follow the dock."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QScrollArea

    w = make_window(tmp_path / "settings.ini", shown_size=(1280, 720))
    insp = w.inspector
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    insp.find_box.setFocus()
    insp.find_box.selectAll()
    QTest.keyClicks(insp.find_box, str(int(w.session.dataset.train_idx[5])))  # a training sample
    QTest.keyClick(insp.find_box, Qt.Key_Return)
    qtbot.waitUntil(insp.sample_pane.has_image, timeout=10000)
    qtbot.wait(300)
    dock = w.docks["inspector"]
    dock.raise_()
    area = dock.widget()
    assert isinstance(area, QScrollArea)
    viewport = area.viewport()
    for pane in (insp.sample_pane, insp.recon_pane):  # side by side, the same size
        top = pane.mapTo(viewport, pane.contentsRect().topLeft()).y()
        bottom = top + pane.contentsRect().height()
        assert 0 <= top and bottom <= viewport.height() + 1, (top, bottom, viewport.height())
    pix = insp.sample_pane.pixmap()
    assert 48 <= pix.height() <= insp.sample_pane.contentsRect().height(), pix.size()
    w.grab().save(str(artifacts_dir / "inspector-1280x720.png"))


def test_the_metrics_summary_leaves_the_plots_in_sight_at_1280x720(artifacts_dir, make_window, qtbot, tmp_path):
    """The summary sat beside the reliability chooser and wrapped to ten lines in the
    default right-hand dock, above the held-out error plot; it now has the panel's width to
    itself."""
    from gui_helpers import click_tab, wait_until

    w = make_window(tmp_path / "settings.ini", shown_size=(1280, 720))
    w.actions["train"].trigger()
    mp = w.guided.metrics_panel
    wait_until(lambda: not w.controller.is_running and "held-out error" in mp.summary.text(), timeout=120)
    click_tab(w, "Metrics")
    wait_until(lambda: not mp.visibleRegion().isEmpty(), timeout=5)
    lines = mp.summary.height() / mp.summary.fontMetrics().lineSpacing()
    assert lines <= 4, (lines, mp.summary.text())
    area = w.guided.docks["metrics"].widget()
    viewport = area.viewport() if hasattr(area, "viewport") else area
    plot = mp.error_plot
    top = plot.mapTo(viewport, plot.rect().topLeft()).y()
    in_sight = min(viewport.height(), top + plot.height()) - max(top, 0)
    assert in_sight >= 100, (top, plot.height(), viewport.height())  # its title and a curve
    w.grab().save(str(artifacts_dir / "metrics-1280x720.png"))
