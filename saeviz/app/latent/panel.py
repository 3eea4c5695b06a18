"""The latent panel: the latent view with its projection, dimension and colour choices, the
structure drawn over it and the projection's progress.

Linear projections are fitted per frame on the UI thread while that is cheap, else on the
task runner; t-SNE and UMAP always run on the task runner, showing their intermediate layouts,
and while a model trains each new set of codes refines the last layout (warm start, the
nearest-neighbour graph kept across epochs) so they follow training as PCA does.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.live_label import LiveLabel
from saeviz.app.common.tasks import TaskRunner
from saeviz.core.display.projection import ProjectionFrame, project_linear
from saeviz.core.errors import SaevizError
from saeviz.core.state.session import Session
from saeviz.core.state.view_state import ViewState

log = logging.getLogger(__name__)

LINEAR_BUDGET_S = 0.008  # a linear projection slower than this per frame moves off the UI thread
PROJECTIONS = (("pca", "PCA"), ("lda", "LDA"), ("axes", "latent axes"), ("umap", "UMAP"), ("tsne", "t-SNE"))
COLOR_MODES = (("label", "labels"), ("prediction", "prediction"), ("confidence", "confidence"),
               ("recon", "reconstruction error"), ("wrong", "misclassified"))


class _Relay(QObject):
    """Carries partial results of slow projections from a worker thread to the UI thread."""

    partial = Signal(int, object)
    progress = Signal(int, float)


class LatentPanel(QWidget):
    """The latent view with its projection, dimension and colour choices, and the structure.

    Linear projections (PCA, LDA, axes) are fitted per frame on the UI thread while that
    measures under ``LINEAR_BUDGET_S``, else on the task runner; t-SNE and UMAP always run
    on the task runner, warm-started from their previous layout, one at a time, with stale
    results dropped. Consecutive frames are aligned so the picture does not spin or flip.
    """

    info = Signal(str)  # a note about the projection (fallbacks, progress, errors)
    needsReconErrors = Signal()  # colouring by reconstruction error needs them computed
    frameRequested = Signal()  # something must be drawn at the next frame
    sampleClicked = Signal(int)  # a point was clicked: the window brings its sample forward

    def __init__(self, session: Session, runner: TaskRunner, parent: QWidget | None = None,
                 view_state: ViewState | None = None):
        super().__init__(parent)
        from saeviz.app.latent.view import LatentView

        self.session = session
        #: what is shown (projection, dimensions, colours, structure): the widgets of the bar
        #: show it and change it; what is computed follows it
        self.state = view_state if view_state is not None else ViewState()
        self._syncing_axes = False
        self.runner = runner
        self.view = LatentView()
        self.view.setObjectName("latentView")
        for side in ("bottom", "left"):  # coordinates are unitless: no "(x0.001)" prefixes
            self.view.plot_item.getAxis(side).enableAutoSIPrefix(False)

        self.method_combo = QComboBox()
        self.method_combo.setObjectName("projectionCombo")
        from saeviz.core.display.embedding import tsne_available, umap_available

        for key, text in PROJECTIONS:
            self.method_combo.addItem(text, key)
        for key, available, package in (("umap", umap_available, "umap-learn"),
                                         ("tsne", tsne_available, "openTSNE")):
            if not available():
                item = self.method_combo.model().item(self.method_combo.findData(key))
                item.setEnabled(False)
                item.setToolTip(f"{dict(PROJECTIONS)[key]} needs the optional package {package}")
        self.axes_spins = [QSpinBox() for _ in range(3)]
        for i, spin in enumerate(self.axes_spins):
            spin.setPrefix("xyz"[i] + ": z")
            spin.setRange(0, 0)
            spin.setValue(i)
            spin.setVisible(False)
            spin.valueChanged.connect(self._axes_edited)
        self.dims_button = QToolButton()
        self.dims_button.setObjectName("dimsButton")
        self.dims_button.setCheckable(True)
        self.dims_button.setText("3D")
        self.dims_button.setToolTip("Show three projected dimensions")
        self.color_combo = QComboBox()
        self.color_combo.setObjectName("colorCombo")
        for key, text in COLOR_MODES:
            self.color_combo.addItem(text, key)
        self.anchors_check = QCheckBox("targets")
        self.anchors_check.setChecked(True)
        self.anchors_check.setToolTip("Draw the aligned MDS class targets of the current epoch")
        self.lines_check = QCheckBox("lines")
        self.lines_check.setToolTip("Thin lines from labeled samples to their targets")

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        bar.addWidget(QLabel("Projection"))
        bar.addWidget(self.method_combo)
        bar.addWidget(self.dims_button)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Colour by"))
        bar.addWidget(self.color_combo)
        bar.addSpacing(12)
        bar.addWidget(self.anchors_check)
        bar.addWidget(self.lines_check)
        bar.addStretch(1)
        for combo, chars in ((self.method_combo, 8), (self.color_combo, 10)):
            # as wide as the chosen item, but a long item never widens the window
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(chars)
        self.stats = LiveLabel()
        self.stats.setObjectName("structureStats")
        self.note = LiveLabel()
        self.note.set_color("#8a5a00")
        foot = QHBoxLayout()
        foot.setContentsMargins(6, 0, 6, 2)
        foot.addWidget(self.stats, 3)
        foot.addWidget(self.note, 2)
        self.note.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(bar)
        # the latent axes shown (the "Latent axes" projection) on a row of their own: beside the
        # combos they widened the panel past 1280x720 and squeezed the docks beside the view
        self.axes_row = QWidget()
        self.axes_row.setObjectName("axesRow")
        axes = QHBoxLayout(self.axes_row)
        axes.setContentsMargins(4, 0, 4, 0)
        axes.addWidget(QLabel("Axes"))
        for spin in self.axes_spins:
            axes.addWidget(spin)
        axes.addStretch(1)
        self.axes_row.setVisible(False)
        lay.addWidget(self.axes_row)
        from saeviz.app.latent.progress import ProjectionProgress

        self.progress = ProjectionProgress(self, blocked=lambda: session.training)
        self.progress.cancelRequested.connect(self.cancel_projection)
        lay.addWidget(self.progress)
        lay.addWidget(self.view, 1)
        lay.addLayout(foot)
        self.hint = QLabel(self)  # over the top of the view, see set_hint
        self.hint.setObjectName("viewHint")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignCenter)
        self.hint.setStyleSheet("QLabel#viewHint { background: rgba(255, 255, 255, 230); color: #202020; "
                                "border: 1px solid #9a9a9a; border-radius: 6px; padding: 6px 12px; }")
        self.hint.hide()

        st = self.state
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(st.projection)))
        self.dims_button.setChecked(st.dims == 3)
        self.color_combo.setCurrentIndex(max(0, self.color_combo.findData(st.color)))
        self.anchors_check.setChecked(st.show_targets)
        self.lines_check.setChecked(st.show_lines)
        # widgets command the state; the state's events update the widgets and what is shown
        self.method_combo.currentIndexChanged.connect(
            lambda _i: setattr(self.state, "projection", self.method_combo.currentData()))
        self.dims_button.toggled.connect(lambda on: setattr(self.state, "dims", 3 if on else 2))
        self.color_combo.currentIndexChanged.connect(
            lambda _i: setattr(self.state, "color", self.color_combo.currentData()))
        self.anchors_check.toggled.connect(lambda on: setattr(self.state, "show_targets", bool(on)))
        self.lines_check.toggled.connect(lambda on: setattr(self.state, "show_lines", bool(on)))
        slots = ((st.events.projection, self._show_projection), (st.events.dims, self._show_dims),
                 (st.events.axes, self._show_axes), (st.events.color, self._show_color),
                 (st.events.show_targets, self._show_structure), (st.events.show_lines, self._show_structure))
        for signal, slot in slots:
            signal.connect(slot)
        self.destroyed.connect(lambda *_a, slots=slots: [signal.disconnect(slot) for signal, slot in slots])
        self.view.pointClicked.connect(self._clicked)
        self.view.tooltip_provider = self.tooltip

        self._relay = _Relay()
        self._relay.partial.connect(self._slow_partial)
        self._relay.progress.connect(self._slow_progress)
        self._last_linear = "pca"  # where Cancel of a slow projection goes back to
        self._live = None
        self._async_linear = False
        self._slow_raw: np.ndarray | None = None
        self._graph = None  # the nearest-neighbour graph a live t-SNE/UMAP keeps across epochs
        self._slow_states: list = []
        self._seq = 0
        self._coords: np.ndarray | None = None
        self._frame: ProjectionFrame | None = None
        self._n_styled = -1
        self._need_points = False
        self._need_style = False
        self.last_projection_seconds = 0.0
        self._new_projection()
        if self.state.dims == 3:
            self._show_dims(3)

    # -- settings -----------------------------------------------------------------------------
    @property
    def method(self) -> str:
        """The projection method shown (the view state's)."""
        return self.state.projection

    @property
    def dims(self) -> int:
        """2 or 3 projected dimensions (the view state's)."""
        return self.state.dims

    @property
    def color_mode(self) -> str:
        """What the points are coloured by (the view state's)."""
        return self.state.color

    def set_method(self, method: str) -> None:
        self.state.projection = method

    def set_dims(self, dims: int) -> None:
        self.state.dims = dims

    def set_color_mode(self, mode: str) -> None:
        self.state.color = mode

    def method_available(self, method: str) -> bool:
        """Whether ``method`` can run here (UMAP needs an optional package)."""
        i = self.method_combo.findData(method)
        return i >= 0 and self.method_combo.model().item(i).isEnabled()

    # -- the view state's events ------------------------------------------------------------------
    def _show_projection(self, method: str) -> None:
        if not self.method_available(method):
            self.info.emit(self.method_combo.model().item(self.method_combo.findData(method)).toolTip())
            self.state.projection = self._last_linear
            return
        self.method_combo.setCurrentIndex(self.method_combo.findData(method))
        self._projection_changed()

    def _show_dims(self, dims: int) -> None:
        self.dims_button.setChecked(dims == 3)
        self._dims_changed(dims == 3)

    def _show_color(self, mode: str) -> None:
        self.color_combo.setCurrentIndex(self.color_combo.findData(mode))
        self.request_style()

    def _show_structure(self, *_args) -> None:
        self.anchors_check.setChecked(self.state.show_targets)
        self.lines_check.setChecked(self.state.show_lines)
        self._structure_toggled()

    def _axes_edited(self, *_args) -> None:
        if not self._syncing_axes:
            self.state.axes = tuple(spin.value() for spin in self.axes_spins)

    def _show_axes(self, *_args) -> None:
        self._set_axes_range(None)
        if self.method == "axes":
            self._projection_changed()

    def _set_axes_range(self, d: int | None) -> None:
        """Spin boxes for latent size ``d`` (None: as they are) showing the state's axes."""
        self._syncing_axes = True
        try:
            for spin, axis in zip(self.axes_spins, self.state.axes):
                if d is not None:
                    spin.setRange(0, max(0, d - 1))
                spin.setValue(axis)
        finally:
            self._syncing_axes = False

    def _shown_axes(self, dims: int, d: int) -> list[int]:
        """The state's latent axes for ``dims`` dimensions, within a latent space of size ``d``."""
        return [min(a, max(0, d - 1)) for a in self.state.axes[:dims]]

    @property
    def coords(self) -> np.ndarray | None:
        """The displayed coordinates (N, 2 or 3), or None before the first frame."""
        return self._coords

    def live_projection(self):
        """The current linear projection (a ``LiveProjection``; markers and decoding project
        codes with it), or None while a non-linear one (t-SNE, UMAP) is shown."""
        return self._live

    def _new_projection(self) -> None:
        """Forget fitted projections and warm starts (new method, dims, axes or dataset)."""
        from saeviz.core.display.projection import LiveProjection, make_projector

        self.runner.invalidate("projection")
        for state in self._slow_states:
            state.request_interruption()
        self._slow_states = []
        self._slow_raw = None
        self._graph = None
        self._async_linear = False
        self._live = None
        self._seq += 1
        method, dims = self.method, self.dims
        for i, spin in enumerate(self.axes_spins):
            spin.setVisible(method == "axes" and i < dims)
        self.axes_row.setVisible(method == "axes")
        self.progress.finish()
        self.view.set_stale(False)
        if method in ("pca", "lda", "axes"):
            self._last_linear = method
            params = {}
            if method == "axes":
                codes = self.session.codes
                axes = self._shown_axes(dims, codes.shape[1] if codes is not None and codes.ndim == 2
                                        else self.session.model_config.latent_dim)
                if len(set(axes)) != len(axes):
                    self.info.emit("choose different latent axes")
                    axes = list(range(dims))
                params["axes"] = axes
            self._live = LiveProjection(make_projector(method, dims, **params))

    def _projection_changed(self, *_args) -> None:
        self._new_projection()
        self._set_note("")
        self.request_points()

    def _dims_changed(self, on: bool) -> None:
        try:
            self.view.set_dimensions(3 if on else 2)
        except RuntimeError as exc:  # no OpenGL
            self.info.emit(str(exc))
            with QSignalBlocker(self.dims_button):
                self.dims_button.setChecked(False)
            self.state.dims = 2
            return
        self._n_styled = -1
        self._projection_changed()

    def _structure_toggled(self, *_args) -> None:
        if self._frame is not None:
            self._draw_structure(self._frame)

    def dataset_changed(self) -> None:
        self._coords = None
        self._frame = None
        self._n_styled = -1
        self._set_axes_range(self.session.model_config.latent_dim)
        self._new_projection()
        self.request_points()

    def latent_dim_changed(self, d: int) -> None:
        self._set_axes_range(d)

    # -- requests (flushed by the window's frame timer) --------------------------------------
    def request_points(self) -> None:
        self._need_points = True
        self.frameRequested.emit()

    def request_style(self, *_args) -> None:
        self._need_style = True
        self.frameRequested.emit()

    @property
    def dirty(self) -> bool:
        return self._need_points or self._need_style

    def flush(self) -> None:
        if self._need_points:
            self._need_points = False
            self._update_points()
        if self._need_style:
            self._need_style = False
            self.restyle()

    # -- projection -------------------------------------------------------------------------------
    def _update_points(self) -> None:
        s = self.session
        codes = s.codes
        if codes is None or s.labels is None or len(codes) != s.n_samples:
            self._coords = None
            self._frame = None
            self.view.set_points(np.empty((0, self.dims)))
            self.view.set_anchors(np.empty((0, self.dims)), [])
            self.view.set_target_lines(np.empty((0, self.dims)), np.empty((0, self.dims)))
            return
        labels = np.array(s.labels.labels)
        snap = s.snapshot
        t_idx = snap.target_index if snap is not None else None
        t_val = snap.targets if snap is not None else None
        if self.method in ("umap", "tsne"):
            self._submit_slow(codes)
            return
        live_axes = getattr(self._live.projector, "axes", None) if self._live is not None else None
        if self.method == "axes" and live_axes is not None and max(live_axes) >= codes.shape[1]:
            self._set_axes_range(codes.shape[1])
            self._new_projection()
        if self._async_linear:
            seq = self._seq
            self.runner.submit("projection", project_linear, self._live, codes, labels,
                               s.class_targets, t_idx, t_val,
                               on_result=lambda f, seq=seq: self._linear_done(seq, f),
                               on_error=self._projection_failed)
            return
        try:
            frame = project_linear(self._live, codes, labels, s.class_targets, t_idx, t_val)
        except SaevizError as exc:
            self._projection_failed(exc)
            return
        self.last_projection_seconds = frame.seconds
        if frame.seconds > LINEAR_BUDGET_S:
            self._async_linear = True
        self._apply(frame)

    def _linear_done(self, seq: int, frame: ProjectionFrame) -> None:
        if seq == self._seq:
            self.last_projection_seconds = frame.seconds
            self._apply(frame)

    def _submit_slow(self, codes: np.ndarray) -> None:
        from saeviz.core.display.embedding import NeighborGraph, run_tsne, run_umap
        from saeviz.core.display.projection import ProgressState

        seq = self._seq
        method, dims = self.method, self.dims
        relay = self._relay

        state = ProgressState(on_partial=lambda y: relay.partial.emit(seq, y),
                              on_progress=lambda p: relay.progress.emit(seq, p))
        self._slow_states.append(state)
        if self._graph is None:
            self._graph = NeighborGraph()
        graph = self._graph
        name = dict(PROJECTIONS)[method]
        if self.runner.busy("projection") and self.progress.isVisible():
            pass  # newer codes replace the queued ones; the bar goes on
        elif self._slow_raw is None:  # the points shown are another projection's until it is done
            self.view.set_stale(True)
            self.progress.start(name, "the dimmed points are the previous projection")
        else:
            self.progress.start(name, "refining the last layout with the newest codes")

        def job(codes=np.array(codes, copy=True)):
            # Runs after the previous job's result was handed over: warm-start from it.
            previous = self._slow_raw if seq == self._seq else None
            if method == "tsne":
                return run_tsne(codes, state, n_components=dims, previous=previous, graph=graph)
            return run_umap(codes, state, n_components=dims, previous=previous, graph=graph)

        if not self.runner.busy("projection"):
            self.info.emit(f"computing {name}…")
        self.runner.submit("projection", job,
                           on_result=lambda y, seq=seq: self._slow_done(seq, y),
                           on_error=self._projection_failed)

    @Slot(int, float)
    def _slow_progress(self, seq: int, percent: float) -> None:
        if seq == self._seq and self.progress.isVisible() and self.method in ("umap", "tsne"):
            unit = "iterations" if self.method == "tsne" else "epochs"
            self.progress.set_progress(percent, f"{percent:.0f}% of the {unit}")

    def cancel_projection(self) -> None:
        """Stop the running t-SNE or UMAP and go back to the last linear projection."""
        if self.method not in ("umap", "tsne"):
            return
        name = dict(PROJECTIONS)[self.method]
        for state in self._slow_states:
            state.request_interruption()
        self.runner.invalidate("projection")
        self.progress.finish()
        self.view.set_stale(False)
        self.set_method(self._last_linear)
        self.info.emit(f"{name} cancelled; showing {dict(PROJECTIONS)[self._last_linear]}")

    @Slot(int, object)
    def _slow_partial(self, seq: int, coords) -> None:
        if seq == self._seq and self.runner.busy("projection"):
            self._show_slow(coords, final=False)

    def _slow_done(self, seq: int, coords) -> None:
        self._slow_states = [st for st in self._slow_states if not st.is_interruption_requested()][-2:]
        if seq != self._seq:
            return
        self._slow_raw = np.asarray(coords)
        if not self.runner.busy("projection"):  # else newer codes are queued: the bar goes on
            self.progress.finish()
            self.info.emit("")
        self.view.set_stale(False)
        self._show_slow(coords, final=True)

    def _show_slow(self, coords, final: bool) -> None:
        from saeviz.core.display.projection import align_frames

        Y = np.asarray(coords, np.float64)
        if self._coords is not None and self._coords.shape == Y.shape:
            Y = align_frames(self._coords, Y)
        self._apply(ProjectionFrame(Y, note="class targets are drawn for linear projections only"))

    def set_hint(self, text: str) -> None:
        """A message over the top of the view (what to do next); hidden when empty."""
        self.hint.setText(text)
        self.hint.setVisible(bool(text))
        if text:
            self._place_hint()

    def _place_hint(self) -> None:
        g = self.view.geometry()
        self.hint.setFixedWidth(max(120, min(g.width() - 24, 520)))
        self.hint.adjustSize()
        # low in the view, clear of the legend (top right) and of the x axis
        self.hint.move(g.x() + (g.width() - self.hint.width()) // 2,
                       max(g.y() + 8, g.y() + g.height() - self.hint.height() - 56))
        self.hint.raise_()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self.hint.isHidden():
            self._place_hint()

    def _set_note(self, text: str) -> None:
        """A remark beside the structure figures (fallbacks, missing results); hidden when empty."""
        self.note.setText(text)
        if self.note.isHidden() == bool(text):
            self.note.setHidden(not text)

    def _projection_failed(self, exc: BaseException) -> None:
        self.progress.finish()
        self.view.set_stale(False)
        self._set_note(str(exc))
        self.info.emit(f"projection failed: {exc}")

    def show_selection(self, pos: int) -> None:
        n = 0 if self._coords is None else len(self._coords)
        self.view.set_selection(pos if 0 <= pos < n else None)

    def _apply(self, frame: ProjectionFrame) -> None:
        self._frame = frame
        self._coords = frame.coords
        n = len(frame.coords)
        self.view.set_points(frame.coords)
        self.view.set_axis_labels(self._axis_labels())
        if n != self._n_styled:
            self.restyle()
        self._draw_structure(frame)
        self.show_selection(self.session.selected)
        if frame.note is not None:
            self._set_note(frame.note)
        elif self.method not in ("umap", "tsne"):
            self._set_note("")

    def _draw_structure(self, frame: ProjectionFrame) -> None:
        k = frame.coords.shape[1]
        store = self.session.labels
        if self.state.show_targets and frame.anchors is not None and store is not None:
            ok = np.isfinite(frame.anchors).all(axis=1)
            colors = [c for c, good in zip(store.colors, ok) if good]
            self.view.set_anchors(frame.anchors[ok], colors)
        else:
            self.view.set_anchors(np.empty((0, k)), [])
        if self.state.show_lines and frame.line_src is not None:
            self.view.set_target_lines(frame.line_src, frame.line_dst)
        else:
            self.view.set_target_lines(np.empty((0, k)), np.empty((0, k)))

    # -- colours --------------------------------------------------------------------------------------
    def restyle(self) -> None:
        s = self.session
        if s.labels is None or self._coords is None:
            return
        labels = np.array(s.labels.labels)
        colors = list(s.labels.colors)
        names = list(s.labels.class_names)
        n = len(labels)
        if len(self._coords) != n:
            return
        self._n_styled = n
        res = s.classifier if (s.classifier is not None and len(s.classifier.predicted) == n) else None
        mode = self.state.color
        style = dict(mode="label")
        if mode == "recon":
            errors = s.recon_errors
            if errors is not None and len(errors) == n:
                style = dict(mode="error", values=errors)
            else:
                self.needsReconErrors.emit()
                self._set_note("computing reconstruction errors…" if s.model is not None
                                  else "reconstruction errors appear after the first epoch")
        elif res is None:
            self._set_note("predictions appear after the first epoch")
        elif mode == "prediction":
            style = dict(mode="prediction", predicted=res.predicted)
        elif mode == "confidence":
            style = dict(mode="confidence", values=res.confidence, predicted=res.predicted)
        elif mode == "wrong":
            truth = s.y if s.has_ground_truth else labels
            wrong = ((truth >= 0) & (res.predicted != truth)).astype(float)
            style = dict(mode="error", values=wrong, predicted=res.predicted)
        self.view.set_style(labels, colors, names=names, **style)

    def _axis_labels(self) -> list[str]:
        if self.method in ("umap", "tsne"):
            text = dict(PROJECTIONS)[self.method]
            return [f"{text} {i + 1}" for i in range(self.dims)]
        return self._live.projector.axis_labels() if self._live is not None else ["", ""]

    # -- interaction -----------------------------------------------------------------------------------
    def _clicked(self, i: int) -> None:
        if 0 <= i < self.session.n_samples:
            self.session.select(i)
            self.sampleClicked.emit(i)

    def tooltip(self, i: int) -> str:
        s = self.session
        if s.labels is None or not 0 <= i < s.n_samples:
            return ""
        names = s.labels.class_names
        lab = int(s.labels.labels[i])
        parts = [f"sample {s.dataset_index(i)}", f"label: {names[lab] if lab >= 0 else 'unlabeled'}"]
        if s.has_ground_truth:
            parts.append(f"truth: {names[int(s.y[i])]}")
        res = s.classifier
        if res is not None and i < len(res.predicted):
            parts.append(f"prediction: {names[int(res.predicted[i])]} ({float(res.confidence[i]):.2f})")
        return "\n".join(parts)

    def export_image(self, path) -> Path:
        """The plot as PNG or SVG, written atomically."""
        path = Path(path)
        if path.suffix.lower() not in (".png", ".svg"):
            raise SaevizError(f"{path}: export the plot as .png or .svg")
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
        try:
            self.view.export_image(str(tmp))
            if not tmp.exists():
                raise SaevizError(f"{path}: the plot could not be written")
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    def shutdown(self) -> None:
        self.progress.finish()
        for state in self._slow_states:
            state.request_interruption()
        self.view.release_3d()
