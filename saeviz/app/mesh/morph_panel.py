"""The morph panel: class transitions (the paper's section 3.7) and paths between samples.

The selected sample's code ``z`` moves along a straight latent path and the decoded result is
shown as the slider moves:

* class transition: ``z + t (c_target - c_source)``, with ``c`` the class centers, the mean
  codes of each class's labeled samples at the end of the newest epoch (recomputed when the
  labels change). The source defaults to the sample's own class (its label, else the
  classifier's prediction) and the target to the nearest other class;
* toward another sample: ``z + t (z_end - z)``, the end sample set from the selection.

``t`` runs from ``T_MIN`` to ``T_MAX`` (a slider and a spin box); values outside [0, 1]
extrapolate. Play animates back and forth over the export range. Meshes are shown in the
mesh viewport (its points rewritten in place), images as the decoded image above a strip of
steps, vectors as a curve. The latent view marks the two class centers, the path and the
moving code. The linear SVM of the codes (refitted with the centers) gives the class
probabilities of the moving code.

Decoding (``saeviz.core.display.decoding``) runs on the panel's own worker thread: slider
events coalesce there (one decode runs, the newest request waits, older ones are dropped), so
a fast drag never builds a queue of stale frames; the worker also computes the vertex normals,
leaving a copy into VTK's arrays and one render to the UI thread (the viewport renders at most
once per display frame, always the newest frame; ``benchmarks/bench_morph.py`` measures it).
The decoding worker keeps the UI's scheduling priority: the user waits on every frame.
Exports (a numbered PLY/OBJ sequence, or an animated GIF or MP4 of the viewport or of the
decoded images) decode every frame in one batch, render the viewport frames on the UI thread
one per event-loop turn, and write the files on another worker, atomically.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSignalBlocker, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.live_gate import LiveGate
from saeviz.app.common.tasks import TaskRunner
from saeviz.app.mesh.decode_anywhere import LatentMarkers
from saeviz.app.mesh.marked_slider import MarkedSlider
from saeviz.core.display.decoding import (
    DecodeContext,
    MorphFrame,
    decode_frame,
    image_frame,
)
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.morph import (
    ANIMATION_SUFFIXES,
    MESH_SEQUENCE_SUFFIXES,
    class_centers,
    decode_codes,
    interpolate,
    morph_path,
    save_animation,
    save_mesh_sequence,
    steps,
)
from saeviz.core.state.labels import follow_store

T_MIN, T_MAX = -0.5, 1.5
SLIDER_STEPS = 100        # slider positions per unit of t
PLAY_PERIOD_S = 2.0       # one way through the play range
PLAY_INTERVAL_MS = 33
ANIMATION_QUIET_MS = 600  # the slider still this long (and not held): the user stopped driving
STRIP_STEPS = 7
EXPORT_FPS = 20.0
PATHS = (("transition", "Class transition"), ("between", "Toward another sample"))


class MorphPanel(QWidget):
    """Slider, path and export controls; shows the decoded path point (module docs)."""

    frameShown = Signal(object)      # the MorphFrame now on screen
    exportFinished = Signal(object)  # the written path(s), or the exception
    # The user started (True) or stopped (False) driving the morph frame by frame: the slider
    # dragged or moved by keys, or Play. Training yields the processor meanwhile.
    animating = Signal(bool)

    def __init__(self, session, mesh_view=None, markers: LatentMarkers | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        from saeviz.app.common.sample_panes import CurvePane, ImagePane

        self.session = session
        self.mesh_view = mesh_view
        self.markers = markers
        # decoding, one request at a time, at the UI's priority: the user waits on every frame
        self._frames = TaskRunner(self, max_threads=1)
        self._files = TaskRunner(self, max_threads=1)    # writing exports
        self._ctx = DecodeContext()
        self._codes: np.ndarray | None = None       # epoch-end codes the centers come from
        self._centers: np.ndarray | None = None
        self._classifier: LatentClassifier | None = None
        self._start = -1
        self._end = -1
        self._t = 0.0
        self._range = (0.0, 1.0)
        self._store = None
        self._export: dict | None = None
        self.last_frame: MorphFrame | None = None
        self.frames_shown = 0

        self.sample_label = QLabel("–")
        self.sample_label.setObjectName("morphSample")
        self.path_combo = QComboBox()
        self.path_combo.setObjectName("morphPathCombo")
        for key, text in PATHS:
            self.path_combo.addItem(text, key)
        self.source_combo = QComboBox()
        self.source_combo.setObjectName("morphSource")
        self.target_combo = QComboBox()
        self.target_combo.setObjectName("morphTarget")
        classes = QWidget()
        crow = QHBoxLayout(classes)
        crow.setContentsMargins(0, 0, 0, 0)
        crow.addWidget(QLabel("from"))
        crow.addWidget(self.source_combo, 1)
        crow.addWidget(QLabel("to"))
        crow.addWidget(self.target_combo, 1)
        self.end_label = QLabel("–")
        self.end_button = QPushButton("Use selection")
        self.end_button.setObjectName("morphEndButton")
        self.end_button.setToolTip("Make the selected sample the end of the path, then select the start")
        ends = QWidget()
        erow = QHBoxLayout(ends)
        erow.setContentsMargins(0, 0, 0, 0)
        erow.addWidget(self.end_label, 1)
        erow.addWidget(self.end_button)
        self.path_stack = QStackedWidget()
        self.path_stack.addWidget(classes)
        self.path_stack.addWidget(ends)

        self.slider = MarkedSlider()
        self.slider.setObjectName("morphSlider")
        self.slider.setRange(int(round(T_MIN * SLIDER_STEPS)), int(round(T_MAX * SLIDER_STEPS)))
        self.slider.setValue(0)
        self.slider.setToolTip("t: 0 is the sample, 1 has moved it by the whole path")
        self.spin = QDoubleSpinBox()
        self.spin.setObjectName("morphT")
        self.spin.setRange(T_MIN, T_MAX)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(1.0 / SLIDER_STEPS * 5)
        self.spin.setPrefix("t = ")
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("morphPlay")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Animate back and forth over the range below")
        self.slider.setMinimumWidth(120)
        trow = QVBoxLayout()  # the slider gets the panel's whole width, however narrow the panel
        trow.addWidget(self.slider)
        prow = QHBoxLayout()
        prow.addWidget(self.spin, 1)
        prow.addWidget(self.play_button)
        trow.addLayout(prow)
        self._drive_rows = trow

        self.info = QLabel("")
        self.info.setObjectName("morphInfo")
        self.info.setWordWrap(True)
        self.image = ImagePane("decoded")
        self.curve = CurvePane()
        self.mesh_note = QLabel("The morph is shown in the mesh viewport.")
        self.mesh_note.setWordWrap(True)
        self.display = QStackedWidget()
        for w in (self.image, self.curve):
            self.display.addWidget(w)
        self.strip = QWidget()
        srow = QHBoxLayout(self.strip)
        srow.setContentsMargins(0, 0, 0, 0)
        srow.setSpacing(2)
        self.strip_panes = []
        for _ in range(STRIP_STEPS):
            pane = ImagePane("")
            pane.setMinimumSize(36, 36)
            srow.addWidget(pane)
            self.strip_panes.append(pane)

        self.from_spin = QDoubleSpinBox()
        self.to_spin = QDoubleSpinBox()
        for spin, value in ((self.from_spin, 0.0), (self.to_spin, 1.0)):
            spin.setRange(T_MIN, T_MAX)
            spin.setDecimals(2)
            spin.setSingleStep(0.1)
            spin.setValue(value)
        self.from_spin.setObjectName("morphFrom")
        self.to_spin.setObjectName("morphTo")
        self.frames_spin = QSpinBox()
        self.frames_spin.setObjectName("morphFrames")
        self.frames_spin.setRange(2, 500)
        self.frames_spin.setValue(30)
        self.export_button = QPushButton("Export…")
        self.export_button.setObjectName("morphExport")
        self.export_button.setToolTip("Save the path from 'from' to 'to' as PLY/OBJ files, a GIF or an MP4")
        grid = QGridLayout()
        grid.addWidget(QLabel("from"), 0, 0)
        grid.addWidget(self.from_spin, 0, 1)
        grid.addWidget(QLabel("to"), 0, 2)
        grid.addWidget(self.to_spin, 0, 3)
        grid.addWidget(QLabel("frames"), 1, 0)
        grid.addWidget(self.frames_spin, 1, 1)
        grid.addWidget(self.export_button, 1, 2, 1, 2)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #666666")

        form = QFormLayout()
        form.addRow("Sample", self.sample_label)
        form.addRow("Path", self.path_combo)
        form.addRow("", self.path_stack)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(trow)  # what the user drives first: in sight in a short dock
        lay.addLayout(form)
        lay.addWidget(self.info)
        lay.addWidget(self.mesh_note)
        lay.addWidget(self.display, 1)
        lay.addWidget(self.strip)
        lay.addLayout(grid)
        lay.addWidget(self.status)
        lay.addStretch(1)

        self._play_timer = QTimer(self)
        self._play_timer.setInterval(PLAY_INTERVAL_MS)
        self._play_timer.timeout.connect(self._play_tick)
        self._play_start = 0.0
        self.is_animating = False
        self._quiet_timer = QTimer(self)  # no slider move for this long: the user stopped
        self._quiet_timer.setSingleShot(True)
        self._quiet_timer.setInterval(ANIMATION_QUIET_MS)
        self._quiet_timer.timeout.connect(self._animation_quiet)

        self.slider.valueChanged.connect(self._slider_moved)
        self.spin.valueChanged.connect(self._spin_changed)
        self.path_combo.currentIndexChanged.connect(self._path_kind_changed)
        self.source_combo.currentIndexChanged.connect(self._user_path_changed)
        self.target_combo.currentIndexChanged.connect(self._user_path_changed)
        self.end_button.clicked.connect(self.use_selection_as_end)
        self.play_button.toggled.connect(self.set_playing)
        self.export_button.clicked.connect(self._export_dialog)
        self.from_spin.valueChanged.connect(lambda _v: self._request_strip())
        self.to_spin.valueChanged.connect(lambda _v: self._request_strip())

        self._gate = LiveGate(self, self._follow, lambda: session.training)
        session.dataset_changed.connect(self._dataset_changed)
        session.snapshot_changed.connect(self._snapshot_changed)
        session.model_changed.connect(self._model_changed)
        session.selection_changed.connect(self._selection_changed)
        session.classifier_changed.connect(self._classifier_changed)
        session.training_state.finished.connect(self._gate.run_pending)  # no wait once training ends
        self._dataset_changed()

    def drive_height(self) -> int:
        """Pixels from the panel's top to the bottom of the slider, t and Play row: what a
        dock must show of the panel for the user to drive the morph without scrolling."""
        margins = self.layout().contentsMargins()
        return margins.top() + self._drive_rows.sizeHint().height() + self.layout().spacing()

    # -- state read by others ------------------------------------------------------------------------
    @property
    def t(self) -> float:
        return self._t

    @property
    def centers(self) -> np.ndarray | None:
        """Class centers (K, d) of the newest epoch-end codes (NaN rows: no labels)."""
        return self._centers

    @property
    def path_kind(self) -> str:
        return self.path_combo.currentData()

    @property
    def source_class(self) -> int:
        return int(self.source_combo.currentIndex())

    @property
    def target_class(self) -> int:
        return int(self.target_combo.currentIndex())

    def start_code(self) -> np.ndarray | None:
        """The code of the sample being morphed (the selection), or None."""
        if self._codes is None or not 0 <= self._start < len(self._codes):
            return None
        return np.asarray(self._codes[self._start], np.float64)

    def path_code(self, t: float) -> np.ndarray | None:
        """The code at ``t`` on the current path, or None (the reason goes to the status line)."""
        why = self._not_ready()
        if why:
            self.status.setText(why)
            return None
        z = self.start_code()
        if self.path_kind == "transition":
            c = self._centers
            return morph_path(z, c[self.source_class], c[self.target_class], t)
        return interpolate(z, np.asarray(self._codes[self._end], np.float64), t)

    def _not_ready(self) -> str | None:
        s = self.session
        if s.dataset is None:
            return "No dataset is open."
        if s.model is None or self._codes is None:
            return "Train or load a model: the morph decodes with it."
        if self._codes.shape[1] != int(s.model.latent_dim):
            return "The codes belong to another model; train an epoch first."
        if self.start_code() is None:
            return "Select a sample in the latent view."
        if self.path_kind == "transition":
            c = self._centers
            src, tgt = self.source_class, self.target_class
            if c is None or not (0 <= src < len(c) and 0 <= tgt < len(c)):
                return "Label samples of two classes first."
            names = s.labels.class_names
            for k in (src, tgt):
                if not np.isfinite(c[k]).all():
                    return f"Class {names[k]} has no labeled samples, so it has no center yet."
            if src == tgt:
                return "Choose two different classes."
        elif not 0 <= self._end < len(self._codes):
            return "Select the end sample and press 'Use selection', then select the start."
        return None

    # -- session -> panel --------------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        s = self.session
        self.set_playing(False)
        self._gate.cancel()
        self._frames.invalidate()
        self._files.invalidate()
        self._export = None
        self._store = follow_store(self._store, s.labels, labels=self._labels_changed, classes=self._classes_changed)
        self._codes = self._centers = self._classifier = None
        self._start = self._end = -1
        self._clear_frame()
        self._reset_t()
        self.end_label.setText("–")
        self._fill_class_combos()
        ds = s.dataset
        kind = ds.kind if ds is not None else "image"
        self.display.setCurrentIndex(1 if kind == "vector" else 0)
        self.display.setVisible(kind != "mesh")
        self.mesh_note.setVisible(kind == "mesh")
        self.strip.setVisible(kind == "image")
        self.image.set_array(None)
        self.curve.set_arrays(None, None)
        for pane in self.strip_panes:
            pane.set_array(None)
        if ds is not None and kind == "image":
            sample = s.X[: min(len(s.X), 2000)]
            self._range = (float(sample.min()), float(sample.max()))
        if self.markers is not None:
            self.markers.clear()
        self._snapshot_changed()

    def _fill_class_combos(self) -> None:
        store = self.session.labels
        names = list(store.class_names) if store is not None else []
        for combo in (self.source_combo, self.target_combo):
            with QSignalBlocker(combo):
                combo.clear()
                combo.addItems(names)

    def _classes_changed(self, *_args) -> None:
        self._fill_class_combos()
        self._default_classes()
        self._labels_changed()

    def _snapshot_changed(self) -> None:
        s = self.session
        snap = s.snapshot
        if s.codes is None:
            self._gate.cancel()
            self._codes = None
            self._centers = None
            self._classifier = None
            self._path_changed()
        elif snap is None or snap.final:
            if self._codes is not s.codes:
                self._gate.request()
        # (codes inside an epoch: the centers follow at its end)

    def _model_changed(self) -> None:
        if self.session.model is None:
            self._path_changed()
        else:
            self._gate.request()

    def _follow(self) -> None:
        """The newest codes and model (through the gate: while training, at most twice a second,
        and not while the panel is hidden)."""
        s = self.session
        if s.codes is not None and self._codes is not s.codes:
            self._codes = np.asarray(s.codes)
            self._update_centers()
        else:
            self._path_changed()

    def _labels_changed(self, *_args) -> None:
        if self._codes is not None:
            self._update_centers()

    def _update_centers(self) -> None:
        s = self.session
        labels = np.array(s.labels.labels)
        self._centers = class_centers(self._codes, labels, s.labels.n_classes)
        self._classifier = self._session_classifier()
        if self.source_combo.currentIndex() < 0 or self.source_class == self.target_class:
            self._default_classes()
        self._path_changed()

    def _session_classifier(self) -> LatentClassifier | None:
        """The session's latent SVM of the newest epoch (fitted once, by the training flow)."""
        res = self.session.classifier
        if res is None or self._codes is None or res.n != len(self._codes):
            return None
        return res.classifier

    def _classifier_changed(self) -> None:
        clf = self._session_classifier()
        if clf is not self._classifier:
            self._classifier = clf
            if self._codes is not None:
                self._gate.request()  # the moving code's class probabilities

    def _selection_changed(self, pos: int) -> None:
        if int(pos) != self._start:
            self._reset_t()  # a new sample starts at itself, not where the last one was moved to
        self._start = int(pos)
        s = self.session
        if pos >= 0 and s.dataset is not None:
            self.sample_label.setText(f"{s.dataset_index(pos)} ({self._class_text(pos)})")
        else:
            self.sample_label.setText("–")
        self._default_classes()
        self._path_changed()

    def _class_text(self, pos: int) -> str:
        s = self.session
        names = s.labels.class_names
        lab = int(s.labels.labels[pos])
        if lab >= 0:
            return f"labeled {names[lab]}"
        res = s.classifier
        if res is not None and pos < len(res.predicted):
            return f"predicted {names[int(res.predicted[pos])]}"
        return "unlabeled"

    def _own_class(self, pos: int) -> int:
        s = self.session
        lab = int(s.labels.labels[pos])
        if lab >= 0:
            return lab
        res = s.classifier
        if res is not None and pos < len(res.predicted):
            return int(res.predicted[pos])
        if self._centers is not None and self._codes is not None:
            d = np.linalg.norm(self._centers - self._codes[pos], axis=1)
            if np.isfinite(d).any():
                return int(np.nanargmin(d))
        return 0

    def _default_classes(self) -> None:
        """Source: the sample's own class; target: the nearest other class with a center."""
        s = self.session
        if s.labels is None or s.labels.n_classes < 2:
            return
        pos = self._start
        src = self._own_class(pos) if 0 <= pos < s.n_samples else 0
        tgt = (src + 1) % s.labels.n_classes
        c = self._centers
        if c is not None and np.isfinite(c[src]).all():
            d = np.linalg.norm(c - c[src], axis=1)
            d[src] = np.inf
            d[~np.isfinite(d)] = np.inf
            if np.isfinite(d).any():
                tgt = int(np.argmin(d))
        with QSignalBlocker(self.source_combo), QSignalBlocker(self.target_combo):
            self.source_combo.setCurrentIndex(src)
            self.target_combo.setCurrentIndex(tgt)

    # -- user -> panel --------------------------------------------------------------------------------------
    def set_classes(self, source: int, target: int) -> None:
        with QSignalBlocker(self.source_combo), QSignalBlocker(self.target_combo):
            self.source_combo.setCurrentIndex(int(source))
            self.target_combo.setCurrentIndex(int(target))
        self._user_path_changed()

    def set_path_kind(self, kind: str) -> None:
        self.path_combo.setCurrentIndex(self.path_combo.findData(kind))

    def use_selection_as_end(self) -> None:
        pos = self.session.selected
        if pos < 0:
            self.status.setText("Select the end sample first.")
            return
        self._end = int(pos)
        s = self.session
        self.end_label.setText(f"end: sample {s.dataset_index(pos)} ({self._class_text(pos)}); now select the start")
        self.set_path_kind("between")
        self._user_path_changed()

    def _path_kind_changed(self, *_args) -> None:
        self.path_stack.setCurrentIndex(0 if self.path_kind == "transition" else 1)
        self._user_path_changed()

    def _user_path_changed(self, *_args) -> None:
        self._show_in_viewport()
        self._path_changed()

    def _show_in_viewport(self) -> None:
        if self.mesh_view is not None and self.session.dataset is not None and self.session.dataset.kind == "mesh":
            self.mesh_view.set_mode("morph")

    def set_t(self, t: float) -> None:
        """Move to ``t`` (clipped to the slider's range) and show that point."""
        t = float(np.clip(t, T_MIN, T_MAX))
        self._t = t
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.slider.setValue(int(round(t * SLIDER_STEPS)))
            self.spin.setValue(t)
        self._show_in_viewport()
        self._request_frame()

    def _slider_moved(self, value: int) -> None:
        self._set_animating(True)
        self._t = value / SLIDER_STEPS
        with QSignalBlocker(self.spin):
            self.spin.setValue(self._t)
        self._show_in_viewport()
        self._request_frame()

    def _spin_changed(self, value: float) -> None:
        self._t = float(value)
        with QSignalBlocker(self.slider):
            self.slider.setValue(int(round(self._t * SLIDER_STEPS)))
        self._show_in_viewport()
        self._request_frame()

    # -- play ---------------------------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._play_timer.isActive()

    def set_playing(self, on: bool) -> None:
        on = bool(on)
        if on and self._not_ready():
            self.status.setText(self._not_ready())
            on = False
        if on:
            self._play_start = time.monotonic()
            self._play_timer.start()
            self._show_in_viewport()
        else:
            self._play_timer.stop()
        self._set_animating(on or self.slider.isSliderDown())
        if self.play_button.isChecked() != on:
            with QSignalBlocker(self.play_button):
                self.play_button.setChecked(on)
        self.play_button.setText("Stop" if on else "Play")

    def _set_animating(self, on: bool) -> None:
        if on:
            self._quiet_timer.start()
        else:
            self._quiet_timer.stop()
        if on != self.is_animating:
            self.is_animating = on
            self.animating.emit(on)

    def _animation_quiet(self) -> None:
        if self.playing or self.slider.isSliderDown():  # held still, not let go: still driving
            self._quiet_timer.start()
        else:
            self._set_animating(False)

    def _play_tick(self) -> None:
        phase = ((time.monotonic() - self._play_start) / PLAY_PERIOD_S) % 2.0
        u = phase if phase <= 1.0 else 2.0 - phase
        a, b = self.from_spin.value(), self.to_spin.value()
        self.set_t(a + (b - a) * u)

    # -- decoding ------------------------------------------------------------------------------------------------
    def _path_changed(self) -> None:
        self._update_markers()
        self._request_frame()
        self._request_strip()

    def _faces(self):
        ds = self.session.dataset
        return ds.faces if (ds is not None and ds.kind == "mesh") else None

    def _reset_t(self) -> None:
        self._t = 0.0
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.slider.setValue(0)
            self.spin.setValue(0.0)

    def _clear_frame(self) -> None:
        """Nothing decoded is shown: no path now, or it belonged to another model or dataset."""
        self._frames.invalidate("frame")
        self.last_frame = None
        self.info.setText("")
        self.image.set_array(None)
        self.curve.set_arrays(None, None)
        if self.mesh_view is not None:
            self.mesh_view.clear_morph()
        if self.markers is not None:
            self.markers.set_moving(None)

    def _request_frame(self) -> None:
        code = self.path_code(self._t)
        if code is None:
            self._clear_frame()
            return
        self.status.setText("")
        self._frames.submit("frame", decode_frame, self._ctx, self.session.model, self._t, code,
                            self._faces(), self._classifier,
                            on_result=self._frame_ready,
                            on_error=lambda exc: self.status.setText(f"Cannot decode: {exc}"))

    def _frame_ready(self, frame: MorphFrame) -> None:
        s = self.session
        if s.dataset is None or s.model is None:
            return
        self.last_frame = frame
        kind = s.dataset.kind
        if kind == "mesh":
            if self.mesh_view is not None:
                self.mesh_view.set_morph(frame.sample, frame.normals)
                self.mesh_view.set_caption(f"t = {frame.t:.2f}")
                self.mesh_view.set_morph_info(f"{self._path_text()}: {self._frame_text(frame)}")
        elif kind == "image":
            lo, hi = self._range
            self.image.set_array(frame.sample, lo, hi)
        else:
            self.curve.set_arrays(None, frame.sample)
        if self.markers is not None:
            self.markers.set_moving(frame.code)
        self.info.setText(self._frame_text(frame))
        self.frames_shown += 1
        self.frameShown.emit(frame)

    def _frame_text(self, frame: MorphFrame) -> str:
        parts = [f"t = {frame.t:.2f}"]
        if frame.proba is not None:
            names = self.session.labels.class_names
            order = np.argsort(frame.proba)[::-1][:2]
            parts.append("SVM: " + ", ".join(f"{names[int(frame.classes[i])]} {100 * frame.proba[i]:.0f}%"
                                             for i in order))
        parts.append(f"decoded in {1000 * frame.seconds:.1f} ms")
        return " · ".join(parts)

    def _request_strip(self) -> None:
        ds = self.session.dataset
        if ds is None or ds.kind != "image":
            return
        a, b = self.from_spin.value(), self.to_spin.value()
        codes = [self.path_code(t) for t in steps(a, b, STRIP_STEPS)]
        if any(c is None for c in codes):
            for pane in self.strip_panes:
                pane.set_array(None)
            return
        self._frames.submit("strip", decode_codes, self.session.model, np.stack(codes),
                            on_result=self._strip_ready, on_error=lambda exc: None)

    def _strip_ready(self, images: np.ndarray) -> None:
        lo, hi = self._range
        for pane, img in zip(self.strip_panes, images):
            pane.set_array(img, lo, hi)

    def _path_ends(self) -> tuple[str, str]:
        """Names of the path's ends (t = 0 and t = 1)."""
        s = self.session
        if self.path_kind == "transition":
            names = list(s.labels.class_names) if s.labels is not None else []
            src, tgt = self.source_class, self.target_class
            if 0 <= src < len(names) and 0 <= tgt < len(names):
                return names[src], names[tgt]
            return "", ""
        end = f"sample {s.dataset_index(self._end)}" if 0 <= self._end < s.n_samples else "end"
        return "start", end

    def _path_text(self) -> str:
        a, b = self._path_ends()
        return f"morph {a} → {b}" if a and b else "morph"

    def _update_slider_marks(self) -> None:
        a, b = self._path_ends()
        self.slider.set_marks([(0, f"0 · {a}" if a else "0"), (SLIDER_STEPS, f"{b} · 1" if b else "1")])

    def _update_markers(self) -> None:
        self._update_slider_marks()
        m = self.markers
        if m is None:
            return
        s = self.session
        z = self.start_code()
        if z is None or self._not_ready():
            m.clear()
            return
        if self.path_kind == "transition":
            src, tgt = self.source_class, self.target_class
            colors = list(s.labels.colors)
            m.set_centers(self._centers[[src, tgt]], [colors[src], colors[tgt]])
        else:
            m.set_centers(None)
        m.set_path(self.path_code(T_MIN), self.path_code(T_MAX))

    # -- export --------------------------------------------------------------------------------------------------
    @property
    def exporting(self) -> bool:
        return self._export is not None

    def export(self, path, n_frames: int | None = None, t_from: float | None = None,
               t_to: float | None = None, fps: float = EXPORT_FPS) -> bool:
        """Export the path from ``t_from`` to ``t_to`` in ``n_frames`` steps to ``path``:
        ``.ply``/``.obj`` (numbered files, meshes only), ``.gif`` or ``.mp4``. Runs in the
        background; ``exportFinished`` reports the result. False when it cannot start."""
        path = Path(path)
        suffix = path.suffix.lower()
        s = self.session
        if self._export is not None:
            self.status.setText("An export is running.")
            return False
        if suffix not in ANIMATION_SUFFIXES + MESH_SEQUENCE_SUFFIXES:
            self.status.setText(f"Export as {', '.join(ANIMATION_SUFFIXES + MESH_SEQUENCE_SUFFIXES)}.")
            return False
        kind = s.dataset.kind if s.dataset is not None else None
        if suffix in MESH_SEQUENCE_SUFFIXES and kind != "mesh":
            self.status.setText("PLY and OBJ sequences are for mesh datasets; export a GIF.")
            return False
        if suffix in ANIMATION_SUFFIXES and kind == "mesh" and (
                self.mesh_view is None or not self.mesh_view.isVisible()):
            self.status.setText("Show the mesh viewport: the animation records it.")
            return False
        if suffix in ANIMATION_SUFFIXES and kind == "vector":
            self.status.setText("Animations are made of mesh or image samples.")
            return False
        n = int(n_frames if n_frames is not None else self.frames_spin.value())
        a = float(t_from if t_from is not None else self.from_spin.value())
        b = float(t_to if t_to is not None else self.to_spin.value())
        ts = steps(a, b, n)
        codes = [self.path_code(t) for t in ts]
        if any(c is None for c in codes):
            return False
        self.set_playing(False)
        self._export = {"path": path, "suffix": suffix, "ts": ts, "fps": float(fps), "images": []}
        self._set_controls_enabled(False)
        self.status.setText(f"Exporting {n} frames…")
        self._frames.submit("export", decode_codes, s.model, np.stack(codes),
                            on_result=self._export_decoded, on_error=self._export_failed)
        return True

    def _set_controls_enabled(self, on: bool) -> None:
        for w in (self.slider, self.spin, self.play_button, self.export_button, self.path_combo,
                  self.source_combo, self.target_combo, self.end_button, self.from_spin, self.to_spin,
                  self.frames_spin):
            w.setEnabled(on)

    def _export_decoded(self, samples: np.ndarray) -> None:
        job = self._export
        if job is None:
            return
        suffix = job["suffix"]
        if suffix in MESH_SEQUENCE_SUFFIXES:
            self._files.submit("write", save_mesh_sequence, job["path"], samples, self.session.dataset.faces,
                               on_result=self._export_done, on_error=self._export_failed)
        elif self.session.dataset.kind == "image":
            lo, hi = self._range
            frames = np.stack([image_frame(x, lo, hi, caption=f"t = {t:.2f}") for x, t in zip(samples, job["ts"])])
            self._files.submit("write", save_animation, job["path"], frames, job["fps"],
                               on_result=self._export_done, on_error=self._export_failed)
        else:
            job["samples"] = samples
            mv = self.mesh_view
            mv.set_mode("morph")
            # every frame in the picture: the camera fits the union of the frames' bodies
            mv.fit_camera_to(np.stack([samples.min(axis=(0, 1)), samples.max(axis=(0, 1))]))
            QTimer.singleShot(0, self._export_render_next)

    def _export_render_next(self) -> None:
        """Render one viewport frame per event-loop turn (the UI stays responsive)."""
        job = self._export
        if job is None:
            return
        i = len(job["images"])
        if i < len(job["samples"]):
            mv = self.mesh_view
            mv.set_mode("morph")
            mv.set_morph(job["samples"][i])
            mv.set_caption(f"t = {job['ts'][i]:.2f}")
            job["images"].append(mv.grab_rgb())
            self.status.setText(f"Exporting: frame {i + 1} of {len(job['samples'])}")
            QTimer.singleShot(0, self._export_render_next)
            return
        frames = np.stack(job["images"])
        self._files.submit("write", save_animation, job["path"], frames, job["fps"],
                           on_result=self._export_done, on_error=self._export_failed)

    def _export_done(self, result) -> None:
        self._export = None
        self._set_controls_enabled(True)
        self._request_frame()  # back to the slider's frame
        if isinstance(result, list):
            self.status.setText(f"Saved {len(result)} files: {result[0].name} … {result[-1].name}")
        else:
            self.status.setText(f"Saved {Path(result).name}")
        self.exportFinished.emit(result)

    def _export_failed(self, exc: BaseException) -> None:
        self._export = None
        self._set_controls_enabled(True)
        self._request_frame()
        self.status.setText(f"Export failed: {exc}")
        self.exportFinished.emit(exc)

    def _export_dialog(self) -> None:
        kind = self.session.dataset.kind if self.session.dataset is not None else None
        filters = ["Animated GIF (*.gif)", "MP4 video (*.mp4)"]
        if kind == "mesh":
            filters += ["PLY meshes, numbered (*.ply)", "OBJ meshes, numbered (*.obj)"]
        path, chosen = QFileDialog.getSaveFileName(self, "Export the morph", "morph.gif", ";;".join(filters))
        if not path:
            return
        p = Path(path)
        if p.suffix.lower() not in ANIMATION_SUFFIXES + MESH_SEQUENCE_SUFFIXES:
            p = p.with_suffix("." + chosen.split("*.")[-1].rstrip(")"))
        self.export(p)

    def shutdown(self) -> None:
        self.set_playing(False)
        self._frames.shutdown()
        self._files.shutdown()


__all__ = ["T_MAX", "T_MIN", "MorphPanel"]
