import threading
import time

import numpy as np
import pytest
import torch

from saeviz.core.errors import DataError, TrainingError
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.training import ControlToken, Trainer
from saeviz.core.state.labels import LabelStore

SMALL = ModelConfig(hidden=(32,), latent_dim=4)


def data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 20)).astype(np.float32) + y[:, None] * 0.3
    return X, y


def store_for(y, fraction=0.3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(len(y)) < fraction, y, -1)
    return LabelStore(len(y), ["a", "b", "c"], labels=labels)


def test_same_seed_same_result_and_history():
    X, y = data()
    cfg = TrainConfig(epochs=2, batch_size=32, seed=7)
    a = Trainer(X, SMALL, cfg, store_for(y)).fit()
    b = Trainer(X, SMALL, cfg, store_for(y)).fit()
    assert np.array_equal(a.latent_codes(), b.latent_codes())
    assert [h["recon_loss"] for h in a.history] == [h["recon_loss"] for h in b.history]
    assert len(a.history) == 2 and a.history[-1]["stress"] is not None


def separation(codes, y):
    """Mean distance between class means over the mean within-class spread."""
    means = np.stack([codes[y == c].mean(0) for c in range(3)])
    between = np.mean([np.linalg.norm(means[a] - means[b]) for a in range(3) for b in range(a)])
    within = np.mean([np.linalg.norm(codes[y == c] - means[c], axis=1).mean() for c in range(3)])
    return between / within


def test_structure_separates_the_labeled_classes():
    X, y = data()
    store = store_for(y, 0.5)
    lab = store.labels >= 0
    result = {}
    for gamma in (0.0, 0.9):
        tr = Trainer(X, SMALL, TrainConfig(gamma=gamma, batch_size=32, lr=3e-3), store)
        snaps = [s for s in tr.iter_epochs(10) if s.final]
        result[gamma] = separation(snaps[-1].codes[lab], y[lab])
    assert snaps[-1].struct_loss < snaps[0].struct_loss
    assert result[0.9] > 1.5 * result[0.0], result


def test_labels_changed_between_epochs_shape_the_next_targets():
    X, y = data()
    store = store_for(y, 0.1)
    tr = Trainer(X, SMALL, TrainConfig(batch_size=50), store)
    first = [s for s in tr.iter_epochs(1) if s.final][0]
    assert set(first.target_index) == set(np.flatnonzero(store.labels >= 0))
    new = np.flatnonzero(store.labels < 0)[:25]
    store.assign(new, y[new])
    second = [s for s in tr.iter_epochs(1) if s.final][0]
    assert second.label_version == store.version > first.label_version
    assert set(new) <= set(second.target_index)
    assert len(second.target_index) == len(first.target_index) + 25


def test_gamma_zero_is_a_plain_autoencoder():
    X, y = data()
    tr = Trainer(X, SMALL, TrainConfig(gamma=0.0, batch_size=50), store_for(y))
    snap = [s for s in tr.iter_epochs(1) if s.final][0]
    assert snap.stress is None and snap.struct_loss == 0.0 and len(snap.target_index) == 0


def test_intra_epoch_snapshots_and_progress():
    X, y = data(n=256)
    seen = []
    tr = Trainer(X, SMALL, TrainConfig(batch_size=32, snapshot_every=3), store_for(y),
                 progress=lambda b, n: seen.append((b, n)))
    snaps = list(tr.iter_epochs(1))
    assert [s.batch for s in snaps] == [3, 6, 8]
    assert [s.final for s in snaps] == [False, False, True]
    assert seen[-1] == (8, 8) and len(seen) == 8
    assert snaps[0].codes.shape == (256, 4)


def test_cancel_stops_between_batches():
    X, y = data(n=640)
    token = ControlToken()
    calls = []

    def progress(b, n):
        calls.append(b)
        if b == 3:
            token.cancel()

    tr = Trainer(X, SMALL, TrainConfig(batch_size=32), store_for(y), token=token, progress=progress)
    snaps = list(tr.iter_epochs(5))
    assert calls == [1, 2, 3]
    assert snaps == [] and tr.epoch == 0


def test_pause_blocks_and_resume_continues():
    X, y = data(n=320)
    token = ControlToken()
    progress = []
    tr = Trainer(X, SMALL, TrainConfig(batch_size=32), store_for(y), token=token,
                 progress=lambda b, n: progress.append(b))
    token.pause()
    done = threading.Event()
    thread = threading.Thread(target=lambda: (tr.fit(2), done.set()))
    thread.start()
    time.sleep(0.3)
    assert progress == [] and not done.is_set()
    token.resume()
    thread.join(timeout=30)
    assert done.is_set() and tr.epoch == 2 and len(progress) == 20


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_throttled_token_computes_only_its_share_of_the_time():
    token = ControlToken(share=0.25)
    t0 = time.perf_counter()
    for _ in range(6):  # a batch of 20 ms, then the next checkpoint
        _busy(0.02)
        token.checkpoint()
    throttled = time.perf_counter() - t0
    assert throttled >= 0.9 * 6 * 0.02 / 0.25  # 60 ms of sleep after each 20 ms batch
    token.set_share(1.0)  # full speed again from the next batch
    t0 = time.perf_counter()
    for _ in range(6):
        _busy(0.02)
        token.checkpoint()
    assert time.perf_counter() - t0 < throttled / 2
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="share"):
            token.set_share(bad)
    assert token.share == 1.0


class RecordingToken(ControlToken):
    """A token that keeps the pauses it takes when throttled."""

    def __init__(self, share):
        super().__init__(share)
        self.waits = []

    def _wait(self, seconds):
        self.waits.append(seconds)
        super()._wait(seconds)


def test_a_trainer_with_a_throttled_token_yields_before_every_batch_and_trains_the_same():
    X, y = data(n=320)
    fast = Trainer(X, SMALL, TrainConfig(batch_size=32), store_for(y))
    token = RecordingToken(share=0.1)
    slow = Trainer(X, SMALL, TrainConfig(batch_size=32), store_for(y), token=token)
    fast.fit(1)
    slow.fit(1)
    for a, b in zip(fast.model.state_dict().values(), slow.model.state_dict().values()):
        assert torch.equal(a, b)  # throttling changes when, not what
    assert len(token.waits) == 10 and min(token.waits) > 0  # before each of the 10 batches
    assert slow.history[0]["seconds"] >= 0.95 * sum(token.waits)  # and slept them, in the epoch


def test_exploding_loss_stops_and_keeps_the_last_good_weights():
    X, y = data()
    tr = Trainer(X, SMALL, TrainConfig(batch_size=20, lr=1.0), store_for(y))
    tr.fit(1)
    good = {k: v.clone() for k, v in tr.model.state_dict().items()}
    tr.optimizer.param_groups[0]["lr"] = 1e30  # the first step blows the weights up
    with pytest.raises(TrainingError, match="loss became"):
        tr.fit(1)
    for k, v in tr.model.state_dict().items():
        assert torch.equal(v, good[k])
    assert tr.epoch == 1


def test_bad_inputs_have_clear_errors():
    with pytest.raises(DataError, match="non-empty"):
        Trainer(np.zeros((0, 3), np.float32), SMALL, TrainConfig())
    with pytest.raises(DataError, match="NaN"):
        Trainer(np.array([[np.nan, 1.0], [1.0, 2.0]]), SMALL, TrainConfig())
    X, y = data()
    store = LabelStore(10, ["a", "b"])
    tr = Trainer(X, SMALL, TrainConfig(), store)
    store.assign([0, 1], [0, 1])
    with pytest.raises(DataError, match="10 labels for 200"):
        tr.fit(1)
    with pytest.raises(ValueError, match="gamma"):
        TrainConfig(gamma=1.5)
    from saeviz.core.state.labels import Supervision
    bad = Supervision(np.where(y == 2, 5, y), ("a", "b", "c"), ("r", "g", "b"), np.ones((3, 3)) - np.eye(3), 0)
    with pytest.raises(DataError, match="labels must lie in"):
        Trainer(X, SMALL, TrainConfig(), bad).fit(1)
    with pytest.raises(DataError, match="codes must have shape"):
        tr.decode(np.zeros((3, 7)))
    with pytest.raises(DataError, match="do not fit a model"):
        Trainer(X[:, :5], SMALL, TrainConfig(), model=tr.model)


def test_basis_models_train_in_coefficients_with_the_full_loss_and_gradients():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(64, 3)) @ rng.normal(size=(3, 90)) + 0.1 * rng.normal(size=(64, 90))).astype(np.float32)
    X = X.reshape(64, 30, 3)
    cfg = ModelConfig(architecture="basis", hidden=(16,), latent_dim=3, basis_size=8)
    tr = Trainer(X, cfg, TrainConfig(gamma=0.0))
    model = tr.model
    x = torch.from_numpy(X[:10])

    def full_loss():
        z = model.encode(x)
        return ((model.decode_normalized(z) - model.normalize(x)) ** 2).flatten(1).mean(1)

    def coef_loss():
        c, r = tr._coef[:10], tr._residual[:10]
        _, c_hat = model(c, coefficients=True)
        return (((c_hat - c) ** 2).sum(1) + r) / 90

    grads = []
    for fn in (full_loss, coef_loss):
        model.zero_grad()
        loss = fn()
        loss.sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        value = loss.detach()
        if fn is full_loss:
            reference = value
    assert torch.allclose(value, reference, rtol=1e-4, atol=1e-6)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-6)
    tr.fit(2)
    assert np.allclose(tr.latent_codes(), tr.encode(X), atol=1e-5)


def test_out_of_memory_gives_advice_and_keeps_the_last_good_weights(monkeypatch):
    X, y = data()
    tr = Trainer(X, SMALL, TrainConfig(batch_size=20), store_for(y))
    tr.fit(1)
    good = {k: v.clone() for k, v in tr.model.state_dict().items()}
    calls = []
    real = tr.optimizer.step

    def step_then_fail(*a, **k):
        real(*a, **k)
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 GB")

    monkeypatch.setattr(tr.optimizer, "step", step_then_fail)
    with pytest.raises(TrainingError, match="out of memory.*smaller batch size"):
        tr.fit(1)
    for k, v in tr.model.state_dict().items():
        assert torch.equal(v, good[k])
    assert tr.epoch == 1


def test_the_loss_is_the_papers_mix_for_labeled_samples_and_reconstruction_for_the_rest():
    import torch

    from saeviz.core.method.training import sae_loss

    rec = torch.tensor([1.0, 2.0, 3.0])
    st = torch.tensor([10.0, 20.0, 30.0])
    labeled = torch.tensor([1.0, 0.0, 1.0])
    out = sae_loss(rec, st, labeled, 0.25)
    assert torch.allclose(out, torch.tensor([0.25 * 10 + 0.75 * 1, 2.0, 0.25 * 30 + 0.75 * 3]))
    assert torch.equal(sae_loss(rec, st, labeled, 0.0), rec)
    assert torch.allclose(sae_loss(rec, st, labeled, 1.0), torch.tensor([10.0, 2.0, 30.0]))
