"""Data-parallel training: two CPU processes (gloo) against one process, and resuming.

The two ranks are started as plain subprocesses with torchrun's environment variables
(``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); each runs
``run_rank`` below. The command line is also run under ``torch.distributed.run`` itself.
"""
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from saeviz.core.data import load_dataset, reveal_labels
from saeviz.core.io.checkpoint import load_checkpoint, save_checkpoint
from saeviz.core.method import distributed
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.distributed import SingleProcess, split_batches
from saeviz.core.method.training import Trainer, encode
from saeviz.core.state.labels import Supervision, default_color, equal_distances

HERE = Path(__file__).parent
MODEL = ModelConfig(architecture="mlp", hidden=(64,), latent_dim=10)
TRAIN = dict(epochs=2, lr=3e-3, seed=3, device="cpu", gamma=0.5)
PER_RANK = 32
EPOCHS = 2
# 1409 = 22 * 64 + 1: the last global batch holds one sample, so one rank's share is empty.
N = 1409


def problem(n: int = N):
    ds = load_dataset("digits")
    X = ds.X[ds.train_idx][:n]
    y = ds.y[ds.train_idx][:n]
    labels = reveal_labels(y, np.arange(n), 0.2, seed=0)
    sup = Supervision(labels, ds.class_names, tuple(default_color(i) for i in range(3)), equal_distances(3), 0)
    return X, sup


def run_rank(out: str) -> None:
    """One rank of the two-process run: train, then record what this rank saw."""
    torch.set_num_threads(1)
    ctx = distributed.init_from_env("cpu")
    X, sup = problem()
    trainer = Trainer(X, MODEL, TrainConfig(batch_size=PER_RANK, **TRAIN), sup, dist=ctx)
    rec = {}
    for snap in trainer.iter_epochs(EPOCHS):
        if snap.final:
            rec[f"targets{snap.epoch}"] = snap.targets
            rec[f"index{snap.epoch}"] = snap.target_index
            rec[f"class_targets{snap.epoch}"] = snap.class_targets
            rec[f"n_batches{snap.epoch}"] = snap.n_batches
    rec["codes"] = trainer.latent_codes()
    rec["encoded"] = encode(trainer.model, X)
    rec["history"] = np.array([[h["recon_loss"], h["struct_loss"], h["stress"]] for h in trainer.history])
    rec.update({"w." + k: v.numpy() for k, v in trainer.model.state_dict().items()})
    np.savez(Path(out) / f"rank{ctx.rank}.npz", **rec)
    if ctx.is_main:
        save_checkpoint(Path(out) / "model", trainer, train_config=trainer.config, supervision=sup,
                        history=trainer.history, optimizer=trainer.optimizer,
                        train_state=trainer.training_state())
    distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    port = _free_port()
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_distributed as t; t.run_rank({str(out)!r})"
    procs = []
    for r in range(2):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(r),
               "WORLD_SIZE": "2", "LOCAL_RANK": str(r), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    try:
        errors = [p.communicate(timeout=240)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), "\n".join(e[-3000:] for e in errors)
    return out, [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]


def test_split_batches_cover_every_global_batch_once():
    order = torch.from_numpy(np.random.default_rng(0).permutation(23))
    assert [(i.tolist(), n) for i, n in split_batches(order, 4, 0, 1)] == \
        [(i.tolist(), n) for i, n in SingleProcess().batches(order, 4)]
    for world in (2, 3):
        shares = [split_batches(order, 4, r, world) for r in range(world)]
        assert all(len(s) == -(-23 // (4 * world)) for s in shares)
        for b, parts in enumerate(zip(*shares)):
            glob = order[b * 4 * world:(b + 1) * 4 * world]
            assert torch.equal(torch.cat([idx for idx, _ in parts]), glob)
            assert all(n == len(glob) for _, n in parts)
            assert max(len(i) for i, _ in parts) - min(len(i) for i, _ in parts) <= 1
    last = [split_batches(torch.arange(9), 4, r, 2)[-1] for r in range(2)]
    assert [len(i) for i, _ in last] == [1, 0] and all(n == 1 for _, n in last)


@pytest.mark.slow
def test_both_ranks_train_against_the_same_targets(two_ranks):
    _, (r0, r1) = two_ranks
    assert int(r0["n_batches1"]) == -(-N // (2 * PER_RANK))
    for epoch in range(1, EPOCHS + 1):
        t0, t1 = r0[f"targets{epoch}"], r1[f"targets{epoch}"]
        assert t0.shape == (int((problem()[1].labels >= 0).sum()), MODEL.latent_dim)
        assert np.array_equal(t0, t1) and np.array_equal(r0[f"index{epoch}"], r1[f"index{epoch}"])
        assert np.array_equal(r0[f"class_targets{epoch}"], r1[f"class_targets{epoch}"])
    assert not np.allclose(r0["targets1"], r0["targets2"])  # the targets follow the codes


@pytest.mark.slow
def test_ranks_end_with_the_same_weights_codes_and_history(two_ranks):
    _, (r0, r1) = two_ranks
    weights = [k for k in r0 if k.startswith("w.")]
    assert weights and all(np.array_equal(r0[k], r1[k]) for k in weights)
    assert np.array_equal(r0["codes"], r1["codes"])
    assert np.array_equal(r0["history"], r1["history"])


@pytest.mark.slow
def test_checkpoint_of_rank_zero_loads_in_one_process(two_ranks):
    out, (r0, _) = two_ranks
    ck = load_checkpoint(out / "model")
    X, _ = problem()
    codes = encode(ck.model, X)
    assert np.array_equal(codes, r0["encoded"])
    # the gathered codes come from per-shard batches of a different size: rounding only
    np.testing.assert_allclose(codes, r0["codes"], rtol=0, atol=1e-5)
    assert ck.train_state["epoch"] == EPOCHS and ck.train_state["world_size"] == 2
    assert len(ck.history) == EPOCHS and ck.optimizer_state is not None


@pytest.mark.slow
def test_two_ranks_follow_one_process_with_the_same_global_batch(two_ranks):
    """Both runs take the same steps on the same global batches (same permutation, the
    global-batch mean as loss), so they differ only by float32 rounding: the gradient sums
    are split into two partial sums, and the codes behind the targets are encoded in shards
    of another size. Measured: 2e-8 relative on the epoch losses and MDS stress, 6e-8 on the
    weights. The bounds (1e-4 relative on the losses, 1e-4 absolute on the weights) leave room
    for other BLAS builds and thread counts, and for Adam's first steps (about lr * sign(g)),
    which amplify rounding where a gradient is near zero; they are far below what a real
    difference does: the run with the per-rank batch as its batch differs by about 20%.
    """
    _, (r0, _) = two_ranks
    X, sup = problem()
    single = Trainer(X, MODEL, TrainConfig(batch_size=2 * PER_RANK, **TRAIN), sup).fit(EPOCHS)
    curve = np.array([[h["recon_loss"], h["struct_loss"], h["stress"]] for h in single.history])
    np.testing.assert_allclose(r0["history"], curve, rtol=1e-4)
    state = single.model.state_dict()
    for k, v in state.items():
        np.testing.assert_allclose(r0["w." + k], v.numpy(), rtol=0, atol=1e-4, err_msg=k)
    other = Trainer(X, MODEL, TrainConfig(batch_size=PER_RANK, **TRAIN), sup).fit(EPOCHS)
    assert not np.allclose([h["recon_loss"] for h in other.history], curve[:, 0], rtol=0.05)


def _optimizer_tensors(trainer):
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    return {(names[id(p)], key): value.clone() for p, st in trainer.optimizer.state.items()
            for key, value in st.items()}


@pytest.mark.slow
def test_resume_restores_optimizer_history_and_shuffling(tmp_path):
    X, sup = problem(200)
    cfg = TrainConfig(batch_size=32, **TRAIN)
    straight = Trainer(X, MODEL, cfg, sup).fit(2)
    first = Trainer(X, MODEL, cfg, sup).fit(1)
    path = save_checkpoint(tmp_path / "run", first, train_config=cfg, supervision=sup, history=first.history,
                           optimizer=first.optimizer, train_state=first.training_state())
    ck = load_checkpoint(path)
    resumed = Trainer(X, ck.model_config, ck.train_config, ck.supervision, model=ck.model)
    resumed.restore(ck)
    assert resumed.epoch == 1 and resumed.history == first.history
    saved, restored = _optimizer_tensors(first), _optimizer_tensors(resumed)
    assert saved.keys() == restored.keys() and len(saved) == 3 * len(list(first.model.parameters()))
    assert all(torch.equal(saved[k], restored[k]) for k in saved)
    assert float(restored[("encoder.0.weight", "step")]) == -(-200 // 32)
    resumed.fit(1)
    assert resumed.epoch == 2 and [h["epoch"] for h in resumed.history] == [1, 2]
    assert [h["recon_loss"] for h in resumed.history] == [h["recon_loss"] for h in straight.history]
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(),
                                                 straight.model.state_dict().values()))
    # weights alone (fresh Adam moments, first permutation again) do not continue the run
    ck2 = load_checkpoint(path)
    fresh = Trainer(X, ck2.model_config, ck2.train_config, ck2.supervision, model=ck2.model).fit(1)
    assert not torch.equal(fresh.model.state_dict()["encoder.0.weight"], straight.model.state_dict()["encoder.0.weight"])


@pytest.mark.slow
def test_torchrun_command_line_writes_once_and_resumes_in_one_process(tmp_path, capsys, monkeypatch):
    from saeviz.cli import main
    from saeviz.core.io import checkpoint

    out = tmp_path / "m"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["train", "--dataset", "digits", "--labeled", "0.1", "--arch", "mlp", "--hidden", "32",
            "--batch-size", "32", "--epochs", "1", "--quiet", "--device", "cpu"]
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "saeviz", *args, "--out", str(out)], env=env, capture_output=True, text=True,
                         timeout=240, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2 processes (cpu), global batch 64" in res.stderr
    assert res.stderr.count("svm error (held-out)") == 1  # rank 0 alone reports
    assert res.stderr.count("checkpoint written") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    ck = load_checkpoint(out)
    assert ck.train_state["epoch"] == 1 and ck.train_state["world_size"] == 2 and len(ck.history) == 1
    assert ck.train_config.batch_size == 32 and ck.optimizer_state is not None

    assert main(["train", "--resume", str(out), "--gamma", "0.9", "--epochs", "3", "--out", str(out)]) == 2
    assert "--gamma 0.9 differs" in capsys.readouterr().err
    written = []
    real_save = checkpoint.save_checkpoint

    def save(*a, **kw):
        written.append(kw["train_state"]["epoch"])
        return real_save(*a, **kw)

    monkeypatch.setattr(checkpoint, "save_checkpoint", save)
    assert main(["train", "--resume", str(out), "--epochs", "3", "--checkpoint-every", "1", "--quiet",
                 "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "after epoch 1; 2 more epoch(s)" in err and "ran on 2 processes" in err
    assert err.count("svm error (held-out)") == 2 and written == [2, 3]
    again = load_checkpoint(tmp_path / "r")
    assert again.train_state["epoch"] == 3 and [h["epoch"] for h in again.history] == [1, 2, 3]
    assert again.history[:1] == ck.history
