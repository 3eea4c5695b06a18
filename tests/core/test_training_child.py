"""The training process without the window: its messages (JSON and safetensors frames, no
pickle), a run, continuing it in the same process, resuming it in another, and the end of the
child when its parent's pipe closes."""
from __future__ import annotations

import os
import struct
import time
from contextlib import ExitStack, contextmanager

import numpy as np
import pytest
import torch

from saeviz.core.data.digits import load_digits
from saeviz.core.method import wire
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.training import Trainer
from saeviz.core.method.training_process import ProcessEnded, TrainingProcess
from saeviz.core.state.labels import Supervision

MODEL = ModelConfig(hidden=(32,), latent_dim=4)
TRAIN = TrainConfig(epochs=2, batch_size=64, lr=2e-3)


@pytest.fixture(scope="module")
def data():
    ds = load_digits()
    X = np.asarray(ds.X[:400], np.float32)
    labels = np.full(len(X), -1)
    labels[:60] = ds.y[:60] % 3
    sup = Supervision(labels, ("a", "b", "c"), ("#ff0000", "#00ff00", "#0000ff"),
                      1.0 - np.eye(3), 4)
    return X, sup


def roundtrip(kind, header, arrays):
    r, w = os.pipe()
    try:
        frame = wire.encode_frame(kind, header, arrays)
        wire.write_frame(w, frame)
        assert wire.waiting(r)
        return wire.read_frame(r)
    finally:
        os.close(r)
        os.close(w)


def test_snapshots_labels_networks_and_trainer_state_survive_a_frame(data):
    X, sup = data
    trainer = Trainer(X, MODEL, TRAIN, supervision=sup)
    snaps = list(trainer.run_epoch())
    final = snaps[-1]
    kind, header, arrays = roundtrip("epoch", *wire.snapshot_parts(final))
    back = wire.snapshot_from(header, arrays)
    assert kind == "epoch" and back.final and back.epoch == final.epoch == 1
    np.testing.assert_array_equal(back.codes, final.codes)
    np.testing.assert_array_equal(back.target_index, final.target_index)
    assert back.batch_losses == final.batch_losses and back.history == final.history
    assert back.recon_loss == final.recon_loss and back.label_version == 4

    _, header, arrays = roundtrip("labels", *wire.supervision_parts(sup))
    got = wire.supervision_from(header, arrays)
    np.testing.assert_array_equal(got.labels, sup.labels)
    np.testing.assert_array_equal(got.distances, sup.distances)
    assert (got.class_names, got.colors, got.version) == (sup.class_names, sup.colors, sup.version)

    _, header, arrays = roundtrip("started", *wire.model_parts(trainer.model))
    model = wire.model_from(header, arrays)
    np.testing.assert_allclose(model.encode(torch.from_numpy(X[:5])).numpy(),
                               trainer.model.eval().encode(torch.from_numpy(X[:5])).detach().numpy(), atol=1e-6)
    assert not any(p.requires_grad for p in model.parameters())

    _, header, arrays = roundtrip("finished", *wire.trainer_parts(trainer))
    remote = wire.remote_state_from(header, arrays, key=1, pid=7)
    assert remote.epoch == 1 and remote.history == trainer.history
    assert remote.train_state["rng"] == trainer.training_state()["rng"]
    # a new trainer restored from it takes the same next epoch as the original
    resumed = Trainer(X, MODEL, TRAIN, supervision=sup)
    resumed.restore(remote)
    a = [s for s in trainer.run_epoch()][-1]
    b = [s for s in resumed.run_epoch()][-1]
    np.testing.assert_allclose(a.codes, b.codes, atol=1e-5)


def test_a_frame_that_is_not_one_is_refused_without_running_anything():
    r, w = os.pipe()
    try:
        os.write(w, struct.pack("<QQ", 9, 0) + b'["kind"] ')  # JSON, but no message
        with pytest.raises(ValueError):
            wire.read_frame(r)
        os.write(w, struct.pack("<QQ", wire.MAX_HEADER + 1, 0))
        with pytest.raises(ValueError):
            wire.read_frame(r)
    finally:
        os.close(r)
        os.close(w)
    r, w = os.pipe()
    os.write(w, b"\x01\x02")  # the pipe closes in the middle of a frame
    os.close(w)
    with pytest.raises(wire.ChannelClosed):
        wire.read_frame(r)
    os.close(r)


def run_events(proc, header, arrays=None):
    proc.send("run", header, arrays)
    events = []
    while True:
        kind, head, arrs = proc.recv()
        events.append((kind, head, arrs))
        if kind == "finished":
            return events


@contextmanager
def ready_child(X, sup, epochs):
    """A training process that said it is ready and has ``X``, with the header and arrays of a
    first run of ``epochs`` on ``sup``; shut down afterwards."""
    proc = TrainingProcess(threads=1)
    proc.start()
    try:
        kind, header, _ = proc.recv()
        assert kind == "ready" and header["pid"] == proc.pid != os.getpid()
        proc.share_samples(1, X)
        head, arrays = wire.supervision_parts(sup)
        head.update(run_id=1, samples_key=1, epochs=epochs, **wire.configs_parts(MODEL, TRAIN))
        yield proc, head, arrays
    finally:
        proc.shutdown()


def test_a_child_trains_continues_and_another_resumes_its_run(data):
    X, sup = data
    with ExitStack() as stack:
        proc, head, arrays = stack.enter_context(ready_child(X, sup, epochs=2))
        events = run_events(proc, head, arrays)
        kinds = [k for k, _, _ in events]
        assert kinds[0] == "started" and kinds.count("epoch") == 2 and kinds[-1] == "finished"
        template = wire.model_from(events[0][1], events[0][2])
        last = [e for e in events if e[0] == "epoch"][-1]
        model = wire.with_weights(template, wire.unprefixed("w.", last[2]))
        finished = events[-1][1]
        assert finished["error"] is None
        state = wire.remote_state_from(finished, events[-1][2], key=1, pid=proc.pid)
        assert state.epoch == 2 and [h["epoch"] for h in state.history] == [1, 2]
        assert state.history[-1]["n_labeled"] == 60
        for a, b in zip(model.state_dict().values(), state.model.state_dict().values()):
            assert torch.equal(a, b)  # the last epoch's weights are the trainer's
        # the same child continues its own trainer: nothing but the settings travel
        head.update(run_id=2, epochs=1, trainer_key=1)
        events = run_events(proc, head, arrays)
        assert events[-1][1]["trainer"]["epoch"] == 3
        continued = wire.remote_state_from(events[-1][1], events[-1][2], key=2, pid=proc.pid)
        # another child resumes the two-epoch state and trains the same third epoch
        other = TrainingProcess(threads=1)
        other.start()
        stack.callback(other.shutdown)
        assert other.recv()[0] == "ready"
        other.share_samples(1, X)
        tparts, tarrays = wire.trainer_parts(state)
        head2 = dict(head, run_id=1, trainer_key=None, **tparts)
        events = run_events(other, head2, {**arrays, **tarrays})
        resumed = wire.remote_state_from(events[-1][1], events[-1][2], key=1, pid=other.pid)
        assert resumed.epoch == 3
        for a, b in zip(resumed.model.state_dict().values(), continued.model.state_dict().values()):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_a_child_throttled_by_its_parent_trains_at_that_share_of_the_time(data):
    X, sup = data
    with ready_child(X, sup, epochs=3) as (proc, head, arrays):
        def epoch_seconds(events):
            return [e[1]["snapshot"]["history"][-1]["seconds"] for e in events if e[0] == "epoch"]
        full = epoch_seconds(run_events(proc, head, arrays))
        proc.send("share", {"share": 0.05})  # as while the user drags the morph slider
        slow = epoch_seconds(run_events(proc, dict(head, run_id=2), arrays))
        assert np.median(slow) > 3 * np.median(full), (slow, full)
        proc.send("share", {"share": 7.0})  # refused: the child keeps its share and goes on
        assert np.median(epoch_seconds(run_events(proc, dict(head, run_id=3), arrays))) > 3 * np.median(full)
        fast = epoch_seconds(run_events(proc, dict(head, run_id=4, share=1.0), arrays))  # full speed again
        assert np.median(fast) < np.median(slow) / 3, (fast, slow)


def test_an_error_is_reported_and_a_child_whose_parent_is_gone_ends(data):
    X, sup = data
    bad = X.copy()
    bad[3, 3] = np.nan
    with ready_child(bad, sup, epochs=1) as (proc, head, arrays):
        finished = run_events(proc, head, arrays)[-1][1]
        assert "NaN" in finished["error"] and finished["trainer"] is None
        # the samples file was removed once the child had mapped it
        assert not os.path.exists(proc._samples_path)
        # the parent's end of the command pipe closes (as when the parent dies): the child ends
        pid = proc.pid
        os.close(proc._cmd)
        proc._cmd = None
        end = time.monotonic() + 30
        while proc.alive and time.monotonic() < end:
            time.sleep(0.05)
        assert not proc.alive and proc.exitcode == 0, pid
        with pytest.raises(ProcessEnded):
            proc.recv()
