"""Every run that trained writes its checkpoint; where it goes is checked before training."""
import os
import shutil
import subprocess
import sys
from collections import namedtuple

import numpy as np
import pytest
import torch

from saeviz.cli import main
from saeviz.core.io.checkpoint import load_checkpoint
from saeviz.core.method.models import Autoencoder

SMALL = ["--arch", "mlp", "--hidden", "16", "--latent", "2", "--batch-size", "16", "--quiet"]


def write_npz(path, n=96, d=12, y="three", test=True):
    rng = np.random.default_rng(0)
    arrays = {"X": rng.random((n, d)).astype(np.float32)}
    if y == "three":
        arrays["y"] = np.arange(n) % 3
    elif y == "one":
        arrays["y"] = np.zeros(n, np.int64)
    if not test:
        arrays["train_idx"] = np.arange(n)
        arrays["test_idx"] = np.empty(0, np.int64)
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize("case", ["plain autoencoder", "no labels", "one class", "no test split"])
def test_runs_without_a_measurable_error_write_a_loadable_checkpoint(tmp_path, capsys, case):
    y = {"no labels": None, "one class": "one"}.get(case, "three")
    data = write_npz(tmp_path / "data.npz", y=y, test=case != "no test split")
    labeled = "0" if case in ("plain autoencoder", "no labels") else "0.5"
    out = tmp_path / "run"
    code = main(["train", "--dataset", data, "--labeled", labeled, "--epochs", "2", *SMALL, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    ckpt = load_checkpoint(tmp_path / "run.safetensors")
    assert len(ckpt.history) == 2
    assert ckpt.metrics["svm_error"] is None  # not measurable: stored as null, not refused
    assert all(h["svm_error"] is None for h in ckpt.history)


@pytest.mark.parametrize("error", [torch.OutOfMemoryError, MemoryError])
def test_out_of_memory_writes_the_last_completed_epoch(tmp_path, capsys, monkeypatch, error):
    data = write_npz(tmp_path / "data.npz")
    args = ["train", "--dataset", data, "--labeled", "0.5", *SMALL]
    assert main([*args, "--epochs", "2", "--out", str(tmp_path / "two")]) == 0
    reference = load_checkpoint(tmp_path / "two.safetensors")

    forward = Autoencoder.forward
    calls = {"training": 0}
    from saeviz.core.data import load_dataset
    batches_per_epoch = int(np.ceil(len(load_dataset(data).train_idx) / 16))

    def failing_forward(self, x, *a, **kw):
        if self.training:
            calls["training"] += 1
            if calls["training"] == 2 * batches_per_epoch + 2:  # the second batch of epoch 3
                raise error("simulated: cannot allocate memory")
        return forward(self, x, *a, **kw)

    monkeypatch.setattr(Autoencoder, "forward", failing_forward)
    capsys.readouterr()
    code = main([*args, "--epochs", "5", "--out", str(tmp_path / "five")])
    err = capsys.readouterr().err
    assert code == 2
    assert "out of memory in epoch 3" in err and "Traceback" not in err
    assert "written to" in err
    ckpt = load_checkpoint(tmp_path / "five.safetensors")
    assert len(ckpt.history) == 2 and ckpt.train_state["epoch"] == 2
    for key, value in reference.model.state_dict().items():  # exactly the weights after epoch 2
        assert torch.equal(ckpt.model.state_dict()[key], value), key
    # ... and resuming continues as the uninterrupted run would
    monkeypatch.setattr(Autoencoder, "forward", forward)
    assert main(["train", "--resume", str(tmp_path / "five.safetensors"), "--epochs", "3", "--quiet",
                 "--out", str(tmp_path / "resumed")]) == 0
    assert main([*args, "--epochs", "3", "--out", str(tmp_path / "three")]) == 0
    resumed, straight = (load_checkpoint(tmp_path / f"{n}.safetensors") for n in ("resumed", "three"))
    for key, value in straight.model.state_dict().items():
        assert torch.allclose(resumed.model.state_dict()[key], value, atol=1e-6), key


def test_an_infinite_learning_rate_stops_with_a_clear_message(tmp_path, capsys):
    data = write_npz(tmp_path / "data.npz")
    code = main(["train", "--dataset", data, "--lr", "inf", "--epochs", "3", *SMALL, "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "NaN or infinite" in err or "the loss became" in err
    assert not (tmp_path / "m.safetensors").exists()  # no epoch completed: nothing good to write


def _bad_outputs(tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    return {"": "needs a file name", "/": "not a folder", str(tmp_path / "a-folder"): "is a folder",
            str(tmp_path / "a-file" / "m"): "is a file", "/proc/saeviz-test/m": "cannot write",
            "/dev/null": "not a regular file"}


def test_bad_out_fails_before_the_first_epoch(tmp_path, capsys):
    data = write_npz(tmp_path / "data.npz")
    for out, reason in _bad_outputs(tmp_path).items():
        code = main(["train", "--dataset", data, "--epochs", "2", *SMALL, "--out", out])
        err = capsys.readouterr().err
        assert code == 2, out
        assert reason in err and "Traceback" not in err and "epoch" not in err, (out, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not os.path.exists("/dev/null.safetensors")
    assert (tmp_path / "a-file").read_text() == "x"


def test_out_on_a_full_disk_fails_before_the_first_epoch(tmp_path, capsys, monkeypatch):
    data = write_npz(tmp_path / "data.npz")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - 4096, 4096))
    code = main(["train", "--dataset", data, "--epochs", "2", *SMALL, "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "not enough free space" in err and "epoch" not in err
    assert list(tmp_path.iterdir()) == [tmp_path / "data.npz"]


RO_SCRIPT = r"""
set -e
mount -t tmpfs -o size=4m tmpfs "$1"
mount -o remount,ro "$1"
exec "$2" -m saeviz train --dataset "$3" --epochs 2 --arch mlp --hidden 16 --latent 2 --quiet --out "$1/model"
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) to mount a file system")
def test_out_on_a_read_only_mount_fails_before_the_first_epoch(tmp_path):
    data = write_npz(tmp_path / "data.npz")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # A private mount namespace (as a mapped root user): the read-only tmpfs is gone with it.
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", RO_SCRIPT, "sh", str(mnt), sys.executable, data],
                          capture_output=True, text=True, timeout=300)
    if "mount:" in proc.stderr and "saeviz" not in proc.stderr:
        pytest.fail(f"could not mount a read-only file system here: {proc.stderr}")
    assert proc.returncode == 2, proc.stderr
    assert "read-only" in proc.stderr and "Traceback" not in proc.stderr
    assert "epoch" not in proc.stderr
