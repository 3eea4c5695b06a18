"""Training in a process of its own, Qt-free.

``TrainingProcess`` starts a child Python process (``python -m
saeviz.core.method.training_process``) that runs the same ``Trainer`` as a training thread
would. The window's process then never waits for an interpreter lock held by training, and
the operating system schedules the two like any other pair of programs.

Messages are frames of ``saeviz.core.method.wire`` (JSON and safetensors, no pickle) over two
pipes. Commands (parent to child): ``samples`` (the training samples, written once per dataset
to a file in shared memory that the child maps and removes), ``labels`` (read at each epoch
start), ``gamma`` (used from the next epoch), ``run``, ``pause``, ``resume``, ``cancel``
(between batches), ``share`` (throttle the training to that share of the time, see
``ControlToken``) and ``stop`` (the process ends). Events (child to parent): ``ready``,
``started`` (the network, once per run), ``snapshot`` (inside an epoch), ``epoch`` (the final
snapshot and the weights after it) and ``finished`` (the trainer's state, or the error with
its traceback text).

The child keeps the trainer of its last run: continuing it sends nothing but the new settings.
A ``RemoteTrainer`` (after a crash, or from another child) carries the weights, optimizer
state, history and sample shuffling that a new ``Trainer`` restores.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saeviz.core.errors import SaevizError
from saeviz.core.method import wire

log = logging.getLogger(__name__)


@dataclass
class RemoteTrainer:
    """The state of a trainer that lives (or lived) in a training process, as the parent holds
    it: it stands in for the ``Trainer`` where the session keeps one between runs (``model``,
    ``model_config``, ``config``, ``history``, ``epoch``, ``gamma``, ``optimizer``,
    ``training_state()``). ``key`` names the trainer inside the process ``pid`` that holds it;
    ``optimizer_state`` and ``train_state`` are in the form ``Trainer.restore`` reads."""

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
            import torch

            from saeviz.core.method.training import load_optimizer_state

            optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.lr)
            if self.optimizer_state:
                load_optimizer_state(optimizer, self.model, self.optimizer_state)
            self._optimizer = optimizer
        return self._optimizer

    def training_state(self) -> dict:
        """The epoch count and the state of the generator that shuffles the samples."""
        return dict(self.train_state)


class ProcessEnded(Exception):
    """The training process is gone (it ended, or its pipe closed)."""


def _shared_folder() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def write_samples(X: np.ndarray) -> str:
    """``X`` as float32 in a ``.npy`` file in shared memory (the child maps it); its path."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    for folder in dict.fromkeys((_shared_folder(), tempfile.gettempdir())):
        fd, path = tempfile.mkstemp(prefix=f".saeviz-samples.{os.getpid()}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, X, allow_pickle=False)
            return path
        except OSError:  # no room in shared memory: try the temporary folder
            _remove(path)
            if folder == tempfile.gettempdir():
                raise
    raise OSError("no folder for the training samples")


def _remove(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


class TrainingProcess:
    """A child process that trains on request (see the module docstring).

    ``start`` returns at once; the child imports torch on its own (seconds) and reports
    ``ready``. Commands sent before that wait in the pipe. ``threads`` is the child's number of
    torch threads and ``niceness`` what it adds to its scheduling niceness (0: as the parent).
    ``send`` and ``share_samples`` may be called from one thread, ``recv`` from another.
    """

    def __init__(self, threads: int | None = None, niceness: int = 0):
        self.threads = threads
        self.niceness = int(niceness)
        self._proc: subprocess.Popen | None = None
        self._cmd: int | None = None
        self._evt: int | None = None
        self._samples_path: str | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the child process (does not wait for it to be ready)."""
        cmd_r, cmd_w = os.pipe()
        evt_r, evt_w = os.pipe()
        args = [sys.executable, "-m", "saeviz.core.method.training_process", "--commands", str(cmd_r),
                "--events", str(evt_w), "--threads", str(int(self.threads or 0)), "--niceness", str(self.niceness)]
        try:
            self._proc = subprocess.Popen(args, pass_fds=(cmd_r, evt_w), stdin=subprocess.DEVNULL, close_fds=True)
        finally:
            os.close(cmd_r)
            os.close(evt_w)
        self._cmd, self._evt = cmd_w, evt_r

    @property
    def pid(self) -> int | None:
        """The child's process id (None before ``start``)."""
        return None if self._proc is None else self._proc.pid

    @property
    def alive(self) -> bool:
        """The child runs."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def exitcode(self) -> int | None:
        """The child's exit code once it ended (negative: the signal that ended it)."""
        return None if self._proc is None else self._proc.poll()

    def send(self, kind: str, header: dict | None = None, arrays: dict | None = None) -> None:
        """Send a command; ``ProcessEnded`` when the child is gone."""
        frame = wire.encode_frame(kind, header, arrays)
        try:
            with self._lock:
                if self._cmd is None:
                    raise ProcessEnded("the training process was shut down")
                wire.write_frame(self._cmd, frame)
        except wire.ChannelClosed as exc:
            raise ProcessEnded(str(exc)) from None

    def share_samples(self, key: int, X: np.ndarray) -> None:
        """Hand the child the training samples ``X`` under ``key``, through shared memory."""
        _remove(self._samples_path)
        self._samples_path = write_samples(X)
        self.send("samples", {"key": int(key), "path": self._samples_path})

    def recv(self) -> tuple[str, dict, dict]:
        """The next event (kind, header, tensors); blocks. ``ProcessEnded`` when the child is gone."""
        try:
            return wire.read_frame(self._evt)
        except (wire.ChannelClosed, ValueError, TypeError) as exc:
            raise ProcessEnded(str(exc) or type(exc).__name__) from None

    def more_waiting(self) -> bool:
        """Another event can be read at once (a newer one than the last read)."""
        fd = self._evt
        return fd is not None and wire.waiting(fd)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Ask the child to end, wait at most ``timeout`` seconds, then end it by force."""
        proc = self._proc
        if proc is None:
            return
        try:
            self.send("stop")
        except ProcessEnded:
            pass
        for ender in (None, proc.terminate, proc.kill):
            if ender is not None:
                ender()
            try:
                proc.wait(timeout if ender is None else 2.0)
                break
            except subprocess.TimeoutExpired:
                continue
        with self._lock:
            fd, self._cmd = self._cmd, None
        if fd is not None:
            os.close(fd)
        _remove(self._samples_path)
        self._samples_path = None
        self._proc = None

    def close_events(self) -> None:
        """Close the event pipe (after the reader has seen its end)."""
        fd, self._evt = self._evt, None
        if fd is not None:
            os.close(fd)


# -- the child -------------------------------------------------------------------------------------
class _Child:
    def __init__(self, commands: int, events: int):
        self.commands = commands
        self.events = events
        self.samples: dict[int, np.ndarray] = {}
        self.supervision = None
        self.gamma: float | None = None
        self.trainer = None
        self.trainer_key: int | None = None
        self.token = None
        self.share = 1.0  # of the time the training computes (the window throttles it while animating)
        self.alive = True

    def send(self, kind: str, header: dict | None = None, arrays: dict | None = None) -> None:
        if not self.alive:
            return
        try:
            wire.write_frame(self.events, wire.encode_frame(kind, header, arrays))
        except wire.ChannelClosed:  # the parent is gone: end quietly
            self._parent_gone()

    def _parent_gone(self) -> None:
        self.alive = False
        if self.token is not None:
            self.token.cancel()

    def serve(self) -> None:
        self.send("ready", {"pid": os.getpid()})
        while self.alive:
            self.receive_one()

    def receive_one(self) -> None:
        try:
            kind, header, arrays = wire.read_frame(self.commands)
        except wire.ChannelClosed:
            self._parent_gone()
            return
        self.handle(kind, header, arrays)

    def drain(self) -> None:
        while self.alive and wire.waiting(self.commands):
            self.receive_one()

    def handle(self, kind: str, header: dict, arrays: dict) -> None:
        token = self.token
        if kind == "samples":
            path = header["path"]
            X = np.load(path, mmap_mode="c", allow_pickle=False)  # copy-on-write: the pages stay shared
            _remove(path)  # mapped: nothing is left behind whatever happens to either process
            self.samples = {int(header["key"]): X}
        elif kind == "labels":
            self.supervision = wire.supervision_from(header, arrays)
        elif kind == "gamma":
            self.gamma = float(header["gamma"])
        elif kind == "pause" and token is not None:
            token.pause()
        elif kind == "resume" and token is not None:
            token.resume()
        elif kind == "cancel" and token is not None:
            token.cancel()
        elif kind == "share":
            # a lazy import: the window's process imports this module without torch
            from saeviz.core.method.training import validate_share

            try:
                self.share = validate_share(header.get("share", 1.0))
            except (TypeError, ValueError) as exc:
                log.warning("refused: %s", exc)
                return
            if token is not None:
                token.set_share(self.share)
        elif kind == "stop":
            self._parent_gone()
        elif kind == "run":
            if token is not None:
                log.warning("a run was asked for while another runs")
            else:
                self.run(header, arrays)

    def read_supervision(self):
        self.drain()  # labels changed since the last epoch
        return self.supervision

    def build(self, header: dict, arrays: dict, token):
        from saeviz.core.method.self_training import SelfTraining, with_self_training
        from saeviz.core.method.training import Trainer

        model_config, train_config = wire.configs_from(header)
        source = with_self_training(self.read_supervision, train_config)
        key = header.get("trainer_key")
        if key is not None and key == self.trainer_key and self.trainer is not None:
            trainer = self.trainer.continue_run(train_config, token=token)
            trainer.set_supervision(source)
        else:
            X = self.samples[int(header["samples_key"])]
            resume = (wire.remote_state_from(header, arrays, -1, os.getpid()) if header.get("trainer") else None)
            model = resume.model if resume is not None else (
                wire.model_from(header["start"], arrays, prefix="start.") if header.get("start") else None)
            if model is not None:
                for p in model.parameters():
                    p.requires_grad_(True)
                model.train()
            trainer = Trainer(X, model_config, train_config, supervision=source, model=model, token=token)
            if resume is not None:
                trainer.restore(resume)
            elif header.get("history"):
                trainer.start_from_history(header["history"])
        if isinstance(source, SelfTraining):
            source.attach(trainer)
        return trainer

    def run(self, header: dict, arrays: dict) -> None:
        from saeviz.core.method.training import Cancelled, ControlToken

        class PipeToken(ControlToken):
            """Before each batch, read the commands that came in; while paused, wait for one."""

            def _wait(token, seconds: float) -> None:  # throttled: commands still come in
                end = time.monotonic() + seconds
                while token.share < 1.0 and not token.cancelled and self.alive:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    if wire.waiting(self.commands, left):
                        self.receive_one()

            def checkpoint(token) -> None:
                self.drain()
                while token.paused and not token.cancelled and self.alive:
                    self.receive_one()
                ControlToken.checkpoint(token)

        run_id = int(header["run_id"])
        if "share" in header:
            self.handle("share", {"share": header["share"]}, {})
        token = self.token = PipeToken(self.share)
        self.supervision = wire.supervision_from(header, arrays)
        self.gamma = None
        trainer, error, details = None, None, None
        try:
            trainer = self.build(header, arrays, token)
            self.trainer, self.trainer_key = trainer, run_id
            head, arrs = wire.model_parts(trainer.model)
            self.send("started", {"run_id": run_id, **head}, arrs)
            for _ in range(int(header["epochs"])):
                if token.cancelled:
                    break
                if self.gamma is not None:
                    trainer.gamma, self.gamma = self.gamma, None
                for snap in trainer.run_epoch():
                    head, arrs = wire.snapshot_parts(snap)
                    if snap.final:
                        arrs.update(wire.prefixed("w.", wire.epoch_weights(trainer.model)))
                    self.send("epoch" if snap.final else "snapshot", {"run_id": run_id, **head}, arrs)
        except Cancelled:
            pass
        except SaevizError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - anything else still ends the run and is reported
            error = f"{type(exc).__name__}: {exc}"
            details = traceback.format_exc()
        finally:
            self.token = None
        head, arrs = ({"trainer": None}, {}) if trainer is None else wire.trainer_parts(trainer)
        if trainer is not None:
            trainer.model.eval()
        self.send("finished", {"run_id": run_id, "error": error, "details": details, **head}, arrs)


def main(argv: list[str] | None = None) -> None:
    """The child process: answer commands until ``stop`` or until the parent is gone."""
    parser = argparse.ArgumentParser(prog="saeviz-training", description="the window's training process")
    parser.add_argument("--commands", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--niceness", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.niceness and hasattr(os, "nice"):
        try:
            os.nice(args.niceness)
        except OSError:
            pass
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch's lazy imports, before "ready"
    _Child(args.commands, args.events).serve()
    # Asked to stop, or the parent is gone: nothing is left to save, and tearing the interpreter
    # down (torch's modules) would take seconds that a closing window waits for.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
