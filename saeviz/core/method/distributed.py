"""Data-parallel training over several processes (``torchrun``), and its one-process twin.

``torchrun --nproc_per_node=N -m saeviz train ...`` starts N copies of the command; each
joins the process group that torchrun describes in its environment (``init_from_env``).
Every process holds the whole training set and the same model. Per epoch:

* all ranks draw the same seeded permutation of the samples (the trainer's generator, seeded
  with ``TrainConfig.seed``, restored on resume), cut it into *global* batches of
  ``batch_size * world_size`` samples and train on their own slice of each global batch;
  ``DistributedDataParallel`` averages the gradients. The loss of a rank is its sum over the
  slice divided by the global batch's size (times the world size, which the averaging
  undoes), so one step equals one single-process step on the whole global batch, the last,
  smaller batch included;
* every rank encodes a contiguous shard of the samples and the shards are all-gathered, so all
  ranks hold the same codes; rank 0 alone computes the structural targets (MDS and alignment)
  and broadcasts them, so every rank trains against the same targets;
* the loss sums of the epoch are all-reduced, so the history is that of the whole data set.

The global batch is what matters for the optimisation: a run on N processes with
``batch_size`` B follows a single-process run with ``batch_size`` N*B up to float rounding.

``SingleProcess`` offers the same operations for one process (the default of ``Trainer``);
they reduce to exactly what the single-process loop always did.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from saeviz.core.errors import TrainingError
from saeviz.core.method.structure import StructureTargets

__all__ = ["DistributedContext", "SingleProcess", "init_from_env", "split_batches", "distributed_device",
           "is_distributed", "rank", "world_size", "local_rank", "is_main_process", "launched_by_torchrun",
           "shutdown"]


def launched_by_torchrun() -> bool:
    """True when the environment describes a group of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank in the group (0 outside one)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    """How many processes train together (torchrun's ``WORLD_SIZE``; 1 when training alone)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def local_rank() -> int:
    """This process's index on its node (torchrun's ``LOCAL_RANK``), which picks its GPU."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def is_main_process() -> bool:
    """Rank 0, the one process that prints, logs and writes files."""
    return rank() == 0


def distributed_device(device: str = "auto") -> torch.device:
    """The device of this rank: ``auto`` is the GPU of the local rank when CUDA is present,
    else the CPU. An explicit ``cuda`` also means the local rank's GPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but CUDA is not available")
        if dev.index is None:
            dev = torch.device("cuda", local_rank() % torch.cuda.device_count())
    elif dev.type != "cpu":
        raise ValueError(f"distributed training runs on CUDA or the CPU, not {dev.type!r}")
    return dev


def init_from_env(device: str = "auto", timeout_minutes: float = 30.0) -> "DistributedContext | None":
    """Join the process group described by torchrun's environment variables.

    Returns ``None`` when the environment describes a single process (a plain run, or torchrun
    with one process), so callers fall back to single-process training. The backend is NCCL
    on CUDA (one GPU per local rank) and gloo on the CPU.
    """
    if not launched_by_torchrun():
        return None
    if not dist.is_available():
        raise TrainingError("this torch build has no torch.distributed support")
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise TrainingError(f"WORLD_SIZE is set but {', '.join(missing)} is not: start the processes with torchrun")
    dev = distributed_device(device)
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", init_method="env://",
                                timeout=timedelta(minutes=timeout_minutes))
    return DistributedContext(dev)


def shutdown(barrier: bool = True) -> None:
    """Leave the process group, after a last barrier so no rank exits while others still work.
    After an error pass ``barrier=False``: the other ranks may be waiting in another collective."""
    if dist.is_available() and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()


def split_batches(order: torch.Tensor, batch_size: int, rank: int, world_size: int) -> list[tuple[torch.Tensor, int]]:
    """Rank ``rank``'s share of each global batch of ``batch_size * world_size`` samples of
    ``order``, with the global batch's size. Shares are contiguous and as even as possible."""
    step = batch_size * world_size
    out = []
    for i in range(0, len(order), step):
        glob = order[i:i + step]
        out.append((torch.tensor_split(glob, world_size)[rank], len(glob)))
    return out


class SingleProcess:
    """The distributed operations of ``Trainer`` for one process: no communication at all."""

    rank = 0
    world_size = 1
    is_main = True
    device: torch.device | None = None  # None: the trainer's configured device

    def batches(self, order: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, int]]:
        """This rank's samples of every batch of the epoch, with the size of the whole batch."""
        parts = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        return [(idx, len(idx)) for idx in parts]

    def gather_rows(self, n: int, rows: Callable[[int, int], np.ndarray]) -> np.ndarray:
        """``rows(start, stop)`` of all ``n`` rows (e.g. codes: ``encode(X[start:stop])``)."""
        return rows(0, n)

    def share_targets(self, compute: Callable[[], StructureTargets], n: int, d: int, k: int) -> StructureTargets:
        """The targets computed once for every rank; ``n`` labeled samples, ``d`` dims, ``k`` classes."""
        return compute()

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to call for forward/backward passes during training."""
        return model

    def batch_loss(self, loss_each: torch.Tensor, n_global: int) -> torch.Tensor:
        """The loss to back-propagate: the mean over the (global) batch."""
        return loss_each.mean()

    def all_finite(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite on every rank."""
        return bool(torch.isfinite(loss))

    def sum(self, values: list[float]) -> list[float]:
        """Sums of ``values`` over all ranks."""
        return values


class DistributedContext(SingleProcess):
    """The distributed operations of ``Trainer`` inside an initialised process group."""

    def __init__(self, device: torch.device, group=None):
        if not dist.is_initialized():
            raise RuntimeError("the process group is not initialised (see init_from_env)")
        self.group = group
        self.device = torch.device(device)
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self.is_main = self.rank == 0

    def __repr__(self) -> str:
        return (f"DistributedContext(rank={self.rank}, world_size={self.world_size}, "
                f"backend={dist.get_backend(self.group)}, device={self.device})")

    def batches(self, order: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, int]]:
        """Global batches of ``batch_size * world_size`` samples, each split evenly over the ranks.

        ``order`` must be the same on every rank. A full global batch gives each rank
        ``batch_size`` samples; the last one is split as evenly as possible, and a rank whose
        share is empty still takes part in the step (its loss and gradients are zero).
        """
        return split_batches(order, batch_size, self.rank, self.world_size)

    def _shard(self, n: int) -> tuple[int, int, int]:
        per = -(-n // self.world_size)
        start = min(self.rank * per, n)
        return start, min(start + per, n), per

    def gather_rows(self, n: int, rows: Callable[[int, int], np.ndarray]) -> np.ndarray:
        """Each rank computes a contiguous shard of the rows; all ranks receive all of them."""
        start, stop, per = self._shard(n)
        mine = torch.from_numpy(np.ascontiguousarray(rows(start, stop)))
        padded = torch.zeros((per, *mine.shape[1:]), dtype=mine.dtype, device=self.device)
        padded[:len(mine)] = mine.to(self.device)
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded, group=self.group)
        return torch.cat(parts)[:n].cpu().numpy()

    def share_targets(self, compute: Callable[[], StructureTargets], n: int, d: int, k: int) -> StructureTargets:
        """Rank 0 computes the targets and broadcasts them; a failure there stops every rank."""
        size = 3 + n * d + k * d + d * d
        buf = torch.zeros(size, dtype=torch.float64)
        error: Exception | None = None
        if self.is_main:
            try:
                st = compute()
                buf[3:] = torch.from_numpy(np.concatenate([
                    np.asarray(st.targets, np.float64).ravel(), np.asarray(st.class_targets, np.float64).ravel(),
                    np.asarray(st.rotation, np.float64).ravel()]))
                buf[:3] = torch.tensor([1.0, st.stress, st.n_iter], dtype=torch.float64)
            except Exception as exc:  # every rank must learn of it, or they would wait forever
                error = exc
        buf = buf.to(self.device)
        dist.broadcast(buf, src=0, group=self.group)
        buf = buf.cpu().numpy()
        if error is not None:
            raise error
        if buf[0] != 1.0:
            raise TrainingError("rank 0 could not compute the structural targets (see its error)")
        a, b = 3 + n * d, 3 + n * d + k * d
        return StructureTargets(
            targets=buf[3:a].reshape(n, d).astype(np.float32),
            class_targets=buf[a:b].reshape(k, d).astype(np.float32),
            stress=float(buf[1]), n_iter=int(buf[2]), rotation=buf[b:].reshape(d, d).copy())

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``DistributedDataParallel`` around the model (it starts from rank 0's weights).

        The buffers (normalisation, fixed basis) never change during training and are not
        re-broadcast at every step.
        """
        import inspect

        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # torch 2.13 renamed the switch for the per-step buffer broadcast
        no_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                   else "broadcast_buffers")
        return DistributedDataParallel(model, device_ids=ids, output_device=None if ids is None else ids[0],
                                       process_group=self.group, **{no_sync: False})

    def batch_loss(self, loss_each: torch.Tensor, n_global: int) -> torch.Tensor:
        """This rank's share of the global mean; DDP's gradient averaging over the ranks turns
        it into the gradient of the mean over the whole global batch."""
        return loss_each.sum() * (self.world_size / max(n_global, 1))

    def all_finite(self, loss: torch.Tensor) -> bool:
        flag = torch.isfinite(loss.detach()).to(self.device, torch.int32).reshape(1)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN, group=self.group)
        return bool(flag.item())

    def sum(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, group=self.group)
        return t.cpu().tolist()
