"""Two journeys of a new user, driven only by input events on the real widgets: keys on the
focused widget, mouse drags on the latent view's viewport and the morph slider, the menu
actions, and the real file dialogs, filled by a timer. Each step leaves a screenshot of the
window in the artifacts folder (``$SAEVIZ_ARTIFACTS``, default ``build/test-artifacts``),
under ``journeys/``.

* digits: train with Space, pause, paint with the brush and the lasso, undo, label five
  samples in the labeling queue, save the project into a new folder with Ctrl+Alt+S; the
  process is then killed (SIGKILL) with its window open, and a new window reopens the
  project: the labels and the model weights are the ones saved.
* bodies: open a small generated bodies dataset through File > Open, train two epochs with
  the defaults, click a body in the latent view, drag the morph slider from 0 to 1, export
  the morph as GIF and PLY and the body shown as PLY: the files read back and are written
  with the permissions the umask gives (0644 under 022).
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from gui_helpers import process_gone  # noqa: E402
from journey_steps import Journey, pause  # noqa: E402
from modal_answers import ModalAnswers, choose_file  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QStyle, QStyleOptionSlider  # noqa: E402

from saeviz.app import MainWindow  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture
def artifacts(artifacts_dir) -> Path:
    path = artifacts_dir / "journeys"
    path.mkdir(parents=True, exist_ok=True)
    return path


def waiter(qtbot):
    def wait_until(condition, timeout: float, what: str) -> None:
        try:
            qtbot.waitUntil(lambda: bool(condition()), timeout=int(timeout * 1000))
        except Exception as exc:  # pytest-qt's TimeoutError says nothing of what was awaited
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}") from exc
    return wait_until


def new_window(make_window, qtbot, settings_path: Path) -> MainWindow:
    """The window as a first start opens it: the shipped defaults and the digits demo."""
    w = make_window(settings_path, defaults=None, timeout=120000)
    w.activateWindow()
    qtbot.waitUntil(lambda: w.session.codes is not None, timeout=120000)
    return w


def weights(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


# -- digits ---------------------------------------------------------------------------------------------------
def test_digits_journey_train_paint_queue_save_kill_reopen(make_window, qtbot, tmp_path, artifacts, isolated_recovery):
    project = tmp_path / "my digits project"
    expected = tmp_path / "expected.npz"
    env = dict(os.environ, SAEVIZ_RECOVERY_DIR=str(isolated_recovery), PYTHONUNBUFFERED="1")
    env.pop("SAEVIZ_TRAINING_BACKEND", None)  # a user's window: training in a process of its own
    log = tmp_path / "session.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(HERE / "journey_digits_session.py"), str(artifacts),
                                 str(project), str(tmp_path / "first" / "settings.ini"), str(expected)],
                                stdout=subprocess.PIPE, stderr=out, text=True, env=env, cwd=REPO)
        try:
            line = proc.stdout.readline()  # "SAVED" once the project is saved, or EOF when it failed
            assert line.strip() == "SAVED", f"the first half failed:\n{log.read_text()[-4000:]}"
            assert proc.poll() is None, "the window must still be open when it is killed"
            proc.send_signal(signal.SIGKILL)  # a crash: no close event, no question, nothing saved
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    saved = np.load(expected)
    assert (project / "project.json").is_file()
    # the window trained in a process of its own, which ends when the window's process is gone
    training_pid = int(saved["training_pid"])
    assert training_pid > 0 and training_pid != proc.pid
    qtbot.waitUntil(lambda: process_gone(training_pid), timeout=30000)

    w = new_window(make_window, qtbot, tmp_path / "second" / "settings.ini")
    j = Journey(w, artifacts, waiter(qtbot))
    j.laptop_window()
    ctl = w.labeling
    j.click_empty_space()
    with ModalAnswers(choose_file(project)) as answers:
        j.key(Qt.Key_O, Qt.ControlModifier | Qt.AltModifier)  # File > Open project…
        j.wait_until(lambda: answers.done, 30, "the Open project dialog")
    j.wait_until(lambda: ctl.project.folder is not None and w.session.codes is not None
                 and not w.latent.dirty, 120, "the project to open")
    j.shot("09-reopened")
    s = w.session
    assert Path(ctl.project.folder).resolve() == project.resolve()
    assert np.array_equal(j.labels(), saved["labels"])
    assert tuple(s.labels.class_names) == tuple(saved["class_names"])
    for pos, k in zip(saved["queue_positions"], saved["queue_labels"]):
        assert j.labels()[pos] == k
    expected_weights = {k[2:]: saved[k] for k in saved.files if k.startswith("w:")}
    got = weights(s.model)
    assert got.keys() == expected_weights.keys()
    for k in got:
        np.testing.assert_array_equal(got[k], expected_weights[k], err_msg=k)
    assert s.epoch == int(saved["epoch"])
    assert not w.isWindowModified() and "my digits project" in w.windowTitle()
    # the codes are shown, so what works on them is enabled
    assert w.actions["export_codes"].isEnabled() and ctl.actions["reveal"].isEnabled()
    # the labels were saved: a crash after saving leaves nothing to offer for recovery
    qtbot.wait(500)
    assert ctl.box is None or not ctl.box.isVisible(), ctl.box.text()
    w.close()
    grown = list(saved["grown"]) + j.grown()
    assert not grown, f"the window grew beyond a 1280x720 screen: {grown}"


# -- bodies ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bodies_npz(tmp_path_factory, anny_cache) -> Path:
    """60 generated bodies (female/male) at the reduced resolution, as a user's .npz file."""
    from saeviz.core.data.arrays import save_npz
    from saeviz.core.data.bodies import load_bodies

    ds = load_bodies(count=60, seed=3, resolution="reduced", cache_dir=tmp_path_factory.mktemp("bodies-cache"))
    return save_npz(tmp_path_factory.mktemp("bodies") / "bodies60.npz", ds)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def slider_handle(slider):
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    return slider.style().subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderHandle, slider)


def drag_slider_to(j: Journey, slider, value: int) -> list[int]:
    """Scroll the slider's panel until the slider is on screen, press on the handle, move the
    mouse a pixel at a time until the slider reaches ``value``, release; returns the values
    it went through."""
    j.scroll_into_view(slider)
    pause(200)  # a user presses what is drawn: the panel has been laid out and painted
    j.shot("04-morph-before-drag")
    start = slider_handle(slider).center()
    seen = [slider.value()]
    QTest.mousePress(slider, Qt.LeftButton, Qt.NoModifier, start)
    x = start.x()
    direction = 1 if value > slider.value() else -1
    while (slider.value() - value) * direction < 0 and 0 <= x < slider.width():
        x += direction
        QTest.mouseMove(slider, QPoint(x, start.y()))
        if slider.value() != seen[-1]:
            seen.append(slider.value())
        if x % 8 == 0:
            pause(15)  # frames are decoded while the user drags
    QTest.mouseRelease(slider, Qt.LeftButton, Qt.NoModifier, QPoint(x, start.y()))
    return seen


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bodies_journey_open_train_click_morph_export(make_window, qtbot, tmp_path, artifacts, bodies_npz, umask_022,
                                                     monkeypatch):
    imageio = pytest.importorskip("imageio.v3")
    trimesh = pytest.importorskip("trimesh")
    monkeypatch.delenv("SAEVIZ_TRAINING_BACKEND", raising=False)  # a user's window: training in its own process
    w = new_window(make_window, qtbot, tmp_path / "settings.ini")
    j = Journey(w, artifacts, waiter(qtbot), prefix="bodies")
    j.laptop_window()
    s = w.session
    tools = w.mesh_tools
    morph = tools.morph

    # -- File > Open: the bodies file --------------------------------------------------------------------------
    j.click_empty_space()
    with ModalAnswers(choose_file(bodies_npz)) as answers:
        j.key(Qt.Key_O, Qt.ControlModifier)
        j.wait_until(lambda: answers.done, 30, "the Open dialog")
    j.wait_until(lambda: s.dataset is not None and s.dataset.kind == "mesh" and s.codes is not None
                 and len(s.codes) == s.n_samples and not w.latent.dirty, 120, "the bodies and their first codes")
    assert len(s.dataset.X) == 60
    assert tools.mesh_view is not None and tools.docks["mesh"].isVisible()
    assert s.selected >= 0, "a body is shown at once"
    j.shot("01-opened")

    # -- train two epochs with the defaults: Space trains, Esc stops -----------------------------------------------------
    assert s.model_config.architecture == "basis", "meshes train on the basis network by default"
    j.click_empty_space()
    j.key(Qt.Key_Space)
    j.wait_until(lambda: w.controller.state == "running", 30, "training to start")
    j.wait_until(lambda: j.epochs_done() >= 2 and s.model is not None, 300, "two epochs")
    j.key(Qt.Key_Escape)  # Stop: the run ends, the model stays
    j.wait_until(lambda: w.controller.state == "idle" and not w.latent.dirty and s.classifier is not None,
                 60, "training to stop")
    assert s.epoch >= 2
    j.shot("02-trained")

    # -- click a body in the latent view ---------------------------------------------------------------------------
    from scipy.spatial import cKDTree

    S = w.latent.view.screen_positions()
    # the point farthest from its neighbours (and not the one shown), so that the click cannot hit another
    cand = np.flatnonzero(j._inner(S))
    d, _ = cKDTree(S[cand]).query(S[cand], k=2)
    pick = int(cand[np.argmax(d[:, 1])])
    if s.selected == pick:
        pick = int(cand[np.argsort(d[:, 1])[-2]])
    j.click(S[pick])
    j.wait_until(lambda: s.selected == pick, 10, "the click to select the body")
    j.wait_until(lambda: morph.last_frame is not None, 60, "the morph panel's first frame")
    j.shot("03-clicked")

    # -- the morph slider, from 0 to 1 with the mouse -------------------------------------------------------------
    j.click_tab("Morph")
    qtbot.waitUntil(lambda: morph.slider.isVisible(), timeout=5000)
    slider = morph.slider
    assert slider.value() == 0, f"a newly selected sample starts at t = 0, not t = {slider.value() / 100:.2f}"
    shown = []
    morph.frameShown.connect(lambda frame: shown.append(frame.t))
    values = drag_slider_to(j, slider, 100)
    assert values[0] == 0 and values[-1] == 100, values
    assert len(values) > 20, "the slider moved in steps"
    j.wait_until(lambda: morph.last_frame is not None and abs(morph.last_frame.t - 1.0) < 1e-6, 60,
                 "the body at t = 1")
    assert len(set(np.round(shown, 2))) >= 3, "bodies were shown along the way"
    # checked at the end, so that the exports below run either way
    problems = []
    if values != sorted(values):
        problems.append(f"the slider does not follow the pointer moving right: values {values}")
    if shown != sorted(shown):
        problems.append(f"the bodies shown do not follow the slider: t = {shown}")
    j.shot("05-morph-t1")

    # -- export the morph as GIF and as PLY meshes, and the body shown as PLY ---------------------------------
    finished = []
    morph.exportFinished.connect(finished.append)
    gif = tmp_path / "exports" / "morph.gif"
    gif.parent.mkdir()
    j.scroll_into_view(morph.export_button)
    with ModalAnswers(choose_file(gif)) as answers:
        qtbot.mouseClick(morph.export_button, Qt.LeftButton)
        j.wait_until(lambda: answers.done, 30, "the export dialog")
    j.wait_until(lambda: len(finished) == 1, 180, "the GIF export")
    assert not isinstance(finished[0], BaseException), finished[0]
    frames = imageio.imread(gif, index=None)
    assert frames.ndim == 4 and len(frames) == morph.frames_spin.value() and frames.shape[-1] in (3, 4)
    assert frames[0].std() > 1 and not np.array_equal(frames[0], frames[-1]), "the body moves"
    assert mode_of(gif) == 0o644, oct(mode_of(gif))

    ply = tmp_path / "exports" / "morph.ply"
    j.scroll_into_view(morph.export_button)
    with ModalAnswers(choose_file(ply)) as answers:
        qtbot.mouseClick(morph.export_button, Qt.LeftButton)
        j.wait_until(lambda: answers.done, 30, "the export dialog")
    j.wait_until(lambda: len(finished) == 2, 180, "the PLY export")
    assert isinstance(finished[1], list) and len(finished[1]) == morph.frames_spin.value(), finished[1]
    faces = s.dataset.faces
    for path in map(Path, finished[1]):
        mesh = trimesh.load(path, process=False)
        assert mesh.vertices.shape == (s.dataset.X.shape[1], 3) and len(mesh.faces) == len(faces)
        assert mode_of(path) == 0o644, f"{path.name}: {oct(mode_of(path))}"

    body = tmp_path / "exports" / "body.ply"
    mv = tools.mesh_view
    j.click_tab("Mesh")
    qtbot.waitUntil(lambda: mv.screenshot_button.isVisible(), timeout=5000)
    j.scroll_into_view(mv.screenshot_button)
    with ModalAnswers(choose_file(body)) as answers:
        qtbot.mouseClick(mv.screenshot_button, Qt.LeftButton)
        j.wait_until(lambda: answers.done, 30, "the mesh view's Save dialog")
    j.wait_until(lambda: body.exists(), 30, "the body's PLY")
    mesh = trimesh.load(body, process=False)
    assert mesh.vertices.shape == (s.dataset.X.shape[1], 3) and len(mesh.faces) == len(faces)
    assert mode_of(body) == 0o644, oct(mode_of(body))
    j.shot("06-exported")
    w.close()
    if j.grown():
        problems.append(f"the window grew beyond a 1280x720 screen: {j.grown()}")
    assert not problems, "\n".join(problems)
