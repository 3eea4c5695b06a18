"""Data and model settings, bound two ways to the session.

Widget -> session through the session's setters; session -> widgets with the widgets'
signals blocked, so an update never echoes back. Model settings shape a new network and
apply when the model is reset (or before the first training); gamma applies to a running
training at its next epoch; the label fraction re-reveals labels from the ground truth.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.wheel_guard import guard_wheel
from saeviz.core.method.code_classifiers import CLASSIFIER_NAMES, CLASSIFIERS
from saeviz.core.method.config import ARCHITECTURES, MDS_MODES, STRUCTURE_SPANS
from saeviz.core.state.labels import follow_store
from saeviz.core.state.session import Session

ARCH_TEXT = {"mlp": "fully connected (MLP)", "conv": "convolutional (images)",
             "basis": "MLP on a linear basis (meshes)"}
MDS_TEXT = {"class": "class level (fast)", "exact": "every labeled sample"}
SPAN_TEXT = {"latent": "whole code (paper)", "classes": "class directions only"}
DEMO_TEXT = {"digits": "digits, 3 classes A/B/C (demo)", "digits10": "digits, 10 classes (demo)"}
# Datasets read from installed files (saeviz.core.data.named), in their class groupings.
FILE_DATASET_TEXT = {"mnist": "MNIST, 3 classes A/B/C", "mnist:ten": "MNIST, 10 digits",
                     "fashion-mnist": "Fashion-MNIST, 3 seasons",
                     "fashion-mnist:ten": "Fashion-MNIST, 10 classes"}
OPEN_ITEM = "__open__"


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"256, 128"`` -> ``(256, 128)``; raises ValueError naming the bad part."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"layer sizes must be whole numbers separated by commas, got {text!r}") from None
    if not sizes:
        raise ValueError("at least one layer size is needed")
    if any(s < 1 for s in sizes):
        raise ValueError(f"layer sizes must be positive, got {text!r}")
    return sizes


def format_sizes(sizes) -> str:
    return ", ".join(str(int(s)) for s in sizes)


class SettingsPanel(QWidget):
    """Dataset chooser, architecture, optimisation and MDS settings, class distances."""

    datasetRequested = Signal(object)  # a demo name
    openRequested = Signal()           # the user wants to pick a file or folder

    def __init__(self, session: Session, demos=("digits", "digits10"), parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._demos = tuple(demos)
        self._training = False

        # -- data -----------------------------------------------------------------------
        self.dataset_combo = QComboBox()
        self.dataset_combo.setObjectName("datasetCombo")
        self.dataset_combo.activated.connect(self._dataset_chosen)
        self.dataset_info = QLabel()
        self.dataset_info.setWordWrap(True)
        self.fraction = QDoubleSpinBox()
        self.fraction.setRange(0.0, 100.0)
        self.fraction.setDecimals(1)
        self.fraction.setSingleStep(1.0)
        self.fraction.setSuffix(" %")
        self.fraction.setKeyboardTracking(False)
        self.fraction.setToolTip("Share of the training samples whose ground-truth class is revealed as a label")
        self.fraction.valueChanged.connect(self._fraction_changed)
        data_box = QGroupBox("Data")
        form = QFormLayout(data_box)
        form.addRow("Dataset", self.dataset_combo)
        form.addRow(self.dataset_info)
        form.addRow("Labels revealed", self.fraction)

        # -- model ----------------------------------------------------------------------
        self.arch = QComboBox()
        for a in ARCHITECTURES:
            self.arch.addItem(ARCH_TEXT.get(a, a), a)
        self.hidden = QLineEdit()
        self.hidden.setPlaceholderText("e.g. 256, 128")
        self.hidden.setToolTip("Hidden layer sizes of the encoder; the decoder mirrors them")
        self.channels = QLineEdit()
        self.channels.setToolTip("Filters of the 3x3 convolution layers")
        self.latent = QSpinBox()
        self.latent.setRange(1, 1024)
        self.latent.setKeyboardTracking(False)
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        self.model_note.setStyleSheet("color: #a05a00")
        model_box = QGroupBox("Model")
        mform = _form(model_box, self._model_edited, (
            ("Architecture", self.arch, self.arch.activated), ("Hidden sizes", self.hidden, self.hidden.editingFinished),
            ("Conv filters", self.channels, self.channels.editingFinished),
            ("Latent size", self.latent, self.latent.valueChanged)))
        mform.addRow(self.model_note)

        # -- training -------------------------------------------------------------------
        self.gamma = _unit_spin("gammaSpin", 0.0, 3,
                                "Balance of the structural loss (1) against the reconstruction loss (0); "
                                "while training it applies from the next epoch")
        self.lr = QDoubleSpinBox()
        self.lr.setRange(1e-6, 1.0)
        self.lr.setDecimals(6)
        self.lr.setSingleStep(1e-4)
        self.lr.setKeyboardTracking(False)
        self.batch = QSpinBox()
        self.batch.setRange(1, 65536)
        self.batch.setKeyboardTracking(False)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100000)
        self.epochs.setKeyboardTracking(False)
        self.epochs.setToolTip("Epochs per press of Train")
        self.mds = QComboBox()
        for m in MDS_MODES:
            self.mds.addItem(MDS_TEXT.get(m, m), m)
        self.structure_span = QComboBox()
        self.structure_span.setObjectName("structureSpanCombo")
        for span in STRUCTURE_SPANS:
            self.structure_span.addItem(SPAN_TEXT[span], span)
        self.structure_span.setToolTip(
            "Where the structural loss pulls a labeled code toward its target: the whole code (the "
            "paper), or only along the directions in which the class targets differ, leaving the "
            "other latent directions to the reconstruction (the LDA projection shows the class "
            "directions; PCA may show the free ones)")
        self.classifier = QComboBox()
        self.classifier.setObjectName("classifierCombo")
        for c in CLASSIFIERS:
            self.classifier.addItem(CLASSIFIER_NAMES[c], c)
        self.classifier.setToolTip("What classifies the codes (predictions, confidence, guided-labeling "
                                   "candidates): the paper's linear SVM, label spreading over all codes, or a "
                                   "vote of the nearest labeled codes")
        self.self_training = _unit_spin(
            "selfTrainingSpin", 0.0, 2,
            "Self-training: from the second epoch on, unlabeled samples the classifier predicts with at "
            "least this confidence get structure targets as pseudo-labels for that epoch (never stored as "
            "labels); off is the paper's method")
        self.self_training.setSpecialValueText("off (paper)")
        self.pseudo_labeler = QComboBox()
        self.pseudo_labeler.setObjectName("pseudoLabelerCombo")
        self.pseudo_labeler.addItem("The classifier", "")
        for c in CLASSIFIERS:
            self.pseudo_labeler.addItem(CLASSIFIER_NAMES[c], c)
        self.pseudo_labeler.setToolTip(
            "Whose confident predictions become self-training's pseudo-labels: the classifier above, or "
            "another (label spreading kept them right on MNIST with 1% labels where the SVM's went wrong)")
        self.pseudo_weight = _unit_spin(
            "pseudoWeightSpin", 0.05, 2,
            "How much a pseudo-label pulls its code toward the structure, against a given label (1): "
            "smaller keeps the reconstruction closer to a plain autoencoder's (on MNIST with 1% labels, "
            "0.25 kept it within about 10% of it)")
        train_box = QGroupBox("Training")
        _form(train_box, self._train_edited, (
            ("γ (structure weight)", self.gamma, self.gamma.valueChanged),
            ("Learning rate", self.lr, self.lr.valueChanged), ("Batch size", self.batch, self.batch.valueChanged),
            ("Epochs", self.epochs, self.epochs.valueChanged), ("MDS", self.mds, self.mds.activated),
            ("Structure in", self.structure_span, self.structure_span.activated),
            ("Classifier", self.classifier, self.classifier.activated),
            ("Self-training", self.self_training, self.self_training.valueChanged),
            ("Pseudo-labels by", self.pseudo_labeler, self.pseudo_labeler.activated),
            ("Pseudo-label weight", self.pseudo_weight, self.pseudo_weight.valueChanged)))

        # -- classes ----------------------------------------------------------------------
        self.distances = QTableWidget()
        self.distances.setObjectName("distanceTable")
        self.distances.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.distances.setSelectionMode(QAbstractItemView.NoSelection)
        self.distances.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.distances.setMinimumHeight(90)
        self.class_counts = QLabel()
        self.class_counts.setWordWrap(True)
        class_box = QGroupBox("Classes and distances")
        cl = QVBoxLayout(class_box)
        cl.addWidget(self.class_counts)
        cl.addWidget(self.distances)

        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020")
        self.error.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for w in (data_box, model_box, train_box, class_box, self.error):
            lay.addWidget(w)
        lay.addStretch(1)

        self._model_widgets = (self.arch, self.hidden, self.channels, self.latent)
        self._run_widgets = (self.dataset_combo, self.lr, self.batch, self.epochs, self.mds, self.structure_span,
                             self.self_training, self.pseudo_labeler, self.pseudo_weight)
        for changed in (session.model_config_changed, session.train_config_changed,
                        session.label_fraction_changed):
            changed.connect(self.refresh)
        session.dataset_changed.connect(self._dataset_changed)
        session.model_changed.connect(self._refresh_model_note)
        self._watched_labels = None
        self.refresh()
        self._dataset_changed()
        guard_wheel(self)  # scrolling the panel does not change the field under the pointer

    # -- session -> widgets ----------------------------------------------------------------
    def refresh(self) -> None:
        s = self.session
        m, t = s.model_config, s.train_config
        widgets = (self.arch, self.hidden, self.channels, self.latent, self.gamma, self.lr,
                   self.batch, self.epochs, self.mds, self.structure_span, self.fraction, self.classifier,
                   self.self_training, self.pseudo_labeler, self.pseudo_weight)
        blockers = [QSignalBlocker(w) for w in widgets]
        self.arch.setCurrentIndex(max(0, self.arch.findData(m.architecture)))
        if not self.hidden.hasFocus():
            self.hidden.setText(format_sizes(m.hidden))
        if not self.channels.hasFocus():
            self.channels.setText(format_sizes(m.conv_channels))
        self.latent.setValue(int(m.latent_dim))
        self.gamma.setValue(float(t.gamma))
        self.lr.setValue(float(t.lr))
        self.batch.setValue(int(t.batch_size))
        self.epochs.setValue(int(t.epochs))
        self.mds.setCurrentIndex(max(0, self.mds.findData(t.mds.mode)))
        self.structure_span.setCurrentIndex(max(0, self.structure_span.findData(t.structure_span)))
        self.classifier.setCurrentIndex(max(0, self.classifier.findData(t.classifier)))
        self.self_training.setValue(float(t.self_training))
        self.pseudo_labeler.setCurrentIndex(max(0, self.pseudo_labeler.findData(t.pseudo_labeler)))
        self.pseudo_weight.setValue(float(t.pseudo_weight))
        self.fraction.setValue(100.0 * s.label_fraction)
        for blocker in blockers:
            blocker.unblock()
        self.channels.setEnabled(m.architecture == "conv" and not self._training)
        self.hidden.setEnabled(not self._training)
        self._refresh_model_note()

    def _refresh_model_note(self) -> None:
        s = self.session
        if s.model_outdated:
            self.model_note.setText("These settings differ from the current model: "
                                    "they apply after Reset.")
            self.model_note.show()
        else:
            self.model_note.hide()

    def _dataset_changed(self) -> None:
        s = self.session
        ds = s.dataset
        with QSignalBlocker(self.dataset_combo):
            self.dataset_combo.clear()
            for name in self._demos:
                self.dataset_combo.addItem(DEMO_TEXT.get(name, name), name)
            self._add_file_datasets()
            named = [self.dataset_combo.itemData(i) for i in range(self.dataset_combo.count())]
            current = -1
            if ds is not None:
                if s.dataset_spec in named:
                    current = named.index(s.dataset_spec)
                else:
                    self.dataset_combo.addItem(ds.name, None)
                    current = self.dataset_combo.count() - 1
            self.dataset_combo.addItem("Open file or folder…", OPEN_ITEM)
            self.dataset_combo.setCurrentIndex(max(current, 0))
        if ds is None:
            self.dataset_info.setText("No dataset open.")
        else:
            shape = "×".join(str(v) for v in ds.sample_shape)
            gt = f", {ds.n_classes} classes" if ds.y is not None else ", no ground truth"
            self.dataset_info.setText(
                f"{len(ds.train_idx):,} training and {len(ds.test_idx):,} test samples; "
                f"{ds.kind} {shape}{gt}")
        self.fraction.setEnabled(s.has_ground_truth)
        self._watched_labels = follow_store(self._watched_labels, s.labels, labels=self._labels_changed,
                                            classes=self._classes_changed)
        self._classes_changed()

    def _add_file_datasets(self) -> None:
        """MNIST and Fashion-MNIST items; the tooltip says where their files are or should go."""
        from saeviz.core.data.named import (
            IDX_DATASETS,
            find_idx_dataset,
            search_folders,
        )

        for spec, text in FILE_DATASET_TEXT.items():
            name = spec.partition(":")[0]
            folder = find_idx_dataset(name)
            if folder is None:
                env = IDX_DATASETS[name].env
                tip = (f"Not found: put the four IDX files in {search_folders(name)[0]} or set {env} "
                       "to their folder (or open the folder with Open file or folder…)")
                text += " (files not found)"
            else:
                tip = f"Read from {folder}"
            self.dataset_combo.addItem(text, spec)
            self.dataset_combo.setItemData(self.dataset_combo.count() - 1, tip, Qt.ToolTipRole)

    def _labels_changed(self, _indices=None) -> None:
        self._show_counts()

    def _classes_changed(self) -> None:
        store = self.session.labels
        t = self.distances
        if store is None:
            t.setRowCount(0)
            t.setColumnCount(0)
            self.class_counts.setText("")
            return
        D = store.distances
        k = store.n_classes
        t.setRowCount(k)
        t.setColumnCount(k)
        names = store.class_names
        short = [n if len(n) <= 14 else n[:13] + "…" for n in names]
        t.setHorizontalHeaderLabels(short)
        t.setVerticalHeaderLabels(short)
        for i in range(k):
            header = t.verticalHeaderItem(i)
            header.setForeground(QColor(store.colors[i]))
            header.setToolTip(names[i])
            for j in range(k):
                item = QTableWidgetItem(f"{D[i, j]:g}")
                item.setTextAlignment(Qt.AlignCenter)
                item.setFlags(Qt.ItemIsEnabled)
                t.setItem(i, j, item)
        self._show_counts()

    def _show_counts(self) -> None:
        store = self.session.labels
        if store is None:
            return
        counts = store.counts()
        parts = [f'<span style="color:{c}">■</span> {n}: {int(k)}'
                 for n, c, k in zip(store.class_names, store.colors, counts)]
        total = int(np.sum(counts))
        self.class_counts.setText(f"{total:,} of {store.n_samples:,} samples labeled<br>" + "<br>".join(parts))

    # -- widgets -> session -------------------------------------------------------------------
    def _fail(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.refresh()

    def _ok(self) -> None:
        self.error.hide()

    def _dataset_chosen(self, index: int) -> None:
        data = self.dataset_combo.itemData(index)
        if data == OPEN_ITEM:
            self._dataset_changed()  # put the selection back until a file is chosen
            self.openRequested.emit()
        elif data is not None:
            self.datasetRequested.emit(data)

    def _fraction_changed(self, value: float) -> None:
        try:
            self.session.reveal(value / 100.0)
            self._ok()
        except Exception as exc:  # shown next to the settings
            self._fail(str(exc))

    def _model_edited(self, *_args) -> None:
        try:
            arch = self.arch.currentData()
            cfg = self.session.model_config.replace(
                architecture=arch,
                hidden=parse_sizes(self.hidden.text()),
                conv_channels=parse_sizes(self.channels.text()),
                latent_dim=int(self.latent.value()))
            if arch == "conv" and self.session.dataset is not None and self.session.dataset.kind != "image":
                raise ValueError("the convolutional architecture needs an image dataset")
            self.session.set_model_config(cfg)
            self._ok()
        except ValueError as exc:
            self._fail(str(exc))
        self.channels.setEnabled(self.arch.currentData() == "conv" and not self._training)

    def _train_edited(self, *_args) -> None:
        try:
            t = self.session.train_config
            cfg = t.replace(gamma=float(self.gamma.value()), lr=float(self.lr.value()),
                            batch_size=int(self.batch.value()), epochs=int(self.epochs.value()),
                            mds=t.mds.replace(mode=self.mds.currentData()),
                            structure_span=self.structure_span.currentData(),
                            classifier=self.classifier.currentData(),
                            self_training=float(self.self_training.value()),
                            pseudo_labeler=self.pseudo_labeler.currentData(),
                            pseudo_weight=float(self.pseudo_weight.value()))
            self.session.set_train_config(cfg)
            self._ok()
        except ValueError as exc:
            self._fail(str(exc))

    # -- state ----------------------------------------------------------------------------------
    def set_training(self, training: bool) -> None:
        """While training, only gamma and the revealed labels stay editable."""
        self._training = training
        for w in self._model_widgets + self._run_widgets:
            w.setEnabled(not training)
        self.channels.setEnabled(not training and self.session.model_config.architecture == "conv")


def _unit_spin(name: str, minimum: float, decimals: int, tooltip: str) -> QDoubleSpinBox:
    """A spin box for a setting from ``minimum`` to 1 in steps of 0.05, applied when typed in
    full (Return or leaving the field)."""
    spin = QDoubleSpinBox()
    spin.setObjectName(name)
    spin.setRange(minimum, 1.0)
    spin.setDecimals(decimals)
    spin.setSingleStep(0.05)
    spin.setKeyboardTracking(False)
    spin.setToolTip(tooltip)
    return spin


def _form(box, edited, rows) -> QFormLayout:
    """A form of (label, widget, signal) rows in ``box``; each signal calls ``edited``."""
    form = QFormLayout(box)
    for label, widget, signal in rows:
        form.addRow(label, widget)
        signal.connect(edited)
    return form

