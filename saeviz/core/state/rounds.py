"""Labeling rounds: what the newly labeled samples changed once they have trained in.

A round starts when the labels change and ends with the first ranking made after the new
labels trained for at least one full epoch: an epoch that was already running when the labels
changed does not count (the trainer reads the labels at the start of each epoch). The round then
compares the last ranking before the change with that one (``compare_rounds``): predictions
that flipped among the training samples, the classes that gained or lost predictions, the
held-out error before and after and, on the test split, how many held-out samples went from
wrong to right (fixed) or right to wrong (broken).

``RoundTracker`` is this bookkeeping. The rankings it is given are guided-labeling results:
objects with ``request`` (``n``, ``epoch``, ``label_version``, ``labels``, ``class_names``,
``class_colors``), ``scores`` (``saeviz.core.method.ranking.Scores``) and ``heldout`` (None,
or held-out predictions with ``source``, ``n``, ``error``, ``describe()``, ``scores``,
``index`` and ``truth``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saeviz.core.method.ranking import RoundComparison, compare_rounds

__all__ = ["PendingChange", "Round", "RoundTracker"]


@dataclass(frozen=True)
class Round:
    """One closed round: the rankings before and after the labels changed, compared."""

    number: int
    epoch_before: int
    epoch_after: int
    new_labels: int                  # samples whose label differs between the two rankings
    comparison: RoundComparison      # over the training samples
    class_names: tuple[str, ...]
    class_colors: tuple[str, ...]
    heldout_before: float | None = None
    heldout_after: float | None = None
    heldout_source: str = ""
    fixed: int | None = None
    broken: int | None = None


@dataclass(frozen=True)
class PendingChange:
    """Labels changed and not yet trained in: ``version`` is the labels' version after the
    latest change, ``need_epoch`` the completed epochs of the ranking that closes the round."""

    version: int
    need_epoch: int


class RoundTracker:
    """Turns label changes and rankings into rounds (see the module docstring)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the base ranking, the pending change and the rounds."""
        self.base: Any = None
        self.pending: PendingChange | None = None
        self.rounds: list[Round] = []

    def labels_changed(self, version: int, completed_epochs: int, training: bool) -> None:
        """The labels changed at ``version`` with ``completed_epochs`` epochs done; while
        ``training``, the running epoch started with the old labels."""
        need = int(completed_epochs) + (2 if training else 1)
        if self.pending is not None:
            need = max(need, self.pending.need_epoch)
        self.pending = PendingChange(int(version), need)

    def add(self, result: Any) -> Round | None:
        """A new ranking; returns the round it closes, if any."""
        req = result.request
        base = self.base
        if base is not None and (req.n != base.request.n or req.epoch < base.request.epoch):
            self.reset()  # another dataset or a model trained afresh
            base = None
        pending = self.pending
        if pending is None:
            self.base = result
            return None
        if req.label_version < pending.version or req.epoch < pending.need_epoch:
            return None  # the new labels have not trained in yet
        self.pending = None
        self.base = result
        if base is None:
            return None
        changed = int(np.count_nonzero(np.asarray(base.request.labels) != np.asarray(req.labels)))
        if changed == 0:
            return None  # the labels came back to what they were
        rnd = self._compare(base, result, changed)
        self.rounds.append(rnd)
        return rnd

    def _compare(self, before: Any, after: Any, changed: int) -> Round:
        cmp = compare_rounds(before.scores, after.scores)
        hb, ha = before.heldout, after.heldout
        err_b = hb.error if hb is not None and hb.n else None
        err_a = ha.error if ha is not None and ha.n else None
        fixed = broken = None
        source = ha.describe() if ha is not None else ""
        if (hb is not None and ha is not None and hb.source == ha.source == "test"
                and hb.scores is not None and ha.scores is not None and np.array_equal(hb.index, ha.index)):
            test_cmp = compare_rounds(hb.scores, ha.scores, heldout_truth=ha.truth)
            err_b, err_a = test_cmp.heldout_error_before, test_cmp.heldout_error_after
            fixed, broken = test_cmp.fixed, test_cmp.broken
        req = after.request
        return Round(number=len(self.rounds) + 1, epoch_before=before.request.epoch, epoch_after=req.epoch,
                     new_labels=changed, comparison=cmp, class_names=tuple(req.class_names),
                     class_colors=tuple(req.class_colors), heldout_before=err_b, heldout_after=err_a,
                     heldout_source=source, fixed=fixed, broken=broken)
