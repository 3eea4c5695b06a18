"""The classifier on the codes is a training setting the user picks by name; the per-epoch
result (predictions, confidence, guided-labeling candidates) follows it."""
from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from gui_helpers import choose_in_combo

from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.code_classifiers import SpreadingClassifier

pytestmark = pytest.mark.gui


def test_choosing_label_spreading_in_the_settings_refits_the_epoch_result(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "settings.ini", epochs=1, batch_size=64)
    combo = w.settings_panel.classifier
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert texts == ["Linear SVM (paper)", "Label spreading on codes", "kNN vote of labeled codes"]
    assert combo.currentData() == "svm" and w.session.train_config.classifier == "svm"

    with qtbot.waitSignal(w.controller.finished, timeout=600000):
        w.actions["train"].trigger()
    qtbot.waitUntil(lambda: w.session.classifier is not None, timeout=30000)
    assert isinstance(w.session.classifier.classifier, LatentClassifier)

    choose_in_combo(qtbot, combo, "label-spreading")
    assert w.session.train_config.classifier == "label-spreading"
    qtbot.waitUntil(lambda: w.session.classifier is not None and w.session.classifier.kind == "label-spreading",
                    timeout=30000)
    res = w.session.classifier
    assert isinstance(res.classifier, SpreadingClassifier)
    assert ((res.confidence >= 0) & (res.confidence <= 1)).all()
    assert (res.predicted == res.classifier.predict(res.codes)).all()

    w.session.set_train_config(w.session.train_config.replace(classifier="knn"))  # e.g. a restored setting
    assert combo.currentData() == "knn"  # the combo shows the session's setting
    w.close()


def test_self_training_typed_in_the_settings_adds_pseudo_labels_from_the_second_epoch(make_window, qtbot, tmp_path):
    """Self-training is a setting by name, off (the paper's method) until the user types a
    confidence; then the second epoch trains with confident pseudo-labels beside the labels
    (more samples get structure targets), and the labels themselves stay as they were."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    w = make_window(tmp_path / "settings.ini", epochs=2, batch_size=64)
    spin = w.settings_panel.self_training
    assert spin.text() == "off (paper)" and w.session.train_config.self_training == 0
    labels_before = w.session.labels.labels.copy()
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, "0.6")
    QTest.keyClick(spin, Qt.Key_Return)
    assert w.session.train_config.self_training == pytest.approx(0.6)
    with qtbot.waitSignal(w.controller.finished, timeout=600000):
        w.actions["train"].trigger()
    first, second = w.session.history[-2:]
    labeled = int((labels_before >= 0).sum())
    assert first["n_labeled"] == labeled  # the first epoch: the user's labels only
    assert second["n_labeled"] > labeled  # then pseudo-labels too
    assert (w.session.labels.labels == labels_before).all()  # never stored as labels
    w.close()


def test_the_pseudo_labeler_is_chosen_by_name_beside_the_self_training_confidence(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "settings.ini", epochs=2, batch_size=64)
    combo = w.settings_panel.pseudo_labeler
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert texts == ["The classifier", "Linear SVM (paper)", "Label spreading on codes", "kNN vote of labeled codes"]
    assert combo.currentData() == "" and w.session.train_config.pseudo_labeler == ""
    choose_in_combo(qtbot, combo, "label-spreading")
    cfg = w.session.train_config
    assert cfg.pseudo_labeler == "label-spreading" and cfg.classifier == "svm"
    w.session.set_train_config(cfg.replace(pseudo_labeler="knn"))  # e.g. a restored setting
    assert combo.currentData() == "knn"
    w.close()


def test_the_pseudo_label_weight_typed_in_the_settings_trains_the_next_run(make_window, qtbot, tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    w = make_window(tmp_path / "settings.ini", epochs=1, batch_size=64)
    panel = w.settings_panel
    spin = panel.pseudo_weight
    assert spin.value() == 1.0 and w.session.train_config.pseudo_weight == 1.0  # as strong as a label
    for target, text in ((panel.self_training, "0.6"), (spin, "0.25")):
        target.setFocus()
        target.selectAll()
        QTest.keyClicks(target, text)
        QTest.keyClick(target, Qt.Key_Return)
    cfg = w.session.train_config
    assert cfg.pseudo_weight == pytest.approx(0.25) and cfg.self_training == pytest.approx(0.6)
    with qtbot.waitSignal(w.controller.finished, timeout=600000):
        w.actions["train"].trigger()
    assert w.session.trainer.config.pseudo_weight == pytest.approx(0.25)  # the run trained with it
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, "0")  # below the range: the spin box keeps a weight it can use
    QTest.keyClick(spin, Qt.Key_Return)
    assert w.session.train_config.pseudo_weight >= spin.minimum() > 0
    w.close()


def test_the_structure_span_is_chosen_by_name_and_trains_the_next_run(make_window, qtbot, tmp_path):
    w = make_window(tmp_path / "settings.ini", epochs=1, batch_size=64)
    combo = w.settings_panel.structure_span
    assert [combo.itemText(i) for i in range(combo.count())] == ["whole code (paper)", "class directions only"]
    assert combo.currentData() == "latent" and w.session.train_config.structure_span == "latent"
    choose_in_combo(qtbot, combo, "classes")
    assert w.session.train_config.structure_span == "classes"
    with qtbot.waitSignal(w.controller.finished, timeout=600000):
        w.actions["train"].trigger()
    assert w.session.trainer.config.structure_span == "classes"  # the run trained with it
    assert w.session.history[-1]["struct_loss"] > 0
    w.session.set_train_config(w.session.train_config.replace(structure_span="latent"))  # a restored setting
    assert combo.currentData() == "latent"
    w.close()
