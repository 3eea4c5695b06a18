"""Property-based fuzzing of every file reader: corrupted copies of valid files (truncated,
bytes overwritten, bytes inserted) and arbitrary bytes either load or raise one of saeviz's
named errors whose message names the file; nothing else escapes, nothing is executed.

Each reader gets ``EXAMPLES`` examples per strategy from a fixed seed (derandomised), so CI
runs the same cases every time.
"""
from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from saeviz.core.data.arrays import load_npz
from saeviz.core.data.idx import read_idx
from saeviz.core.data.images import load_image_folder
from saeviz.core.data.meshes import load_mesh_folder
from saeviz.core.errors import SaevizError
from saeviz.core.io.checkpoint import load_checkpoint, save_checkpoint
from saeviz.core.io.label_io import read_labels
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.models import build_autoencoder
from saeviz.core.state.labels import Supervision

EXAMPLES = 120
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def corruptions(draw, original: bytes):
    """A corrupted copy of ``original``: truncated, overwritten, spliced, or plain noise."""
    kind = draw(st.sampled_from(["truncate", "overwrite", "insert", "noise"]))
    data = bytearray(original)
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, max(len(data) - 1, 0)))])
    if kind == "noise":
        return draw(st.binary(min_size=0, max_size=512))
    pos = draw(st.integers(0, max(len(data) - 1, 0)))
    chunk = draw(st.binary(min_size=1, max_size=16))
    if kind == "overwrite":
        data[pos:pos + len(chunk)] = chunk
    else:
        data[pos:pos] = chunk
    return bytes(data)


def check_reader(read, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        read(path)
    except SaevizError as exc:
        assert str(path.name) in str(exc) or str(path.parent.name) in str(exc), str(exc)


def _npz_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, X=np.arange(24, dtype=np.float32).reshape(4, 6), y=np.array([0, 1, 0, 1]),
             class_names=np.array(["a", "b"]))
    return buf.getvalue()


def _idx_bytes() -> bytes:
    arr = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    return gzip.compress(b"\x00\x00\x08\x03" + struct.pack(">III", 2, 4, 4) + arr.tobytes())


def _checkpoint_bytes(tmp: Path) -> bytes:
    X = np.random.default_rng(0).random((12, 5)).astype(np.float32)
    model = build_autoencoder(ModelConfig(hidden=(4,), latent_dim=2), X)
    sup = Supervision(np.array([0, 1] + [-1] * 10), ("a", "b"), ("#f00", "#0f0"), np.array([[0, 1.0], [1.0, 0]]), 0)
    return save_checkpoint(tmp / "seed", model, train_config=TrainConfig(), supervision=sup).read_bytes()


@FUZZ
@given(data=st.data())
def test_npz_loader(tmp_path, data):
    check_reader(load_npz, tmp_path / "fuzz.npz", data.draw(corruptions(_npz_bytes())))


@FUZZ
@given(data=st.data())
def test_idx_reader(tmp_path, data):
    raw = gzip.decompress(_idx_bytes())
    original = data.draw(st.sampled_from([raw, _idx_bytes()]))
    check_reader(read_idx, tmp_path / "fuzz-idx3-ubyte", data.draw(corruptions(original)))


@FUZZ
@given(data=st.data())
def test_checkpoint_reader(tmp_path, data):
    original = _checkpoint_bytes(tmp_path)
    check_reader(load_checkpoint, tmp_path / "fuzz.safetensors", data.draw(corruptions(original)))


@FUZZ
@given(data=st.data())
def test_label_files(tmp_path, data):
    csv = b"index,label\n0,a\n3,b\n5,a\n"
    buf = io.BytesIO()
    np.savez(buf, index=np.array([0, 3]), label=np.array([0, 1]))
    suffix, original = data.draw(st.sampled_from([(".csv", csv), (".npz", buf.getvalue())]))
    check_reader(lambda p: read_labels(p, class_names=("a", "b"), n_dataset=10),
                 tmp_path / f"labels{suffix}", data.draw(corruptions(original)))


@FUZZ
@given(data=st.data())
def test_image_folder(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("images")
    png = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(png, format="PNG")
    (folder / "good.png").write_bytes(png.getvalue())
    check_reader(load_image_folder, folder / "fuzz.png", data.draw(corruptions(png.getvalue())))


@FUZZ
@given(data=st.data())
def test_mesh_folder(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("meshes")
    obj = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"
    (folder / "a.obj").write_bytes(obj)
    (folder / "b.obj").write_bytes(obj)
    check_reader(load_mesh_folder, folder / "fuzz.obj", data.draw(corruptions(obj)))


def test_every_reader_names_a_missing_path_and_a_symlink_loop(tmp_path):
    loop = tmp_path / "loop.npz"
    loop.symlink_to(loop)
    for read in (load_npz, read_idx, load_checkpoint, load_image_folder, load_mesh_folder,
                 lambda p: read_labels(p, class_names=("a",), n_dataset=3)):
        for path in (tmp_path / "missing.npz", loop):
            with pytest.raises(SaevizError) as exc:
                read(path)
            assert path.name in str(exc.value)


def test_torch_pickles_are_never_loaded(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.write_text, (marker, "x"))

    torch.save({"w": Payload()}, tmp_path / "evil.safetensors")
    with pytest.raises(SaevizError):
        load_checkpoint(tmp_path / "evil.safetensors")
    np.save(tmp_path / "evil.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    data = (tmp_path / "evil.npy").read_bytes()
    buf = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("X.npy", data)
    (tmp_path / "evil.npz").write_bytes(buf.getvalue())
    with pytest.raises(SaevizError):
        load_npz(tmp_path / "evil.npz")
    assert not marker.exists()


def _project(tmp: Path):
    from saeviz.core.io.project import ProjectState, save_project
    X = np.random.default_rng(0).random((20, 5)).astype(np.float32)
    model = build_autoencoder(ModelConfig(hidden=(4,), latent_dim=2), X)
    state = ProjectState(dataset_source={"loader": "digits"}, labels=np.array([0, 1] + [-1] * 18),
                         class_names=("a", "b"), colors=("#f00", "#0f0"), distances=np.array([[0, 1.0], [1.0, 0]]))
    folder = tmp / "proj"
    save_project(folder, state, model=model)
    return folder


@FUZZ
@given(data=st.data())
def test_project_reader(tmp_path_factory, data):
    from saeviz.core.io.project import load_project
    folder = _project(tmp_path_factory.mktemp("project"))
    files = sorted(p for p in folder.iterdir() if p.is_file())
    target = data.draw(st.sampled_from(files))
    target.write_bytes(data.draw(corruptions(target.read_bytes())))
    try:
        load_project(folder)
    except SaevizError as exc:
        assert folder.name in str(exc) or target.name in str(exc), str(exc)


def test_a_malicious_project_runs_nothing(tmp_path):
    import json

    from saeviz.core.io.project import load_project
    folder = _project(tmp_path)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.write_text, (marker, "x"))

    manifest = json.loads((folder / "project.json").read_text())
    for p in folder.iterdir():  # every data file replaced by a pickle payload of the same name
        if p.is_file() and p.name != "project.json":
            torch.save({"x": Payload()}, p)
    (folder / "project.json").write_text(json.dumps(manifest))
    with pytest.raises(SaevizError):
        load_project(folder)
    huge = dict(manifest)
    (folder / "project.json").write_text(json.dumps(huge).replace('"labels"', '"labels_"', 1) + "\n")
    with pytest.raises(SaevizError):
        load_project(folder)
    assert not marker.exists()
