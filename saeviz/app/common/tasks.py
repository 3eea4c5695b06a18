"""Short background tasks off the UI thread.

``TaskRunner`` runs plain functions on a small thread pool (classifier fits, projections,
decoding, dataset loading) and hands results back on the UI thread. Submissions with the
same key run one at a time; a newer submission replaces a queued older one, and results of
invalidated (or, if asked, superseded) submissions are dropped.

Its threads keep the UI thread's scheduling priority. A task thread of lower priority that
holds the interpreter lock while other programs keep the cores busy is kept off the processor
for long, and the UI thread waits for the lock all that time: with two busy programs, task
threads lowered by 10 made the UI timer's p99 385 ms against 64 ms unlowered
(``benchmarks.bench_ui_stall``, training in its own process).
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from saeviz.core.errors import SaevizError

log = logging.getLogger(__name__)


_lowered = threading.local()


def background_priority(niceness: int) -> bool:
    """Lower the calling thread's scheduling priority, once per thread; True if it was lowered.

    On Linux a thread has its own niceness, which the threads it starts inherit (torch's
    intra-op threads among them), so the UI thread keeps the processor when the cores are
    busy. Elsewhere (or when the system refuses) nothing changes: this is a courtesy, not a
    requirement.
    """
    if getattr(_lowered, "done", False):
        return True
    _lowered.done = True
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return False
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + int(niceness)))
    except OSError:
        return False
    return True


class _Relay(QObject):
    done = Signal(object, int, bool, object)  # key, generation, ok, value-or-exception


class _Task(QRunnable):
    def __init__(self, relay: _Relay, key, gen: int, fn: Callable, args: tuple):
        super().__init__()
        self.setAutoDelete(True)
        self._relay, self._key, self._gen, self._fn, self._args = relay, key, gen, fn, args

    def run(self) -> None:
        try:
            value, ok = self._fn(*self._args), True
        except BaseException as exc:  # handed to the submitter's error callback
            value, ok = exc, False
            if not isinstance(exc, SaevizError):
                log.debug("background task %r failed", self._key, exc_info=True)
        try:
            self._relay.done.emit(self._key, self._gen, ok, value)
        except RuntimeError:  # the runner was deleted (its window closed) while this ran
            log.debug("background task %r finished after its runner was deleted", self._key)


@dataclass
class _Submission:
    gen: int
    fn: Callable
    args: tuple
    on_result: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    latest_only: bool


class TaskRunner(QObject):
    """Runs functions off the UI thread; see the module docstring for the rules."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 2):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, int(max_threads)))
        self._relay = _Relay()
        self._relay.done.connect(self._on_done)
        self._counter: dict[Any, int] = {}
        self._valid_from: dict[Any, int] = {}
        self._running: dict[Any, _Submission] = {}
        self._queued: dict[Any, _Submission] = {}
        self._closed = False

    def submit(self, key, fn: Callable, *args, on_result: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None,
               latest_only: bool = False) -> int:
        """Run ``fn(*args)``; ``latest_only`` drops its result once a newer one is submitted."""
        if self._closed:
            return -1
        gen = self._counter.get(key, 0) + 1
        self._counter[key] = gen
        sub = _Submission(gen, fn, args, on_result, on_error, latest_only)
        if key in self._running:
            self._queued[key] = sub
        else:
            self._queued.pop(key, None)
            self._start(key, sub)
        return gen

    def _start(self, key, sub: _Submission) -> None:
        self._running[key] = sub
        self._pool.start(_Task(self._relay, key, sub.gen, sub.fn, sub.args))

    def invalidate(self, key=None) -> None:
        """Drop queued work and coming results of ``key`` (every key when None)."""
        keys = list(self._counter) if key is None else [key]
        for k in keys:
            self._valid_from[k] = self._counter.get(k, 0) + 1
            self._queued.pop(k, None)

    def busy(self, key=None) -> bool:
        if key is None:
            return bool(self._running or self._queued)
        return key in self._running or key in self._queued

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the pool is idle (tests, shutdown). Results are delivered afterwards."""
        return self._pool.waitForDone(timeout_ms)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        self._closed = True
        self.invalidate()
        return self._pool.waitForDone(timeout_ms)

    @Slot(object, int, bool, object)
    def _on_done(self, key, gen: int, ok: bool, value) -> None:
        sub = self._running.get(key)
        if sub is None or sub.gen != gen:
            return
        del self._running[key]
        # The result is handed over before the queued submission starts, so a job may
        # read state (e.g. a warm start) that this result's callback has just set.
        fresh = (not self._closed and gen >= self._valid_from.get(key, 0)
                 and not (sub.latest_only and gen != self._counter.get(key)))
        if fresh:
            try:
                if ok:
                    if sub.on_result is not None:
                        sub.on_result(value)
                elif sub.on_error is not None:
                    sub.on_error(value)
                else:
                    log.warning("background task %r failed: %s", key, value)
            except Exception:  # a failing callback must not take the event loop down
                log.exception("handling the result of %r failed", key)
        nxt = self._queued.pop(key, None)
        if nxt is not None and not self._closed and key not in self._running:
            self._start(key, nxt)
