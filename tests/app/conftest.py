"""Shared fixtures for the GUI tests.

Qt comes from pytest-qt (``qapp`` / ``qtbot``) and the display from pytest-xvfb; Qt talks to
it through xcb. QSettings written by code under test go to a temporary folder under a test
organisation name, never to the user's real settings.
"""
from __future__ import annotations

import functools
import os

import pytest

# Read when the QApplication is created, so it must be set before any test asks for ``qapp``.
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
# The window trains in a process of its own by default, which it starts (importing torch, seconds
# of CPU) when it opens. The windows of these tests train in a thread instead, which starts at
# once; tests/app/test_training_process.py and the journeys (tests/app/test_journeys.py) train
# the default way.
os.environ.setdefault("SAEVIZ_TRAINING_BACKEND", "thread")


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
    ``ask_unsaved`` on their own controller or put ``Documents.ask_unsaved_model`` back with
    the function-scoped ``monkeypatch`` (undone after the test, back to this answer), every
    other window discards. Session-scoped, so that windows of module-scoped fixtures, closed
    at module teardown after every function-scoped patch is undone, discard too."""
    labeling = pytest.importorskip("saeviz.app.labeling.feature")
    documents = pytest.importorskip("saeviz.app.window.documents")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(labeling.LabelingController, "ask_unsaved", lambda self: "discard")
        mp.setattr(documents.Documents, "ask_unsaved_model", lambda self, doing: "discard")
        yield


_SMALL_DEFAULTS = object()


def open_main_window(settings_path, *, register=None, defaults=_SMALL_DEFAULTS, model=None, epochs=1,
                     batch_size=128, lr=2e-3, train=None, size=None, shown_size=None, timeout=30000,
                     **window):
    """A ``MainWindow`` as a user first sees it (see ``make_window``); ``register`` is called
    with the window before it is shown (e.g. ``qtbot.addWidget``)."""
    from gui_helpers import wait_until
    from PySide6.QtCore import QSettings
    from PySide6.QtTest import QTest

    from saeviz.app import MainWindow
    from saeviz.core.method.config import ModelConfig, TrainConfig
    from saeviz.core.state.session import SessionDefaults

    if defaults is _SMALL_DEFAULTS:
        defaults = SessionDefaults(model=model or ModelConfig(hidden=(64,), latent_dim=6),
                                   train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr,
                                                     **(train or {})))
    w = MainWindow(settings=QSettings(str(settings_path), QSettings.IniFormat), defaults=defaults, **window)
    if register is not None:
        register(w)
    if size is not None:
        w.resize(*size)
    w.show()
    assert QTest.qWaitForWindowExposed(w)
    if shown_size is not None:
        w.resize(*shown_size)
        wait_until(lambda: (w.width(), w.height()) == tuple(shown_size), timeout=10)
    if window.get("open_startup", True):
        wait_until(lambda: w.session.dataset is not None, timeout=timeout / 1000)
    return w


@pytest.fixture
def make_window(qtbot):
    """Open main windows as a user first sees them.

    ``make_window(settings_path, ...)`` opens a ``MainWindow`` that keeps its settings in
    ``settings_path``, shows it and waits until its start-up dataset is loaded (unless
    ``open_startup=False``). ``defaults`` are the session defaults (``None``: the shipped ones);
    left out, a small network (``model``, default one hidden layer of 64 and a 6-D latent space)
    trains ``epochs`` epochs with ``batch_size``, ``lr`` and any further ``TrainConfig``
    settings in ``train``. ``size`` resizes the window before it is shown, ``shown_size`` after
    (and waits until it has that size); other keywords go to ``MainWindow``. ``timeout`` is how
    long (ms) the dataset may take to load. pytest-qt closes the windows after the test.
    """
    return functools.partial(open_main_window, register=qtbot.addWidget)


@pytest.fixture(scope="module")
def make_module_window(qapp, tmp_path_factory):
    """``make_window`` for module-scoped fixtures (pytest-qt's ``qtbot`` is per test): the
    windows' autosaves go to a folder of the module's own, and windows still open at the end of
    the module are closed. The fixture that uses it may close its window itself, and check how."""
    from PySide6.QtWidgets import QApplication

    windows = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAEVIZ_RECOVERY_DIR", str(tmp_path_factory.mktemp("recovery")))
        yield functools.partial(open_main_window, register=windows.append)
        for w in windows:
            if w.isVisible():
                w.close()
            w.deleteLater()
        QApplication.processEvents()


def load_small_bodies(request, tmp_path_factory, count: int = 40, seed: int = 7):
    """``count`` generated bodies at reduced resolution; the body model and the bodies are
    cached across runs in pytest's cache (in temporary folders without one)."""
    pytest.importorskip("pyvistaqt")
    from saeviz.core.data.bodies import load_bodies

    cache = getattr(request.config, "cache", None)
    anny = os.environ.get("ANNY_CACHE_DIR") or str(
        cache.mkdir("saeviz-anny-model") if cache is not None else tmp_path_factory.mktemp("anny"))
    data = cache.mkdir("saeviz-bodies") if cache is not None else tmp_path_factory.mktemp("bodies")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANNY_CACHE_DIR", anny)
        return load_bodies(count=count, seed=seed, resolution="reduced", cache_dir=data)


@pytest.fixture(scope="module")
def bodies40(request, tmp_path_factory):
    """Forty generated bodies (seed 7), loaded once per test module."""
    return load_small_bodies(request, tmp_path_factory)


@pytest.fixture(scope="session")
def artifacts_dir():
    """The folder for screenshots worth looking at after a run: ``$SAEVIZ_ARTIFACTS``, by
    default ``build/test-artifacts`` in the repository (created when missing)."""
    from pathlib import Path

    path = Path(os.environ.get("SAEVIZ_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the morph rig (tests/app/morph_rig.py): a small trained bodies SAE and the morph panel ------
@pytest.fixture(scope="module")
def trained(bodies40):
    from morph_rig import train_small

    return train_small(bodies40)


@pytest.fixture
def rig(qtbot, bodies40, trained):
    """A session, a mesh viewport, a latent view with a PCA projection, and the morph panel."""
    import numpy as np
    from morph_rig import make_session

    from saeviz.app.latent.view import LatentView
    from saeviz.app.mesh.decode_anywhere import LatentMarkers
    from saeviz.app.mesh.morph_panel import MorphPanel
    from saeviz.app.mesh.viewport import MeshView
    from saeviz.core.display.projection import LiveProjection, make_projector

    s = make_session(bodies40, trained)
    mv = MeshView()
    mv.resize(420, 520)
    lv = LatentView()
    lv.resize(420, 360)
    live = LiveProjection(make_projector("pca", 2))
    lv.set_points(live.update(s.codes, np.array(s.labels.labels)))
    markers = LatentMarkers(lv, lambda: live)
    panel = MorphPanel(s, mesh_view=mv, markers=markers)
    for w in (mv, lv, panel):
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
    mv.set_topology(bodies40.faces, bodies40.X.shape[1])
    yield dict(session=s, mesh=mv, latent=lv, live=live, markers=markers, panel=panel)
    panel.shutdown()
    mv.shutdown()
