"""Nothing under a project folder leads outside it: symbolic links are neither followed nor
written through, and files outside the folder are never changed or removed."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from saeviz.core.errors import CheckpointError, DataError
from saeviz.core.io.project import (
    AUTOSAVE_DIR,
    AUTOSAVE_FILE,
    MANIFEST,
    Project,
    ProjectState,
    load_project,
    save_project,
)
from saeviz.core.state.labels import Supervision, equal_distances


def make_state(n=200, seed=0) -> ProjectState:
    labels = np.where(np.random.default_rng(seed).random(n) < 0.3, np.arange(n) % 3, -1)
    return ProjectState(dataset_source={"loader": "digits", "decomposition": "abc", "test_fraction": 0.2, "seed": 0},
                        labels=labels, class_names=("A", "B", "C"), colors=("#E69F00", "#56B4E9", "#009E73"),
                        distances=equal_distances(3))


def fingerprint(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def supervision(state):
    return Supervision(state.labels.copy(), state.class_names, state.colors, state.distances, 0)


@pytest.fixture
def hostile(tmp_path):
    """A saved project whose ``autosave/`` and labels file are links to a folder outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "project"
    state = make_state()
    info = save_project(folder, state)
    labels_file = folder / f"labels-{info.generation:06d}.npz"
    # the outside files: one where the autosave would go, one identical to the labels file
    (outside / AUTOSAVE_FILE).write_bytes(b"someone else's file")
    shutil.copy(labels_file, outside / "labels-copy.npz")
    labels_file.unlink()
    labels_file.symlink_to(outside / "labels-copy.npz")
    (folder / AUTOSAVE_DIR).symlink_to(outside, target_is_directory=True)
    os.utime(outside / AUTOSAVE_FILE, ns=(10**18, 10**18))  # a distinct, checkable mtime
    return folder, outside, state, info


def test_a_hostile_project_leaves_outside_files_untouched(hostile):
    folder, outside, state, info = hostile
    before = fingerprint(outside)

    with pytest.raises(CheckpointError, match="symbolic link"):
        Project.open(folder)  # the linked labels file is refused, not read
    project = Project(folder, info.generation, recovery_dir=folder.parent / "recovery")
    assert not project.has_recovery()  # the linked autosave folder is not read either
    with pytest.raises(DataError, match="symbolic link"):
        project.autosave(supervision(state), state.dataset_source)
    project.discard_autosave()
    project.discard_recovery()
    assert fingerprint(outside) == before

    project.save(make_state(seed=1))  # a new save: the links are dropped, never followed
    assert fingerprint(outside) == before
    assert not (folder / AUTOSAVE_DIR).exists()
    assert not any(p.is_symlink() for p in folder.iterdir())
    path = project.autosave(supervision(state), state.dataset_source)  # now into a real folder
    assert path.parent == folder / AUTOSAVE_DIR and not path.parent.is_symlink()
    assert project.has_recovery()
    project.discard_recovery()
    assert not path.exists()
    assert fingerprint(outside) == before
    assert np.array_equal(load_project(folder).labels, make_state(seed=1).labels)


def test_a_linked_autosave_file_or_manifest_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "project"
    state = make_state()
    info = save_project(folder, state)
    project = Project(folder, info.generation, recovery_dir=tmp_path / "recovery")
    project.autosave(supervision(state), state.dataset_source)
    real = folder / AUTOSAVE_DIR / AUTOSAVE_FILE
    shutil.move(real, outside / "autosave.npz")
    real.symlink_to(outside / "autosave.npz")
    before = fingerprint(outside)
    assert not project.has_recovery()
    with pytest.raises(DataError, match="symbolic link"):
        project.autosave(supervision(state), state.dataset_source)
    project.discard_recovery()  # removes the link itself
    assert not real.is_symlink() and fingerprint(outside) == before

    manifest = folder / MANIFEST
    shutil.move(manifest, outside / MANIFEST)
    manifest.symlink_to(outside / MANIFEST)
    with pytest.raises(CheckpointError, match="symbolic link"):
        load_project(folder)
    assert fingerprint(outside)["autosave.npz"] == before["autosave.npz"]
