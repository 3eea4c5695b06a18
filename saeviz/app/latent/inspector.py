"""The sample inspector: the selected sample beside its reconstruction, and what is known of it.

The reconstruction is decoded off the UI thread from the session's frozen copy of the newest
weights; a newer selection or newer weights drop an older, still running request.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.live_gate import LiveGate
from saeviz.app.common.sample_panes import CurvePane, ImagePane, MeshPane
from saeviz.app.common.tasks import TaskRunner
from saeviz.core.method.evaluate import reconstruct_sample
from saeviz.core.state.labels import follow_store
from saeviz.core.state.session import Session

RECON_KEY = "inspector-reconstruction"


class Inspector(QWidget):
    """Selected sample, its reconstruction, index, label, prediction and confidence."""

    findRequested = Signal(int)  # a dataset index typed by the user

    def __init__(self, session: Session, runner: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self._range = (0.0, 1.0)
        self._recon: tuple[int, object, np.ndarray] | None = None  # (position, model, array)

        self.sample_pane = ImagePane("sample")
        self.recon_pane = ImagePane("reconstruction")
        images = QWidget()
        row = QHBoxLayout(images)
        row.setContentsMargins(0, 0, 0, 0)
        col1, col2 = QVBoxLayout(), QVBoxLayout()
        col1.addWidget(self.sample_pane, 1)
        col1.addWidget(QLabel("sample", alignment=Qt.AlignCenter))
        col2.addWidget(self.recon_pane, 1)
        col2.addWidget(QLabel("reconstruction", alignment=Qt.AlignCenter))
        row.addLayout(col1)
        row.addLayout(col2)
        self.curve_pane = CurvePane()
        self.mesh_pane = MeshPane()
        self.views = QStackedWidget()
        for w in (images, self.curve_pane, self.mesh_pane):
            self.views.addWidget(w)

        self.index_label = QLabel("–")
        self.index_label.setObjectName("indexLabel")
        self.label_label = QLabel("–")
        self.truth_label = QLabel("–")
        self.pred_label = QLabel("–")
        self.conf_label = QLabel("–")
        self.error_label = QLabel("–")
        for lab in (self.index_label, self.label_label, self.truth_label, self.pred_label,
                    self.conf_label, self.error_label):
            lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form = QFormLayout()
        form.addRow("Index", self.index_label)
        form.addRow("Label", self.label_label)
        form.addRow("Ground truth", self.truth_label)
        form.addRow("Prediction", self.pred_label)
        form.addRow("Confidence", self.conf_label)
        form.addRow("Reconstruction RMSE", self.error_label)

        self.find_box = QSpinBox()
        self.find_box.setObjectName("findIndex")
        self.find_box.setToolTip("Index of a sample in the dataset")
        self.find_button = QPushButton("Find")
        self.find_button.setObjectName("findButton")
        self.find_button.clicked.connect(self._find)
        self.find_box.editingFinished.connect(self._find_on_enter)
        find_row = QHBoxLayout()
        find_row.addWidget(QLabel("Sample"))
        find_row.addWidget(self.find_box, 1)
        find_row.addWidget(self.find_button)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #666666")

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.views, 1)
        lay.addLayout(form)
        lay.addLayout(find_row)
        lay.addWidget(self.message)

        session.dataset_changed.connect(self._dataset_changed)
        session.selection_changed.connect(self._selection_changed)
        # a new model every epoch: while training, the reconstruction follows at most twice a
        # second and only while the inspector shows (decoding a body costs milliseconds)
        self._model_gate = LiveGate(self, self._request_reconstruction, lambda: session.training)
        session.model_changed.connect(self._model_gate.request)
        session.classifier_changed.connect(self._refresh_text)
        self._store = None
        self._dataset_changed()

    # -- reactions ----------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        s = self.session
        ds = s.dataset
        self.runner.invalidate(RECON_KEY)
        self._recon = None
        self._store = follow_store(self._store, s.labels if ds is not None else None,
                                   labels=self._labels_changed, classes=self._refresh_text)
        if ds is None:
            return
        self.find_box.setRange(0, max(0, ds.n_samples - 1))
        self.views.setCurrentIndex({"image": 0, "vector": 1, "mesh": 2}[ds.kind])
        sample = s.X[: min(len(s.X), 2000)]
        self._range = (float(sample.min()), float(sample.max()))
        self._selection_changed(s.selected)

    def _labels_changed(self, indices) -> None:
        if self.session.selected >= 0 and np.any(np.asarray(indices) == self.session.selected):
            self._refresh_text()

    def _selection_changed(self, pos: int) -> None:
        self._show_sample()
        self._refresh_text()
        self._request_reconstruction()

    def _find(self) -> None:
        self.find_sample(int(self.find_box.value()))
        self.findRequested.emit(int(self.find_box.value()))

    def find_sample(self, index: int) -> None:
        """Select dataset sample ``index`` (the find box), or say why it cannot be shown."""
        s = self.session
        if s.dataset is None:
            return
        if not 0 <= index < s.dataset.n_samples:
            self.show_message(f"There is no sample {index}: indices run from 0 to {s.dataset.n_samples - 1}.")
            return
        pos = s.position_of(index)
        if pos < 0:
            self.show_message(f"Sample {index} belongs to the test split, which is not trained on or shown.")
            return
        s.select(pos)

    def _find_on_enter(self) -> None:
        if self.find_box.hasFocus():
            self._find()

    def show_message(self, text: str) -> None:
        self.message.setText(text)

    # -- drawing ----------------------------------------------------------------------------------
    def _show_sample(self) -> None:
        s = self.session
        pos = s.selected
        x = s.X[pos] if (s.dataset is not None and pos >= 0) else None
        recon = self._recon[2] if (self._recon is not None and self._recon[0] == pos) else None
        kind = s.dataset.kind if s.dataset is not None else "image"
        lo, hi = self._range
        if kind == "image":
            self.sample_pane.set_array(x, lo, hi)
            self.recon_pane.set_array(recon, lo, hi)
        elif kind == "vector":
            self.curve_pane.set_arrays(x, recon)
        else:
            self.mesh_pane.set_arrays(x, recon)
        if x is not None and recon is not None:
            self.error_label.setText(f"{float(np.sqrt(np.mean((recon - x) ** 2))):.4g}")
        else:
            self.error_label.setText("–")

    def _refresh_text(self, *_args) -> None:
        s = self.session
        pos = s.selected
        if s.dataset is None or pos < 0:
            for lab in (self.index_label, self.label_label, self.truth_label, self.pred_label, self.conf_label):
                lab.setText("–")
            self.message.setText("Click a point in the latent view, or find a sample by its index.")
            return
        self.message.setText("")
        store = s.labels
        names, colors = store.class_names, store.colors

        def cls(k: int) -> str:
            if k < 0 or k >= len(names):
                return "unlabeled"
            return f'<span style="color:{colors[k]}">■</span> {names[k]}'

        self.index_label.setText(f"{s.dataset_index(pos)} (training sample {pos})")
        if not self.find_box.hasFocus():
            with QSignalBlocker(self.find_box):
                self.find_box.setValue(s.dataset_index(pos))
        self.label_label.setText(cls(int(store.labels[pos])))
        y = s.y
        self.truth_label.setText(cls(int(y[pos])) if (y is not None and s.has_ground_truth) else "–")
        res = s.classifier
        if res is not None and pos < len(res.predicted):
            self.pred_label.setText(cls(int(res.predicted[pos])))
            self.conf_label.setText(f"{float(res.confidence[pos]):.2f} (margin {float(res.margin[pos]):.3g})")
        else:
            self.pred_label.setText("–")
            self.conf_label.setText("–")

    def _request_reconstruction(self) -> None:
        s = self.session
        pos = s.selected
        if s.model is None or pos < 0 or s.dataset is None:
            if s.model is None:
                self._recon = None
                self._show_sample()
            return
        model = s.model
        if self._recon is not None and self._recon[0] == pos and self._recon[1] is model:
            return
        x = np.array(s.X[pos], np.float32)
        self.runner.submit(RECON_KEY, reconstruct_sample, model, x, latest_only=True,
                           on_result=lambda recon, pos=pos, model=model: self._reconstructed(pos, model, recon),
                           on_error=lambda exc: self.show_message(f"Cannot reconstruct: {exc}"))

    def _reconstructed(self, pos: int, model, recon: np.ndarray) -> None:
        if pos != self.session.selected or model is not self.session.model:
            return
        self._recon = (pos, model, recon)
        self._show_sample()

    @property
    def has_reconstruction(self) -> bool:
        return self._recon is not None and self._recon[0] == self.session.selected
