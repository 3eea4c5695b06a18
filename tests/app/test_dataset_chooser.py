"""The settings panel's dataset chooser offers MNIST and Fashion-MNIST in their class groupings."""
from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from gui_helpers import choose_in_combo  # noqa: E402
from idx_files import write_idx_folder  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from saeviz.core.method.config import ModelConfig, TrainConfig  # noqa: E402
from saeviz.core.state.session import SessionDefaults  # noqa: E402

pytestmark = pytest.mark.gui


def error_boxes(w):
    return [b for b in w.findChildren(QMessageBox) if b.objectName() == "errorBox" and b.isVisible()]


def test_mnist_from_the_user_folder_and_a_missing_fashion_mnist(make_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.delenv("SAEVIZ_MNIST_DIR", raising=False)
    monkeypatch.setenv("SAEVIZ_FASHION_MNIST_DIR", str(tmp_path / "no-fashion"))
    folder = tmp_path / "share" / "saeviz" / "datasets" / "mnist"
    write_idx_folder(folder)

    defaults = SessionDefaults(model=ModelConfig(hidden=(32,), latent_dim=4), train=TrainConfig(epochs=1))
    w = make_window(tmp_path / "settings.ini", defaults=defaults)
    combo = w.settings_panel.dataset_combo
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert "MNIST, 10 digits" in texts and "MNIST, 3 classes A/B/C" in texts
    assert "Fashion-MNIST, 10 classes (files not found)" in texts
    assert str(folder) in combo.itemData(combo.findData("mnist:ten"), Qt.ToolTipRole)
    assert "SAEVIZ_FASHION_MNIST_DIR" in combo.itemData(combo.findData("fashion-mnist"), Qt.ToolTipRole)

    choose_in_combo(qtbot, combo, "mnist:ten")
    qtbot.waitUntil(lambda: w.session.dataset is not None and w.session.dataset.name == "MNIST", timeout=30000)
    assert w.session.dataset.n_classes == 10 and len(w.session.dataset.train_idx) == 40
    assert combo.currentData() == "mnist:ten"

    choose_in_combo(qtbot, combo, "fashion-mnist")
    qtbot.waitUntil(lambda: bool(error_boxes(w)), timeout=10000)
    text = error_boxes(w)[0].text()
    assert "SAEVIZ_FASHION_MNIST_DIR" in text and "no-fashion" in text
    error_boxes(w)[0].close()
    assert w.session.dataset.name == "MNIST"  # nothing lost
    w.close()
