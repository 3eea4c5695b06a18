"""Features need only the ``Shell``: labeling and guided labeling attached to a plain
``QMainWindow`` (no ``MainWindow``), used through their actions, share the one undo history."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from gui_helpers import pause  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QMainWindow  # noqa: E402

from saeviz.app.common.shell import Shell  # noqa: E402
from saeviz.app.common.tasks import TaskRunner  # noqa: E402
from saeviz.app.guided.feature import attach_guided  # noqa: E402
from saeviz.app.labeling.feature import RevealDialog, attach_labeling  # noqa: E402
from saeviz.app.latent.panel import LatentPanel  # noqa: E402
from saeviz.core.data.dataset import Dataset  # noqa: E402
from saeviz.core.state.session import Session, SessionDefaults  # noqa: E402

pytestmark = pytest.mark.gui


def blobs(n: int = 120) -> Dataset:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 8)).astype(np.float32) + 3.0 * y[:, None]
    return Dataset(name="blobs", X=X, kind="vector", y=y, class_names=("a", "b", "c"),
                   source={"loader": "test-blobs"})


def menu_texts(menu) -> list[str]:
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


@pytest.fixture
def plain(qapp, tmp_path):
    win = QMainWindow()
    session = Session(SessionDefaults())
    runner = TaskRunner(win, max_threads=1)
    latent = LatentPanel(session, runner)
    win.setCentralWidget(latent)
    shell = Shell(win, session, runner, latent, QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    labeling = attach_labeling(shell, recovery_dir=tmp_path / "recovery")
    guided = attach_guided(shell)
    win.show()
    QTest.qWaitForWindowExposed(win)
    yield win, shell, labeling, guided
    labeling.ask_unsaved = lambda: "discard"
    win.close()
    pause(20)
    latent.shutdown()
    runner.shutdown()
    win.deleteLater()
    QApplication.processEvents()


def test_features_attach_to_a_plain_window_and_work_through_their_actions(plain, qtbot):
    win, shell, labeling, guided = plain
    # one editor for the whole window, made by the shell: the queue's edits share the history
    assert labeling.editor is shell.editor and guided.queue.editor is shell.editor

    # the menus are the shell's named menus, in the usual order
    titles = [a.text().replace("&", "") for a in win.menuBar().actions()]
    assert titles.index("File") < titles.index("Edit") < titles.index("View") < titles.index("Guided labeling")
    panels = menu_texts(shell.menu("Panels"))
    for title in ("Classes", "Distances", "History", "Candidates", "Labeling queue", "Metrics", "Rounds"):
        assert title in panels
    assert "Undo" in " ".join(menu_texts(shell.menu("Edit")))

    shell.session.set_dataset(blobs())
    store = shell.session.labels
    before = store.labels.copy()

    # File > Reveal ground truth…: all of it, through the dialog
    labeling.actions["reveal"].trigger()
    dialog = win.findChild(RevealDialog)
    qtbot.waitUntil(lambda: dialog.isVisible(), timeout=5000)
    dialog.fraction.setValue(100.0)
    dialog.accept()
    assert (store.labels == shell.session.y).all()
    assert win.isWindowModified()  # the title says there are unsaved changes

    # Edit > Undo (the shell's editor) brings the previous labels back
    labeling.actions["undo"].trigger()
    assert (store.labels == before).all()

    # Guided labeling > Open the labeling queue shows its panels
    guided.actions["open_queue"].trigger()
    qtbot.waitUntil(lambda: guided.docks["queue"].isVisible() and guided.docks["candidates"].isVisible(),
                    timeout=5000)

    # a tool through its shortcut-bearing action
    labeling.tool_actions["brush"].trigger()
    assert labeling.paint.tool_name == "brush"


def test_a_shell_without_the_main_window_answers_for_it(plain, tmp_path):
    win, shell, labeling, _guided = plain
    assert shell.ask_keep_model("quitting") is True  # nothing to lose without a model owner
    assert not shell.training_running()
    shell.show_error("Cannot do it", "because", "details")
    assert shell.last_error == "because"
    box = [b for b in win.findChildren(type(shell._message_box)) if b.objectName() == "errorBox"]
    assert box and box[0].detailedText() == "details"
    box[0].close()
    assert labeling.actions["export_labels"] in shell.menu("File").actions()
