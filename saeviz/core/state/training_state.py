"""Where training stands: idle, training, paused or stopping (Qt-free).

``TrainingState`` is a small state machine with the transitions a run goes through::

    idle ──start──▶ training ──pause──▶ paused ──resume──▶ training
    training / paused ──stop──▶ stopping ──finish──▶ idle
    training / paused ──finish──▶ idle          (the run ended by itself or failed)

Any other transition is refused with ``TransitionError`` and changes nothing. Each change
emits ``changed(new, old)``; entering ``training`` from ``idle`` also emits ``started`` and
coming back to ``idle`` emits ``finished``, for listeners that only care about a run's
beginning and end.
"""
from __future__ import annotations

from psygnal import Signal

IDLE = "idle"
TRAINING = "training"
PAUSED = "paused"
STOPPING = "stopping"
STATES = (IDLE, TRAINING, PAUSED, STOPPING)

TRANSITIONS: dict[str, frozenset[str]] = {
    IDLE: frozenset({TRAINING}),
    TRAINING: frozenset({PAUSED, STOPPING, IDLE}),
    PAUSED: frozenset({TRAINING, STOPPING, IDLE}),
    STOPPING: frozenset({IDLE}),
}


class TransitionError(RuntimeError):
    """A change of training state that is not allowed from the current one."""


class TrainingState:
    """The training state of a session (see the module docstring)."""

    changed = Signal(str, str)   # new state, old state
    started = Signal()           # idle -> training
    finished = Signal()          # back to idle

    def __init__(self) -> None:
        self._state = IDLE

    @property
    def state(self) -> str:
        """``"idle"``, ``"training"``, ``"paused"`` or ``"stopping"``."""
        return self._state

    @property
    def active(self) -> bool:
        """A run exists (training, paused or stopping)."""
        return self._state != IDLE

    def can(self, state: str) -> bool:
        """Whether ``state`` may follow the current one."""
        return state in TRANSITIONS[self._state]

    def to(self, state: str) -> None:
        """Go to ``state``; ``TransitionError`` when that is not allowed (nothing changes)."""
        if state not in TRANSITIONS:
            raise TransitionError(f"unknown training state {state!r}; known: {', '.join(STATES)}")
        if not self.can(state):
            raise TransitionError(f"training cannot go from {self._state} to {state}")
        old, self._state = self._state, state
        self.changed.emit(state, old)
        if old == IDLE:
            self.started.emit()
        elif state == IDLE:
            self.finished.emit()

    def start(self) -> None:
        """A run begins (from idle)."""
        self.to(TRAINING)

    def pause(self) -> None:
        """The running training pauses between batches."""
        self.to(PAUSED)

    def resume(self) -> None:
        """A paused training goes on."""
        self.to(TRAINING)

    def stop(self) -> None:
        """A stop was asked for: the run ends at its next batch."""
        self.to(STOPPING)

    def finish(self) -> None:
        """The run has ended (stopped, completed or failed)."""
        self.to(IDLE)

    def __repr__(self) -> str:
        return f"TrainingState({self._state!r})"
