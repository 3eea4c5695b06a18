"""Errors that name the problem, for users of the CLI, the estimator and the app."""


class SaevizError(Exception):
    """Base class for errors whose message is meant for the user."""


class DataError(SaevizError, ValueError):
    """A dataset, label file or array is missing, malformed or inconsistent."""


class CheckpointError(SaevizError, ValueError):
    """A checkpoint or project file cannot be read safely."""


class TrainingError(SaevizError, RuntimeError):
    """Training cannot go on (non-finite loss, out of memory, ...)."""


class MemoryBudgetError(DataError):
    """A file or a reference declares more data than the memory budget allows."""


class CheckpointBudgetError(MemoryBudgetError, CheckpointError):
    """A checkpoint or project file declares more data than the memory budget allows."""
