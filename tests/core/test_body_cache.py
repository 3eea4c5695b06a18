"""The body model's cache is checked before use, rebuilt when damaged, written atomically, and
a cache folder that cannot hold it is a clean, named error."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from saeviz.core.data import bodies, body_cache
from saeviz.core.errors import DataError


def write_model_file(path: Path, n=1000) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"w": torch.arange(n, dtype=torch.float32)}, str(path))
    return path.read_bytes()


def test_damaged_files_and_dead_builds_are_removed(tmp_path):
    good = write_model_file(tmp_path / "v14" / "good.safetensors")
    (tmp_path / "v14" / "empty.safetensors").write_bytes(b"")
    (tmp_path / "v14" / "truncated.safetensors").write_bytes(good[:len(good) // 2])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".build-{int(dead.stdout)}-abc123"
    (stale / "v14").mkdir(parents=True)
    (stale / "v14" / "half.safetensors").write_bytes(good[:10])
    mine = tmp_path / f".build-{os.getpid()}-xyz"  # a build running in this process stays
    mine.mkdir()

    assert sorted(body_cache.remove_damaged(tmp_path)) == ["empty.safetensors", "truncated.safetensors"]
    assert body_cache.remove_stale_builds(tmp_path) == [stale.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "v14"])
    assert (tmp_path / "v14" / "good.safetensors").read_bytes() == good


def test_a_build_appears_whole_or_not_at_all(tmp_path):
    old = os.umask(0o022)
    try:
        existing = write_model_file(tmp_path / "v14" / "existing.safetensors")
        with body_cache.staged_build(tmp_path) as stage:
            assert (stage / "v14" / "existing.safetensors").read_bytes() == existing  # reused
            write_model_file(stage / "v14" / "new.safetensors")
            assert not (tmp_path / "v14" / "new.safetensors").exists()  # nothing visible yet
        new = tmp_path / "v14" / "new.safetensors"
        assert new.is_file() and stat.S_IMODE(new.stat().st_mode) == 0o644
        with pytest.raises(RuntimeError):
            with body_cache.staged_build(tmp_path) as stage:
                (stage / "v14" / "partial.safetensors").write_bytes(b"half")
                raise RuntimeError("killed")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["v14"]
        assert sorted(p.name for p in (tmp_path / "v14").iterdir()) == ["existing.safetensors", "new.safetensors"]
        assert (tmp_path / "v14" / "existing.safetensors").read_bytes() == existing
    finally:
        os.umask(old)


def test_a_cache_folder_that_cannot_hold_the_model_is_a_named_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("ANNY_CACHE_DIR", str(blocker / "anny"))
    with pytest.raises(DataError, match="a-file/anny: cannot write the body model cache"):
        bodies._load_anny(tmp_path / "root", None)

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 10, 10 ** 10 - 10 ** 6, 10 ** 6))
    monkeypatch.setenv("ANNY_CACHE_DIR", str(tmp_path / "anny"))
    with pytest.raises(DataError, match="not enough free space to build the body model"):
        bodies._load_anny(tmp_path / "root", None)
    assert not list((tmp_path / "anny").iterdir())  # refused before anything was written


def test_a_truncated_model_cache_is_rebuilt(anny_cache, tmp_path, monkeypatch):
    shared = bodies._load_anny(tmp_path / "shared-root", None)  # the intact, shared cache
    # A private copy of the cache (hard links: no space used) whose compact model is damaged.
    copy = tmp_path / "anny"
    for path in Path(anny_cache).glob("v*/*.safetensors"):
        (copy / path.parent.name).mkdir(parents=True, exist_ok=True)
        os.link(path, copy / path.relative_to(anny_cache))
    (compact,) = copy.glob("v*/build_compact_model_data_*.safetensors")
    data = compact.read_bytes()
    compact.unlink()  # a new file, never the shared one through its link
    compact.write_bytes(data[:len(data) // 3])
    monkeypatch.setenv("ANNY_CACHE_DIR", str(copy))
    messages = []
    ops = bodies._load_anny(tmp_path / "root", lambda done, total, message: messages.append(message))
    assert any("again (its cache was damaged)" in m for m in messages)
    assert compact.stat().st_size == len(data)
    assert not [p for p in copy.iterdir() if p.name.startswith(".build-")]
    vertices, faces = ops.template_mesh()
    ref_vertices, ref_faces = shared.template_mesh()
    np.testing.assert_array_equal(faces, ref_faces)
    np.testing.assert_allclose(vertices, ref_vertices, atol=1e-6)
    messages.clear()
    bodies._load_anny(tmp_path / "root", lambda done, total, message: messages.append(message))
    assert messages[0] == "Loading the anny body model"  # whole now: loaded, not built
