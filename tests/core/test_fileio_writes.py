"""The one atomic writer: files get the umask's permissions, and temporary files left by a
writer killed mid-save are removed at the next save into the folder."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from saeviz.core.data.meshes import save_mesh, write_npz_atomic
from saeviz.core.io.checkpoint import load_checkpoint, save_checkpoint
from saeviz.core.io.fileio import atomic_write_text, remove_stale_temp_files
from saeviz.core.io.outputs import prepare_output
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.models import build_autoencoder


@pytest.fixture
def umask():
    def set_umask(value):
        os.umask(value)

    old = os.umask(0o022)
    os.umask(old)
    yield set_umask
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("value, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_exports_and_cached_files_respect_the_umask(tmp_path, umask, value, expected):
    umask(value)
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    faces = np.array([[0, 1, 2]])
    written = [save_mesh(tmp_path / "m.ply", vertices, faces), save_mesh(tmp_path / "m.obj", vertices, faces),
               write_npz_atomic(tmp_path / "cache.npz", {"X": np.zeros(3)})]
    atomic_write_text(tmp_path / "doc.json", "{}")
    written.append(tmp_path / "doc.json")
    for path in written:
        assert mode(path) == expected, path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)  # no temp files


WRITER = r"""
import sys, numpy as np
from saeviz.core.io.checkpoint import save_checkpoint
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.models import build_autoencoder
X = np.random.default_rng(0).random((64, 3000)).astype(np.float32)
model = build_autoencoder(ModelConfig(hidden=(1024, 512), latent_dim=8), X, seed=0)
print("ready", flush=True)
while True:
    save_checkpoint(sys.argv[1], model, train_config=TrainConfig())
"""


def _temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_temporary_files_of_a_killed_save_are_removed_at_the_next_save(tmp_path):
    path = tmp_path / "model.safetensors"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 120
        while not _temp_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)  # mid-save: a temporary file is there
    finally:
        proc.kill()
        proc.wait()
    left = _temp_files(tmp_path)
    assert left and all(name.startswith(f".model.safetensors.{proc.pid}.") for name in left)

    # Files that are not a dead writer's leftovers stay: another program's, and a live writer's.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".other.safetensors.{sleeper.pid}.abcd1234.tmp"
        live.write_bytes(b"being written")
        foreign = tmp_path / ".notes.tmp"
        foreign.write_bytes(b"not ours")
        model = build_autoencoder(ModelConfig(hidden=(8,), latent_dim=2), np.zeros((4, 5), np.float32), seed=1)
        save_checkpoint(tmp_path / "other.safetensors", model, train_config=TrainConfig())
        assert _temp_files(tmp_path) == sorted([live.name, foreign.name])
        load_checkpoint(tmp_path / "other.safetensors")
    finally:
        sleeper.kill()
        sleeper.wait()
    # once its writer has ended, the live writer's file is stale too; an old one of any pid is
    assert remove_stale_temp_files(tmp_path) == [live.name]
    old = tmp_path / f".x.npz.{os.getpid()}.zzzz9999.tmp"
    old.write_bytes(b"old")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temp_files(tmp_path) == [old.name]
    assert _temp_files(tmp_path) == [foreign.name]
    if path.exists():
        load_checkpoint(path)  # the last complete save, if one finished, is intact


def test_checking_a_checkpoint_folder_removes_stale_temporary_files(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".run.safetensors.{int(dead.stdout)}.k3j2h1g0.tmp"
    stale.write_bytes(b"x" * 1000)
    assert prepare_output(tmp_path / "run", "checkpoint", suffix=".safetensors") == tmp_path / "run.safetensors"
    assert not stale.exists()


def test_looking_for_unsaved_sessions_removes_cut_short_autosaves(tmp_path):
    from saeviz.core.io.project import Project

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".session-{int(dead.stdout)}-0123456789abcdef.npz.{int(dead.stdout)}.q1w2e3r4.tmp"
    stale.write_bytes(b"half an autosave")
    assert not Project(recovery_dir=tmp_path).has_recovery()  # what the app asks at start
    assert not stale.exists()
