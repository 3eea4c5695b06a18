"""Training in a child process, Qt-free.

``TrainingProcess`` starts a child Python process (``torch.multiprocessing``, spawn context)
that runs the same ``Trainer`` as a training thread would. The interface process never shares
an interpreter lock with the training, and the operating system schedules the two like any
other pair of programs.

Messages go over two one-way pipes. Commands (parent to child): the training samples once per
dataset (``share_samples``: a tensor in shared memory, not a copy through the pipe), the labels
(a ``Supervision``, read at each epoch start), gamma (used from the next epoch), ``run``,
``pause``, ``resume``, ``cancel`` (between batches) and ``stop`` (the process ends). Events
(child to parent): ``ready``, ``started`` (the network, once per run), ``snapshot`` (inside an
epoch), ``epoch`` (the final snapshot and the weights after it), ``finished`` (the trainer's
state as a ``RemoteTrainer``, or the error with its traceback text). Everything but the samples
is pickled between the two processes of this program; nothing from a file is ever unpickled.

The child keeps the trainer of its last run: continuing it sends nothing but the new settings.
A ``RemoteTrainer`` from another child (after a crash, or a restart) carries the weights,
optimizer state, history and sample shuffling that a new ``Trainer`` restores.
"""
from __future__ import annotations

import copy
import logging
import os
import pickle
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saeviz.core.errors import SaevizError
from saeviz.core.method.training import Cancelled, ControlToken, Trainer

log = logging.getLogger(__name__)

SMALL_BUFFER = 65536  # buffers up to this many values travel with every epoch's weights


@dataclass
class RemoteTrainer:
    """The state of a trainer that lives in a training process, as the parent holds it.

    It stands in for the ``Trainer`` where the session keeps one between runs: ``model`` (a CPU
    copy of the weights), ``model_config``, ``config``, ``history``, ``epoch``, ``gamma``, the
    optimizer (built on first use, for saving) and ``training_state()``. ``key`` names the
    trainer inside the process ``pid`` that holds it. ``optimizer_state`` and ``train_state``
    are in the form ``Trainer.restore`` reads from a checkpoint.
    """

    key: int
    pid: int
    model: Any
    model_config: Any
    config: Any
    history: list = field(default_factory=list)
    epoch: int = 0
    gamma: float = 0.5
    optimizer_state: dict | None = None
    train_state: dict = field(default_factory=dict)
    _optimizer: Any = field(default=None, repr=False)

    @property
    def optimizer(self):
        """An Adam optimizer over ``model``'s parameters holding the run's optimizer state."""
        if self._optimizer is None:
            self._optimizer = optimizer_from_state(self.model, self.config.lr, self.optimizer_state)
        return self._optimizer

    def training_state(self) -> dict:
        """The epoch count and the state of the generator that shuffles the samples."""
        return dict(self.train_state)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_optimizer"] = None  # rebuilt from optimizer_state where it is needed
        return state


def frozen_model(model):
    """A CPU copy of ``model`` in eval mode, without gradients."""
    clone = copy.deepcopy(model).cpu().eval()
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone


def named_optimizer_state(model, optimizer) -> dict:
    """An Adam optimizer's state keyed by parameter name (the checkpoint's form), as numpy."""
    names = {id(p): name for name, p in model.named_parameters()}
    group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    state = {}
    for param in optimizer.param_groups[0]["params"]:
        entries = optimizer.state.get(param, {})
        if entries:
            state[names[id(param)]] = {k: v.detach().cpu().clone() for k, v in entries.items()}
    return {"group": group, "state": state}


def optimizer_from_state(model, lr: float, saved: dict | None):
    """A single-group Adam over ``model``'s parameters with ``saved`` (``named_optimizer_state``)."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if saved:
        names = [name for name, _ in model.named_parameters()]
        group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        group.update({k: v for k, v in saved["group"].items() if k in group})
        optimizer.load_state_dict({
            "state": {i: dict(saved["state"][name]) for i, name in enumerate(names) if name in saved["state"]},
            "param_groups": [{**group, "params": list(range(len(names)))}],
        })
    return optimizer


def epoch_weights(model) -> dict:
    """What changes when a network trains: its parameters and small buffers (CPU copies)."""
    params = {name for name, _ in model.named_parameters()}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()
            if k in params or v.numel() <= SMALL_BUFFER}


def model_with_weights(template, weights: dict):
    """A frozen copy of ``template`` with ``weights`` (``epoch_weights``); its large buffers
    (fixed during training, such as a basis) are shared with the template, not copied."""
    memo = {id(b): b for name, b in template.named_buffers() if name not in weights}
    model = copy.deepcopy(template, memo)
    model.load_state_dict(weights, strict=False)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass(frozen=True)
class RunCommand:
    """What the child needs to train: the samples (by key), settings, epochs, what to start
    from (its own trainer ``trainer_key``; else a ``RemoteTrainer`` ``resume``; else a loaded
    ``model`` with ``history``; else a new network) and the labels."""

    run_id: int
    samples_key: int
    model_config: Any
    train_config: Any
    epochs: int
    supervision: Any = None
    trainer_key: int | None = None
    resume: RemoteTrainer | None = None
    model: Any = None
    history: tuple = ()


class ProcessEnded(Exception):
    """The training process is gone (it ended, or its pipe closed)."""


class TrainingProcess:
    """A child process that trains on request (see the module docstring).

    ``start`` returns at once; the child imports torch on its own (a few seconds) and reports
    ``ready``. Commands sent before that wait in the pipe. ``threads`` is the child's number of
    torch threads and ``niceness`` what it adds to its scheduling niceness (0: as the parent).
    """

    def __init__(self, threads: int | None = None, niceness: int = 0):
        self.threads = threads
        self.niceness = int(niceness)
        self._proc = None
        self._cmd = None
        self._evt = None
        self._send_lock = threading.Lock()

    def start(self) -> None:
        """Start the child process (does not wait for it to be ready)."""
        import torch.multiprocessing as mp

        ctx = mp.get_context("spawn")
        cmd_recv, cmd_send = ctx.Pipe(duplex=False)
        evt_recv, evt_send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=serve, args=(cmd_recv, evt_send, self.threads, self.niceness),
                           name="saeviz-training", daemon=True)
        proc.start()
        cmd_recv.close()
        evt_send.close()
        self._proc, self._cmd, self._evt = proc, cmd_send, evt_recv

    @property
    def pid(self) -> int | None:
        """The child's process id (None before ``start``)."""
        return None if self._proc is None else self._proc.pid

    @property
    def alive(self) -> bool:
        """The child runs."""
        return self._proc is not None and self._proc.is_alive()

    @property
    def exitcode(self) -> int | None:
        """The child's exit code once it ended (negative: the signal that ended it)."""
        return None if self._proc is None else self._proc.exitcode

    def send(self, *message) -> None:
        """Send a command (pickled; may block while the pipe is full). ``ProcessEnded`` when
        the child is gone."""
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self._send_lock:
                self._cmd.send_bytes(data)
        except (OSError, ValueError, AttributeError) as exc:
            raise ProcessEnded(str(exc)) from None

    def share_samples(self, key: int, X: np.ndarray) -> None:
        """Hand the child the training samples ``X`` under ``key``, through shared memory."""
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).share_memory_()
        try:
            with self._send_lock:
                self._cmd.send(("samples", key, tensor))
        except (OSError, ValueError, AttributeError) as exc:
            raise ProcessEnded(str(exc)) from None

    def recv(self, timeout: float | None = None):
        """The next event (a tuple), or None when none came within ``timeout`` seconds
        (None: wait). ``ProcessEnded`` when the child is gone."""
        try:
            if timeout is not None and not self._evt.poll(timeout):
                return None
            return pickle.loads(self._evt.recv_bytes())
        except (EOFError, OSError, ValueError, AttributeError) as exc:
            raise ProcessEnded(str(exc) or type(exc).__name__) from None

    def shutdown(self, timeout: float = 10.0) -> None:
        """Ask the child to end, wait at most ``timeout`` seconds, then end it by force."""
        proc = self._proc
        if proc is None:
            return
        try:
            self.send("stop")
        except ProcessEnded:
            pass
        proc.join(timeout)
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(2.0)
        for conn in (self._cmd, self._evt):
            try:
                conn.close()
            except OSError:
                pass
        try:
            proc.close()
        except ValueError:
            pass
        self._proc = None


# -- the child -------------------------------------------------------------------------------------
def serve(commands, events, threads: int | None = None, niceness: int = 0) -> None:
    """The child process: answer commands until ``stop`` or until the parent is gone."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    if niceness and hasattr(os, "nice"):
        try:
            os.nice(int(niceness))
        except OSError:
            pass
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch's lazy imports, before "ready"
    _Child(commands, events).serve()
    # Asked to stop, or the parent is gone: nothing is left to save, and tearing the interpreter
    # down (torch's modules) would take seconds that the closing window waits for.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(0)


class _Child:
    def __init__(self, commands, events):
        self.commands = commands
        self.events = events
        self.samples: dict[int, np.ndarray] = {}
        self.supervision = None
        self.gamma: float | None = None
        self.trainer = None
        self.trainer_key: int | None = None
        self.token = None
        self.alive = True

    def send(self, *message) -> None:
        if not self.alive:
            return
        try:
            self.events.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:  # the parent is gone: end quietly
            self.alive = False
            if self.token is not None:
                self.token.cancel()

    def serve(self) -> None:
        self.send("ready", os.getpid())
        while self.alive:
            self.receive_one()

    def receive_one(self) -> None:
        try:
            data = self.commands.recv_bytes()
        except (EOFError, OSError):  # the parent is gone
            self.alive = False
            if self.token is not None:
                self.token.cancel()
            return
        message = pickle.loads(data)  # the samples come as a tensor in shared memory
        self.handle(message)

    def drain(self) -> None:
        while self.alive and self.commands.poll(0):
            self.receive_one()

    def handle(self, message: tuple) -> None:
        kind = message[0]
        token = self.token
        if kind == "samples":
            self.samples = {message[1]: message[2].numpy()}
        elif kind == "labels":
            self.supervision = message[1]
        elif kind == "gamma":
            self.gamma = float(message[1])
        elif kind == "pause" and token is not None:
            token.pause()
        elif kind == "resume" and token is not None:
            token.resume()
        elif kind == "cancel" and token is not None:
            token.cancel()
        elif kind == "stop":
            self.alive = False
            if token is not None:
                token.cancel()
        elif kind == "run":
            if token is not None:
                log.warning("a run was asked for while another runs")
            else:
                self.run(message[1])

    def read_supervision(self):
        self.drain()  # labels changed since the last epoch
        return self.supervision

    def build(self, cmd: RunCommand, token):
        if cmd.trainer_key is not None and cmd.trainer_key == self.trainer_key and self.trainer is not None:
            trainer = self.trainer.continue_run(cmd.train_config, token=token)
            return trainer
        X = self.samples[cmd.samples_key]
        source = cmd.resume.model if cmd.resume is not None else cmd.model
        model = copy.deepcopy(source) if source is not None else None
        if model is not None:
            for p in model.parameters():
                p.requires_grad_(True)
        trainer = Trainer(X, cmd.model_config, cmd.train_config, supervision=self.read_supervision,
                          model=model, token=token)
        if cmd.resume is not None:
            trainer.restore(cmd.resume)
        elif cmd.history:
            trainer.start_from_history(cmd.history)
        return trainer

    def run(self, cmd: RunCommand) -> None:
        token = PipeToken(self)
        self.token = token
        self.supervision = cmd.supervision
        self.gamma = None
        trainer, error, details = None, None, None
        try:
            trainer = self.build(cmd, token)
            self.trainer, self.trainer_key = trainer, cmd.run_id
            self.send("started", cmd.run_id, frozen_model(trainer.model))
            for _ in range(int(cmd.epochs)):
                if token.cancelled:
                    break
                if self.gamma is not None:
                    trainer.gamma, self.gamma = self.gamma, None
                for snap in trainer.run_epoch():
                    if snap.final:
                        self.send("epoch", cmd.run_id, snap, epoch_weights(trainer.model))
                    else:
                        self.send("snapshot", cmd.run_id, snap)
        except Cancelled:
            if trainer is not None:
                trainer.model.eval()
        except SaevizError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - anything else still ends the run and is reported
            error = f"{type(exc).__name__}: {exc}"
            details = traceback.format_exc()
        finally:
            self.token = None
        state = None
        if trainer is not None:
            state = RemoteTrainer(
                key=cmd.run_id, pid=os.getpid(), model=frozen_model(trainer.model),
                model_config=trainer.model_config, config=trainer.config,
                history=[dict(h) for h in trainer.history], epoch=trainer.epoch, gamma=trainer.gamma,
                optimizer_state=named_optimizer_state(trainer.model, trainer.optimizer),
                train_state=trainer.training_state())
        self.send("finished", cmd.run_id, state, error, details)


class PipeToken(ControlToken):
    """The child's control token: before each batch it reads the commands that came in, and
    while paused it waits for the next one."""

    def __init__(self, child: _Child):
        super().__init__()
        self._child = child

    def checkpoint(self) -> None:
        """Read pending commands; block while paused; raise ``Cancelled`` when cancelled."""
        child = self._child
        child.drain()
        while self.paused and not self.cancelled and child.alive:
            child.receive_one()
        super().checkpoint()
