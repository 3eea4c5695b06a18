"""Guided labeling candidates (paper section 3.5): the unlabeled samples the model is least sure of.

After every epoch (when the session's ``EpochResult`` for it arrives) and on demand,
``GuidedController`` builds an immutable ``GuidedRequest`` on the UI thread (that result, which
holds the epoch's codes, labels, fitted latent SVM, scores and test-split evaluation, the
settings and a read-only reference to the samples) and runs ``score_job`` on its own
``TaskRunner`` thread. The job fits nothing: it ranks the unlabeled samples by the chosen
strategy from the result's scores (``rank_scores``), takes the held-out calibration and makes
the thumbnails. The result comes back to the UI thread; a result older than one already shown
is dropped. Changing the number of candidates or the strategy re-ranks the stored scores
(``rerank_job``).

Held-out samples are the test split when the dataset has a ground truth and a model can encode
it (the paper's setting, measured with the epoch's result); otherwise the labeled samples
themselves, each predicted by an SVM fitted without it (stratified cross-validation,
``saeviz.core.method.heldout``), so the numbers exist for data without ground truth too.

The controller rings the candidates in the latent view (``LatentView.set_highlight``) and moves
the rings to the new candidates after each retraining; ``candidates_panel.CandidatesPanel``
lists them. The thumbnails are ``saeviz.core.display.thumbnails``.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from saeviz.app.common.live_gate import LiveGate
from saeviz.app.common.shell import Shell
from saeviz.app.common.tasks import TaskRunner
from saeviz.core.display.thumbnails import ThumbnailCache, mesh_axes, value_range
from saeviz.core.errors import SaevizError
from saeviz.core.method.calibration import (
    ConfidenceHistogram,
    ReliabilityDiagram,
    confidence_histogram,
)
from saeviz.core.method.heldout import (
    CV_FOLDS,
    RELIABILITY_BINS,
    Heldout,
    heldout_cv,
    heldout_test,
)
from saeviz.core.method.ranking import STRATEGIES, Candidates, Scores, rank_scores
from saeviz.core.state.labels import UNLABELED, follow_store
from saeviz.core.state.results import EpochResult

KEY = "guided"               # the TaskRunner key of scoring and ranking jobs
DEFAULT_K = 100
MAX_K = 2000
HIST_BINS = 20
TRAINING_REFRESH_S = 1.0     # while training, rank again at most this often (epochs can be 10/s)
THUMBNAILS = ThumbnailCache()  # candidates change every epoch, their pictures do not
STRATEGY_TEXT = {
    "margin": "margin (paper)",
    "least_confidence": "least confidence",
    "entropy": "entropy",
    "random": "random",
}
STRATEGY_TIPS = {
    "margin": "Smallest difference between the best and the second-best SVM score (paper, section 3.5)",
    "least_confidence": "Lowest normalised confidence of the predicted class (section 3.4)",
    "entropy": "Highest entropy of the class probabilities",
    "random": "Unlabeled samples in random order (a baseline)",
}


# -- the job --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class GuidedRequest:
    """Everything a scoring job needs, built on the UI thread; arrays are read-only.

    ``epoch_result`` is the session's result the ranking comes from; ``labels`` (at
    ``label_version``) are those the ranking leaves out as labeled: the result's own, or newer
    ones when the stored scores are ranked again (``rerank_job``).
    """

    seq: int
    epoch_result: EpochResult
    labels: np.ndarray             # (N,) labels at ``label_version`` (-1 unlabeled)
    label_version: int
    class_names: tuple[str, ...]
    class_colors: tuple[str, ...]
    k: int
    strategy: str
    seed: int
    kind: str                      # "image", "mesh" or "vector"
    X: np.ndarray                  # training samples (read-only), for thumbnails
    mesh_view: tuple[int, int] | None = None

    @property
    def codes(self) -> np.ndarray:
        """(N, d) codes of the training samples the result scored."""
        return self.epoch_result.codes

    @property
    def epoch(self) -> int:
        """Epochs the model behind ``codes`` has completed."""
        return self.epoch_result.epoch

    @property
    def n(self) -> int:
        return len(self.codes)


@dataclass(frozen=True, eq=False)
class GuidedResult:
    """Scores of every sample, the ranked candidates and the held-out calibration of one request."""

    request: GuidedRequest
    scores: Scores
    candidates: Candidates
    thumbnails: tuple[np.ndarray, ...]
    value_range: tuple[float, float]
    heldout: Heldout | None
    histogram: ConfidenceHistogram
    reliability: dict[str, ReliabilityDiagram]
    seconds: float

    @property
    def epoch(self) -> int:
        return self.request.epoch


def score_job(req: GuidedRequest) -> GuidedResult:
    """Rank from the epoch's scores, take the held-out calibration, make thumbnails (worker
    thread). The latent SVM is the epoch result's: only without a test split does the held-out
    evaluation fit its own, one per cross-validation fold."""
    t0 = time.perf_counter()
    res = req.epoch_result
    scores = res.scores
    cands = rank_scores(scores, req.labels, k=req.k, strategy=req.strategy, seed=req.seed)
    heldout = res.heldout if res.heldout is not None else heldout_cv(res.codes, res.labels)
    reliability = {}
    if heldout is not None and heldout.n:
        reliability = {kind: heldout.reliability(kind) for kind in ("top_label", "per_class")}
    lo, hi = value_range(req.X)
    return GuidedResult(
        request=req, scores=scores, candidates=cands,
        thumbnails=THUMBNAILS.get(req.X, cands.indices, req.kind, lo, hi, req.mesh_view),
        value_range=(lo, hi), heldout=heldout,
        histogram=confidence_histogram(scores.confidence, HIST_BINS),
        reliability=reliability, seconds=time.perf_counter() - t0)


def rerank_job(result: GuidedResult, seq: int, labels: np.ndarray, label_version: int, k: int,
               strategy: str, seed: int) -> GuidedResult:
    """Rank the stored scores again with other settings or labels (no new SVM fit)."""
    cands = rank_scores(result.scores, labels, k=k, strategy=strategy, seed=seed)
    req = dataclasses.replace(result.request, seq=seq, labels=labels, label_version=label_version,
                              k=k, strategy=strategy, seed=seed)
    lo, hi = result.value_range
    return dataclasses.replace(result, request=req, candidates=cands,
                               thumbnails=THUMBNAILS.get(req.X, cands.indices, req.kind, lo, hi, req.mesh_view))


def subset_candidates(c: Candidates, keep: np.ndarray) -> Candidates:
    """The candidates where ``keep`` is True, in their order."""
    keep = np.asarray(keep, bool)
    return Candidates(strategy=c.strategy, indices=c.indices[keep], scores=c.scores[keep], best=c.best[keep],
                      second=c.second[keep], confidence=c.confidence[keep], margin=c.margin[keep],
                      n_pool=c.n_pool)


# -- the controller (UI thread) ---------------------------------------------------------------------------
class GuidedController(QObject):
    """Keeps the newest ranking: schedules scoring jobs, applies their results, rings the candidates.

    ``candidates`` are the newest ranking without the samples labeled since (they are never
    shown); ``thumbnails`` go with them. ``active`` (set by the owner) says whether anyone
    looks: while no guided panel is open, epochs only mark the ranking as stale.
    """

    resultApplied = Signal(object)   # a new GuidedResult (after scoring or re-ranking)
    candidatesChanged = Signal()     # the shown candidates changed (new ranking, or samples labeled)
    cleared = Signal()               # a new dataset or a reset model: no ranking, no history
    busyChanged = Signal(bool)
    message = Signal(str)

    def __init__(self, shell: Shell, parent: QObject | None = None):
        super().__init__(parent if parent is not None else shell)
        self.latent = shell.latent
        self.session = shell.session
        # Its own worker thread: a ranking never delays the window's classifier, projections
        # or reconstructions, which share the window's runner.
        self.runner = TaskRunner(self, max_threads=1)
        self.view = shell.latent.view
        self.k = DEFAULT_K
        self.strategy = "margin"
        self.seed = 0
        self.highlight_enabled = True
        self.active = True
        self.result: GuidedResult | None = None
        self.candidates: Candidates | None = None
        self.thumbnails: tuple[np.ndarray, ...] = ()
        self.last_error: str | None = None
        self._seq = 0
        self._applied = 0
        self._codes_seen = None      # the codes array the newest full scoring used
        self._waiting = False        # a refresh waits for the session's result of the new labels
        self._store = None
        self._highlight_timer = QTimer(self)
        self._highlight_timer.setSingleShot(True)
        self._highlight_timer.setInterval(150)
        self._highlight_timer.timeout.connect(self._push_highlight)
        # While training, epochs may end faster than a ranking is worth redrawing: the newest
        # codes wait until TRAINING_REFRESH_S has passed since the last ranking started, and
        # while no guided panel is open they only mark the ranking as stale (``pending``).
        self._gate = LiveGate(None, self._rank, lambda: self.session.training, TRAINING_REFRESH_S,
                              shown=lambda: self.active, parent=self)

        s = self.session
        s.dataset_changed.connect(self._dataset_changed)
        s.classifier_changed.connect(self._classifier_changed)
        s.model_changed.connect(self._model_changed)
        s.training_state.finished.connect(self._gate.run_pending)  # no wait once training ends
        self._dataset_changed()

    # -- settings ------------------------------------------------------------------------------
    def set_k(self, k: int) -> None:
        k = int(max(1, min(MAX_K, k)))
        if k != self.k:
            self.k = k
            self._rerank()

    def set_strategy(self, strategy: str) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
        if strategy != self.strategy:
            self.strategy = strategy
            self._rerank()

    def set_highlight_enabled(self, on: bool) -> None:
        self.highlight_enabled = bool(on)
        self._push_highlight()

    def set_active(self, on: bool) -> None:
        self.active = bool(on)
        self._gate.run_pending()

    @property
    def busy(self) -> bool:
        """A scoring or ranking job is queued or running, or a refresh waits for its result."""
        return self._waiting or self.runner.busy(KEY)

    # -- requests ----------------------------------------------------------------------------------
    def completed_epochs(self) -> int:
        s = self.session
        return int(s.snapshot.epoch) if s.snapshot is not None else int(s.epoch)

    def build_request(self) -> GuidedRequest | None:
        """The request for the session's newest classifier result, or None (with a message)
        when there is nothing to rank."""
        s = self.session
        if s.dataset is None or s.labels is None:
            return None
        if s.codes is None or len(s.codes) != s.n_samples:
            self._say("Candidates appear after the first epoch: train, or load a model.")
            return None
        res = s.classifier
        if res is None or res.n != s.n_samples:
            labels = np.asarray(s.labels.labels)
            if len(np.unique(labels[labels >= 0])) < 2:
                self._say("Label samples of at least two classes: the candidates come from a classifier.")
            return None
        sup = s.labels.snapshot()
        ds = s.dataset
        self._seq += 1
        return GuidedRequest(
            seq=self._seq, epoch_result=res, labels=res.labels, label_version=res.label_version,
            class_names=sup.class_names, class_colors=sup.colors,
            k=self.k, strategy=self.strategy, seed=self.seed, kind=ds.kind, X=s.X,
            mesh_view=mesh_axes(s.X[0]) if ds.kind == "mesh" else None)

    def refresh(self) -> bool:
        """Rank from the session's newest result (off the UI thread); False (with a message)
        when there is nothing to rank yet. While no training runs and the labels changed since
        that result, the ranking waits for the result of the new labels."""
        return self._gate.run()

    def _result_outdated(self) -> bool:
        s = self.session
        res = s.classifier
        return (not s.training and res is not None and s.labels is not None and s.codes is not None
                and res.label_version != s.labels.version)

    def _rank(self) -> bool:
        if self._result_outdated():
            self._waiting = True  # the training flow computes the result of the new labels
            self.busyChanged.emit(True)
            return True
        self._waiting = False
        req = self.build_request()
        if req is None:
            self.busyChanged.emit(self.busy)
            return False
        self._codes_seen = req.codes
        self._submit(score_job, req)
        return True

    def _rerank(self) -> None:
        res = self.result
        if res is None:
            if self.session.codes is not None:
                self.refresh()
            return
        store = self.session.labels
        if store is None or store.n_samples != res.request.n:
            return
        sup = store.snapshot()
        self._seq += 1
        self._submit(rerank_job, res, self._seq, sup.labels, sup.version, self.k, self.strategy, self.seed)

    def _submit(self, fn, *args) -> None:
        # A newer submission replaces a queued older one (TaskRunner), so only the newest waits.
        self.runner.submit(KEY, fn, *args, on_result=self._apply, on_error=self._failed)
        self.busyChanged.emit(True)

    def _failed(self, exc: BaseException) -> None:
        self.busyChanged.emit(self.busy)
        self.last_error = str(exc)
        if isinstance(exc, SaevizError):
            self._say(str(exc))
        else:
            self._say(f"Ranking failed: {type(exc).__name__}: {exc}")

    def _apply(self, result: GuidedResult) -> None:
        self.busyChanged.emit(self.busy)
        s = self.session
        req = result.request
        if req.seq <= self._applied or s.labels is None or req.n != s.n_samples:
            return  # stale: a newer result is shown, or the dataset changed
        if tuple(req.class_names) != tuple(s.labels.class_names):
            return  # the classes changed meanwhile: a newer request follows
        self._applied = req.seq
        self.result = result
        self.last_error = None
        self._set_candidates(result.candidates, result.thumbnails)
        self.resultApplied.emit(result)

    # -- shown candidates ----------------------------------------------------------------------
    def _set_candidates(self, cands: Candidates | None, thumbs: tuple) -> None:
        store = self.session.labels
        if cands is not None and store is not None and len(cands):
            keep = np.asarray(store.labels)[cands.indices] == UNLABELED
            if not keep.all():
                cands = subset_candidates(cands, keep)
                thumbs = tuple(t for t, k in zip(thumbs, keep) if k)
        self.candidates = cands
        self.thumbnails = thumbs
        self._push_highlight()
        self.candidatesChanged.emit()

    def _labels_changed(self, indices) -> None:
        # Shown: the newest ranking without its samples labeled since; an undone label brings
        # its sample back.
        res = self.result
        if res is None or res.candidates is None or not len(res.candidates):
            return
        labels = np.asarray(self.session.labels.labels)
        unlabeled = int(np.count_nonzero(labels[res.candidates.indices] == UNLABELED))
        if unlabeled != (0 if self.candidates is None else len(self.candidates)):
            self._set_candidates(res.candidates, res.thumbnails)

    def _classes_changed(self) -> None:
        res = self.result
        store = self.session.labels
        outdated = res is not None and store is not None and tuple(res.request.class_names) != store.class_names
        if outdated:  # class numbers may mean other classes now: never show them
            self._clear(emit=False)
            self.candidatesChanged.emit()
        if (outdated or self.busy) and self.session.codes is not None and not self.session.training:
            self.refresh()  # (while training, the next epoch ranks again)

    def _push_highlight(self) -> None:
        idx = self.candidates.indices if (self.highlight_enabled and self.candidates is not None) else None
        coords = self.latent.coords
        n = 0 if coords is None else len(coords)
        if idx is not None and len(idx) and (n != self.session.n_samples or int(idx.max()) >= n):
            self._highlight_timer.start()  # the points of this dataset are not drawn yet
            return
        self.view.set_highlight(idx if n else None)

    @property
    def highlighted(self) -> np.ndarray:
        return self.view.highlighted()

    # -- session -------------------------------------------------------------------------------------
    def _clear(self, emit: bool = True) -> None:
        self.runner.invalidate(KEY)
        self._applied = self._seq
        self.result = None
        self._codes_seen = None
        self._waiting = False
        self.candidates = None
        self.thumbnails = ()
        self._highlight_timer.stop()
        self._gate.cancel()
        if self.view.points() is not None:
            self.view.set_highlight(None)
        if emit:
            self.cleared.emit()
            self.candidatesChanged.emit()

    def _dataset_changed(self) -> None:
        store = self.session.labels
        self._store = follow_store(self._store, store, labels=self._labels_changed, classes=self._classes_changed)
        self._clear()

    def _model_changed(self) -> None:
        s = self.session
        if s.codes is None and not s.training and self.result is not None:
            self._clear()  # the model was reset or replaced by a loaded one

    def _classifier_changed(self) -> None:
        s = self.session
        if self._waiting:
            self._gate.run()  # the result a refresh waited for
            return
        res = s.classifier
        if res is None or s.codes is None or res.codes is self._codes_seen:
            return  # nothing new to rank: labels-only changes keep the ranking until asked
        self._gate.request()

    def _say(self, text: str) -> None:
        self.message.emit(text)

    def shutdown(self) -> None:
        """Drop queued work and wait for the running job (the window is closing)."""
        self._highlight_timer.stop()
        self._gate.cancel()
        self.runner.shutdown()


__all__ = ["GuidedController", "GuidedRequest", "GuidedResult", "Heldout", "score_job", "rerank_job",
           "heldout_cv", "heldout_test", "CV_FOLDS", "RELIABILITY_BINS", "STRATEGY_TEXT", "STRATEGY_TIPS", "DEFAULT_K", "MAX_K"]
