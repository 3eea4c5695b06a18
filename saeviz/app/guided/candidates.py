"""Guided labeling candidates (paper section 3.5): the unlabeled samples the model is least sure of.

After every epoch (when the window's classifier result for it arrives) and on demand,
``GuidedController`` builds an immutable ``GuidedRequest`` on the UI thread (a copy of the
codes and of the labels, the settings, read-only references to the samples and to the frozen
weights) and runs ``score_job`` on its own ``TaskRunner`` thread. The job fits the latent SVM on
the labeled codes, scores every sample (``score_samples``), ranks the unlabeled ones by the
chosen strategy (``rank_scores``), measures the SVM error on held-out samples with the
calibration of its confidence, and makes the thumbnails. The result comes back to the UI thread;
a result older than one already shown is dropped. Changing the number of candidates or the
strategy re-ranks the stored scores (``rerank_job``) without fitting again.

Held-out samples are the test split when the dataset has a ground truth and a model can encode
it (the paper's setting); otherwise the labeled samples themselves, each predicted by an SVM
fitted without it (stratified cross-validation), so the numbers exist for data without ground
truth too.

``CandidatesPanel`` lists the candidates, most worth labeling first, each with a thumbnail, the
two classes the model hesitates between and the margin; clicking a row selects the sample. The
controller rings the candidates in the latent view (``LatentView.set_highlight``) and moves the
rings to the new candidates after each retraining.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QSignalBlocker,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.live_gate import LiveGate
from saeviz.app.common.tasks import TaskRunner
from saeviz.core.errors import SaevizError
from saeviz.core.method.calibration import (
    ConfidenceHistogram,
    ReliabilityDiagram,
    confidence_histogram,
    outcome_pairs,
    reliability_diagram,
)
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.ranking import (
    STRATEGIES,
    Candidates,
    Scores,
    rank_scores,
    score_samples,
)
from saeviz.core.method.training import encode
from saeviz.core.state.labels import UNLABELED

KEY = "guided"               # the TaskRunner key of scoring and ranking jobs
DEFAULT_K = 100
MAX_K = 2000
CV_FOLDS = 5
HIST_BINS = 20
RELIABILITY_BINS = 10
THUMB = 48                   # thumbnail edge in pixels (images: the nearest whole multiple)
TRAINING_REFRESH_S = 1.0     # while training, rank again at most this often (epochs can be 10/s)
SIZE_ROWS = 12               # rows the table's column widths are measured on
SPARK = 48                   # edge of the silhouettes of meshes and the curves of vectors
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


# -- thumbnails (plain numpy, made in the worker) ------------------------------------------------------
def value_range(X: np.ndarray, n: int = 2000) -> tuple[float, float]:
    """The grey-level range of the first ``n`` samples (as the inspector shows them)."""
    head = np.asarray(X[: min(len(X), n)])
    lo, hi = float(head.min()), float(head.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def image_thumbnail(a: np.ndarray, lo: float, hi: float, max_edge: int = 64) -> np.ndarray:
    """An 8-bit image of a 2-D sample; images larger than ``max_edge`` are block-averaged."""
    a = np.asarray(a, np.float64)
    step = max(1, math.ceil(max(a.shape) / max_edge))
    if step > 1:
        h, w = (a.shape[0] // step) * step, (a.shape[1] // step) * step
        a = a[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))
    u8 = np.clip((a - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(u8)


def mesh_axes(V: np.ndarray) -> tuple[int, int]:
    """(horizontal, up) vertex axes of a front view: up is the longer of y and z, horizontal
    the longer of the remaining two."""
    ext = np.ptp(V.reshape(-1, 3), axis=0)
    up = 1 if ext[1] >= ext[2] else 2
    other = 2 if up == 1 else 1
    return (0 if ext[0] >= ext[other] else other), up


def mesh_silhouette(V: np.ndarray, size: int = SPARK, axes: tuple[int, int] | None = None) -> np.ndarray:
    """A front view of a mesh's vertices as an 8-bit density image of ``size`` x ``size``."""
    V = np.asarray(V, np.float64).reshape(-1, 3)
    h_ax, up_ax = axes if axes is not None else mesh_axes(V)
    x, y = V[:, h_ax], V[:, up_ax]
    cx, cy = 0.5 * (x.min() + x.max()), 0.5 * (y.min() + y.max())
    half = 0.53 * max(np.ptp(x), np.ptp(y), 1e-12)
    ix = np.clip(((x - cx + half) / (2 * half) * size).astype(np.int64), 0, size - 1)
    iy = np.clip(((cy + half - y) / (2 * half) * size).astype(np.int64), 0, size - 1)
    counts = np.bincount(iy * size + ix, minlength=size * size).reshape(size, size).astype(np.float64)
    # a 3 x 3 maximum closes the gaps between vertices of a coarse mesh
    padded = np.pad(counts, 1)
    grown = np.max([padded[i:i + size, j:j + size] for i in range(3) for j in range(3)], axis=0)
    filled = grown[grown > 0]
    top = float(np.percentile(filled, 90)) if filled.size else 1.0
    return np.ascontiguousarray(np.clip(grown / max(top, 1e-12), 0, 1) ** 0.5 * 255).astype(np.uint8)


def vector_sparkline(v: np.ndarray, lo: float, hi: float, size: int = SPARK) -> np.ndarray:
    """A vector sample as an 8-bit picture of its values against the feature index."""
    v = np.asarray(v, np.float64).ravel()
    edges = np.linspace(0, len(v), min(size, len(v)) + 1).astype(np.int64)
    cols = np.add.reduceat(v, edges[:-1]) / np.maximum(np.diff(edges), 1)
    x = np.linspace(0, size - 1, len(cols)).round().astype(np.int64)
    y = np.clip(((hi - cols) / (hi - lo) * (size - 1)).round().astype(np.int64), 0, size - 1)
    img = np.zeros((size, size), np.uint8)
    img[y, x] = 255
    for a, b, ya, yb in zip(x[:-1], x[1:], y[:-1], y[1:]):  # join neighbouring columns
        lo_y, hi_y = min(ya, yb), max(ya, yb)
        img[lo_y:hi_y + 1, a:b + 1] = np.maximum(img[lo_y:hi_y + 1, a:b + 1], 200)
    return img


def thumbnails(X: np.ndarray, indices: np.ndarray, kind: str, lo: float, hi: float,
               mesh_view: tuple[int, int] | None = None) -> tuple[np.ndarray, ...]:
    """One 8-bit picture per sample of ``indices``: the image, a mesh silhouette or a curve."""
    out = []
    for i in np.asarray(indices, np.int64):
        x = X[int(i)]
        if kind == "image":
            out.append(image_thumbnail(x, lo, hi))
        elif kind == "mesh":
            out.append(mesh_silhouette(x, axes=mesh_view))
        else:
            out.append(vector_sparkline(x, lo, hi))
    return tuple(out)


# -- held-out evaluation -------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Heldout:
    """Predictions of samples the SVM did not train on, with their true classes.

    ``source`` is ``"test"`` (the test split, ``index`` into the dataset) or ``"cv"`` (labeled
    training samples, ``index`` their positions, each predicted by an SVM fitted without it).
    ``confidence`` holds the normalised confidence of every class (columns ``classes``).
    ``scores`` are the test split's full scores (``None`` for cross-validation).
    """

    source: str
    index: np.ndarray
    truth: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    classes: np.ndarray
    folds: int = 0
    scores: Scores | None = None

    @property
    def n(self) -> int:
        return int(len(self.truth))

    @property
    def error(self) -> float:
        return float(np.mean(self.predicted != self.truth)) if self.n else float("nan")

    def describe(self) -> str:
        if self.source == "test":
            return f"test split, {self.n:,} samples"
        return f"{self.folds}-fold cross-validation of {self.n:,} labels"

    def reliability(self, kind: str = "top_label", n_bins: int = RELIABILITY_BINS) -> ReliabilityDiagram:
        conf, right = outcome_pairs(self.confidence, self.classes, self.truth, kind,
                                    predicted=self.predicted if kind == "top_label" else None)
        return reliability_diagram(conf, right, n_bins)


def heldout_test(clf: LatentClassifier, model, X_all: np.ndarray, test_idx: np.ndarray,
                 y_test: np.ndarray) -> Heldout:
    """The fitted SVM on the codes of the test split (encoded with ``model``)."""
    test_codes = encode(model, X_all[test_idx])
    scores = score_samples(clf, test_codes)
    return Heldout("test", np.asarray(test_idx, np.int64), np.asarray(y_test, np.int64),
                   np.asarray(scores.predicted, np.int64), np.asarray(clf.confidence(test_codes)),
                   np.asarray(clf.classes_), scores=scores)


def heldout_cv(codes: np.ndarray, labels: np.ndarray, n_folds: int = CV_FOLDS) -> Heldout | None:
    """Out-of-fold predictions of the labeled samples (folds stratified by class, in index order).

    None with fewer than two labeled classes or fewer than four labels. A fold whose
    training part holds a single class is left out.
    """
    labels = np.asarray(labels)
    L = np.flatnonzero(labels >= 0)
    y = labels[L]
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2 or len(L) < 4:
        return None
    folds = int(min(n_folds, max(2, counts.max())))
    fold = np.empty(len(L), np.int64)
    for c in classes:
        sel = np.flatnonzero(y == c)
        fold[sel] = np.arange(len(sel)) % folds
    conf = np.zeros((len(L), len(classes)))
    pred = np.full(len(L), UNLABELED, np.int64)
    done = np.zeros(len(L), bool)
    for f in range(folds):
        test = fold == f
        if not test.any() or len(np.unique(y[~test])) < 2:
            continue
        clf = LatentClassifier().fit(codes[L[~test]], y[~test])
        cols = np.searchsorted(classes, clf.classes_)
        Z = codes[L[test]]
        rows = np.flatnonzero(test)
        conf[np.ix_(rows, cols)] = clf.confidence(Z)
        pred[rows] = clf.predict(Z)
        done[rows] = True
    if not done.any():
        return None
    return Heldout("cv", L[done], y[done], pred[done], conf[done], classes, folds=folds)


# -- the job --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class GuidedRequest:
    """Everything a scoring job needs, built on the UI thread; arrays are copies or read-only."""

    seq: int
    codes: np.ndarray              # (N, d) codes of the training samples
    labels: np.ndarray             # (N,) labels at ``label_version`` (-1 unlabeled)
    label_version: int
    class_names: tuple[str, ...]
    class_colors: tuple[str, ...]
    epoch: int                     # epochs the model behind ``codes`` has completed
    k: int
    strategy: str
    seed: int
    kind: str                      # "image", "mesh" or "vector"
    X: np.ndarray                  # training samples (read-only), for thumbnails
    model: Any = None              # frozen weights, to encode the test split
    X_all: np.ndarray | None = None
    test_idx: np.ndarray | None = None
    y_test: np.ndarray | None = None
    mesh_view: tuple[int, int] | None = None

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
    """Fit the SVM, score and rank, evaluate on held-out samples, make thumbnails (worker thread)."""
    t0 = time.perf_counter()
    clf = LatentClassifier().fit(req.codes, req.labels)  # DataError with fewer than two classes
    scores = score_samples(clf, req.codes)
    cands = rank_scores(scores, req.labels, k=req.k, strategy=req.strategy, seed=req.seed)
    heldout = None
    if req.model is not None and req.test_idx is not None and len(req.test_idx) and req.y_test is not None:
        heldout = heldout_test(clf, req.model, req.X_all, req.test_idx, req.y_test)
    else:
        heldout = heldout_cv(req.codes, req.labels)
    reliability = {}
    if heldout is not None and heldout.n:
        reliability = {kind: heldout.reliability(kind) for kind in ("top_label", "per_class")}
    lo, hi = value_range(req.X)
    return GuidedResult(
        request=req, scores=scores, candidates=cands,
        thumbnails=thumbnails(req.X, cands.indices, req.kind, lo, hi, req.mesh_view),
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
                               thumbnails=thumbnails(req.X, cands.indices, req.kind, lo, hi, req.mesh_view))


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

    def __init__(self, window, parent: QObject | None = None):
        super().__init__(parent if parent is not None else window)
        self.window = window
        self.session = window.session
        # Its own worker thread: a ranking never delays the window's classifier, projections
        # or reconstructions, which share the window's runner.
        self.runner = TaskRunner(self, max_threads=1)
        self.view = window.latent.view
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
        """A scoring or ranking job is queued or running."""
        return self.runner.busy(KEY)

    # -- requests ----------------------------------------------------------------------------------
    def completed_epochs(self) -> int:
        s = self.session
        return int(s.snapshot.epoch) if s.snapshot is not None else int(s.epoch)

    def build_request(self) -> GuidedRequest | None:
        """The request for the current codes and labels, or None (with a message) when none fits."""
        s = self.session
        if s.dataset is None or s.labels is None:
            return None
        codes = s.codes
        if codes is None or len(codes) != s.n_samples:
            self._say("Candidates appear after the first epoch: train, or load a model.")
            return None
        sup = s.labels.snapshot()
        if len(np.unique(sup.labels[sup.labels >= 0])) < 2:
            self._say("Label samples of at least two classes: the candidates come from a classifier.")
            return None
        ds = s.dataset
        test = None
        if s.model is not None and s.has_ground_truth and len(ds.test_idx):
            test = (ds.X, np.asarray(ds.test_idx), np.asarray(ds.y[ds.test_idx]))
        self._seq += 1
        return GuidedRequest(
            seq=self._seq, codes=np.array(codes, copy=True), labels=sup.labels, label_version=sup.version,
            class_names=sup.class_names, class_colors=sup.colors, epoch=self.completed_epochs(),
            k=self.k, strategy=self.strategy, seed=self.seed, kind=ds.kind, X=s.X,
            model=s.model if test is not None else None,
            X_all=test[0] if test else None, test_idx=test[1] if test else None,
            y_test=test[2] if test else None,
            mesh_view=mesh_axes(s.X[0]) if ds.kind == "mesh" else None)

    def refresh(self) -> bool:
        """Score and rank from the latest codes and labels (off the UI thread); False (with a
        message) when there is nothing to rank yet."""
        return self._gate.run()

    def _rank(self) -> bool:
        req = self.build_request()
        if req is None:
            return False
        self._codes_seen = self.session.codes
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
        c = self.candidates
        if c is None or not len(c):
            return
        labels = np.asarray(self.session.labels.labels)
        if np.any(labels[c.indices] != UNLABELED):
            self._set_candidates(c, self.thumbnails)

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
        coords = self.window.latent.coords
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
        if self._store is not None:
            self._store.labels_changed.disconnect(self._labels_changed)
            self._store.classes_changed.disconnect(self._classes_changed)
        self._store = store
        if store is not None:
            store.labels_changed.connect(self._labels_changed)
            store.classes_changed.connect(self._classes_changed)
        self._clear()

    def _model_changed(self) -> None:
        s = self.session
        if s.codes is None and not s.training and self.result is not None:
            self._clear()  # the model was reset or replaced by a loaded one

    def _classifier_changed(self) -> None:
        s = self.session
        if s.classifier is None or s.codes is None or s.codes is self._codes_seen:
            return  # nothing new to rank: labels-only changes keep the ranking until asked
        self._gate.request()

    def _say(self, text: str) -> None:
        self.message.emit(text)

    def shutdown(self) -> None:
        """Drop queued work and wait for the running job (the window is closing)."""
        self._highlight_timer.stop()
        self._gate.cancel()
        self.runner.shutdown()


# -- the panel ------------------------------------------------------------------------------------------------
def gray_pixmap(a: np.ndarray, edge: int) -> QPixmap:
    """An 8-bit array as a pixmap whose longer side is about ``edge`` pixels (square pixels,
    scaled up by a whole factor; larger pictures are scaled down smoothly)."""
    a = np.ascontiguousarray(a, np.uint8)
    h, w = a.shape
    img = QImage(a.data, w, h, w, QImage.Format_Grayscale8).copy()
    side = max(h, w)
    if side <= edge:
        f = max(1, round(edge / side))
        return QPixmap.fromImage(img.scaled(w * f, h * f, Qt.KeepAspectRatio, Qt.FastTransformation))
    return QPixmap.fromImage(img.scaled(edge, edge, Qt.KeepAspectRatio, Qt.SmoothTransformation))


def swatch(color: str, size: int = 10) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(color))
    return QIcon(pix)


COLUMNS = ("#", "sample", "classes", "margin", "conf.", "score")
SCORE_COLUMN = 5
CLASSES_ROLE = Qt.UserRole + 1  # ((name, colour), (name, colour)) of the predicted and runner-up class


class ClassPairDelegate(QStyledItemDelegate):
    """Draws the predicted class over the runner-up ("or ..."), each with its colour swatch."""

    def paint(self, painter, option, index) -> None:
        pair = index.data(CLASSES_ROLE)
        if not pair:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(option.state & QStyle.State_Selected)
        pal = option.palette
        fm = option.fontMetrics
        line = fm.height()
        r = option.rect.adjusted(4, 0, -2, 0)
        top = r.center().y() - line
        box = max(6, fm.ascent() - 3)
        painter.save()
        for i, (name, color) in enumerate(pair):
            y = top + i * line
            painter.fillRect(r.left(), y + (line - box) // 2, box, box, QColor(color))
            text = name if i == 0 else f"or {name}"
            pen = pal.highlightedText().color() if selected else (
                pal.text().color() if i == 0 else pal.placeholderText().color())
            painter.setPen(pen)
            tr = r.adjusted(box + 5, 0, 0, 0)
            painter.drawText(tr.left(), y, tr.width(), line, int(Qt.AlignLeft | Qt.AlignVCenter),
                             fm.elidedText(text, Qt.ElideRight, tr.width()))
        painter.restore()

    def sizeHint(self, option, index):  # noqa: N802 - Qt override
        pair = index.data(CLASSES_ROLE)
        if not pair:
            return super().sizeHint(option, index)
        fm = option.fontMetrics
        width = max(fm.horizontalAdvance(pair[0][0]), fm.horizontalAdvance(f"or {pair[1][0]}"))
        return QSize(width + fm.ascent() + 12, 2 * fm.height() + 4)


class CandidateModel(QAbstractTableModel):
    """The shown candidates as table rows (rank, thumbnail and index, two classes, numbers)."""

    def __init__(self, controller: GuidedController, parent: QObject | None = None):
        super().__init__(parent)
        self.controller = controller
        self._c: Candidates | None = None
        self._thumbs: tuple = ()
        self._pixmaps: dict[int, QPixmap] = {}
        self._names: tuple[str, ...] = ()
        self._colors: tuple[str, ...] = ()
        self._index_of = None
        self.thumb_edge = THUMB

    def reload(self) -> None:
        self.beginResetModel()
        ctl = self.controller
        self._c = ctl.candidates
        self._thumbs = ctl.thumbnails
        self._pixmaps = {}
        res = ctl.result
        self._names = res.request.class_names if res is not None else ()
        self._colors = res.request.class_colors if res is not None else ()
        self._index_of = ctl.session.dataset_index if ctl.session.dataset is not None else None
        self.endResetModel()

    @property
    def indices(self) -> np.ndarray:
        return np.zeros(0, np.int64) if self._c is None else np.asarray(self._c.indices)

    def row_of(self, position: int) -> int:
        hits = np.flatnonzero(self.indices == position)
        return int(hits[0]) if hits.size else -1

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if (parent.isValid() or self._c is None) else len(self._c)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802 - Qt override
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole:
            return ("rank (most worth labeling first)", "the sample and its index in the dataset",
                    "the class the classifier predicts, over the runner-up",
                    "best minus second-best SVM score: small means undecided",
                    "normalised confidence of the predicted class (0 to 1)",
                    "the strategy's score")[section]
        return None

    def _name(self, k: int) -> str:
        return self._names[k] if 0 <= k < len(self._names) else str(k)

    def _color(self, k: int) -> str:
        return self._colors[k] if 0 <= k < len(self._colors) else "#808080"

    def data(self, index, role=Qt.DisplayRole):
        c = self._c
        if c is None or not index.isValid():
            return None
        r, col = index.row(), index.column()
        pos = int(c.indices[r])
        if role == Qt.DisplayRole:
            if col == 0:
                return str(r + 1)
            if col == 1:
                return str(self._index_of(pos)) if self._index_of is not None else str(pos)
            if col == 2:
                return f"{self._name(int(c.best[r]))} or {self._name(int(c.second[r]))}"
            if col == 3:
                return f"{float(c.margin[r]):.3f}"
            if col == 4:
                return f"{float(c.confidence[r]):.2f}"
            if col == 5:
                return f"{float(c.scores[r]):.3f}"
        elif role == CLASSES_ROLE and col == 2:
            b, s2 = int(c.best[r]), int(c.second[r])
            return ((self._name(b), self._color(b)), (self._name(s2), self._color(s2)))
        elif role == Qt.DecorationRole:
            if col == 1 and r < len(self._thumbs):
                pix = self._pixmaps.get(r)
                if pix is None:
                    pix = self._pixmaps[r] = gray_pixmap(self._thumbs[r], self.thumb_edge)
                return pix
        elif role == Qt.TextAlignmentRole:
            if col in (0, 3, 4, 5):
                return int(Qt.AlignRight | Qt.AlignVCenter)
            return int(Qt.AlignLeft | Qt.AlignVCenter)
        elif role == Qt.ToolTipRole:
            return (f"training sample {pos}: {self._name(int(c.best[r]))} or {self._name(int(c.second[r]))}, "
                    f"margin {float(c.margin[r]):.4g}, confidence {float(c.confidence[r]):.3f}")
        elif role == Qt.UserRole:
            return pos
        return None


class CandidatesPanel(QWidget):
    """The candidates dock: settings, a status line and the ranked list."""

    def __init__(self, controller: GuidedController, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("candidatesPanel")
        self.controller = controller
        self.session = controller.session

        self.k_spin = QSpinBox()
        self.k_spin.setObjectName("candidatesK")
        self.k_spin.setRange(1, MAX_K)
        self.k_spin.setValue(controller.k)
        self.k_spin.setToolTip("How many candidates to list")
        self.k_spin.setKeyboardTracking(False)
        self.strategy_combo = QComboBox()
        self.strategy_combo.setObjectName("candidatesStrategy")
        for key in STRATEGIES:
            self.strategy_combo.addItem(STRATEGY_TEXT[key], key)
            self.strategy_combo.setItemData(self.strategy_combo.count() - 1, STRATEGY_TIPS[key], Qt.ToolTipRole)
        self.strategy_combo.setCurrentIndex(self.strategy_combo.findData(controller.strategy))
        self.refresh_button = QToolButton()
        self.refresh_button.setObjectName("candidatesRefresh")
        self.refresh_button.setText("Refresh")
        self.refresh_button.setIcon(QIcon.fromTheme("view-refresh"))
        self.refresh_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.refresh_button.setToolTip("Rank again from the latest model and labels")
        self.highlight_check = QCheckBox("ring in view")
        self.highlight_check.setObjectName("candidatesHighlight")
        self.highlight_check.setChecked(controller.highlight_enabled)
        self.highlight_check.setToolTip("Draw a ring around the candidates in the latent view")

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Top"))
        bar.addWidget(self.k_spin)
        bar.addWidget(QLabel("by"))
        bar.addWidget(self.strategy_combo, 1)
        bar.addWidget(self.refresh_button)
        self.status = QLabel()
        self.status.setObjectName("candidatesStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #555555")
        status_row = QHBoxLayout()
        status_row.setContentsMargins(0, 0, 0, 0)
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.highlight_check, 0, Qt.AlignTop)

        self.model = CandidateModel(controller, self)
        self.table = QTableView()
        self.table.setObjectName("candidatesTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.table.verticalHeader().hide()
        self.table.setIconSize(QSize(THUMB + 8, THUMB + 8))
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        head = self.table.horizontalHeader()
        head.setHighlightSections(False)
        head.setSectionResizeMode(QHeaderView.ResizeToContents)
        # Column widths from the first rows only: measuring every row calls the model (and makes
        # every thumbnail) on each new ranking, a stall of the UI thread at 100 rows.
        head.setResizeContentsPrecision(SIZE_ROWS)
        head.setStretchLastSection(True)
        self.table.setItemDelegateForColumn(2, ClassPairDelegate(self.table))
        self.table.setColumnHidden(SCORE_COLUMN, controller.strategy == "margin")

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)
        lay.addLayout(bar)
        lay.addLayout(status_row)
        lay.addWidget(self.table, 1)

        self.k_spin.valueChanged.connect(controller.set_k)
        self.strategy_combo.currentIndexChanged.connect(
            lambda _i: controller.set_strategy(self.strategy_combo.currentData()))
        self.refresh_button.clicked.connect(controller.refresh)
        self.highlight_check.toggled.connect(controller.set_highlight_enabled)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.table.clicked.connect(self._clicked)
        controller.candidatesChanged.connect(self._reload)
        controller.busyChanged.connect(self._busy)
        controller.message.connect(self._message)
        self.session.selection_changed.connect(self._selection_changed)
        self._message_text = ""
        self._reload()

    # -- settings from outside (menus, saved settings) ------------------------------------------
    def sync_settings(self) -> None:
        ctl = self.controller
        with QSignalBlocker(self.k_spin):
            self.k_spin.setValue(ctl.k)
        with QSignalBlocker(self.strategy_combo):
            self.strategy_combo.setCurrentIndex(self.strategy_combo.findData(ctl.strategy))
        with QSignalBlocker(self.highlight_check):
            self.highlight_check.setChecked(ctl.highlight_enabled)
        self.table.setColumnHidden(SCORE_COLUMN, ctl.strategy == "margin")

    # -- reactions ------------------------------------------------------------------------------------
    def _reload(self) -> None:
        self.sync_settings()
        res = self.controller.result
        kind = res.request.kind if res is not None else "image"
        edge = THUMB
        if res is not None and kind == "image" and res.thumbnails:
            side = max(res.thumbnails[0].shape)
            edge = side * max(1, round(THUMB / side)) if side <= THUMB else THUMB
        self.model.thumb_edge = edge
        self.table.setIconSize(QSize(edge, edge))
        self.table.verticalHeader().setDefaultSectionSize(edge + 6)
        self.model.reload()
        self._selection_changed(self.session.selected)
        self._update_status()

    def _update_status(self) -> None:
        ctl = self.controller
        res, c = ctl.result, ctl.candidates
        if res is None or c is None:
            self.status.setText(self._message_text or "Candidates appear after the first epoch.")
            return
        busy = " · ranking…" if ctl.busy else ""
        labeled = len(res.candidates) - len(c)
        extra = f", {labeled} labeled since" if labeled else ""
        self.status.setText(f"epoch {res.epoch} · {len(c)} of {res.candidates.n_pool:,} unlabeled{extra}{busy}")

    def _busy(self, _on: bool) -> None:
        self._update_status()

    def _message(self, text: str) -> None:
        self._message_text = text
        self._update_status()

    def _position_at(self, row: int) -> int:
        idx = self.model.indices
        return int(idx[row]) if 0 <= row < len(idx) else -1

    def _row_changed(self, current, _previous) -> None:
        pos = self._position_at(current.row())
        if pos >= 0:
            self.session.select(pos)

    def _clicked(self, index) -> None:
        pos = self._position_at(index.row())
        if pos >= 0:
            self.session.select(pos)

    def _selection_changed(self, pos: int) -> None:
        row = self.model.row_of(pos) if pos >= 0 else -1
        sel = self.table.selectionModel()
        with QSignalBlocker(sel):
            if row < 0:
                sel.clearSelection()
            else:
                self.table.selectRow(row)
                self.table.scrollTo(self.model.index(row, 0))
        self.table.viewport().update()

    def select_row(self, row: int) -> None:
        """Select the sample of ``row`` (what a click does)."""
        self.table.selectRow(row)

    @property
    def shown_indices(self) -> np.ndarray:
        return self.model.indices


__all__ = ["GuidedController", "GuidedRequest", "GuidedResult", "CandidatesPanel", "CandidateModel",
           "Heldout", "score_job", "rerank_job", "heldout_cv", "heldout_test", "thumbnails",
           "mesh_silhouette", "vector_sparkline", "STRATEGY_TEXT", "DEFAULT_K"]
