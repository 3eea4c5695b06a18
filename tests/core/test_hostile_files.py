"""A corpus of hostile files, run through the CLI, the estimator, the readers and project open.

Every case runs in its own Python process under an address-space limit (``RLIMIT_AS``), so a
file that still allocated without bound would fail its test (MemoryError, a traceback) instead
of the machine. Each case asserts what the user gets: a named error that names the file, no
traceback, and a peak memory (``ru_maxrss``) within the memory budget. The files are generated
here, small on disk; the "bombs" declare or inflate to far more than the budget.

torch and saeviz are imported once by a parent process; each case runs in a process forked
from it, two at a time (the machine has two cores). Two cases also run as the real command in
a new interpreter.
"""
from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

LIMIT = 1536 << 20             # address space of each case (torch alone reserves ~650 MB)
BUDGET = 64 << 20              # SAEVIZ_MEMORY_BUDGET of each case
SLACK = 64 << 20               # interpreter and library memory beyond the data, per case
BOMB = 128 << 20               # what the bombs decompress to (twice the budget)

# Runs the cases given as JSON: torch and saeviz are imported once, then every case runs in
# its own forked process under the address-space limit, two at a time, its output in files.
_SERVER = r"""
import json, os, resource, sys, traceback
import torch, saeviz.cli, saeviz.core.io.checkpoint, saeviz.core.io.project, saeviz.estimator  # noqa: F401
limit, cases_file, out_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cases = json.load(open(cases_file))


def child(case):
    fd = os.open(os.path.join(out_dir, case["name"] + ".log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rc = 0
    try:
        if case["mode"] == "cli":
            rc = saeviz.cli.main(case["payload"])
        else:
            from saeviz.core.errors import SaevizError
            try:
                exec(case["payload"][0], {})
            except SaevizError as exc:
                print(f"saeviz: error: {type(exc).__name__}: {exc}", file=sys.stderr)
                rc = 3
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        rc = 1
    print(f"MAXRSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


running, codes = {}, {}
import gc; gc.collect()
for case in cases + [None, None]:
    while len(running) >= 2 or (case is None and running):
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
        if case is None:
            break
    if case is None:
        continue
    pid = os.fork()
    if pid == 0:
        child(case)
    running[pid] = case["name"]
codes["_baseline"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
json.dump(codes, open(os.path.join(out_dir, "codes.json"), "w"))
"""

# A few cases also run as the real command (a new interpreter, ``python -m saeviz``).
_EXEC = r"""
import resource, runpy, sys
limit = int(sys.argv.pop(1))
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv[0] = "saeviz"
try:
    runpy.run_module("saeviz", run_name="__main__")
finally:
    # the peak of this program alone: ru_maxrss keeps the peak of the process that forked and
    # exec'd it (the test runner), VmHWM starts again with the new program
    with open("/proc/self/status") as status:
        hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    print(f"MAXRSS {hwm[0]}", file=sys.stderr)
"""


@dataclass
class Case:
    name: str
    mode: str                    # "cli" (argv) or "py" (a snippet)
    payload: list[str]
    expect: str                  # "error" (named error) or "ok"
    names: str = ""              # text (a file name) the error must contain
    match: str = ""              # text the output must contain


# -- hostile files --------------------------------------------------------------------------------------------
def _npy_header(shape, descr="<f4") -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


def _zip_bomb(path: Path, key: str, shape, descr="<f4", extra: dict | None = None) -> None:
    """An .npz whose array ``key`` really inflates to its declared size (zeros)."""
    itemsize = int(descr[-1])
    size = itemsize * int(np.prod(shape))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
            fh.write(_npy_header(shape, descr))
            chunk = bytes(16 << 20)
            left = size
            while left:
                fh.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))
        for name, arr in (extra or {}).items():
            buf = __import__("io").BytesIO()
            np.save(buf, arr)
            zf.writestr(f"{name}.npy", buf.getvalue())


def _png(w: int, h: int, rows: int) -> bytes:
    """A grayscale PNG whose header promises w x h pixels but whose data hold ``rows`` rows."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(w) for _ in range(rows))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _idx_gz(path: Path, shape, fill: int) -> None:
    """An IDX .gz of unsigned bytes declaring ``shape``, holding ``fill`` zero bytes."""
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b"\0\0\x08" + bytes([len(shape)]) + np.asarray(shape, ">u4").tobytes())
        chunk = bytes(16 << 20)
        while fill:
            fh.write(chunk[:min(fill, len(chunk))])
            fill -= min(fill, len(chunk))


def _smpl_arrays() -> dict:
    V, J = 4, 2
    return {
        "v_template": np.arange(12, dtype=np.float64).reshape(V, 3),
        "shapedirs": np.zeros((V, 3, 2)), "posedirs": np.zeros((V, 3, 9)),
        "J_regressor": np.full((J, V), 0.25), "weights": np.tile([1.0, 0.0], (V, 1)),
        "kintree_table": np.array([[2 ** 32 - 1, 0], [0, 1]], dtype=np.uint32),
        "f": np.array([[0, 1, 2], [1, 2, 3]], dtype=np.uint32),
    }


def _checkpoint(path: Path, change=None, resumable: bool = False) -> Path:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from saeviz.core.io.checkpoint import read_header, save_checkpoint
    from saeviz.core.method.config import ModelConfig, TrainConfig
    from saeviz.core.method.models import Autoencoder

    torch.manual_seed(0)
    model = Autoencoder(ModelConfig(hidden=(8,), latent_dim=2), (8, 8))
    extra = {}
    if resumable:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        result = model(torch.zeros(2, 8, 8))
        (result[0] if isinstance(result, tuple) else result).sum().backward()
        opt.step()
        extra = {"optimizer": opt, "train_state": {"epoch": 1}}
    save_checkpoint(path, model, train_config=TrainConfig(epochs=1),
                    dataset_source={"loader": "digits", "decomposition": "abc", "test_fraction": 0.2, "seed": 0},
                    **extra)
    if change is not None:
        doc, _ = read_header(path)
        with safe_open(str(path), "pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        text = change(doc, tensors)
        save_file(tensors, str(path), metadata={"saeviz": text if isinstance(text, str) else json.dumps(doc)})
    return path


def _project(folder: Path, change=None, labels_bytes: bytes | None = None) -> Path:
    import hashlib

    from saeviz.core.io.project import ProjectState, save_project
    from saeviz.core.state.labels import equal_distances

    state = ProjectState(dataset_source={"loader": "digits", "decomposition": "abc", "test_fraction": 0.2, "seed": 0},
                         labels=np.full(10, -1), class_names=("a", "b"), colors=("#ff0000", "#00ff00"),
                         distances=equal_distances(2))
    save_project(folder, state)
    manifest = folder / "project.json"
    doc = json.loads(manifest.read_text())
    if labels_bytes is not None:
        name = doc["files"]["labels"]["file"]
        (folder / name).write_bytes(labels_bytes)
        doc["files"]["labels"].update(bytes=len(labels_bytes), sha256=hashlib.sha256(labels_bytes).hexdigest())
    text = change(doc) if change is not None else None
    manifest.write_text(text if isinstance(text, str) else json.dumps(doc))
    return folder


def _npz_bytes(**arrays) -> bytes:
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def build_corpus(root: Path) -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    out = str(root / "out")

    # finding 2: small files that would allocate without bound
    bomb = root / "bomb.npz"
    _zip_bomb(bomb, "X", (BOMB // 4000, 1000))
    add(Case("npz-bomb-cli-train", "cli", ["train", "--dataset", str(bomb), "--out", out, "--quiet"],
             "error", "bomb.npz", "memory budget"))
    for name, y in (("labels-2pow62", [0, 2 ** 62] * 4), ("labels-0-20000", [0, 20000] * 4)):
        p = root / f"{name}.npz"
        np.savez(p, X=np.random.default_rng(0).random((8, 3)), y=np.array(y, dtype=np.int64))
        add(Case(f"{name}-reader", "py", [
            "from saeviz.core.data import load_dataset\n"
            f"ds = load_dataset({str(p)!r})\n"
            "assert ds.n_classes == 2 and sorted(set(ds.y.tolist())) == [0, 1], ds.class_names\n"
            "print('classes', ds.class_names)"], "ok", match="classes"))
    add(Case("labels-2pow62-estimator", "py", [
        "import numpy as np\nfrom saeviz import StructuringAutoencoder\n"
        "X = np.random.default_rng(0).random((40, 6)).astype(np.float32)\n"
        "y = np.array([0, 2**62] * 20)\n"
        "sae = StructuringAutoencoder(hidden_sizes=(8,), latent_dim=2, epochs=1, random_state=0).fit(X, y)\n"
        "assert len(sae.classes_) == 2\nprint('classes', sae.classes_)"], "ok", match="classes"))
    trunc = root / "truncated-pngs"
    trunc.mkdir()
    for i in range(6):
        (trunc / f"img{i}.png").write_bytes(_png(12000, 12000, 10))
    add(Case("truncated-12000px-pngs-cli-train", "cli", ["train", "--dataset", str(trunc), "--out", out, "--quiet"],
             "error", "truncated-pngs", ""))
    big = root / "big-pngs"
    big.mkdir()
    from PIL import Image
    for i in range(2):
        Image.new("L", (2500, 2500)).save(big / f"big{i}.png")
    add(Case("real-2500px-pngs-cli-train", "cli", ["train", "--dataset", str(big), "--out", out, "--quiet"],
             "error", "big0.png", "memory budget"))
    idx = root / "idx-bomb"
    idx.mkdir()
    _idx_gz(idx / "train-images-idx3-ubyte.gz", (BOMB // 10000, 100, 100), BOMB)
    _idx_gz(idx / "train-labels-idx1-ubyte.gz", (BOMB // 10000,), 0)
    _idx_gz(idx / "t10k-images-idx3-ubyte.gz", (1, 100, 100), 10000)
    _idx_gz(idx / "t10k-labels-idx1-ubyte.gz", (1,), 1)
    add(Case("idx-gz-bomb-cli-train", "cli", ["train", "--dataset", str(idx), "--out", out, "--quiet"],
             "error", "train-images-idx3-ubyte.gz", "memory budget"))
    lie = root / "idx-lie.gz"
    _idx_gz(lie, (10, 28, 28), BOMB)  # declares 7,840 bytes, inflates to 400 MB
    add(Case("idx-gz-inflating-past-header-reader", "py", [
        f"from saeviz.core.data.idx import read_idx\nread_idx({str(lie)!r})"], "error", "idx-lie.gz", "extra bytes"))
    import scipy.sparse
    arrays = _smpl_arrays()
    sparse = scipy.sparse.csc_matrix(arrays["J_regressor"])
    sparse._shape = (24, 10 ** 8)
    smpl_bomb = root / "smpl-sparse-bomb.pkl"
    smpl_bomb.write_bytes(pickle.dumps({**arrays, "J_regressor": sparse}, protocol=2))
    add(Case("smpl-sparse-bomb-cli-convert", "cli", ["smpl-convert", str(smpl_bomb), str(root / "smpl.npz")],
             "error", "smpl-sparse-bomb.pkl", "memory budget"))
    labels_bomb = root / "labels-bomb.npz"
    _zip_bomb(labels_bomb, "index", (BOMB // 16,), "<i8", extra={"label": np.zeros(1, np.int64)})
    add(Case("label-npz-bomb-reader", "py", [
        "from saeviz.core.io.label_io import read_labels\n"
        f"read_labels({str(labels_bomb)!r}, class_names=['a', 'b'], n_dataset=10)"],
        "error", "labels-bomb.npz", "memory budget"))
    project_bomb = root / "project-labels-bomb"
    _project(project_bomb)
    doc = json.loads((project_bomb / "project.json").read_text())
    lab_name = doc["files"]["labels"]["file"]
    _zip_bomb(project_bomb / lab_name, "labels", (BOMB // 8,), "<i8")
    import hashlib
    data = (project_bomb / lab_name).read_bytes()
    doc["files"]["labels"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (project_bomb / "project.json").write_text(json.dumps(doc))
    add(Case("project-labels-npz-bomb-open", "py", [
        f"from saeviz.core.io.project import Project\nProject.open({str(project_bomb)!r})"],
        "error", lab_name, "memory budget"))
    csv = root / "labels-4mb.csv"
    n = 400_000
    csv.write_text("index,label\n" + "".join(f"{i},{i % 2}\n" for i in range(n)))
    add(Case("label-csv-4mb-reader", "py", [
        "import resource\nfrom saeviz.core.io.label_io import read_labels\n"
        f"lf = read_labels({str(csv)!r}, class_names=['a', 'b'], n_dataset={n})\n"
        f"assert len(lf.labels) == {n}\nprint('rows', len(lf.labels))"], "ok", match="rows"))

    # finding 3: a reference controls loader options
    for name, source, where in (
            ("ref-image-resize-30000", {"loader": "images", "path": str(big), "size": [30000, 30000]}, "ckpt-ref-image-resize-30000"),
            ("ref-bodies-10e12", {"loader": "bodies", "count": 10 ** 12, "seed": 0}, "ckpt-ref-bodies-10e12"),
            ("ref-npz-bomb-path", {"loader": "npz", "path": str(bomb)}, "bomb.npz")):
        ck = _checkpoint(root / f"ckpt-{name}.safetensors",
                         lambda d, t, s=source: d.update(dataset=s))
        add(Case(f"{name}-cli-eval", "cli", ["eval", str(ck)], "error", where,
                 "memory budget" if "bomb" in name else "dataset reference"))
    ref_project = root / "project-ref-resize"
    _project(ref_project, lambda d: d.update(dataset={"loader": "images", "path": str(big), "size": [30000, 30000]}))
    add(Case("project-ref-resize-open", "py", [
        f"from saeviz.core.io.project import Project\nProject.open({str(ref_project)!r}, load_model=False)"],
        "error", "project-ref-resize", "size"))

    # finding 6: tracebacks instead of named errors
    deep = _checkpoint(root / "ckpt-deep.safetensors",
                       lambda d, t: json.dumps(d)[:-1] + ', "x": ' + _deep(100_000) + "}")
    add(Case("ckpt-json-100000-deep-cli-eval", "cli", ["eval", str(deep)], "error", "ckpt-deep", "nested deeper"))
    for name, change, match in (
            ("infinity", lambda d, t: json.dumps(d).replace('"latent_dim": 2', '"latent_dim": Infinity'), "Infinity"),
            ("5000-digits", lambda d, t: json.dumps(d).replace('"latent_dim": 2', '"latent_dim": ' + "9" * 5000), "digits"),
            ("model-list", lambda d, t: d.update(model=[]), "ModelConfig"),
            ("seed-x", lambda d, t: d["dataset"].update(seed="x"), "seed"),
            ("latent-10.7", lambda d, t: d["model"].update(latent_dim=10.7), "latent_dim"),
            ("latent-str", lambda d, t: d["model"].update(latent_dim="10"), "latent_dim")):
        ck = _checkpoint(root / f"ckpt-{name}.safetensors", change)
        mode = "cli" if name == "model-list" else "py"
        payload = (["eval", str(ck)] if mode == "cli" else
                   [f"from saeviz.core.io.checkpoint import load_checkpoint\nload_checkpoint({str(ck)!r})"])
        add(Case(f"ckpt-{name}-{'cli-eval' if mode == 'cli' else 'load'}", mode, payload, "error", f"ckpt-{name}", match))

    def amsgrad_without_state(doc, tensors):
        doc["optimizer"]["group"]["amsgrad"] = True
    odd = _checkpoint(root / "ckpt-odd-optimizer.safetensors", amsgrad_without_state, resumable=True)
    add(Case("resume-odd-optimizer-cli-train", "cli",
             ["train", "--resume", str(odd), "--epochs", "2", "--out", out, "--quiet"],
             "error", "ckpt-odd-optimizer", "amsgrad"))
    dist = root / "distances-10e12.npy"
    dist.write_bytes(_npy_header((1_000_000, 1_000_000), "<f8") + bytes(64))
    add(Case("distances-header-10e12-cli-train", "cli",
             ["train", "--distances", str(dist), "--epochs", "1", "--out", out, "--quiet"],
             "error", "distances-10e12.npy", "3x3"))
    for option, value, match in (("--latent", "1e9", "--latent"), ("--latent", "1000000000", "--latent"),
                                 ("--hidden", "1e9", "--hidden"), ("--threads", "-1", "--threads"),
                                 ("--device", "cuda", "--device cuda")):
        add(Case(f"cli-{option[2:]}-{value}", "cli", ["train", option, value, "--epochs", "1", "--out", out],
                 "error", "", match))
    kin = dict(_smpl_arrays())
    kin["kintree_table"] = np.array([0, 1], dtype=np.uint32)
    smpl_kin = root / "smpl-kintree-1d.pkl"
    smpl_kin.write_bytes(pickle.dumps(kin, protocol=2))
    add(Case("smpl-kintree-1d-cli-convert", "cli", ["smpl-convert", str(smpl_kin), str(root / "k.npz")],
             "error", "smpl-kintree-1d.pkl", "kintree_table"))
    coo = dict(_smpl_arrays())
    coo["J_regressor"] = scipy.sparse.coo_matrix(coo["J_regressor"])
    smpl_coo = root / "smpl-coo.pkl"
    smpl_coo.write_bytes(pickle.dumps(coo, protocol=2))
    add(Case("smpl-modern-coo-cli-convert", "cli", ["smpl-convert", str(smpl_coo), str(root / "coo.npz")],
             "ok", match="SMPL model written"))
    for name, data in (("truncated", _npz_bytes(labels=np.full(10, -1))[:-40]),
                       ("strings", _npz_bytes(labels=np.array(["a"] * 10)))):
        folder = root / f"project-labels-{name}"
        _project(folder, labels_bytes=data)
        add(Case(f"project-labels-{name}-open", "py", [
            f"from saeviz.core.io.project import Project\nProject.open({str(folder)!r})"], "error", "labels-", "labels"))
    deep_project = root / "project-deep"
    _project(deep_project, lambda d: json.dumps(d)[:-1] + ', "x": ' + _deep(100_000) + "}")
    add(Case("project-json-100000-deep-open", "py", [
        f"from saeviz.core.io.project import Project\nProject.open({str(deep_project)!r})"],
        "error", "project-deep", "nested deeper"))
    digits30 = root / "labels-30-digits.csv"
    digits30.write_text("index,label\n" + "9" * 30 + ",1\n")
    add(Case("label-csv-30-digit-index-reader", "py", [
        "from saeviz.core.io.label_io import read_labels\n"
        f"read_labels({str(digits30)!r}, class_names=['a', 'b'], n_dataset=10)"],
        "error", "labels-30-digits.csv, line 2", "out of range"))

    # finding 9: values accepted that should be refused
    small = root / "truncated-png"
    small.mkdir()
    (small / "a.png").write_bytes(_png(64, 64, 10))
    add(Case("truncated-png-reader", "py", [
        f"from saeviz.core.data import load_dataset\nload_dataset({str(small)!r})"], "error", "a.png", "truncated"))
    return cases


# -- running ------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    maxrss: int  # bytes


def _maxrss(text: str) -> int:
    rss = [ln for ln in text.splitlines() if ln.startswith("MAXRSS ")]
    return int(rss[-1].split()[1]) * 1024 if rss else -1


def _env() -> dict:
    return dict(os.environ, SAEVIZ_MEMORY_BUDGET=str(BUDGET), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


def _run_all(cases: list[Case], root: Path) -> dict[str, Result]:
    out_dir = root / "logs"
    out_dir.mkdir()
    spec = root / "cases.json"
    spec.write_text(json.dumps([{"name": c.name, "mode": c.mode, "payload": c.payload} for c in cases]))
    proc = subprocess.run([sys.executable, "-c", _SERVER, str(LIMIT), str(spec), str(out_dir)],
                          capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = json.loads((out_dir / "codes.json").read_text())
    results = {"_baseline": codes["_baseline"]}
    for c in cases:
        log = (out_dir / f"{c.name}.log").read_text()
        results[c.name] = Result(codes[c.name], "", log, _maxrss(log))
    return results


def _run_exec(argv: list[str]) -> Result:
    proc = subprocess.run([sys.executable, "-c", _EXEC, str(LIMIT), *argv],
                          capture_output=True, text=True, env=_env(), timeout=300)
    return Result(proc.returncode, proc.stdout, proc.stderr, _maxrss(proc.stderr))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    cases = build_corpus(root)
    results = _run_all(cases, root)
    return {"_baseline": results["_baseline"], **{c.name: (c, results[c.name]) for c in cases}}


def _case_names() -> list[str]:
    # the names only (the files are built once, in the fixture)
    return [
        "npz-bomb-cli-train", "labels-2pow62-reader", "labels-0-20000-reader", "labels-2pow62-estimator",
        "truncated-12000px-pngs-cli-train", "real-2500px-pngs-cli-train", "idx-gz-bomb-cli-train",
        "idx-gz-inflating-past-header-reader", "smpl-sparse-bomb-cli-convert", "label-npz-bomb-reader",
        "project-labels-npz-bomb-open", "label-csv-4mb-reader",
        "ref-image-resize-30000-cli-eval", "ref-bodies-10e12-cli-eval", "ref-npz-bomb-path-cli-eval",
        "project-ref-resize-open",
        "ckpt-json-100000-deep-cli-eval", "ckpt-infinity-load", "ckpt-5000-digits-load", "ckpt-model-list-cli-eval",
        "ckpt-seed-x-load", "ckpt-latent-10.7-load", "ckpt-latent-str-load", "resume-odd-optimizer-cli-train",
        "distances-header-10e12-cli-train", "cli-latent-1e9", "cli-latent-1000000000", "cli-hidden-1e9",
        "cli-threads--1", "cli-device-cuda", "smpl-kintree-1d-cli-convert", "smpl-modern-coo-cli-convert",
        "project-labels-truncated-open", "project-labels-strings-open", "project-json-100000-deep-open",
        "label-csv-30-digit-index-reader", "truncated-png-reader",
    ]


@pytest.mark.parametrize("name", _case_names())
def test_hostile_file(corpus, name):
    case, result = corpus[name]
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out[-3000:]
    assert result.maxrss > 0, out[-3000:]
    # resident memory: what the parent held when it forked (torch, saeviz) + the budget + slack
    peak = corpus["_baseline"] + BUDGET + SLACK
    assert result.maxrss < peak, f"peak {result.maxrss / 2**20:.0f} MiB\n{out[-2000:]}"
    if case.expect == "ok":
        assert result.returncode == 0, out[-3000:]
    else:
        assert result.returncode in (2, 3), out[-3000:]  # 2: the CLI's named error, 3: a SaevizError
        assert "error:" in result.stderr, out[-3000:]
        assert case.names in result.stderr, out[-3000:]
    assert case.match in out, out[-3000:]


def test_every_case_is_listed(corpus):
    assert sorted(k for k in corpus if k != "_baseline") == sorted(_case_names())


@pytest.mark.parametrize("what", ["npz-bomb-train", "deep-checkpoint-eval"])
def test_real_command(tmp_path, what):
    """The installed command in a new interpreter, under the address-space limit."""
    if what == "npz-bomb-train":
        path = tmp_path / "bomb.npz"
        _zip_bomb(path, "X", (BOMB // 4000, 1000))
        argv = ["train", "--dataset", str(path), "--out", str(tmp_path / "m"), "--quiet"]
    else:
        path = _checkpoint(tmp_path / "deep.safetensors",
                           lambda d, t: json.dumps(d)[:-1] + ', "x": ' + _deep(100_000) + "}")
        argv = ["eval", str(path)]
    result = _run_exec(argv)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "saeviz: error:" in result.stderr, result.stderr[-3000:]
    assert path.name in result.stderr
    assert 0 < result.maxrss < 600 * 2 ** 20 + BUDGET, result.maxrss
