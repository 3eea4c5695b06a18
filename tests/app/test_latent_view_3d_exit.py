"""The interpreter exits cleanly after the 3D latent view was shown, under Xvfb.

Each case runs in its own Python process, as the app does: the main window shows the 3D view,
the window is closed with its Quit action (or left open), the QApplication quits and the
interpreter exits. PySide then deletes the Qt objects Python still owns and the QApplication
destroys what remains; a 3D window deleted before the widget that contains it crashed the
process there (exit code -11), after everything else had passed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("OpenGL")

pytestmark = pytest.mark.gui

SCRIPT = textwrap.dedent("""
    import sys
    import time

    from PySide6.QtCore import QSettings
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    from saeviz.app.window.launch import collect_garbage_on_ui_thread
    from saeviz.app.window.main_window import MainWindow

    collect_garbage_on_ui_thread()
    w = MainWindow(settings=QSettings(sys.argv[1], QSettings.IniFormat))
    w.show()
    QTest.qWaitForWindowExposed(w)
    end = time.monotonic() + 60
    while w.session.dataset is None and time.monotonic() < end:
        QTest.qWait(20)
    w.actions["view3d"].trigger()
    end = time.monotonic() + 30
    while (w.latent.dirty or w.latent.view.gl_view is None) and time.monotonic() < end:
        QTest.qWait(20)
    while w.latent.view.gl_view is not None and not w.latent.view.gl_view.isExposed() and time.monotonic() < end:
        QTest.qWait(20)
    QTest.qWait(300)  # a few frames drawn
    print("dims", w.latent.view.dimensions(), flush=True)
    if sys.argv[2] == "close":
        w.actions["quit"].trigger()
        print("visible", w.isVisible(), flush=True)
    QTest.qWait(100)
    app.quit()
""")


@pytest.mark.parametrize("how", ["close", "leave-open"])
def test_process_exits_cleanly_after_the_3d_view(tmp_path, how):
    script = tmp_path / "show_3d.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, SAEVIZ_RECOVERY_DIR=str(tmp_path / "recovery"), QT_QPA_PLATFORM="xcb")
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "settings.ini"), how],
                          capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    out = done.stdout
    if "dims 2" in out:
        pytest.skip("no OpenGL on this display: " + done.stderr[-500:])
    assert "dims 3" in out, (out, done.stderr[-2000:])
    if how == "close":
        assert "visible False" in out, (out, done.stderr[-2000:])
    assert done.returncode == 0, (done.returncode, out, done.stderr[-2000:])
