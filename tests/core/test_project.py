"""Project folders: exact round trip, atomic saves that survive SIGKILL, autosave and recovery."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from saeviz.core.errors import CheckpointError, DataError
from saeviz.core.io.project import (
    MANIFEST,
    Project,
    ProjectState,
    load_project,
    model_of_session,
    save_project,
    state_from_session,
    write_autosave,
)
from saeviz.core.method.config import MDSConfig, ModelConfig, TrainConfig
from saeviz.core.method.training import Trainer
from saeviz.core.state.labels import LabelStore
from saeviz.core.state.session import Session, SessionDefaults
from saeviz.core.state.view_state import ViewState

REPO = Path(__file__).resolve().parents[2]
SMALL = ModelConfig(hidden=(16,), latent_dim=3)


def make_state(n=300, seed=0, **extra) -> ProjectState:
    rng = np.random.default_rng(seed)
    D = np.array([[0, 1, 2.5], [1, 0, 1.5], [2.5, 1.5, 0]])
    labels = np.where(rng.random(n) < 0.2, rng.integers(0, 3, n), -1)
    base = dict(dataset_source={"loader": "digits", "decomposition": "abc", "test_fraction": 0.2, "seed": 0},
                labels=labels, class_names=("A (0,1,9)", "B", "C ünïcode"), colors=("#E69F00", "#56B4E9", "#009E73"),
                distances=D, model_config=SMALL, train_config=TrainConfig(gamma=0.7, epochs=3, mds=MDSConfig(mode="exact")),
                label_fraction=0.2, label_seed=5, history=[{"epoch": 1, "recon_loss": 0.5, "stress": None}],
                view={"projection": "lda", "dims": 3, "color": "prediction", "brush_radius": 17.5,
                      "tool": "lasso", "current_class": 2, "anchors": True, "lines": False},
                dataset_name="digits (A/B/C)")
    base.update(extra)
    return ProjectState(**base)


@pytest.fixture(scope="module")
def trained(digits):
    X = digits.X[digits.train_idx]
    y = digits.y[digits.train_idx]
    labels = np.where(np.arange(len(y)) % 5 == 0, y, -1)
    store = LabelStore(len(y), digits.class_names, labels=labels)
    trainer = Trainer(X, SMALL, TrainConfig(epochs=2, batch_size=256, device="cpu"), store).fit()
    return trainer, store


def test_a_saved_project_reopens_exactly(tmp_path, trained):
    trainer, store = trained
    sup = store.snapshot()
    state = make_state(n=len(sup.labels), labels=sup.labels, history=[dict(h) for h in trainer.history])
    info = save_project(tmp_path / "proj", state, model=trainer.model, optimizer=trainer.optimizer,
                        train_state=trainer.training_state())
    assert info.generation == 1
    got = load_project(tmp_path / "proj")
    assert np.array_equal(got.labels, state.labels) and got.labels.dtype == np.int64
    assert got.class_names == state.class_names and got.colors == state.colors
    assert np.array_equal(got.distances, state.distances)
    assert got.model_config == state.model_config and got.train_config == state.train_config
    assert got.label_fraction == 0.2 and got.label_seed == 5
    assert got.view == ViewState.from_dict(state.view).to_dict()  # stored in the current form
    assert ViewState.from_dict(got.view) == ViewState(projection="lda", dims=3, color="prediction", brush_radius=17.5,
                                                     tool="lasso", current_class=2, show_targets=True,
                                                     show_lines=False)
    assert got.history == json.loads(json.dumps(state.history))
    assert got.dataset_source == state.dataset_source and got.dataset_name == "digits (A/B/C)"
    ck = got.checkpoint
    saved = trainer.model.state_dict()
    loaded = ck.model.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k].cpu(), loaded[k]) for k in saved)
    assert ck.train_state["epoch"] == trainer.epoch
    assert np.array_equal(ck.supervision.labels, state.labels)


def test_saving_again_replaces_the_files_and_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "p"
    save_project(folder, make_state(seed=0))
    (folder / ".labels-000009.npz.abc.tmp").write_bytes(b"left by a killed save")
    info = save_project(folder, make_state(seed=1))
    assert info.generation == 2
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["labels-000002.npz", MANIFEST]
    assert np.array_equal(load_project(folder).labels, make_state(seed=1).labels)


def test_damaged_or_foreign_projects_are_refused(tmp_path):
    folder = tmp_path / "p"
    save_project(folder, make_state())
    data = folder / "labels-000001.npz"
    raw = bytearray(data.read_bytes())
    raw[-30] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="does not match project.json"):
        load_project(folder)
    (folder / MANIFEST).write_text("{not json")
    with pytest.raises(CheckpointError, match="project.json is damaged"):
        load_project(folder)
    with pytest.raises(CheckpointError, match="not a saeviz project"):
        load_project(tmp_path)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="holds other files"):
        save_project(other, make_state())


def _as_format_1(folder: Path, view) -> None:
    """Rewrite a saved project's manifest as format 1 wrote it: version 1, a flat view object."""
    doc = json.loads((folder / MANIFEST).read_text())
    doc["version"] = 1
    doc["view"] = view
    (folder / MANIFEST).write_text(json.dumps(doc))


def test_a_format_1_project_opens_with_its_view_migrated(tmp_path):
    folder = tmp_path / "old"
    save_project(folder, make_state())
    _as_format_1(folder, {"projection": "tsne", "dims": 3, "color": "recon", "anchors": False, "lines": True,
                          "axes": [2, 0, 1], "tool": "brush", "brush_radius": 40.0, "current_class": 1})
    got = load_project(folder)
    assert got.view["version"] == 2
    assert ViewState.from_dict(got.view) == ViewState(
        projection="tsne", dims=3, color="recon", show_targets=False, show_lines=True, axes=(2, 0, 1),
        tool="brush", brush_radius=40.0, current_class=1)
    save_project(folder, got)  # saving again writes the current format
    assert json.loads((folder / MANIFEST).read_text())["version"] == 2
    assert load_project(folder).view == got.view


def test_bad_view_values_of_an_old_project_fall_back_to_defaults(tmp_path):
    folder = tmp_path / "odd"
    save_project(folder, make_state())
    _as_format_1(folder, {"projection": "warp", "dims": 7, "color": ["x"], "anchors": "yes", "lines": True,
                          "brush_radius": float("1e9"), "unknown": 1})
    got = ViewState.from_dict(load_project(folder).view)
    assert got == ViewState(show_lines=True)
    _as_format_1(folder, ["not", "an", "object"])
    assert ViewState.from_dict(load_project(folder).view) == ViewState()


def test_a_project_of_a_newer_format_is_refused_clearly(tmp_path):
    folder = tmp_path / "new"
    save_project(folder, make_state())
    doc = json.loads((folder / MANIFEST).read_text())
    doc["version"] = 3
    (folder / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="version 3 is not supported.*newer saeviz"):
        load_project(folder)


def test_a_session_saves_and_reopens_with_its_settings(tmp_path, digits):
    s = Session(SessionDefaults(label_fraction=0.1))
    s.set_dataset(digits)
    state = state_from_session(s, view={"projection": "pca"})
    assert model_of_session(s) == {}
    save_project(tmp_path / "s", state)
    got = load_project(tmp_path / "s")
    assert np.array_equal(got.labels, s.labels.labels)
    assert got.dataset_source == digits.source and ViewState.from_dict(got.view) == ViewState(projection="pca")


# -- autosave and recovery ----------------------------------------------------------------------------------
def test_project_autosave_is_recovered_until_the_next_save(tmp_path):
    rec_dir = tmp_path / "recovery"
    folder = tmp_path / "p"
    save_project(folder, make_state())
    project, state = Project.open(folder, recovery_dir=rec_dir)
    assert not project.has_recovery()
    changed = state.supervision
    changed.labels[:10] = 1
    project.autosave(changed, state.dataset_source, "digits")
    assert project.autosave_path == folder / "autosave" / "labels.npz"
    reopened, _ = Project.open(folder, recovery_dir=rec_dir)
    assert reopened.has_recovery()
    rec = reopened.recover()
    assert np.array_equal(rec.supervision.labels, changed.labels)
    assert rec.supervision.class_names == state.class_names and "autosaved" in rec.describe()
    state.labels = changed.labels
    reopened.save(state)
    assert not (folder / "autosave" / "labels.npz").exists()
    assert not Project.open(folder, recovery_dir=rec_dir)[0].has_recovery()


def test_an_autosave_of_an_older_save_is_not_offered(tmp_path):
    folder = tmp_path / "p"
    save_project(folder, make_state())
    project, state = Project.open(folder, recovery_dir=tmp_path / "r")
    project.autosave(state.supervision, state.dataset_source)
    autosave = (folder / "autosave" / "labels.npz").read_bytes()
    save_project(folder, make_state(seed=3))
    (folder / "autosave" / "labels.npz").write_bytes(autosave)  # e.g. restored from a backup
    assert not Project.open(folder, recovery_dir=tmp_path / "r")[0].has_recovery()


def test_unsaved_sessions_are_recovered_only_after_their_process_ended(tmp_path):
    rec_dir = tmp_path / "recovery"
    state = make_state()
    mine = Project(recovery_dir=rec_dir)
    mine.autosave(state.supervision, state.dataset_source, "digits")
    assert mine.autosave_path.parent == rec_dir and mine.autosave_path.exists()
    assert not Project(recovery_dir=rec_dir).has_recovery()  # a live session's file (our pid)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    orphan = rec_dir / f"session-{int(dead.stdout)}-0123456789abcdef.npz"
    other = make_state(seed=4)
    write_autosave(orphan, other.supervision, other.dataset_source, dataset_name="digits")
    later = Project(recovery_dir=rec_dir)
    assert later.has_recovery()
    assert np.array_equal(later.recover().supervision.labels, other.labels)
    later.discard_recovery()
    assert not orphan.exists() and mine.autosave_path.exists()
    mine.save(state, tmp_path / "saved")
    assert not list(rec_dir.iterdir())  # saving as a project removes the session's autosave


# -- SIGKILL in the middle of saving ------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    real_fsync = os.fsync
    def slow_fsync(fd):  # widen every window between the writes
        time.sleep(0.004)
        real_fsync(fd)
    os.fsync = slow_fsync
    from saeviz.core.method.config import ModelConfig
    from saeviz.core.method.models import build_autoencoder
    from saeviz.core.io.project import ProjectState, save_project
    folder, start = sys.argv[1], int(sys.argv[2])
    n = 4000
    X = np.random.default_rng(0).normal(size=(64, 20)).astype(np.float32)
    model = build_autoencoder(ModelConfig(hidden=(256,), latent_dim=4), X)
    print("ready", flush=True)
    i = start
    while True:
        labels = np.full(n, i % 3)
        labels[: i % n] = -1
        for p in model.parameters():
            p.data.fill_(float(i))
        state = ProjectState({"loader": "digits"}, labels, ("a", "b", "c"), ("#000000",) * 3,
                             np.ones((3, 3)) - np.eye(3), label_seed=i, history=[{"epoch": i}])
        save_project(folder, state, model=model)
        print(i, flush=True)
        i += 1
""")


def check_consistent(folder: Path) -> int:
    state = load_project(folder)
    i = int(state.label_seed)
    expected = np.full(4000, i % 3)
    expected[: i % 4000] = -1
    assert np.array_equal(state.labels, expected)
    assert state.history == [{"epoch": i}]
    assert state.checkpoint.history == [{"epoch": i}]
    assert all(float(p.detach().flatten()[0]) == float(i) for p in state.checkpoint.model.parameters())
    return i


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_save_killed_at_any_moment_leaves_a_loadable_project(tmp_path):
    folder = tmp_path / "proj"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    last = -1
    delays = [0.0, 0.013, 0.029, 0.047, 0.071, 0.11, 0.16]
    interrupted = 0
    for round_, delay in enumerate(delays):
        proc = subprocess.Popen([sys.executable, str(script), str(folder), str(last + 1)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            if round_ == 0:  # a first complete save, then kill during the next ones
                done = proc.stdout.readline().strip()
                assert done == str(last + 1), proc.stderr.read()
            time.sleep(delay + 0.003 * round_)
        finally:
            proc.send_signal(signal.SIGKILL)
            out, _err = proc.communicate(timeout=30)
        printed = [int(v) for v in ([done] if round_ == 0 else []) + out.split()]
        committed = printed[-1] if printed else last
        manifest = json.loads((folder / MANIFEST).read_text())
        referenced = {f["file"] for f in manifest["files"].values()}
        leftovers = [p.name for p in folder.iterdir() if p.name != MANIFEST and p.name not in referenced]
        interrupted += bool(leftovers)  # the kill hit a save between its first write and its cleanup
        i = check_consistent(folder)
        # the newest committed save, or the one committed just before the kill, unreported
        assert committed <= i <= committed + 1, (committed, i)
        last = i
    assert interrupted >= 2, "the kills should land inside saves"
    save_project(folder, load_project(folder))  # a later save cleans up what killed saves left
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"labels-{load_project(folder).generation:06d}.npz", MANIFEST]
