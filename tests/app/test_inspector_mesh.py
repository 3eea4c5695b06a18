"""The inspector on a mesh dataset: the front view of the chosen body and its reconstruction."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from test_every_action import bodies_window, close_everything, train_one_epoch


def _colour_pixels(img: np.ndarray, rgb) -> int:
    return int(((np.abs(img[..., :3].astype(int) - np.array(rgb)) <= 8).all(axis=-1) & (img[..., 3] > 0)).sum())


def test_finding_a_body_shows_it_and_its_reconstruction_from_the_front(make_window, qtbot, tmp_path, bodies40,
                                                                        artifacts_dir):
    w = bodies_window(make_window, tmp_path, bodies40)
    try:
        train_one_epoch(qtbot, w)
        inspector = w.inspector
        index = int(bodies40.train_idx[3])
        inspector.find_box.setValue(index)
        qtbot.mouseClick(inspector.find_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: inspector.has_reconstruction, timeout=20000)
        pane = inspector.mesh_pane
        vertices = bodies40.X[0].size // 3
        assert pane.shown == (vertices, vertices)
        img = pane.image.image
        assert img is not None and img.ndim == 3 and img.shape[2] == 4
        # both bodies are drawn: the sample in grey, the reconstruction in orange (and mixtures)
        assert _colour_pixels(img, pane.COLOURS[0][:3]) > 50
        assert _colour_pixels(img, pane.COLOURS[1][:3]) > 50
        # the image covers the sample's front view (x, y) in data coordinates
        x = bodies40.X[index].reshape(-1, 3)
        rect = pane.image.mapRectToParent(pane.image.boundingRect())
        assert rect.left() <= x[:, 0].min() and rect.right() >= x[:, 0].max()
        assert rect.top() <= x[:, 1].min() and rect.bottom() >= x[:, 1].max()
        inspector.grab().save(str(artifacts_dir / "inspector-mesh.png"))
    finally:
        close_everything(qtbot, w)

