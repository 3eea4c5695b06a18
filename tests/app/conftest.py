"""Shared fixtures for the GUI tests.

Qt comes from pytest-qt (``qapp`` / ``qtbot``) and the display from pytest-xvfb; Qt talks to
it through xcb. QSettings written by code under test go to a temporary folder under a test
organisation name, never to the user's real settings.
"""
from __future__ import annotations

import os

import pytest

# Read when the QApplication is created, so it must be set before any test asks for ``qapp``.
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")


@pytest.fixture(scope="session", autouse=True)
def isolated_qsettings(tmp_path_factory):
    """Point every QSettings format and scope at a temporary folder for the whole session."""
    QtCore = pytest.importorskip("PySide6.QtCore")
    QSettings = QtCore.QSettings
    path = tmp_path_factory.mktemp("qsettings")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(path))
    QtCore.QCoreApplication.setOrganizationName("saeviz-tests")
    QtCore.QCoreApplication.setOrganizationDomain("tests.saeviz.invalid")
    QtCore.QCoreApplication.setApplicationName("saeviz-tests")
    yield path



@pytest.fixture(scope="module", autouse=True)
def garbage_collected_on_the_ui_thread(qapp):
    """As in the app (``launch.collect_garbage_on_ui_thread``): no automatic collection, which
    a training thread could start and so destroy Qt objects of the UI thread there (a
    deadlock); a UI timer collects instead. Module-scoped, so that it also covers windows that
    module-scoped fixtures train; tests outside the GUI keep the normal collection."""
    import gc

    from pyqtgraph.util.garbage_collector import GarbageCollector

    collector = GarbageCollector(interval=0.2)
    yield
    collector.timer.stop()
    gc.collect()
    gc.enable()


@pytest.fixture(autouse=True)
def collected_after_each_test():
    """The windows a test leaves behind go away on the UI thread before the next test."""
    yield
    import gc

    gc.collect()


@pytest.fixture(scope="session", autouse=True)
def isolated_recovery(tmp_path_factory):
    """Autosaves of the windows under test go to a temporary folder, never the user's."""
    path = tmp_path_factory.mktemp("recovery")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAEVIZ_RECOVERY_DIR", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def unsaved_changes_are_discarded_on_teardown():
    """Closing a window with unsaved labels or an unsaved trained model asks a blocking
    question (so do opening another dataset or model); tests that check the questions replace
    ``ask_unsaved`` on their own controller or put ``MainWindow.ask_unsaved_model`` back with
    the function-scoped ``monkeypatch`` (undone after the test, back to this answer), every
    other window discards. Session-scoped, so that windows of module-scoped fixtures, closed
    at module teardown after every function-scoped patch is undone, discard too."""
    labeling = pytest.importorskip("saeviz.app.labeling.feature")
    main_window = pytest.importorskip("saeviz.app.window.main_window")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(labeling.LabelingController, "ask_unsaved", lambda self: "discard")
        mp.setattr(main_window.MainWindow, "ask_unsaved_model", lambda self, doing: "discard")
        yield
