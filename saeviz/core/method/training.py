"""The SAE training loop (the paper's Algorithm 1), Qt-free.

Each epoch: read the current supervision (a copy of the labels and class distances), compute
the structural targets of the labeled samples from their current codes (MDS initialised with
those codes, then an orthogonal alignment onto them), and train every batch on
``gamma * structural MSE + (1 - gamma) * reconstruction MSE`` for labeled samples and the
reconstruction MSE alone for unlabeled ones. With ``TrainConfig.structure_span = "classes"``
(an extension) the structural MSE counts only the offset within the span of the class targets.

``Trainer.iter_epochs`` yields immutable ``Snapshot`` objects (at the end of each epoch, and
every ``snapshot_every`` batches inside one); a ``ControlToken`` pauses, resumes or cancels
between batches. Labels may change between epochs: the next epoch's targets use them.

Data-parallel training (``torchrun``) passes a ``DistributedContext`` as ``dist``: it splits
each global batch over the ranks, wraps the model in ``DistributedDataParallel``, gathers the
codes that every rank encodes for its shard, shares rank 0's targets and sums the losses (see
``saeviz.core.method.distributed``). Without it, ``SingleProcess`` does none of that.
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from saeviz.core.errors import DataError, TrainingError
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.distributed import SingleProcess
from saeviz.core.method.models import Autoencoder, build_autoencoder
from saeviz.core.method.structure import StructureTargets, class_span, compute_targets
from saeviz.core.state.labels import LabelStore, Supervision


def sae_loss(reconstruction: torch.Tensor, structural: torch.Tensor, labeled: torch.Tensor,
             gamma: float) -> torch.Tensor:
    """The per-sample loss of Algorithm 1: ``gamma * structural + (1 - gamma) * reconstruction``
    for a labeled sample (``labeled`` 1) and the reconstruction error alone for an unlabeled
    one (``labeled`` 0); each error is the mean squared error over the sample's features
    (reconstruction, normalised) or latent dimensions (structural, against its target).
    A ``labeled`` weight between 0 and 1 (a pseudo-label of self-training) uses
    ``gamma * labeled`` in place of ``gamma``."""
    g = gamma * labeled
    return torch.where(labeled > 0, g * structural + (1.0 - g) * reconstruction, reconstruction)


_STEP_IMPLEMENTATION = ("foreach", "fused", "capturable", "differentiable")


def make_optimizer(model: torch.nn.Module, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam over the model's parameters; on a CPU or a CUDA device the fused implementation
    (the same update in one kernel per parameter: on a CPU about 4x cheaper than the
    default per-tensor loop for the small conv net, whose step is otherwise a few hundred
    tiny operations)."""
    fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=lr, fused=True if fused else None)


def load_optimizer_state(optimizer: torch.optim.Optimizer, model: torch.nn.Module, saved: dict) -> None:
    """Give ``optimizer`` (one group over ``model``'s parameters) the state ``saved`` in the
    checkpoint's form (keyed by parameter name): the run's settings (learning rate, betas, ...)
    and per-parameter moments, not how that process implemented the step (fused or not)."""
    names = [name for name, _ in model.named_parameters()]
    group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    group.update({k: v for k, v in saved["group"].items() if k in group and k not in _STEP_IMPLEMENTATION})
    optimizer.load_state_dict({
        "state": {i: dict(saved["state"][name]) for i, name in enumerate(names) if name in saved["state"]},
        "param_groups": [{**group, "params": list(range(len(names)))}],
    })


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from None


class Cancelled(Exception):
    """Raised inside the loop when the token was cancelled; ``iter_epochs`` ends cleanly."""


MAX_YIELD_S = 0.25  # the longest pause a throttled training takes before one batch


def validate_share(share: float) -> float:
    """``share`` (of the time a throttled training computes) as a float in (0, 1];
    ValueError otherwise."""
    value = float(share)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"the training's share of the time must lie in (0, 1], got {share}")
    return value


class ControlToken:
    """Pause, resume, throttle and cancel a running trainer from another thread.

    ``share`` below 1 throttles the training: before each batch it sleeps long enough that it
    computes only that share of the time (a batch that took 10 ms is followed by 40 ms of
    sleep at a share of 0.2), so that an interactive view keeps the processor while the user
    drives it; 1 (the default) trains at full speed.
    """

    def __init__(self, share: float = 1.0) -> None:
        self._running = threading.Event()
        self._running.set()
        self._cancelled = threading.Event()
        self._share = 1.0
        self._since = time.perf_counter()
        self.set_share(share)

    @property
    def share(self) -> float:
        """The share of the time the training computes (1: full speed)."""
        return self._share

    def set_share(self, share: float) -> None:
        """Throttle the training to ``share`` (in (0, 1]) of the time from its next batch on."""
        self._share = validate_share(share)

    def pause(self) -> None:
        """Hold the training before its next batch."""
        self._running.clear()

    def resume(self) -> None:
        """Let paused training go on."""
        self._running.set()

    def cancel(self) -> None:
        """Stop the training before its next batch (a paused training too)."""
        self._cancelled.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        """True while the training is held."""
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        """True once the training was cancelled."""
        return self._cancelled.is_set()

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` of a throttled training, less when cancelled meanwhile."""
        self._cancelled.wait(seconds)

    def checkpoint(self) -> None:
        """Block while paused (or throttled, see the class docstring); raise ``Cancelled``
        when cancelled."""
        share = self._share
        if share < 1.0:
            worked = time.perf_counter() - self._since
            self._wait(min(worked * (1.0 / share - 1.0), MAX_YIELD_S))
        self._running.wait()
        if self._cancelled.is_set():
            raise Cancelled
        self._since = time.perf_counter()


@dataclass(frozen=True)
class Snapshot:
    """The state of training at one moment, safe to hand to another thread.

    ``codes`` are the latent codes of all training samples (a copy). At the end of an epoch
    (``final``) they are exact for the current weights; inside an epoch they are the codes
    each sample had when it was last trained on. ``class_targets`` are the aligned MDS class
    targets used for this epoch (rows of NaN for classes without labels). In a distributed
    run the losses of the final snapshot cover all ranks; ``batch_losses`` and those of
    intra-epoch snapshots are this rank's, and ``samples_per_sec`` counts every rank's samples.
    """

    epoch: int                 # epochs completed when final; the running epoch otherwise
    batch: int
    n_batches: int
    final: bool
    codes: np.ndarray
    recon_loss: float          # mean reconstruction MSE (normalised units) so far this epoch
    struct_loss: float         # mean structural MSE of labeled samples so far this epoch
    rmse: float                # reconstruction RMSE in data units
    stress: float | None
    class_targets: np.ndarray | None
    target_index: np.ndarray   # sample indices that had targets this epoch
    targets: np.ndarray | None  # their targets (len(target_index), d)
    label_version: int
    gamma: float
    samples_per_sec: float
    elapsed: float
    batch_losses: tuple[tuple[float, float], ...] = ()
    history: tuple[dict, ...] = field(default=())


def _supervision_source(supervision) -> Callable[[], Supervision | None]:
    if supervision is None:
        return lambda: None
    if isinstance(supervision, LabelStore):
        return supervision.snapshot
    if isinstance(supervision, Supervision):
        return lambda: supervision
    if callable(supervision):
        return supervision
    raise TypeError("supervision must be a LabelStore, a Supervision, a callable or None")


class Trainer:
    """Trains an ``Autoencoder`` on ``X`` with structure from the given supervision.

    ``supervision`` is a ``LabelStore`` (read at each epoch start), a fixed ``Supervision``,
    a callable returning one, or ``None`` (a plain autoencoder). Labels index rows of ``X``.
    ``dist`` (a ``DistributedContext``) makes this process one rank of a data-parallel run: it
    trains on the device of ``dist`` and ``train_config.batch_size`` is the batch per rank.
    """

    def __init__(self, X: np.ndarray, model_config: ModelConfig, train_config: TrainConfig,
                 supervision=None, *, model: Autoencoder | None = None,
                 on_batch: Callable[[Snapshot], None] | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 token: ControlToken | None = None, dist=None):
        X = np.asarray(X)
        if X.ndim < 2 or len(X) == 0:
            raise DataError(f"training needs a non-empty array of samples, got shape {X.shape}")
        if not np.issubdtype(X.dtype, np.number):
            raise DataError(f"samples must be numbers, got dtype {X.dtype}")
        X = np.ascontiguousarray(X, dtype=np.float32)
        if not np.all(np.isfinite(X)):
            raise DataError("samples contain NaN or infinite values")
        self.model_config = model_config
        self.config = train_config
        self._gamma = float(train_config.gamma)
        self._supervision = _supervision_source(supervision)
        self.dist = dist if dist is not None else SingleProcess()
        self.device = self.dist.device if self.dist.device is not None else resolve_device(train_config.device)
        self.token = token or ControlToken()
        self.on_batch = on_batch
        self.progress = progress  # called with (batches done, batches in the epoch)
        self.model = (model if model is not None else build_autoencoder(model_config, X, seed=train_config.seed))
        if tuple(self.model.sample_shape) != tuple(X.shape[1:]):
            raise DataError(f"samples of shape {X.shape[1:]} do not fit a model for {self.model.sample_shape}")
        self.model.to(self.device)
        self._net = self.dist.wrap(self.model)  # what the training passes go through
        self.X = torch.from_numpy(X)
        self._coef, self._residual = self._basis_coordinates()
        self.optimizer = make_optimizer(self.model, train_config.lr, self.device)
        self.epoch = 0
        self.history: list[dict] = []
        self._rng = np.random.default_rng(train_config.seed)
        self._codes: np.ndarray | None = None
        self.last_targets: StructureTargets | None = None

    # -- settings that may change while training runs -----------------------------------
    @property
    def gamma(self) -> float:
        """The weight of the structure loss, in [0, 1]; may be changed while training runs."""
        return self._gamma

    @gamma.setter
    def gamma(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {value}")
        self._gamma = value

    # -- inference ------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, X: np.ndarray | torch.Tensor, batch_size: int = 1024) -> np.ndarray:
        """Latent codes of raw samples ``X``, batched, as float32 numpy."""
        return encode(self.model, X, batch_size, self.device)

    @torch.no_grad()
    def decode(self, Z: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Raw samples decoded from latent codes ``Z`` (N, d)."""
        return decode(self.model, Z, batch_size, self.device)

    def _basis_coordinates(self, chunk: int = 512):
        """For a model with a fixed orthonormal basis B as its outer layer, the samples'
        coordinates C = normalize(X) B and the squared residuals |x - B B^T x|^2, computed
        once. Training then runs in these coordinates: since B is orthonormal and fixed,
        |x - B c_hat|^2 = |c - c_hat|^2 + |residual|^2, so the loss and its gradients are
        exactly those of the full-resolution network at a fraction of the cost."""
        if getattr(self.model, "basis", None) is None:
            return None, None
        coefs, residuals = [], []
        for start in range(0, len(self.X), chunk):
            c, r = self.model.basis_coefficients(self.X[start:start + chunk].to(self.device))
            coefs.append(c)
            residuals.append(r)
        return torch.cat(coefs), torch.cat(residuals)

    @torch.no_grad()
    def _encode_rows(self, start: int, stop: int) -> np.ndarray:
        if self._coef is None:
            # batches of 256: the activations of the conv net stay in the CPU's caches
            # (about 1.2x faster than 1,024 on MNIST)
            return self.encode(self.X[start:stop], batch_size=256)
        was = self.model.training
        self.model.eval()
        codes = torch.cat([self.model.encoder(self._coef[i:min(i + 4096, stop)])
                           for i in range(start, stop, 4096)]) if stop > start else \
            torch.empty((0, self.model.latent_dim))
        self.model.train(was)
        return codes.cpu().numpy()

    def _encode_all(self) -> np.ndarray:
        """Codes of every training sample (each rank encodes a shard when distributed)."""
        return self.dist.gather_rows(len(self.X), self._encode_rows)

    # -- continuing, forking and reconfiguring ------------------------------------------------
    def reconfigure(self, config: TrainConfig | None = None, *, gamma: float | None = None,
                    lr: float | None = None, token: ControlToken | None = None) -> "Trainer":
        """Change the settings of this run in place; weights, optimizer state and history stay.

        ``config`` replaces the training settings and, unless given separately, sets gamma and
        the optimizer's learning rate to its own. ``token`` replaces the control token (a new
        run from another thread). Returns the trainer itself.
        """
        if config is not None:
            self.config = config
            gamma = config.gamma if gamma is None else gamma
            lr = config.lr if lr is None else lr
        if gamma is not None:
            self.gamma = gamma
        if lr is not None:
            lr = float(lr)
            if not lr > 0:
                raise ValueError(f"the learning rate must be positive, got {lr}")
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        if token is not None:
            self.token = token
        return self

    def set_supervision(self, supervision) -> None:
        """Learn from ``supervision`` (see the class docstring) from the next epoch on."""
        self._supervision = _supervision_source(supervision)

    def continue_run(self, config: TrainConfig | None = None, *, token: ControlToken | None = None,
                     gamma: float | None = None, lr: float | None = None) -> "Trainer":
        """This trainer, ready to train more epochs with new controls (see ``reconfigure``).

        Continuing with unchanged settings is the same as never having stopped.
        """
        return self.reconfigure(config, gamma=gamma, lr=lr, token=token)

    def fork(self, supervision=None, *, X: np.ndarray | None = None, config: TrainConfig | None = None,
             gamma: float | None = None, token: ControlToken | None = None) -> "Trainer":
        """A new trainer that goes on from this one with other labels; this one is untouched.

        The fork gets a copy of the weights and of the optimizer state, the epoch count, the
        history and gamma (unless ``gamma`` is given). ``supervision`` is what it learns from
        (see the class docstring; None: no structure), ``X`` its samples (default: this
        trainer's) and ``config`` its settings (default: this trainer's; its seed sets the
        fork's batch order, so forks with the same seed see the same batches).
        """
        samples = self.X.numpy() if X is None else X
        fork = Trainer(samples, self.model_config, config if config is not None else self.config,
                       supervision, model=copy.deepcopy(self.model), token=token)
        fork.optimizer.load_state_dict(copy.deepcopy(self.optimizer.state_dict()))
        fork.gamma = self.gamma if gamma is None else gamma
        fork.epoch = self.epoch
        fork.history = [dict(h) for h in self.history]
        return fork

    def start_from_history(self, history, epoch: int | None = None) -> "Trainer":
        """Count this run as the continuation of one with ``history`` (a list of per-epoch
        dicts, e.g. a loaded model's): it is copied, and the epoch count becomes ``epoch``
        (default: its length). Returns the trainer itself."""
        self.history = [dict(h) for h in history]
        self.epoch = len(self.history) if epoch is None else int(epoch)
        return self

    # -- resuming ---------------------------------------------------------------------------
    def training_state(self) -> dict:
        """What continuing this run needs besides the weights and the optimizer: the epoch
        count and the state of the generator that shuffles the samples (JSON-serialisable)."""
        return {"epoch": self.epoch, "rng": self._rng.bit_generator.state, "world_size": self.dist.world_size}

    def restore(self, checkpoint) -> None:
        """Continue the run saved in ``checkpoint`` (a loaded ``Checkpoint``): its weights,
        optimizer state, history, epoch count and sample shuffling."""
        self.model.load_state_dict(checkpoint.model.state_dict())
        self._coef, self._residual = self._basis_coordinates()  # the basis came with the weights
        self.history = [dict(h) for h in checkpoint.history]
        state = checkpoint.train_state or {}
        self.epoch = int(state.get("epoch", len(self.history)))
        if "rng" in state:
            self._rng.bit_generator.state = state["rng"]
        if checkpoint.optimizer_state is not None:
            load_optimizer_state(self.optimizer, self.model, checkpoint.optimizer_state)
        self._codes = None

    # -- the loop ---------------------------------------------------------------------------
    def _targets(self, sup: Supervision | None) -> tuple[StructureTargets | None, np.ndarray, np.ndarray | None]:
        """Structural targets for this epoch, or None when there is no structure to learn."""
        empty = np.empty(0, np.int64)
        if sup is None or self._gamma == 0.0:
            return None, empty, None
        labels = sup.labels
        if len(labels) != len(self.X):
            raise DataError(f"{len(labels)} labels for {len(self.X)} training samples")
        if sup.weights is not None and np.shape(sup.weights) != np.shape(labels):
            raise DataError(f"{np.size(sup.weights)} label weights for {len(labels)} labels")
        idx = np.flatnonzero(labels >= 0)
        if len(np.unique(labels[idx])) < 2:
            return None, empty, None
        codes = self._codes[idx] if self._codes is not None else self.encode(self.X[idx])
        st = self.dist.share_targets(
            lambda: compute_targets(codes, labels[idx], sup.distances, self.config.mds,
                                    scale=self.config.scale_for(self.model.latent_dim)),
            len(idx), self.model.latent_dim, np.shape(sup.distances)[0])
        return st, idx, st.targets

    def _snapshot(self, final: bool, batch: int, n_batches: int, sums, st, t_idx, t_vals, version,
                  t0: float, seen: int, batch_losses) -> Snapshot:
        n_rec, rec, n_st, stl = sums
        recon = rec / max(n_rec, 1)
        return Snapshot(
            epoch=self.epoch, batch=batch, n_batches=n_batches, final=final,
            codes=self._codes.copy(), recon_loss=recon, struct_loss=stl / n_st if n_st > 0 else 0.0,
            rmse=float(np.sqrt(recon) * float(self.model.scale)),
            stress=None if st is None else float(st.stress),
            class_targets=None if st is None else st.class_targets.copy(),
            target_index=t_idx, targets=None if t_vals is None else t_vals.copy(),
            label_version=version, gamma=self._gamma,
            samples_per_sec=seen / max(time.perf_counter() - t0, 1e-9),
            elapsed=time.perf_counter() - t0, batch_losses=tuple(batch_losses),
            history=tuple(self.history),
        )

    def run_epoch(self) -> Iterator[Snapshot]:
        """Train one epoch, yielding intra-epoch snapshots and a final one."""
        if self._codes is None:
            self._codes = self._encode_all()
        sup = self._supervision()
        version = -1 if sup is None else sup.version
        st, t_idx, t_vals = self._targets(sup)
        self.last_targets = st
        n = len(self.X)
        d = self.model.latent_dim
        gamma = self._gamma
        structured = st is not None
        target_of = torch.zeros((n, d), dtype=torch.float32, device=self.device)
        has_target = torch.zeros(n, dtype=torch.float32, device=self.device)  # labeled: their weight
        span = None  # (d, r): the structural loss counts only the offset within the class span
        if structured:
            if self.config.structure_span == "classes":
                span = torch.from_numpy(class_span(st.class_targets).astype(np.float32)).to(self.device)
            target_of[t_idx] = torch.from_numpy(np.asarray(t_vals, np.float32)).to(self.device)
            has_target[t_idx] = 1.0 if sup.weights is None else torch.from_numpy(
                np.asarray(sup.weights, np.float32)[t_idx]).to(self.device)
        n_features = int(np.prod(self.model.sample_shape))
        bs = int(self.config.batch_size)
        rng_before = copy.deepcopy(self._rng.bit_generator.state)
        order = torch.from_numpy(self._rng.permutation(n))
        batches = self.dist.batches(order, bs)  # (this rank's indices, global batch size)
        n_batches = len(batches)
        # The permutation above is part of this epoch: restoring the epoch start rewinds it too.
        self._epoch_start = (copy.deepcopy(self.model.state_dict()), copy.deepcopy(self.optimizer.state_dict()),
                             rng_before)
        self.model.train()
        t0 = time.perf_counter()
        sums = [0, 0.0, 0, 0.0]
        batch_losses: list[tuple[float, float]] = []
        seen = 0
        every = int(self.config.snapshot_every)
        for b, (idx, n_global) in enumerate(batches):
            self.token.checkpoint()
            if self._coef is not None:
                c = self._coef[idx.to(self._coef.device)]
                z, c_hat = self._net(c, coefficients=True)
                rec_each = (((c_hat - c) ** 2).sum(1) + self._residual[idx.to(c.device)]) / n_features
            else:
                x = self.X[idx].to(self.device, non_blocking=True)
                z, rec = self._net(x, normalized=True)
                rec_each = ((rec - self.model.normalize(x)) ** 2).flatten(1).mean(1)
            if structured:
                on = has_target[idx]
                offset = z - target_of[idx]
                if span is None:
                    st_each = (offset ** 2).mean(1)
                else:  # the same sum of squares over d, without the directions left free
                    st_each = ((offset @ span) ** 2).sum(1) / d
                loss_each = sae_loss(rec_each, st_each, on, gamma)
            else:
                loss_each = rec_each
            loss = self.dist.batch_loss(loss_each, n_global)
            if not self.dist.all_finite(loss):
                self._restore_epoch_start()
                raise TrainingError(
                    f"the loss became {float(loss.detach())} in epoch {self.epoch + 1}, batch {b + 1}; "
                    f"training stopped and {self._kept()} were kept (try a smaller learning rate or gamma)")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if len(idx):  # a rank's share of the last global batch may be empty
                self._codes[idx.numpy()] = z.detach().cpu().numpy()
                with torch.no_grad():
                    rec_sum, st_sum, n_lab = (torch.stack([rec_each.sum(), (on * st_each).sum(), on.sum()]).tolist()
                                              if structured else (float(rec_each.sum()), 0.0, 0.0))
                sums[0] += len(idx)
                sums[1] += rec_sum
                sums[2] += n_lab
                sums[3] += st_sum
                batch_losses.append((rec_sum / len(idx), st_sum / n_lab if n_lab else 0.0))
            seen += n_global
            if self.progress is not None:
                self.progress(b + 1, n_batches)
            if every and (b + 1) % every == 0 and b + 1 < n_batches:
                snap = self._snapshot(False, b + 1, n_batches, sums, st, t_idx, t_vals, version, t0, seen, batch_losses)
                if self.on_batch is not None:
                    self.on_batch(snap)
                yield snap
        self.model.eval()
        self._codes = self._encode_all()
        # The last step of the epoch is checked here: weights or codes that are not finite
        # (a learning rate far too large) are never committed as a completed epoch.
        finite = self._weights_finite() and bool(np.isfinite(self._codes).all())
        if not self.dist.all_finite(torch.tensor(0.0 if finite else float("nan"))):
            self._restore_epoch_start()
            raise TrainingError(
                f"the weights became NaN or infinite in epoch {self.epoch + 1}; training stopped and "
                f"{self._kept()} were kept (try a smaller learning rate)")
        self.epoch += 1
        self._epoch_start = None  # committed: a later failure keeps these weights
        sums = self.dist.sum(sums)
        recon = sums[1] / max(sums[0], 1)
        self.history.append({
            "epoch": self.epoch,
            "recon_loss": recon,
            "struct_loss": sums[3] / sums[2] if sums[2] > 0 else 0.0,
            "rmse": float(np.sqrt(recon) * float(self.model.scale)),
            "stress": None if st is None else float(st.stress),
            "n_labeled": int(len(t_idx)),
            "gamma": gamma,
            "target_scale": self.config.scale_for(self.model.latent_dim),
            "seconds": time.perf_counter() - t0,
        })
        yield self._snapshot(True, n_batches, n_batches, sums, st, t_idx, t_vals, version, t0, seen, batch_losses)

    def iter_epochs(self, epochs: int | None = None) -> Iterator[Snapshot]:
        """Run ``epochs`` (default: the config's) more epochs; stops early when cancelled."""
        epochs = self.config.epochs if epochs is None else int(epochs)
        try:
            for _ in range(epochs):
                yield from self.run_epoch()
        except Cancelled:
            self.model.eval()
            return
        except (MemoryError, torch.OutOfMemoryError, RuntimeError) as exc:
            text = str(exc).lower()
            if isinstance(exc, RuntimeError) and not isinstance(exc, torch.OutOfMemoryError) \
                    and "out of memory" not in text and "allocate memory" not in text:
                raise
            self._restore_epoch_start()
            raise TrainingError(
                f"out of memory in epoch {self.epoch + 1} ({exc.__class__.__name__}); {self._kept()} "
                "were kept. Try a smaller batch size, a smaller network or latent size, the reduced "
                "mesh resolution, or another device") from None

    def _weights_finite(self) -> bool:
        with torch.no_grad():
            return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def _kept(self) -> str:
        return "the weights of the last completed epoch" if self.epoch else "the initial weights"

    def _restore_epoch_start(self) -> None:
        """Back to the state at the start of the running epoch: weights, optimizer and the
        sample shuffling (the epoch can run again exactly, or the run be saved as it was)."""
        state = getattr(self, "_epoch_start", None)
        if state is not None:
            self.model.load_state_dict(state[0])
            self.optimizer.load_state_dict(state[1])
            self._rng.bit_generator.state = state[2]
        self._codes = None
        self.model.eval()

    def fit(self, epochs: int | None = None, callback: Callable[[Snapshot], None] | None = None) -> "Trainer":
        """Train ``epochs`` epochs (default: the configured number); ``callback`` gets the final
        snapshot of each epoch. Returns self."""
        for snap in self.iter_epochs(epochs):
            if callback is not None and snap.final:
                callback(snap)
        return self

    def latent_codes(self) -> np.ndarray:
        """Exact codes of all training samples for the current weights."""
        if self._codes is None:
            self._codes = self._encode_all()
        return self._codes.copy()


def _as_tensor(A) -> torch.Tensor:
    if isinstance(A, torch.Tensor):
        return A.float()
    return torch.from_numpy(np.ascontiguousarray(A, dtype=np.float32))


def _in_batches(model: Autoencoder, step, A: torch.Tensor, batch_size: int, device, empty_shape) -> np.ndarray:
    """``step`` (the model's encode or decode) over the rows of ``A`` in batches on ``device``,
    in evaluation mode, as float32 numpy (``empty_shape`` when ``A`` has no rows)."""
    device = device or next(model.parameters()).device
    was = model.training
    model.eval()
    try:
        out = [step(A[i:i + batch_size].to(device)).cpu() for i in range(0, len(A), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out).numpy() if out else np.empty(empty_shape, np.float32)


@torch.no_grad()
def encode(model: Autoencoder, X, batch_size: int = 1024, device=None) -> np.ndarray:
    """Latent codes of ``X`` (raw samples), batched, as float32 numpy."""
    return _in_batches(model, model.encode, _as_tensor(X), batch_size, device, (0, model.latent_dim))


@torch.no_grad()
def decode(model: Autoencoder, Z, batch_size: int = 1024, device=None) -> np.ndarray:
    """Raw samples decoded from latent codes ``Z`` (N, d)."""
    Z = _as_tensor(Z)
    if Z.ndim != 2 or Z.shape[1] != model.latent_dim:
        raise DataError(f"codes must have shape (N, {model.latent_dim}), got {tuple(Z.shape)}")
    return _in_batches(model, model.decode, Z, batch_size, device, (0, *model.sample_shape))
