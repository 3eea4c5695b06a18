"""The first half of the digits journey (``test_journeys.py``), run as a process of its own so
that the test can kill it with SIGKILL while its window is open, as a crash or a power cut
would. Everything here goes through what a user touches: keys on the focused widget, mouse
drags on the latent view's viewport, and the real file dialog, filled by a timer.

    python journey_digits_session.py ARTIFACTS PROJECT SETTINGS EXPECTED

ARTIFACTS: folder for the screenshots; PROJECT: the new project folder to save into;
SETTINGS: an .ini for QSettings; EXPECTED: an .npz this script writes after saving, with the
labels, class names and model weights the window holds, for the test to compare with the
reopened project. Then it prints ``SAVED`` and keeps running until it is killed.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from journey_steps import pause  # noqa: E402
from modal_answers import ModalAnswers, choose_file  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def describe() -> str:
    """What the window shows in its status bar (for the log of a slow step)."""
    from PySide6.QtWidgets import QLabel, QMainWindow

    for top in QApplication.topLevelWidgets():
        if isinstance(top, QMainWindow) and top.isVisible():
            bar = top.statusBar()
            texts = [bar.currentMessage()] + [lab.text() for lab in bar.findChildren(QLabel) if lab.text()]
            return " | ".join(t for t in texts if t)
    return ""


def wait_until(condition, timeout: float, what: str) -> None:
    print(f"waiting for {what}", file=sys.stderr, flush=True)
    end = time.monotonic() + timeout
    last = time.monotonic()
    while not condition():
        if time.monotonic() - last > 10:
            last = time.monotonic()
            print(f"  still waiting for {what} ({describe()})", file=sys.stderr, flush=True)
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        pause(20)


def main(argv: list[str]) -> int:
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stacks of a stuck step, on request
    faulthandler.dump_traceback_later(600, exit=True)  # a step that hangs (a dialog nobody answers) ends the run
    artifacts, project, settings_path, expected = (Path(a) for a in argv)
    artifacts.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    QCoreApplication.setOrganizationName("saeviz-tests")
    QCoreApplication.setApplicationName("saeviz-tests")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(settings_path.parent))

    from journey_steps import Journey

    from saeviz.app.window.launch import (
        collect_garbage_on_ui_thread,
        configure_threads,
        warm_up,
    )
    from saeviz.app.window.main_window import MainWindow

    configure_threads()  # as the app starts (saeviz.app.window.launch.main)
    warm_up()
    collect_garbage_on_ui_thread()

    w = MainWindow(settings=QSettings(str(settings_path), QSettings.IniFormat))
    w.show()
    QTest.qWaitForWindowExposed(w)
    w.activateWindow()
    j = Journey(w, artifacts, wait_until)
    j.laptop_window()
    s = w.session
    view = w.latent.view
    ctl = w.labeling

    wait_until(lambda: s.dataset is not None and s.codes is not None and not w.latent.dirty, 60,
               "the digits demo and its first codes")
    j.shot("01-start")

    # -- train: Space, a couple of epochs, Space pauses ------------------------------------------------------
    j.click_empty_space()  # the latent view has the keyboard
    start_epoch = s.epoch
    j.key(Qt.Key_Space)
    wait_until(lambda: w.controller.state == "running", 30, "training to start")
    wait_until(lambda: j.epochs_done() >= start_epoch + 2, 300, "two epochs")
    j.shot("02-training")
    j.key(Qt.Key_Space)
    wait_until(lambda: w.controller.state == "paused", 30, "training to pause")
    wait_until(lambda: not w.latent.dirty, 30, "the view to settle")
    j.check(j.epochs_done() >= start_epoch + 2, f"trained {j.epochs_done() - start_epoch} epochs")
    j.shot("03-paused")

    # -- brush: B, class 3, a stroke over the points --------------------------------------------------------------
    j.key(Qt.Key_B)
    j.check(ctl.paint.tool_name == "brush", f"B selects the brush (tool is {ctl.paint.tool_name})")
    j.check(s.labels.n_classes == 3, f"the demo has the classes A, B, C ({s.labels.class_names})")
    j.key(Qt.Key_3)
    j.check(ctl.paint.current_class == 2, "3 selects the third class")
    before = j.labels()
    S = view.screen_positions()
    stroke = j.stroke_through(S)
    j.drag(stroke)
    after_brush = j.labels()
    changed = np.flatnonzero(after_brush != before)
    near = j.near_polyline(S, stroke) <= ctl.paint.radius + 2
    j.check(len(changed) >= 5, f"the brush labeled {len(changed)} points")
    j.check(np.all(after_brush[changed] == 2), "the brush paints class 3")
    j.check(np.all(near[changed]), "the brush labels only points it swept over")
    j.hover(stroke[-1])
    j.shot("04-brush")

    # -- lasso: L, class 2, an outline around a group of points -----------------------------------------------------
    j.key(Qt.Key_L)
    j.check(ctl.paint.tool_name == "lasso", "L selects the lasso")
    j.key(Qt.Key_2)
    S = view.screen_positions()
    outline = j.outline_around(S, away_from=stroke)
    j.drag(outline)
    after_lasso = j.labels()
    changed = np.flatnonzero(after_lasso != after_brush)
    # inside the outline, or on it to within the pixel rounding of the mouse positions
    inside = j.inside(S, outline) | (j.near_polyline(S, outline) <= 2.0)
    j.check(len(changed) >= 5, f"the lasso labeled {len(changed)} points")
    j.check(np.all(after_lasso[changed] == 1), f"the lasso paints class 2: {np.unique(after_lasso[changed])}")
    j.check(np.all(inside[changed]), f"the lasso labels points inside its outline only: "
            f"{np.flatnonzero(~inside[changed]).size} of {len(changed)} outside")
    j.shot("05-lasso")

    # -- undo: Ctrl+Z takes the lasso back ----------------------------------------------------------------------
    j.key(Qt.Key_Z, Qt.ControlModifier)
    wait_until(lambda: np.array_equal(j.labels(), after_brush), 10, "Ctrl+Z to undo the lasso")
    j.shot("06-undo")

    # -- the labeling queue: Ctrl+G, five number keys -------------------------------------------------------------
    j.key(Qt.Key_G, Qt.ControlModifier)
    queue = w.guided.queue
    wait_until(lambda: queue.queue is not None and queue.queue.current is not None, 60, "the queue's first sample")
    j.check(QApplication.focusWidget() is w.guided.queue_panel, "Ctrl+G gives the queue the keyboard")
    assigned = {}
    for i in range(5):
        k = i % s.labels.n_classes
        pos = queue.queue.current
        j.check(pos is not None, "the queue has a sample")
        j.key(getattr(Qt, f"Key_{k + 1}"))
        wait_until(lambda pos=pos, k=k: j.labels()[pos] == k, 10, f"queue key {k + 1}")
        assigned[pos] = k
    j.check(len(assigned) == 5, "five different samples were labeled in the queue")
    j.shot("07-queue")
    labeled = j.labels()

    # -- save the project: Ctrl+Alt+S asks for a new folder ---------------------------------------------------------
    j.check(not project.exists(), "the project folder is new")
    with ModalAnswers(choose_file(project)) as answers:
        j.key(Qt.Key_S, Qt.ControlModifier | Qt.AltModifier)
        wait_until(lambda: answers.done, 30, "the Save project dialog")
    wait_until(lambda: (project / "project.json").exists() and not w.isWindowModified(), 60,
               "the project to be saved")
    j.check(np.array_equal(j.labels(), labeled), "saving changes no label")
    j.shot("08-saved")

    store = s.labels
    weights = {f"w:{k}": v.detach().cpu().numpy() for k, v in s.model.state_dict().items()}
    np.savez(expected, labels=np.asarray(store.labels), class_names=np.array(store.class_names),
             queue_positions=np.array(sorted(assigned)), queue_labels=np.array([assigned[p] for p in sorted(assigned)]),
             epoch=np.array(s.epoch), grown=np.array(j.grown(), dtype=str),
             training_pid=np.array(w.controller.pid or -1), **weights)
    faulthandler.cancel_dump_traceback_later()
    print("SAVED", flush=True)
    return app.exec()  # until the test kills this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
